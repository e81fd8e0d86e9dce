"""Watching a starting replica for `deploy` and explaining a failed one for `status`: the system
log says that the container exited (or its probes killed it); the launcher's own error line comes
from the live console log, else from Log Analytics once no replica is left."""

import time
from datetime import datetime, timezone

from knack.log import get_logger

from ..azure import container_registry, managed_environment, system_log
from ..core.errors import ReplicaStartError
from ..core.monitor import pull_authorization, startup_failure

logger = get_logger(__name__)

# How long deploy keeps reading for the launcher's own line once the system log shows the replica
# exited: a gone replica's console reaches Log Analytics only after the ingestion delay ("between 20
# seconds and 3 minutes", Learn: Log data ingestion time in Azure Monitor), and a restarted replica
# prints it again on its live console. After this the exit event is the message.
CONSOLE_GRACE_S = 45.0


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def workspace_customer_id(cli_ctx, app_json):
    props = app_json.get("properties") or {}
    env_id = props.get("managedEnvironmentId") or props.get("environmentId")
    if not env_id:
        return None
    try:
        env = managed_environment.get_json(cli_ctx, env_id) or {}
    except Exception:  # pylint: disable=broad-except  # an explanation source, never fatal
        return None
    logs = (env.get("properties") or {}).get("appLogsConfiguration") or {}
    return (logs.get("logAnalyticsConfiguration") or {}).get("customerId")


def console_lines(cli_ctx, aca, app_json, revision=None):
    """The console of the latest replica, else what Log Analytics kept of a gone one."""
    try:
        lines = aca.log_tail(app_json, 100)
    except Exception:  # pylint: disable=broad-except
        lines = []
    if startup_failure.launcher_line(lines):
        return lines
    customer_id = workspace_customer_id(cli_ctx, app_json)
    return lines + system_log.console_from_log_analytics(cli_ctx, customer_id, aca.name, revision)


def find_failure(cli_ctx, aca, app_json, since=""):
    """StartupFailure of the app's latest start (events at or after `since`), else None."""
    events = system_log.events(cli_ctx, app_json, aca.subscription_id, aca.resource_group, aca.name)
    if not events:
        customer_id = workspace_customer_id(cli_ctx, app_json)
        events = system_log.system_from_log_analytics(cli_ctx, customer_id, aca.name)
    if startup_failure.last_failure(events, since) is None:
        return None
    return startup_failure.verdict(events, console_lines(cli_ctx, aca, app_json), since)


class StartupWatch:  # pylint: disable=too-few-public-methods  # a callback with its state
    """Called on each tick of deploy's wait: raises AzureResponseError as soon as the replica failed."""

    def __init__(self, cmd, cfg, aca, since):
        self.cmd, self.cfg, self.aca, self.since = cmd, cfg, aca, since
        self.app_json = None
        self.said_propagating = False
        self.failed_at = None  # monotonic time the exit was first seen without the launcher's line

    def _role_propagating(self, failure):
        """A pull refused because the app's AcrPull role is new: the replica retries, so wait (saying
        so once) rather than fail (core/monitor/pull_authorization.py)."""
        if not pull_authorization.is_unauthorized(failure.message()):
            return False
        try:
            granted = container_registry.acr_pull_granted_at(self.cmd.cli_ctx, self.aca.subscription_id, self.app_json)
        except Exception:  # pylint: disable=broad-except  # cannot tell: the refusal is reported as it is
            logger.debug("could not read the pull identity's role assignments", exc_info=True)
            return False
        age = pull_authorization.still_propagating(failure.message(), granted, datetime.now(timezone.utc))
        if age is None:
            return False
        if not self.said_propagating:
            logger.warning("%s", pull_authorization.waiting_line(age))
            self.said_propagating = True
        return True

    def check(self):
        try:
            if self.app_json is None:
                self.app_json = self.aca.get_json()
            failure = find_failure(self.cmd.cli_ctx, self.aca, self.app_json, self.since)
        except Exception:  # pylint: disable=broad-except  # only an early explanation: the wait goes on
            logger.debug("could not read the replica's start-up events this time", exc_info=True)
            return
        if failure is None or self._role_propagating(failure):
            return
        if failure.line is None:
            now = time.monotonic()
            if self.failed_at is None:
                self.failed_at = now
                logger.warning("The replica exited (%s); reading its console for the cause…", failure.event)
            if now - self.failed_at < CONSOLE_GRACE_S:
                return
        raise ReplicaStartError(
            f"the endpoint's replica did not start: {failure.message()}",
            f"Fix the cause and run deploy again; `az aitk inference logs --type system` shows the replica's "
            f"events and `az aitk inference logs` its console ({self.cfg.app_name}).",
        )


def failure_probe(cli_ctx, aca, since=None):
    """A callable for waits that are not deploy's (chat's wake, `wait --ready`): the message of a
    start-up failure the system log shows from `since` (default: now) on, else None."""
    since = since or utc_now()
    state = {}

    def probe():
        try:
            if "app" not in state:
                state["app"] = aca.get_json()
            failure = find_failure(cli_ctx, aca, state["app"], since)
        except Exception:  # pylint: disable=broad-except  # only an early explanation: the wait goes on
            logger.debug("could not read the replica's start-up events this time", exc_info=True)
            return None
        return failure.message() if failure is not None else None

    return probe
