"""`az aitk inference deploy`: sync to the share, hot-load or restart, wait until serving."""
import importlib.util
import os
import threading
from pathlib import Path

from knack.log import get_logger

from aitk_serve import layout

from . import adapter_specs, server_api, share_sync, sync_plan
from . import workspace as ws_mod
from ._app import get_app, get_key, load_config

logger = get_logger(__name__)

DEFAULT_TIMEOUT = 1800
RESTART_GRACE = 5.0    # seconds to let a restarted revision stop answering before waiting for it


def launcher_dir():
    spec = importlib.util.find_spec("aitk_serve")
    if spec is None or not spec.origin:
        from azure.cli.core.azclierror import CLIInternalError
        raise CLIInternalError("the aitk_serve launcher package is missing; reinstall the extension")
    return Path(spec.origin).resolve().parent


def storage_access(cmd, cfg):
    """(file endpoint, account key) through azure-mgmt-storage. The key is never printed."""
    from azure.cli.core.azclierror import ResourceNotFoundError
    from azure.core.exceptions import ResourceNotFoundError as SdkNotFound
    from ._client_factory import cf_storage, retry_lost
    storage = cf_storage(cmd.cli_ctx, cmd.cli_ctx.data.get("subscription_id"))
    group, account = cfg[ws_mod.RESOURCE_GROUP_NAME], cfg[ws_mod.STORAGE_ACCOUNT_NAME]
    try:
        props = storage.storage_accounts.get_properties(group, account)
    except SdkNotFound:
        raise ResourceNotFoundError(f"storage account '{account}' was not found in resource group "
                                    f"'{group}'", "Run `az aitk inference provision` again.") from None
    endpoint = file_endpoint(props)
    if not endpoint:
        from azure.cli.core.azclierror import ValidationError
        raise ValidationError(f"storage account '{account}' has no file endpoint")
    key = first_key(retry_lost(storage.storage_accounts.list_keys, group, account))
    if not key:
        from azure.cli.core.azclierror import ValidationError
        raise ValidationError(f"storage account '{account}' gave no account key",
                              "Shared Key access must be allowed on the account.")
    return endpoint, key


def file_endpoint(account):
    """primaryEndpoints.file of a storage account (SDK model of either generation, or dict)."""
    inner = getattr(account, "properties", None)
    for holder in (inner, account):
        if holder is None:
            continue
        endpoints = getattr(holder, "primary_endpoints", None)
        if endpoints is None and isinstance(holder, dict):
            endpoints = holder.get("primaryEndpoints")
        if isinstance(endpoints, dict):
            value = endpoints.get("file")
        else:
            value = getattr(endpoints, "file", None)
        if value:
            return value
    return None


def first_key(result):
    """The first account key of a listKeys result. azure-mgmt-storage 25's models are mappings,
    where `.keys` is the mapping method and the list is `keys_property` (or result["keys"])."""
    keys = getattr(result, "keys_property", None)
    if keys is None:
        keys = result["keys"] if hasattr(result, "__getitem__") else getattr(result, "keys", None)
    for k in keys or []:
        value = k.get("value") if isinstance(k, dict) else getattr(k, "value", None)
        if value:
            return value
    return None


def collect_local(ws, adapter_dirs):
    """({share path: LocalFile}, [roots])."""
    local, roots = {}, []
    if ws.inference_dir.is_dir():
        local.update(sync_plan.scan_local(ws.inference_dir, layout.INFERENCE_DIR))
        roots.append(layout.INFERENCE_DIR)
    else:
        logger.warning("No %s/ folder in the workspace (run `az aitk inference init`); the launcher "
                       "finds the model on the share by itself.", ws_mod.INFERENCE_DIR)
    local.update(sync_plan.scan_local(launcher_dir(), layout.LAUNCHER_DIR + "/aitk_serve"))
    roots.append(layout.LAUNCHER_DIR)
    for name, folder in adapter_dirs.items():
        local.update(sync_plan.scan_local(folder, layout.adapter_dir(name)))
        roots.append(layout.adapter_dir(name))
    return local, roots


def run(cmd, workspace=None, adapters=None, delete=False, no_wait=False, timeout=None):
    ws, cfg = load_config(cmd, workspace)
    adapter_dirs = adapter_specs.parse_all(adapters, base_dir=os.getcwd())
    local, roots = collect_local(ws, adapter_dirs)
    local = sync_plan.with_hashes(local)

    aca, app = get_app(cmd, cfg)
    key = get_key(aca, cfg)
    from ._client_factory import share_client
    endpoint, account_key = storage_access(cmd, cfg)
    share = share_client(cmd.cli_ctx, endpoint, cfg[ws_mod.FILE_SHARE_NAME],
                         cfg[ws_mod.STORAGE_ACCOUNT_NAME], account_key)
    remote, existing_dirs = share_sync.list_remote(share, roots)
    plan = sync_plan.plan(local, remote, roots, delete=delete)

    total = sum(f.size for f in plan.upload)
    logger.warning("Share %s/%s: %d file(s) to upload (%s), %d unchanged, %d to delete",
                   cfg[ws_mod.STORAGE_ACCOUNT_NAME], cfg[ws_mod.FILE_SHARE_NAME], len(plan.upload),
                   _size(total), len(plan.skip), len(plan.delete))
    if plan.upload:
        share_sync.ensure_dirs(share, [f.path for f in plan.upload], existing_dirs)
        controller = cmd.cli_ctx.get_progress_controller(det=True)
        lock = threading.Lock()

        def report(done, tot):
            with lock:   # az's progress view is not thread-safe
                controller.add(message="Uploading", value=min(done, tot), total_val=max(tot, 1))

        progress = share_sync.Progress(total, report)
        try:
            share_sync.upload(share, plan.upload, progress)
        finally:
            controller.end()
    if plan.delete:
        share_sync.delete(share, plan.delete)

    changed = [f.path for f in plan.upload] + [r.path for r in plan.delete]
    serving_changed = any(_under(p, layout.LAUNCHER_DIR) or _under(p, layout.INFERENCE_DIR)
                          for p in changed)
    changed_adapters = sorted(n for n in adapter_dirs
                              if any(_under(p, layout.adapter_dir(n)) for p in changed))

    url = cfg[ws_mod.ACA_APP_ENDPOINT].rstrip("/")
    action = "none"
    if serving_changed or changed_adapters:
        # A runtime load reaches one replica only: with more than one, restart them all.
        single = _max_replicas(app) <= 1
        up = single and not serving_changed and server_api.health(url, timeout=5.0)
        if up:
            action = "hot-load" if _hot_load(url, key, changed_adapters) else "restart"
        else:
            action = "restart"
        if action == "restart":
            if _restart(cmd, aca, app, cfg) and not no_wait:
                server_api.wait_down(url, grace=RESTART_GRACE)

    result = {"endpoint": url, "uploaded": len(plan.upload), "unchanged": len(plan.skip),
              "deleted": len(plan.delete), "bytesUploaded": total, "action": action}
    if no_wait:
        result["ready"] = None
        logger.warning("Endpoint: %s (not waiting for it; `az aitk inference endpoint` shows its state)", url)
        return result
    expected = sorted(adapter_dirs)
    controller = cmd.cli_ctx.get_progress_controller()
    controller.begin(message="Waiting for the endpoint")
    try:
        models = server_api.wait_ready(url, key, expected, timeout or DEFAULT_TIMEOUT,
                                       tick=lambda msg: controller.add(message=msg))
    except server_api.ServerError as e:
        from azure.cli.core.azclierror import AzureResponseError
        raise AzureResponseError(
            f"the endpoint {url} was not ready within {timeout or DEFAULT_TIMEOUT} s: {e}",
            f"See the app's logs: `az containerapp logs show -n {cfg[ws_mod.ACA_APP_NAME]} -g "
            f"{cfg[ws_mod.RESOURCE_GROUP_NAME]} --type console --tail 100`; a large model can take "
            "a while to load: run deploy again (nothing is uploaded twice) with a longer --timeout.") from None
    finally:
        controller.end()
    result["ready"] = True
    result["models"] = models
    logger.warning("Endpoint: %s  models: %s", url, ", ".join(models))
    return result


def _under(path, root):
    return path == root or path.startswith(root + "/")


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return str(n)


def _hot_load(url, key, names):
    try:
        current = set(server_api.list_models(url, key))
    except server_api.ServerError:
        return False
    for name in names:
        if name in current:
            ok, detail = server_api.unload_adapter(url, key, name)
            if not ok:
                logger.info("unload of %s failed (%s)", name, detail)
                return False
        ok, detail = server_api.load_adapter(url, key, name, layout.adapter_dir(name))
        if not ok:
            logger.warning("The server did not hot-load adapter %s (%s); restarting instead.", name, detail)
            return False
        logger.warning("Hot-loaded adapter %s", name)
    return True


def _max_replicas(app):
    scale = getattr(getattr(app, "template", None), "scale", None)
    return getattr(scale, "max_replicas", None) or 1


def _restart(cmd, aca, app, cfg):
    revision = getattr(app, "latest_ready_revision_name", None) or getattr(app, "latest_revision_name", None)
    if not revision:
        logger.warning("The app has no revision to restart yet; it starts with the new files.")
        return False
    logger.warning("Restarting revision %s", revision)
    from ._client_factory import retry_lost
    retry_lost(aca.container_apps_revisions.restart_revision, cfg[ws_mod.RESOURCE_GROUP_NAME],
               cfg[ws_mod.ACA_APP_NAME], revision)
    return True
