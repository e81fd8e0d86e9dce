"""The container's console log through the container app's log streaming endpoint, the way
`az containerapp logs show` gets it: a token from the app's getAuthToken, the base URL from
its eventStreamEndpoint, then GET …/revisions/R/replicas/P/containers/C/logstream.

Plain Python (URL building, replica choice, line handling); azure/container_app.py does the HTTP.
"""

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

from ..errors import LogStreamError

__all__ = [
    "DEFAULT_TAIL",
    "LOG_TYPES",
    "LogStreamError",
    "MAX_TAIL",
    "base_url",
    "is_probe_noise",
    "logstream_url",
    "pick_replica",
    "of_revision",
    "query",
    "system_event_line",
    "text_lines",
    "validate_tail",
    "validate_type",
]

MAX_TAIL = 300  # what the service accepts (az containerapp logs show checks the same)
DEFAULT_TAIL = 100


def validate_tail(tail: int | None) -> int:
    if tail is None:
        return DEFAULT_TAIL
    if tail < 0 or tail > MAX_TAIL:
        raise LogStreamError(f"--tail {tail} is out of range", f"Use 0 to {MAX_TAIL} lines.")
    return tail


def base_url(event_stream_endpoint: str | None) -> str:
    """The service root of an eventStreamEndpoint (everything before /subscriptions/)."""
    if not event_stream_endpoint or "/subscriptions/" not in event_stream_endpoint:
        raise LogStreamError(
            "the container app has no log streaming endpoint", "Wait until provisioning finished, then try again."
        )
    return event_stream_endpoint[: event_stream_endpoint.index("/subscriptions/")]


def eventstream_url(event_stream_endpoint: str | None, subscription: str, group: str, app: str) -> str:
    """The app's system log stream (`az containerapp logs show --type system`: Azure/azure-cli
    command_modules/containerapp/custom.py, stream_containerapp_logs)."""
    seg = [quote(s, safe="") for s in (subscription, group, app)]
    return (
        f"{base_url(event_stream_endpoint)}/subscriptions/{seg[0]}/resourceGroups/{seg[1]}"
        f"/containerApps/{seg[2]}/eventstream"
    )


def logstream_url(
    event_stream_endpoint: str | None,
    subscription: str,
    group: str,
    app: str,
    *,
    revision: str,
    replica: str,
    container: str,
) -> str:
    seg = [quote(s, safe="") for s in (subscription, group, app, revision, replica, container)]
    return (
        f"{base_url(event_stream_endpoint)}/subscriptions/{seg[0]}/resourceGroups/{seg[1]}"
        f"/containerApps/{seg[2]}/revisions/{seg[3]}/replicas/{seg[4]}/containers/{seg[5]}/logstream"
    )


def query(follow: bool, tail: int) -> dict[str, str]:
    return {"follow": "true" if follow else "false", "tailLines": str(tail), "output": "text"}


def pick_replica(
    replicas: Iterable[dict[str, Any]] | None, container: str | None = None
) -> tuple[str | None, str | None] | None:
    """(replica name, container name) to stream from: a replica of the revision (one whose
    container is running first), its first container unless one is named. None when the
    revision has no replica (scaled to zero, or failed)."""

    def running(r: dict[str, Any]) -> bool:
        cs = (r.get("properties") or {}).get("containers") or []
        return any(c.get("runningState") == "Running" or c.get("ready") for c in cs)

    for r in sorted(replicas or [], key=lambda r: not running(r)):
        cs = (r.get("properties") or {}).get("containers") or []
        names = [c.get("name") for c in cs if c.get("name")]
        if container and container not in names:
            continue
        return r.get("name"), container or (names[0] if names else None)
    return None


def text_lines(raw_lines: Iterable[str | bytes]) -> Iterator[str]:
    """Decoded non-empty lines of the stream (it sends blank keep-alive lines while idle)."""
    for raw in raw_lines:
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if line.strip():
            yield line


# An access log line of a probe that succeeded, as uvicorn (vLLM) and http.server write them:
# `INFO:     10.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK`. Azure Container Apps probes every
# few seconds (docs/serving.md), so these drown what matters.
_PROBE = re.compile(r'"(GET|HEAD) /(health|ping)(\?[^ "]*)? HTTP/[0-9.]+" 2\d\d\b')


def is_probe_noise(line: str) -> bool:
    """True for the access log line of a successful health probe (`GET /health … 200`)."""
    return bool(_PROBE.search(line))


LOG_TYPES = ("console", "system")


def validate_type(log_type: str | None) -> str:
    kind = (log_type or "console").lower()
    if kind not in LOG_TYPES:
        raise LogStreamError(f"--type {log_type} is not a log type", "Use --type console or --type system.")
    return kind


def system_event_line(event: dict[str, Any]) -> str:
    """One system log event as a text line: time, revision/replica, reason, message (the fields of
    `az containerapp logs show --type system`)."""
    where = "/".join(str(event[k]) for k in ("RevisionName", "ReplicaName") if event.get(k))
    parts = [str(event.get("TimeStamp") or ""), where, str(event.get("Reason") or ""), str(event.get("Msg") or "")]
    return "  ".join(p for p in parts if p)


def of_revision(events: Iterable[dict[str, Any]], revision: str | None) -> list[dict[str, Any]]:
    """The events of one revision (all when `revision` is None); an event without a revision
    (app-wide) is kept."""
    if not revision:
        return list(events)
    want = revision.lower()
    return [e for e in events if not e.get("RevisionName") or str(e["RevisionName"]).lower() == want]


REVISIONS_SHOWN = 10


def check_revision(wanted: str, app: str, revisions: list[dict[str, Any]]) -> str:
    """The app's revision named `wanted` (case as Azure spells it), else LogStreamError listing the
    app's revisions, newest first (revisions: ARM JSON of GET …/revisions)."""
    by_age = sorted(revisions, key=lambda r: str((r.get("properties") or {}).get("createdTime") or ""), reverse=True)
    for rev in by_age:
        if str(rev.get("name") or "").lower() == wanted.strip().lower():
            return str(rev["name"])
    shown = [
        str(r.get("name")) + (" (active)" if (r.get("properties") or {}).get("active") else "")
        for r in by_age[:REVISIONS_SHOWN]
    ]
    more = f" and {len(by_age) - REVISIONS_SHOWN} older" if len(by_age) > REVISIONS_SHOWN else ""
    listing = ", ".join(shown) + more if shown else "none yet"
    raise LogStreamError(
        f"--revision {wanted} is not a revision of {app}; its revisions, newest first: {listing}",
        "Pick one of those, or leave --revision out for the latest.",
    )
