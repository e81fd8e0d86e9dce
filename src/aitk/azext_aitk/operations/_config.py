"""Shared by the commands that work on a provisioned endpoint: the workspace and its config."""

from .._exception_handler import config_in_use
from ..azure import container_app
from ..core import workspace as ws_mod
from ..core.endpoint import endpoint_url
from ..core.init import aitk_originals


def load_config(cmd, workspace):
    """(Workspace, InferenceConfig) of the workspace folder; az's subscription for this command
    becomes the config's (a --subscription flag wins)."""
    ws = ws_mod.open_workspace(workspace)
    aitk_originals.check_migrated(ws)
    cfg = ws.inference_config()
    config_in_use["path"] = str(ws.inference_config_file)
    if not cmd.cli_ctx.data.get("subscription_id"):
        cmd.cli_ctx.data["subscription_id"] = cfg.subscription_id
    return ws, cfg


def app_url(ws, cfg, app):
    """The URL the API key may be sent to: the app's own ingress over HTTPS, checked against the
    config's ACA_APP_ENDPOINT (core/endpoint/endpoint_url.py)."""
    return endpoint_url.app_url(container_app.fqdn(app), cfg.app_endpoint, str(ws.inference_config_file), cfg.app_name)
