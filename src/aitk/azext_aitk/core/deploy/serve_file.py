"""The workspace's inference/serve.json, checked before deploy uploads it.

The launcher reads it at every start (aitk_serve.discovery.load_serve_config) and refuses a file
that is not valid JSON, not an object, has unknown keys or values of the wrong type; the replica
then exits and deploy waits for a start that cannot happen. Deploy reads it with the launcher's
own reader first, so such a file is refused in one line with nothing uploaded.
"""

from aitk_serve import LaunchError, discovery

from .. import workspace as ws_mod
from ..errors import WorkspaceError


def check(ws: ws_mod.Workspace) -> None:
    """Raise WorkspaceError when the workspace's serve.json is one the launcher would refuse."""
    path = ws.serve_file
    if not path.exists():
        return
    try:
        discovery.load_serve_config(str(path), required=True)
    except LaunchError as e:
        raise WorkspaceError(
            str(e),
            recommendation=f"Fix {ws_mod.SERVE_FILE} (or reset it with `az aitk inference init --force`, "
            "which keeps a backup), then deploy again.",
            kind="malformed",
            path=str(path),
        ) from None
