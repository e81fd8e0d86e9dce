"""Shared by the commands that work on a provisioned endpoint: the workspace and its config."""

from ..core import workspace as ws_mod


def load_config(cmd, workspace):
    """(Workspace, InferenceConfig) of the workspace folder; az's subscription for this command
    becomes the config's (a --subscription flag wins)."""
    ws = ws_mod.Workspace(workspace or ".")
    cfg = ws.inference_config()
    if not cmd.cli_ctx.data.get("subscription_id"):
        cmd.cli_ctx.data["subscription_id"] = cfg.subscription_id
    return ws, cfg
