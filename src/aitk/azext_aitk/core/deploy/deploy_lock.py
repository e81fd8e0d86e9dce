"""One deploy at a time per share: the facts of deploy's lease (azure/file_share.DeployLease holds it).

Two deploys to one share from two copies of a workspace would interleave their files and the last
writer would win silently. Each deploy holds an Azure Files lease on LOCK_PATH for its whole run
(Lease File: an infinite lease, exclusive for writes and deletes,
https://learn.microsoft.com/rest/api/storageservices/lease-file); a second deploy that finds it
held refuses in one line naming the holder. A file lease never expires by itself, so the holder
writes who it is and a heartbeat into the file's metadata; a lease whose holder is gone (a
process on this machine that no longer runs, or no heartbeat for STALE_S) is broken and taken
over, saying so.
"""

from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from aitk_serve import layout

from ..errors import AitkError

LOCK_PATH = layout.AITK_DIR + "/deploy-lock"
HEARTBEAT_S = 30.0  # the holder rewrites its heartbeat this often
STALE_S = 300.0  # no heartbeat for this long: the holder is gone (ten missed beats, clock skew included)


class DeployBusyError(AitkError):
    """Another deploy holds the share's deploy lease."""


def host_label(host: str) -> str:
    """The machine's name as metadata can hold it (Azure Files metadata values are ASCII)."""
    return host.encode("ascii", "replace").decode("ascii").replace("?", "-") or "unknown"


def holder_metadata(host: str, pid: int, started: float, beat: float) -> dict[str, str]:
    """The lock file's metadata: who holds the lease, since when, and its last heartbeat."""
    return {
        "aitkhost": host_label(host),
        "aitkpid": str(pid),
        "aitkstarted": f"{started:.0f}",
        "aitkheartbeat": f"{beat:.0f}",
    }


def _when(epoch: str | None) -> str:
    try:
        return datetime.fromtimestamp(float(epoch or ""), timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return "an unknown time"


def describe(metadata: Mapping[str, str] | None) -> str:
    """'a deploy from HOST (pid N) started at T', or 'another deploy' when it did not say."""
    md = {k.lower(): v for k, v in (metadata or {}).items()}
    if not md.get("aitkhost"):
        return "another deploy"
    return f"a deploy from {md['aitkhost']} (pid {md.get('aitkpid', '?')}) started at {_when(md.get('aitkstarted'))}"


def gone(
    metadata: Mapping[str, str] | None,
    now: float,
    this_host: str,
    pid_alive: Callable[[int], bool],
    modified: float | None = None,
) -> str | None:
    """Why the holder of the lease is gone (the lease may be broken), else None (it is alive).
    `modified`: when the lock file last changed (a holder that died before writing its metadata)."""
    md = {k.lower(): v for k, v in (metadata or {}).items()}
    if (
        md.get("aitkhost") == host_label(this_host)
        and md.get("aitkpid", "").isdigit()
        and not pid_alive(int(md["aitkpid"]))
    ):
        return f"its process {md['aitkpid']} on this machine no longer runs"
    try:
        beat: float | None = float(md.get("aitkheartbeat") or "")
    except ValueError:
        beat = modified
    if beat is not None and now - beat > STALE_S:
        return f"it has given no sign of life for {now - beat:.0f} s"
    return None


def busy(share_label: str, metadata: Mapping[str, str] | None) -> DeployBusyError:
    return DeployBusyError(
        f"{describe(metadata)} is deploying to share {share_label} (it holds the lease on {LOCK_PATH}); "
        "this deploy changed nothing",
        "Run deploy again when that one has finished (only what differs is uploaded then).",
    )
