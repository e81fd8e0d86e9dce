"""The workspace's inference/serve.json, checked before deploy uploads it.

The launcher reads it at every start (aitk_serve.discovery.load_serve_config) and refuses a file
that is not valid JSON, not an object, has unknown keys or values of the wrong type; the replica
then exits and deploy waits for a start that cannot happen. Deploy reads it with the launcher's
own reader first, so such a file is refused in one line with nothing uploaded.
"""

from typing import Any

from aitk_serve import LaunchError, discovery, serve_config

from .. import workspace as ws_mod
from ..errors import WorkspaceError


def check(ws: ws_mod.Workspace) -> None:
    """Raise WorkspaceError when the workspace's serve.json is one the launcher would refuse."""
    read(ws)


def read(ws: ws_mod.Workspace) -> dict[str, Any] | None:
    """The workspace's serve.json as its JSON object (None when there is none), read by the
    launcher's own reader; WorkspaceError when the launcher would refuse it."""
    path = ws.serve_file
    if not path.exists():
        return None
    try:
        return discovery.read_serve_object(str(path))
    except LaunchError as e:
        raise WorkspaceError(
            str(e),
            recommendation=f"Fix {ws_mod.SERVE_FILE} (or reset it with `az aitk inference init --force`, "
            "which keeps a backup), then deploy again.",
            kind="malformed",
            path=str(path),
        ) from None


def model(ws: ws_mod.Workspace) -> str | None:
    """The base model serve.json names (a share path or a hub id), else None."""
    name = (read(ws) or {}).get(serve_config.MODEL)
    return name if isinstance(name, str) and name.strip() else None
