"""The last start of a replica as a timeline (`status`'s `lastStart`, `logs --timeline`), built
only from events: the system log's scheduling and image-pull events and the launcher's phase lines
in the console (container/aitk_serve/startup_timeline.py writes them; one line per mark, with its
wall-clock time). Each phase is the time between two consecutive marks, so the phases add up to
the total from the replica's scheduling to ready by construction; a mark that is missing (a CPU
start captures no graphs) just makes the next phase cover its time.
"""

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from itertools import pairwise
from typing import Any

Json = dict[str, Any]

PREFIX = "aitk_serve: start: "  # container/aitk_serve/startup_timeline.py PREFIX
_LINE = re.compile(
    re.escape(PREFIX)
    + r"(?P<mark>[a-z][a-z. ]*?) after (?P<after>\d+(?:\.\d+)?) s at (?P<at>\S+Z)(?:: (?P<detail>.*))?$"
)
_WEIGHTS = re.compile(
    r"^(?:(?P<bytes>\d+) bytes )?in (?P<seconds>\d+(?:\.\d+)?) s(?: = (?P<rate>\d+(?:\.\d+)?) MB/s)?, "
    r"load format (?P<format>\S+)(?: \(concurrency (?P<concurrency>\d+)\))?(?:, from (?P<source>.*))?$"
)

# System log reasons (https://learn.microsoft.com/azure/container-apps/logging#system-logs; the
# messages as the service writes them, e.g. "Replica '…' has been scheduled to run on a node.",
# https://azureossd.github.io/2024/01/11/Container-Apps-Demystifying-restarts/)
SCHEDULED = "AssigningReplica"
PULLING = "PullingImage"
PULLED = "ImagePulled"

LAUNCHER_STARTED = "launcher started"
READY = "ready"
FIRST_REQUEST = "first request answered"
# The phase that ends at each mark: what happened since the previous one.
PHASE_ENDING_AT = {
    PULLING: "scheduling",
    PULLED: "image pull",
    LAUNCHER_STARTED: "container start",
    "discovery and fit done": "discovery and fit",
    "engine started": "engine start",
    "weights loaded": "weights",
    "torch.compile done": "torch.compile",
    "kv cache allocated": "kv cache",
    "graphs captured": "graph capture",
    "engine ready": "compile, graphs and warm-up",
    READY: "server start",
}


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 UTC time (`…Z`, any number of fraction digits), else None."""
    text = text.strip()
    if not text.endswith("Z"):
        return None
    body = text[:-1]
    if "." in body:
        whole, frac = body.split(".", 1)
        body = f"{whole}.{(frac + '000000')[:6]}"
    try:
        return datetime.fromisoformat(body).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def parse_line(line: str) -> Json | None:
    """{"mark", "at" (datetime), "after" (s since the launcher began), "detail"} of a phase line
    (anywhere in a console line: a log pipeline may prefix it), else None."""
    i = line.find(PREFIX)
    if i < 0:
        return None
    found = _LINE.match(line[i:].rstrip())
    if found is None:
        return None
    at = parse_time(found.group("at"))
    if at is None:
        return None
    return {
        "mark": found.group("mark"),
        "at": at,
        "after": float(found.group("after")),
        "detail": found.group("detail") or "",
    }


def weights(detail: str) -> Json:
    """The weights mark's numbers: bytes, seconds, MB/s, load format, concurrency, source."""
    found = _WEIGHTS.match(detail.strip())
    if found is None:
        return {}
    out: Json = {"seconds": float(found.group("seconds")), "loadFormat": found.group("format")}
    if found.group("bytes"):
        out["bytes"] = int(found.group("bytes"))
    if found.group("rate"):
        out["mbPerSecond"] = float(found.group("rate"))
    if found.group("concurrency"):
        out["concurrency"] = int(found.group("concurrency"))
    if found.group("source"):
        out["source"] = found.group("source")
    return out


def last_start_marks(console: Iterable[str]) -> list[Json]:
    """The phase lines of the last start in the console: from its last `launcher started` on."""
    marks = [m for m in (parse_line(line) for line in console) if m is not None]
    starts = [i for i, m in enumerate(marks) if m["mark"] == LAUNCHER_STARTED]
    return marks[starts[-1] :] if starts else []


def _event_marks(events: Iterable[Json], launcher_at: datetime) -> list[Json]:
    """The system log's scheduling and pull events of the start that ran the launcher at `launcher_at`:
    the last scheduling at or before it, and the pull events between the two."""
    timed = []
    for ev in events:
        at = parse_time(str(ev.get("TimeStamp") or ""))
        if at is not None and at <= launcher_at and ev.get("Reason") in (SCHEDULED, PULLING, PULLED):
            timed.append({"mark": ev["Reason"], "at": at, "detail": str(ev.get("Msg") or "")})
    timed.sort(key=lambda m: m["at"])
    scheduled = [i for i, m in enumerate(timed) if m["mark"] == SCHEDULED]
    if not scheduled:
        return []
    picked = timed[scheduled[-1] :]
    out, seen = [], set()
    for m in picked:
        if m["mark"] not in seen:  # a pull retried: its first attempt begins the phase
            seen.add(m["mark"])
            out.append(m)
    return out


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def timeline(events: Iterable[Json], console: Iterable[str]) -> Json | None:
    """`lastStart`: the phases of the last start with their seconds, the total from the replica's
    scheduling (else the launcher's start) to ready, and to the first answered request when the
    console shows one; None when the console holds no phase line."""
    marks = last_start_marks(console)
    if not marks:
        return None
    marks = sorted(marks, key=lambda m: m["at"])  # the server's processes write them concurrently
    first_request = next((m for m in marks if m["mark"] == FIRST_REQUEST), None)
    marks = [m for m in marks if m["mark"] != FIRST_REQUEST]
    launcher = next(m for m in marks if m["mark"] == LAUNCHER_STARTED)
    before = _event_marks(events, launcher["at"])
    chain = before + marks
    begin = chain[0]
    phases = []
    for prev, cur in pairwise(chain):
        phase: Json = {
            "phase": PHASE_ENDING_AT.get(cur["mark"], cur["mark"]),
            "seconds": round((cur["at"] - prev["at"]).total_seconds(), 3),
            "endedAt": _stamp(cur["at"]),
        }
        if cur["mark"] == "weights loaded":
            numbers = weights(cur["detail"])
            if "seconds" in numbers:  # vLLM's own time for reading them, within the phase
                numbers["loadSeconds"] = numbers.pop("seconds")
            phase.update(numbers)
        elif cur["detail"] and cur["mark"] not in (PULLING, PULLED):
            phase["detail"] = cur["detail"]
        phases.append(phase)
    ready = next((m for m in marks if m["mark"] == READY), None)
    result: Json = {
        "from": "replica scheduled" if before and before[0]["mark"] == SCHEDULED else "launcher started",
        "startedAt": _stamp(begin["at"]),
        "phases": phases,
        "readyAt": _stamp(ready["at"]) if ready else None,
        "secondsToReady": round((ready["at"] - begin["at"]).total_seconds(), 3) if ready else None,
        "secondsToFirstRequest": None,
    }
    if first_request is not None:
        result["firstRequestAt"] = _stamp(first_request["at"])
        result["secondsToFirstRequest"] = round((first_request["at"] - begin["at"]).total_seconds(), 3)
    if ready is None:
        result["note"] = "not ready yet (or the start failed): the phases so far"
    return result


def text_lines(start: Json | None) -> list[str]:
    """The timeline as text, one phase a line (`logs --timeline`)."""
    if not start:
        return [
            "No start-up timeline: the console holds no phase line of the launcher (a launcher from before "
            "timelines, or the lines scrolled out of the log tail)."
        ]
    lines = [f"Last start, from {start['from']} at {start['startedAt']}:"]
    for p in start["phases"]:
        extra = ""
        if "loadFormat" in p:
            size = ""
            if "bytes" in p:
                size = f"{p['bytes'] / 1e9:.2f} GB, " if p["bytes"] >= 1e9 else f"{p['bytes'] / 1e6:.1f} MB, "
            rate = f"{p['mbPerSecond']:.0f} MB/s, " if "mbPerSecond" in p else ""
            extra = f"  ({size}{rate}load format {p['loadFormat']}" + (
                f", concurrency {p['concurrency']})" if "concurrency" in p else ")"
            )
        elif p.get("detail"):
            extra = f"  ({p['detail']})"
        lines.append(f"  {p['phase']:<28} {p['seconds']:8.2f} s{extra}")
    if start.get("secondsToReady") is not None:
        lines.append(f"  {'= ready after':<28} {start['secondsToReady']:8.2f} s")
    else:
        lines.append(f"  {start.get('note', 'not ready')}")
    if start.get("secondsToFirstRequest") is not None:
        lines.append(f"  {'first request answered after':<28} {start['secondsToFirstRequest']:8.2f} s")
    return lines
