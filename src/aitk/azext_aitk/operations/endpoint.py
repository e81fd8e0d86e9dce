"""`az aitk inference endpoint`: where and how to call the endpoint."""

from ..azure import container_app, model_server
from ..core import api_key, names
from ._config import app_url, load_config


def inference_endpoint(cmd, workspace=None, show_key=False):
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
        result["models"] = model_server.list_models(url, key, timeout=15.0)
        result["state"] = "Running"
    except model_server.ServerError as e:
        provisioning = container_app.state(app)
        result["state"] = "NotServing" if provisioning == "Succeeded" else provisioning
        result["note"] = (
            f"{e}. A scaled-to-zero app starts on the first request (loading the "
            "model takes a while); `az aitk inference deploy` waits for it."
        )
    if show_key:
        result["apiKey"] = keys[api_key.PRIMARY]
        result["secondaryApiKey"] = keys[api_key.SECONDARY]
        result["curl"] = names.curl_chat(url, key, result["models"][0] if result["models"] else "MODEL")
    return result
