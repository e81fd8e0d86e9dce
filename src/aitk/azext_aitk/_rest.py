"""Resource Manager calls the SDK az ships cannot make (its models predate revision states,
replicas' containers, getAuthToken): az's own send_raw_request, api-version 2024-03-01."""
API_VERSION = "2024-03-01"


def app_id(cfg):
    from . import workspace as ws_mod
    return (f"/subscriptions/{cfg[ws_mod.SUBSCRIPTION_ID]}/resourceGroups/{cfg[ws_mod.RESOURCE_GROUP_NAME]}"
            f"/providers/Microsoft.App/containerApps/{cfg[ws_mod.ACA_APP_NAME]}")


def call(cli_ctx, method, path, api_version=API_VERSION, body=None):
    """JSON of the answer (None for an empty one). Errors: az's HTTPError (status in .response)."""
    import json
    from azure.cli.core.util import send_raw_request
    sep = "&" if "?" in path else "?"
    resp = send_raw_request(cli_ctx, method, f"{path}{sep}api-version={api_version}",
                            body=json.dumps(body) if body is not None else None)
    text = resp.text
    return json.loads(text) if text and text.strip() else None


def get(cli_ctx, path, api_version=API_VERSION):
    return call(cli_ctx, "GET", path, api_version)


def list_all(cli_ctx, path, api_version=API_VERSION):
    """Every item of a paged list."""
    out, page = [], get(cli_ctx, path, api_version)
    while page:
        out += page.get("value") or []
        nxt = page.get("nextLink")
        if not nxt:
            break
        from azure.cli.core.util import send_raw_request
        page = send_raw_request(cli_ctx, "GET", nxt).json()
    return out


def status_code(ex):
    return getattr(getattr(ex, "response", None), "status_code", None) or getattr(ex, "status_code", None)
