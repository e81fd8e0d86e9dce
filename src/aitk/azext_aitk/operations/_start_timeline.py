"""The last start of the endpoint's replica as a timeline, for `status` (`lastStart`) and `logs
--timeline`: the launcher's phase lines from the live console (else what Log Analytics kept of a gone
replica's) and the system log's scheduling and pull events (core/monitor/startup_timeline.py)."""

from knack.log import get_logger

from ..azure import system_log
from ..core.monitor import console_log, startup_timeline
from ._startup_watch import workspace_customer_id

logger = get_logger(__name__)

# The log stream's largest tail (console_log.MAX_TAIL): a start writes ~150 lines on CPU, and the
# phase lines are among the first, so a replica that has answered many requests since may have
# scrolled them out; Log Analytics keeps them.
CONSOLE_TAIL = console_log.MAX_TAIL
PHASE_LINES = 60  # marks of a few starts, at most ~11 each


def _phase_lines_from_log_analytics(cli_ctx, customer_id, app_name):
    if not customer_id:
        return []
    rows = system_log.query(
        cli_ctx,
        customer_id,
        f"ContainerAppConsoleLogs_CL | where ContainerAppName_s == '{app_name}' and Log_s contains "
        f"'{startup_timeline.PREFIX.strip()}' | order by TimeGenerated desc | take {PHASE_LINES}",
    )
    return [str(r.get("Log_s") or "") for r in reversed(rows)]


def last_start(cmd, aca, app_json):
    """`lastStart` (core/monitor/startup_timeline.timeline) or None when no start left phase lines."""
    try:
        lines = aca.log_tail(app_json, CONSOLE_TAIL)
    except Exception:  # pylint: disable=broad-except  # a report, never fatal
        logger.debug("could not read the console for the start-up timeline", exc_info=True)
        lines = []
    customer_id = None
    if not startup_timeline.last_start_marks(lines):
        customer_id = workspace_customer_id(cmd.cli_ctx, app_json)
        lines = _phase_lines_from_log_analytics(cmd.cli_ctx, customer_id, aca.name)
        if not startup_timeline.last_start_marks(lines):
            return None
    events = system_log.events(cmd.cli_ctx, app_json, aca.subscription_id, aca.resource_group, aca.name, tail=300)
    if not events:
        customer_id = customer_id or workspace_customer_id(cmd.cli_ctx, app_json)
        events = system_log.system_from_log_analytics(cmd.cli_ctx, customer_id, aca.name, take=300)
    return startup_timeline.timeline(events, lines)
