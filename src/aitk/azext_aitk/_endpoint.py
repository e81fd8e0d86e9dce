"""`az aitk inference endpoint`: where and how to call the endpoint."""
from . import server_api
from . import workspace as ws_mod
from ._app import app_state, get_app, get_key, load_config


def run(cmd, workspace=None, show_key=False):
    _, cfg = load_config(cmd, workspace)
    aca, app = get_app(cmd, cfg)
    key = get_key(aca, cfg)
    url = cfg[ws_mod.ACA_APP_ENDPOINT].rstrip("/")
    result = {"url": url, "state": None, "models": [],
              "app": cfg[ws_mod.ACA_APP_NAME], "resourceGroup": cfg[ws_mod.RESOURCE_GROUP_NAME],
              "latestRevision": getattr(app, "latest_ready_revision_name", None)}
    try:
        result["models"] = server_api.list_models(url, key, timeout=15.0)
        result["state"] = "Running"
    except server_api.ServerError as e:
        provisioning = app_state(app)
        result["state"] = "NotServing" if provisioning == "Succeeded" else provisioning
        result["note"] = (f"{e}. A scaled-to-zero app starts on the first request (loading the "
                          "model takes a while); `az aitk inference deploy` waits for it.")
    if show_key:
        result["apiKey"] = key
    return result
