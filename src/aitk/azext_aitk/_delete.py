"""`az aitk inference delete`: the container app, and what provision made only for it."""
from knack.log import get_logger

from . import teardown_plan
from . import workspace as ws_mod
from . import _rest
from ._app import load_config

logger = get_logger(__name__)

LOGS_API = "2022-10-01"
STORAGE_API = "2023-05-01"


def _env_logs_workspace(cli_ctx, cfg, env):
    """The id of the environment's Log Analytics workspace in the resource group, else None."""
    customer = (((env or {}).get("properties") or {}).get("appLogsConfiguration") or {}) \
        .get("logAnalyticsConfiguration", {}) or {}
    customer_id = customer.get("customerId")
    if not customer_id:
        return None
    group = f"/subscriptions/{cfg[ws_mod.SUBSCRIPTION_ID]}/resourceGroups/{cfg[ws_mod.RESOURCE_GROUP_NAME]}"
    try:
        for w in _rest.list_all(cli_ctx, f"{group}/providers/Microsoft.OperationalInsights/workspaces", LOGS_API):
            if ((w.get("properties") or {}).get("customerId") or "").lower() == customer_id.lower():
                return w["id"]
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not list Log Analytics workspaces", exc_info=True)
    return None


def build_plan(cmd, ws, cfg):
    from azure.cli.core.azclierror import ResourceNotFoundError
    cli = cmd.cli_ctx
    sub = cfg[ws_mod.SUBSCRIPTION_ID]
    aid = _rest.app_id(cfg)
    try:
        app = _rest.get(cli, aid)
    except Exception as ex:  # pylint: disable=broad-except
        if _rest.status_code(ex) == 404:
            raise ResourceNotFoundError(
                f"container app '{cfg[ws_mod.ACA_APP_NAME]}' was not found in resource group "
                f"'{cfg[ws_mod.RESOURCE_GROUP_NAME]}' (named by {ws_mod.INFERENCE_CONFIG_FILE}): "
                "nothing to delete",
                "Delete leftovers with `az resource delete`, or fix the config file.") from None
        raise
    env_id = (app.get("properties") or {}).get("managedEnvironmentId")
    apps = _rest.list_all(cli, f"/subscriptions/{sub}/providers/Microsoft.App/containerApps")
    others = [(a.get("properties") or {}).get("managedEnvironmentId") for a in apps
              if (a.get("id") or "").lower() != aid.lower()]
    env, other_storages = None, []
    if env_id:
        try:
            env = _rest.get(cli, env_id)
        except Exception:  # pylint: disable=broad-except
            logger.debug("could not read the environment", exc_info=True)
        try:
            for e in _rest.list_all(cli, f"/subscriptions/{sub}/providers/Microsoft.App/managedEnvironments"):
                if (e.get("id") or "").lower() == env_id.lower():
                    continue
                for s in _rest.list_all(cli, f"{e['id']}/storages"):
                    af = (s.get("properties") or {}).get("azureFile") or {}
                    other_storages.append(af.get("accountName"))
        except Exception:  # pylint: disable=broad-except
            logger.debug("could not list the other environments' storages", exc_info=True)
    try:
        ft = ws.read_finetuning_config()
    except ws_mod.WorkspaceError:
        ft = {}
    storage_id = (f"/subscriptions/{sub}/resourceGroups/{cfg[ws_mod.RESOURCE_GROUP_NAME]}/providers/"
                  f"Microsoft.Storage/storageAccounts/{cfg[ws_mod.STORAGE_ACCOUNT_NAME]}")
    return teardown_plan.plan(app["id"], env_id, others, storage_id, ft or {}, other_storages,
                              _env_logs_workspace(cli, cfg, env))


def _api(item):
    return {"Microsoft.OperationalInsights/workspaces": LOGS_API,
            "Microsoft.Storage/storageAccounts": STORAGE_API}.get(item["type"], _rest.API_VERSION)


def _delete(cmd, item, wait):
    """DELETE, then (wait) poll the resource until it is gone."""
    import time
    try:
        _rest.call(cmd.cli_ctx, "DELETE", item["id"], _api(item))
    except Exception as ex:  # pylint: disable=broad-except
        if _rest.status_code(ex) == 404:
            return
        raise
    deadline = time.monotonic() + 900
    while wait and time.monotonic() < deadline:
        try:
            _rest.get(cmd.cli_ctx, item["id"], _api(item))
        except Exception as ex:  # pylint: disable=broad-except
            if _rest.status_code(ex) == 404:
                return
            raise
        time.sleep(2)


def run(cmd, workspace=None, yes=False, no_wait=False):
    from knack.prompting import NoTTYException, prompt_y_n
    ws, cfg = load_config(cmd, workspace)
    items = build_plan(cmd, ws, cfg)
    lines = teardown_plan.describe(items)
    for line in lines:
        logger.warning(line)
    if not yes:
        try:
            if not prompt_y_n("Delete these resources?", default="n"):
                logger.warning("Nothing was deleted.")
                return None
        except NoTTYException:
            from azure.cli.core.azclierror import ValidationError
            raise ValidationError("delete needs a confirmation and there is no terminal to ask",
                                  "Add --yes to delete without asking.") from None
    doomed = [i for i in items if i["action"] == "delete"]
    for i, item in enumerate(doomed):
        # The app must be gone before its environment; the rest may run on with --no-wait.
        logger.warning("Deleting %s %s…", item["type"], item["name"])
        _delete(cmd, item, wait=(not no_wait) or (i == 0 and len(doomed) > 1))
    return {"deleted": [i["id"] for i in doomed], "kept": [i["id"] for i in items if i["action"] == "keep"],
            "waited": not no_wait}
