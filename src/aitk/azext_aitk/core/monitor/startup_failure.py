"""Why a replica did not start, from the app's system log events and its console lines
(pure decisions; azure/system_log.py reads them, deploy and status use the verdict).

System log events are the service's JSON lines ({"TimeStamp", "Reason", "Msg", ...},
https://learn.microsoft.com/azure/container-apps/logging#system-logs); a container that exited
or was killed by its probes is a `ContainerTerminated` event.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

TERMINATED = "ContainerTerminated"
CREATE_FAILED = "ContainerCreateFailure"
# an image the registry refuses to give (no AcrPull, unknown tag): "ImagePullBackOff or
# UNAUTHORIZED error" (https://learn.microsoft.com/azure/container-apps/troubleshoot-deployment-errors)
PULL_FAILED = "ImagePullBackOff"
FAILURE_REASONS = (TERMINATED, CREATE_FAILED, PULL_FAILED)
LAUNCHER_ERROR = "aitk_serve: error:"  # container/aitk_serve/cli.py: one line, then exit 2
# argparse's last words before exit 2, "PROG: error: MESSAGE": the launcher's own refusal, and
# vLLM's when serve.json's vllm_args hold what it does not know ("api_server.py: error:
# unrecognized arguments: --no-such-flag", after its long usage text).
_ARGPARSE_ERROR = re.compile(r"(?:^|\s)([\w.\-/]+: error: \S.*)$")


def error_line(line: str) -> str | None:
    """The `PROG: error: MESSAGE` part of a console line, else None."""
    found = _ARGPARSE_ERROR.search(line.strip())
    return found.group(1) if found else None


@dataclass(frozen=True)
class StartupFailure:
    when: str
    event: str  # the system log's message
    line: str | None  # the launcher's own error line, when the console has one

    def message(self) -> str:
        return self.line or self.event


def last_failure(events: Iterable[dict], since: str = "") -> dict | None:
    """The newest failure event at or after `since` (ISO timestamps compare as strings)."""
    found = None
    for ev in events:
        if ev.get("Reason") in FAILURE_REASONS and str(ev.get("TimeStamp") or "") >= since:
            found = ev
    return found


def launcher_line(lines: Iterable[str]) -> str | None:
    """The launcher's or vLLM's last refusal line in console output (error_line), else the last
    Python exception line."""
    refusal = exception = None
    for raw in lines:
        line = raw.strip()
        if error_line(line):
            refusal = error_line(line)
        elif line and ("Error:" in line.split(" ", 1)[0] or line.startswith("RuntimeError")):
            exception = line
    return refusal or exception


def verdict(events: Iterable[dict], console: Iterable[str], since: str = "") -> StartupFailure | None:
    ev = last_failure(events, since)
    if ev is None:
        return None
    return StartupFailure(
        str(ev.get("TimeStamp") or ""), str(ev.get("Msg") or ev.get("Reason")), launcher_line(console)
    )
