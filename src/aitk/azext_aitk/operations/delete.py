"""`az aitk inference delete`: the container app, and what provision made only for it."""

from knack.log import get_logger

from ..azure import arm, container_app, log_analytics, managed_environment
from ..core import teardown_plan
from ..core import workspace as ws_mod
from ._config import load_config

logger = get_logger(__name__)


def build_plan(cmd, ws, cfg):
    """The teardown plan (core/teardown_plan.py) from what the subscription holds."""
    from azure.cli.core.azclierror import ResourceNotFoundError

    cli = cmd.cli_ctx
    aca = container_app.ContainerApp.from_config(cli, cfg)
    app = aca.find_json()
    if app is None:
        raise ResourceNotFoundError(
            f"container app '{cfg.app_name}' was not found in resource group "
            f"'{cfg.resource_group}' (named by {ws_mod.INFERENCE_CONFIG_FILE}): "
            "nothing to delete",
            "Delete leftovers with `az resource delete`, or fix the config file.",
        )
    env_id = (app.get("properties") or {}).get("managedEnvironmentId")
    apps = container_app.list_in_subscription(cli, cfg.subscription_id)
    others = [
        (a.get("properties") or {}).get("managedEnvironmentId")
        for a in apps
        if (a.get("id") or "").lower() != aca.id.lower()
    ]
    env, other_storages = None, []
    if env_id:
        env = managed_environment.get_json(cli, env_id)
        other_storages = managed_environment.storage_accounts_of_others(cli, cfg.subscription_id, env_id)
    try:
        ft = ws.read_finetuning_config()
    except ws_mod.WorkspaceError:
        ft = {}
    customer_id = (
        (((env or {}).get("properties") or {}).get("appLogsConfiguration") or {}).get("logAnalyticsConfiguration", {})
        or {}
    ).get("customerId")
    logs_workspace = log_analytics.find_by_customer_id(cli, cfg.resource_group_id, customer_id)
    return teardown_plan.plan(
        app["id"], env_id, others, cfg.storage_account_id, ft or {}, other_storages, logs_workspace
    )


def inference_delete(cmd, workspace=None, yes=False, no_wait=False):
    from knack.prompting import NoTTYException, prompt_y_n

    ws, cfg = load_config(cmd, workspace)
    items = build_plan(cmd, ws, cfg)
    for line in teardown_plan.describe(items):
        logger.warning(line)
    if not yes:
        try:
            if not prompt_y_n("Delete these resources?", default="n"):
                logger.warning("Nothing was deleted.")
                return None
        except NoTTYException:
            from azure.cli.core.azclierror import ValidationError

            raise ValidationError(
                "delete needs a confirmation and there is no terminal to ask", "Add --yes to delete without asking."
            ) from None
    doomed = [i for i in items if i["action"] == "delete"]
    for i, item in enumerate(doomed):
        # The app must be gone before its environment; the rest may run on with --no-wait.
        logger.warning("Deleting %s %s…", item["type"], item["name"])
        arm.delete(cmd.cli_ctx, item["id"], item["type"], wait=(not no_wait) or (i == 0 and len(doomed) > 1))
    return {
        "deleted": [i["id"] for i in doomed],
        "kept": [i["id"] for i in items if i["action"] == "keep"],
        "waited": not no_wait,
    }
