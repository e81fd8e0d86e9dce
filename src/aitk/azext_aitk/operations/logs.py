"""`az aitk inference logs`: the container's console log via the app's log streaming endpoint, the
system log (--type system), and what Log Analytics kept when no replica runs."""

import sys

from knack.log import get_logger

from ..azure import container_app, system_log
from ..core.monitor import console_log, startup_timeline
from ._config import load_config
from ._start_timeline import last_start
from ._startup_watch import workspace_customer_id

logger = get_logger(__name__)


def inference_logs(
    cmd, *, workspace=None, follow=False, tail=None, show_all=False, log_type=None, revision=None, timeline=False
):
    tail = console_log.validate_tail(tail)
    kind = console_log.validate_type(log_type)
    if kind == "system" and follow:
        raise console_log.LogStreamError(
            "--follow streams the console log only", "Drop --follow, or use --type console."
        )
    _, cfg = load_config(cmd, workspace)
    aca = container_app.ContainerApp.from_config(cmd.cli_ctx, cfg)
    app = aca.get_json()  # a missing app: one clear error
    if timeline:
        _write(startup_timeline.text_lines(last_start(cmd, aca, app)))
        return None
    if revision is not None:  # an unknown name: the revisions there are, not Azure's raw answer
        revision = console_log.check_revision(revision, aca.name, aca.revisions())
    if kind == "system":
        _system(cmd, aca, app, tail, revision)
        return None
    resp, where = aca.open_log_stream(app, follow, tail, revision=revision)
    if resp is None:
        _console_from_log_analytics(cmd, aca, app, tail=tail, revision=revision, why=where, show_all=show_all)
        return None
    logger.warning("Console log of %s%s", where, " (Ctrl-C stops)" if follow else "")
    hidden = 0
    try:
        for line in console_log.text_lines(resp.iter_lines()):
            if not show_all and console_log.is_probe_noise(line):
                hidden += 1
                continue
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        resp.close()
    if hidden:
        logger.warning("(%d health probe line(s) hidden; --all shows them)", hidden)
    return None


def _write(lines):
    for line in lines:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _console_from_log_analytics(cmd, aca, app, *, tail, revision, why, show_all):
    """No replica runs: the console of the last terminated replica, as Log Analytics kept it."""
    customer_id = workspace_customer_id(cmd.cli_ctx, app)
    lines = system_log.console_from_log_analytics(cmd.cli_ctx, customer_id, aca.name, revision, take=tail)
    if not show_all:
        lines = [line for line in lines if not console_log.is_probe_noise(line)]
    if not lines:
        logger.warning("No log to show: %s.", why)
        return
    logger.warning("No replica runs (%s); the console of the last terminated replica, from Log Analytics:", why)
    _write(lines)


def _system(cmd, aca, app, tail, revision):
    """The system log stream, else (nothing streamed) what Log Analytics kept of it."""
    events = system_log.events(cmd.cli_ctx, app, aca.subscription_id, aca.resource_group, aca.name, tail=tail)
    source = "System log of"
    if not events:
        customer_id = workspace_customer_id(cmd.cli_ctx, app)
        events = system_log.system_from_log_analytics(cmd.cli_ctx, customer_id, aca.name, take=tail)
        source = "System log (from Log Analytics) of"
    events = console_log.of_revision(events, revision)
    if not events:
        logger.warning("No system log events for %s%s.", aca.name, f" revision {revision}" if revision else "")
        return
    logger.warning("%s %s%s", source, aca.name, f" revision {revision}" if revision else "")
    _write(console_log.system_event_line(e) for e in events[-tail:] if tail)
