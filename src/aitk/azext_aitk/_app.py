"""Shared by deploy and endpoint: the config, the app, its key."""
from knack.log import get_logger

from . import api_key
from . import workspace as ws_mod

logger = get_logger(__name__)


def load_config(cmd, workspace):
    ws = ws_mod.Workspace(workspace or ".")
    cfg = ws.read_inference_config()
    # The config names the subscription; clients use it (a --subscription flag wins).
    if not cmd.cli_ctx.data.get("subscription_id"):
        cmd.cli_ctx.data["subscription_id"] = cfg[ws_mod.SUBSCRIPTION_ID]
    return ws, cfg


def get_app(cmd, cfg):
    from azure.cli.core.azclierror import ResourceNotFoundError
    from azure.core.exceptions import HttpResponseError
    from azure.core.exceptions import ResourceNotFoundError as SdkNotFound
    from ._client_factory import cf_container_apps
    aca = cf_container_apps(cmd.cli_ctx, cmd.cli_ctx.data.get("subscription_id"))
    group, name = cfg[ws_mod.RESOURCE_GROUP_NAME], cfg[ws_mod.ACA_APP_NAME]
    try:
        return aca, aca.container_apps.get(group, name)
    except (SdkNotFound, HttpResponseError) as e:
        if isinstance(e, SdkNotFound) or getattr(e, "status_code", None) == 404:
            raise ResourceNotFoundError(
                f"container app '{name}' was not found in resource group '{group}' "
                f"(named by {ws_mod.INFERENCE_CONFIG_FILE})",
                "Run `az aitk inference provision` to create it, or fix the config file.") from None
        raise


def get_key(aca, cfg):
    from ._client_factory import retry_lost
    secrets = retry_lost(aca.container_apps.list_secrets, cfg[ws_mod.RESOURCE_GROUP_NAME],
                         cfg[ws_mod.ACA_APP_NAME])
    return api_key.from_secrets(getattr(secrets, "value", None))


def app_state(app):
    return getattr(app, "running_status", None) or getattr(app, "provisioning_state", None) or "Unknown"
