"""`az aitk inference init`: the workspace files, written only where missing."""

from knack.log import get_logger

from ..core.init_files import init_workspace
from ..core.workspace import Workspace

logger = get_logger(__name__)


def inference_init(cmd, workspace=None, force=False):  # pylint: disable=unused-argument
    results = init_workspace(Workspace(workspace or "."), force=force)
    for r in results:
        if r["action"] == "kept":
            logger.warning("Kept %s (it differs from the shipped one; --force resets it with a backup)", r["file"])
    return results
