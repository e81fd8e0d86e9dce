"""`az aitk inference endpoint`: where and how to call the endpoint."""

from ..azure import container_app, model_server
from ..core import api_key, names
from ..core.endpoint import wake
from ..core.errors import WakeError
from ._config import app_url, load_config
from ._wake import wake_endpoint


def inference_endpoint(cmd, workspace=None, show_key=False, wait=None):
    wake.validate_wait(wait)
    ws, cfg = load_config(cmd, workspace)
    aca = container_app.ContainerApp.from_config(cmd.cli_ctx, cfg)
    app = aca.get()
    url = app_url(ws, cfg, app)
    keys = aca.api_keys()
    key = keys[api_key.PRIMARY] or keys[api_key.SECONDARY]
    result = {
        "url": url,
        "state": None,
        "models": [],
        "app": cfg.app_name,
        "resourceGroup": cfg.resource_group,
        "latestRevision": getattr(app, "latest_ready_revision_name", None),
    }
    try:
        wake_endpoint(url, wait)  # a scaled-to-zero app starts on this request: wait for it, saying so
        result["models"] = model_server.list_models(url, key, timeout=15.0)
        result["state"] = "Running"
    except (WakeError, model_server.ServerError) as e:
        provisioning = container_app.state(app)
        result["state"] = "NotServing" if provisioning == "Succeeded" else provisioning
        result["note"] = (
            f"{e}. A scaled-to-zero app starts on the first request (loading the model takes a "
            "while): `az aitk inference wait --ready` waits for it, `az aitk inference status` shows where it is."
        )
    if show_key:
        result["apiKey"] = keys[api_key.PRIMARY]
        result["secondaryApiKey"] = keys[api_key.SECONDARY]
        # The key stays out of the curl line (shell history, `ps`): it reads $AITK_API_KEY.
        result["curl"] = names.curl_chat(url, result["models"][0] if result["models"] else "MODEL")
    return result
