"""`az aitk inference init`: the workspace files, written only where missing; AI Toolkit's
original inference files migrated."""

from knack.log import get_logger

from ..core import next_steps
from ..core.init import on_device_models
from ..core.init.init_files import describe, init_workspace
from ..core.workspace import RESOURCE_GROUP_NAME, open_workspace

logger = get_logger(__name__)


def inference_init(cmd, workspace=None, force=False):  # pylint: disable=unused-argument
    ws = open_workspace(workspace)
    # Both configs read before anything is written: a malformed one (which init never rewrites,
    # --force or not) is refused with nothing half-done.
    finetuning = ws.read_finetuning_config() or {}
    known = bool(finetuning.get(RESOURCE_GROUP_NAME))
    known = bool(ws.read_inference_config_any().get(RESOURCE_GROUP_NAME)) or known
    on_device = on_device_models.find(ws.root, finetuning)
    if on_device is not None:  # Phi Silica and the like: nothing vLLM can serve, so nothing is written
        raise on_device_models.refusal(on_device)
    results = init_workspace(ws, force=force)
    for r in results:
        logger.warning("%s", describe(r))
    for line in next_steps.after("init", workspace, group_known=known):
        logger.warning(line)
    return results
