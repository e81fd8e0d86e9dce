"""`az aitk inference delete`: the container app, and what provision made only for it."""

from aitk_serve import layout
from knack.log import get_logger

from ..azure import (
    arm,
    container_app,
    container_app_job,
    container_registry,
    file_share,
    log_analytics,
    managed_environment,
    resource_ids,
    storage_account,
)
from ..core import workspace as ws_mod
from ..core.delete import teardown_plan
from ..core.errors import ConfirmationRequiredError, WorkspaceError
from ._config import load_config, use_subscription

logger = get_logger(__name__)


def build_plan(cmd, ws, cfg):
    """The teardown plan (core/delete/teardown_plan.py) from what the subscription holds; None when the
    container app is gone already."""
    cli = cmd.cli_ctx
    aca = container_app.ContainerApp.from_config(cli, cfg)
    app = aca.find_json()
    if app is None:
        return None
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
    group_id = resource_ids.group_id(cfg.subscription_id, cfg.resource_group)
    logs_workspace = log_analytics.find_by_customer_id(cli, group_id, customer_id)
    job = (ft or {}).get(ws_mod.ACA_JOB_NAME)
    ft_group = (ft or {}).get(ws_mod.RESOURCE_GROUP_NAME) or cfg.resource_group
    ft_env_id = (
        container_app_job.environment_id(cli, cfg.subscription_id, ft_group, job.strip())
        if isinstance(job, str) and job.strip() and isinstance(ft_group, str)
        else None
    )
    # One rule for "made by provision": the template's tag (core/delete/teardown_plan.py).
    tagged = [r["id"] for r in arm.resources_in_group(cli, group_id) if ws_mod.has_provisioned_tag(r)]
    return teardown_plan.plan(
        app["id"],
        env_id,
        others,
        resource_ids.storage_account(cfg.subscription_id, cfg.resource_group, cfg.storage_account),
        ft or {},
        other_env_storage_accounts=other_storages,
        logs_workspace_id=logs_workspace,
        finetuning_env_id=ft_env_id,
        image_pull=container_registry.image_pull_resources(cli, cfg.subscription_id, app),
        provisioned=tagged,
    )


def _confirmed():
    """Whether the user says yes; no terminal to ask is an error."""
    from knack.prompting import NoTTYException, prompt_y_n

    try:
        if prompt_y_n("Delete these resources?", default="n"):
            return True
    except NoTTYException:
        raise ConfirmationRequiredError(
            "delete needs a confirmation and there is no terminal to ask", "Add --yes to delete without asking."
        ) from None
    logger.warning("Nothing was deleted.")
    return False


def _delete_items(cmd, doomed, no_wait):
    for i, item in enumerate(doomed):
        # The app must be gone before its environment; the rest may run on with --no-wait.
        logger.warning("Deleting %s %s…", item["type"], item["name"])
        arm.delete(cmd.cli_ctx, item["id"], item["type"], wait=(not no_wait) or (i == 0 and len(doomed) > 1))


def _partial_config(workspace):
    """(Workspace, its config dict) when the config is the incomplete one of a provision that
    did not finish (core/workspace.py), else None."""
    ws = ws_mod.open_workspace(workspace)
    data = ws.read_inference_config_any()
    return (ws, data) if ws_mod.is_incomplete(data) else None


def _delete_partial(cmd, partial, yes, no_wait):
    """Delete what a provision that did not finish created in the group (the resources carrying
    its tag: never fine-tuning's), then the incomplete config."""
    ws, data = partial
    named = data.get(ws_mod.SUBSCRIPTION_ID)
    group = data.get(ws_mod.RESOURCE_GROUP_NAME)
    if not (
        (cmd.cli_ctx.data.get("subscription_id") or (isinstance(named, str) and named))
        and isinstance(group, str)
        and group
    ):
        raise WorkspaceError(
            f"{ws.inference_config_file}: provision did not finish and the file names no subscription and group",
            f"Delete {ws.inference_config_file} and the resources tagged {'='.join(ws_mod.PROVISIONED_TAG)} by hand.",
            kind="incomplete",
            path=str(ws.inference_config_file),
        )
    subscription = use_subscription(cmd, named if isinstance(named, str) else None, ws_mod.INFERENCE_CONFIG_FILE)
    group_id = resource_ids.group_id(subscription, group)
    doomed = teardown_plan.plan_partial(arm.resources_in_group(cmd.cli_ctx, group_id), ws_mod.has_provisioned_tag)
    logger.warning("Provision did not finish in resource group '%s'.", group)
    if doomed:
        for line in teardown_plan.describe(doomed):
            logger.warning(line)
        if not yes and not _confirmed():
            return None
        _delete_items(cmd, doomed, no_wait)
    else:
        logger.warning("Nothing to delete: no resource in '%s' carries provision's tag.", group)
    ws.remove_partial_inference_config()
    logger.warning("Removed %s (it was marked incomplete).", ws.inference_config_file)
    return {
        "deleted": [i["id"] for i in doomed],
        "kept": [],
        "waited": not no_wait,
        "shareFilesPurged": None,
        "partialConfigRemoved": True,
    }


def inference_delete(cmd, workspace=None, yes=False, no_wait=False, purge_share_files=False):
    partial = _partial_config(workspace)
    if partial is not None:
        return _delete_partial(cmd, partial, yes, no_wait)
    ws, cfg = load_config(cmd, workspace)
    items = build_plan(cmd, ws, cfg)
    if items is None:
        logger.warning(
            "Nothing to delete: container app '%s' is not in resource group '%s' (gone already).",
            cfg.app_name,
            cfg.resource_group,
        )
        purged = _purge(cmd, cfg) if purge_share_files else None
        return {"deleted": [], "kept": [], "waited": not no_wait, "shareFilesPurged": purged}
    for line in teardown_plan.describe(items):
        logger.warning(line)
    storage_id = resource_ids.storage_account(cfg.subscription_id, cfg.resource_group, cfg.storage_account)
    storage_goes = any(i["action"] == "delete" and resource_ids.same(i["id"], storage_id) for i in items)
    purge = purge_share_files and not storage_goes  # a storage account that goes takes its files along
    if purge:
        logger.warning("and on share %s/%s removes %s.", cfg.storage_account, cfg.file_share, _owned())
    if not yes and not _confirmed():
        return None
    purged = _purge(cmd, cfg) if purge else None
    doomed = [i for i in items if i["action"] == "delete"]
    _delete_items(cmd, doomed, no_wait)
    if not storage_goes and not purge:
        logger.warning(
            "Kept on share %s/%s: %s (--purge-share-files removes them).",
            cfg.storage_account,
            cfg.file_share,
            _owned(),
        )
    if no_wait and doomed:
        pending = [i["id"] for i in doomed[1:]] if len(doomed) > 1 else [doomed[0]["id"]]
        how = (
            "`az resource wait --deleted --ids " + " ".join(pending) + "`"
            if len(doomed) > 1
            else "`az aitk inference wait --deleted`"
        )
        logger.warning("Not waiting for the deletion to finish: %s waits for it.", how)
    return {
        "deleted": [i["id"] for i in doomed],
        "kept": [i["id"] for i in items if i["action"] == "keep"],
        "waited": not no_wait,
        "shareFilesPurged": purged,
    }


def _owned():
    return ", ".join(f"{p}/" for p in layout.OWNED_PREFIXES) + " (the launcher, the inference config, pushed adapters)"


def _purge(cmd, cfg):
    """Remove deploy's folders from the share; {"files": n, "folders": n}, or None when the
    storage account is gone."""
    from .._client_factory import cf_share

    if not storage_account.exists(cmd.cli_ctx, cfg.subscription_id, cfg.resource_group, cfg.storage_account):
        return None
    endpoint, account_key = storage_account.file_access(
        cmd.cli_ctx, cfg.subscription_id, cfg.resource_group, cfg.storage_account
    )
    share = cf_share(cmd.cli_ctx, endpoint, cfg.file_share, cfg.storage_account, account_key)
    files, folders = file_share.purge_owned(share)
    logger.warning("Removed %s from share %s/%s (%d file(s)).", _owned(), cfg.storage_account, cfg.file_share, files)
    return {"files": files, "folders": folders}
