"""`az aitk inference logs`: the container's console log via the app's log streaming endpoint."""

import sys

from knack.log import get_logger

from ..azure import container_app
from ..core import console_log
from ._config import load_config

logger = get_logger(__name__)


def inference_logs(cmd, workspace=None, follow=False, tail=None, show_all=False):
    tail = console_log.validate_tail(tail)
    _, cfg = load_config(cmd, workspace)
    aca = container_app.ContainerApp.from_config(cmd.cli_ctx, cfg)
    app = aca.get_json()  # a missing app: one clear error
    resp, where = aca.open_log_stream(app, follow, tail)
    if resp is None:
        logger.warning("No log to show: %s.", where)
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
