"""`az aitk inference provision`: deploy the template with az's own deployment code."""

import json
import os

from knack.log import get_logger

from ..azure import container_app, deployments, log_analytics, managed_environment, storage_account
from ..azure.resource_group import check_providers, check_resource_group
from ..core import arm_errors, provision_plan
from ..core import workspace as ws_mod

logger = get_logger(__name__)

DEPLOYMENT_NAME = deployments.DEPLOYMENT_NAME


def resolve_target(cmd, ft, resource_group_name):
    """(subscription id, resource group): flags, else infra/finetuning.config.json, else az's
    defaults."""
    from azure.cli.core.azclierror import RequiredArgumentMissingError
    from azure.cli.core.commands.client_factory import get_subscription_id

    subscription = cmd.cli_ctx.data.get("subscription_id") or ft.get(ws_mod.SUBSCRIPTION_ID) or None
    group = (
        resource_group_name
        or ft.get(ws_mod.RESOURCE_GROUP_NAME)
        or cmd.cli_ctx.config.get("defaults", "group", fallback=None)
    )
    if not group:
        raise RequiredArgumentMissingError(
            "no resource group: pass -g, or run in a workspace whose infra/finetuning.config.json names one",
            "az aitk inference provision -g <resource-group>  (or `az config set defaults.group=<name>`)",
        )
    if subscription:
        cmd.cli_ctx.data["subscription_id"] = subscription
    subscription = get_subscription_id(cmd.cli_ctx)  # a name becomes its id
    cmd.cli_ctx.data["subscription_id"] = subscription
    return subscription, group


def existing_resources(cli_ctx, subscription, group, names):
    """Which of the named resources exist already ({param: bool} for the *Exists parameters)."""
    result = dict.fromkeys(provision_plan.EXISTS_PARAMETERS, False)
    storage_name, share_name = names.get("storageAccountName"), names.get("fileShareName")
    if storage_name:
        result["storageAccountExists"] = storage_account.exists(cli_ctx, subscription, group, storage_name)
        if share_name and result["storageAccountExists"]:
            result["fileShareExists"] = storage_account.share_exists(
                cli_ctx, subscription, group, storage_name, share_name
            )
    if names.get("acaEnvironmentName"):
        result["acaEnvironmentExists"] = managed_environment.exists(
            cli_ctx, subscription, group, names["acaEnvironmentName"]
        )
    if names.get("acaLogAnalyticsName"):
        result["acaLogAnalyticsExists"] = log_analytics.exists(
            cli_ctx, subscription, group, names["acaLogAnalyticsName"]
        )
    return result


def existing_app(cli_ctx, subscription, group, app_name):
    """(key, gpu profile) of the container app when it exists, else (None, None)."""
    if not app_name:
        return None, None
    aca = container_app.ContainerApp(cli_ctx, subscription, group, app_name)
    app = aca.find()
    if app is None:
        return None, None
    return aca.api_key(), aca.workload_profile(app)


def environment_profiles(cli_ctx, subscription, group, env_name):
    """[(name, workloadProfileType)] of an existing environment, or None when unknown."""
    return managed_environment.workload_profiles(cli_ctx, subscription, group, env_name)


def inference_provision(
    cmd,
    workspace=None,
    resource_group_name=None,
    location=None,
    parameters=None,
    gpu_profile=None,
    min_replicas=None,
    max_replicas=None,
    image=None,
    what_if=False,
    no_wait=False,
):
    # pylint: disable=too-many-arguments,too-many-locals
    ws = ws_mod.Workspace(workspace or ".")
    ft = ws.read_finetuning_config()
    template = provision_plan.choose_template(ws)
    entries = provision_plan.user_parameters(ws, template.types, ft, parameters, os.getcwd())
    subscription, group = resolve_target(cmd, ft, resource_group_name)

    rg = check_resource_group(cmd.cli_ctx, subscription, group)
    check_providers(cmd.cli_ctx, subscription)
    names = provision_plan.resource_names(entries)
    app_name = provision_plan.app_to_reuse(names, ws, group, subscription)
    key, current_profile = existing_app(cmd.cli_ctx, subscription, group, app_name)
    exists = existing_resources(cmd.cli_ctx, subscription, group, names)
    plan = provision_plan.plan(
        entries,
        template.types,
        existing_key=key,
        current_profile=current_profile,
        gpu_profile=gpu_profile,
        location=location,
        image=image,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        exists=exists,
        environment_profiles=lambda: environment_profiles(
            cmd.cli_ctx, subscription, group, names["acaEnvironmentName"]
        ),
    )
    if plan.new_key:
        logger.info("made a new API key (kept only as the container app's secret)")

    parameter_arg = [[json.dumps(plan.parameters)]]
    logger.warning(
        "%s %s in resource group '%s' (subscription %s)…",
        "What-if of" if what_if else "Deploying",
        template.description,
        group,
        subscription,
    )
    started = False
    try:
        if what_if:
            deployments.what_if(cmd, group, template.file, parameter_arg)
            return None
        poller = deployments.start(cmd, group, template.file, parameter_arg, no_wait)
        started = True
        if no_wait:
            logger.warning(
                "The deployment '%s' runs on. When it finished, run `az aitk inference "
                "provision` again (it changes nothing) to write %s.",
                DEPLOYMENT_NAME,
                ws_mod.INFERENCE_CONFIG_FILE,
            )
            return None
        deployment = deployments.wait(cmd, poller)
    except Exception as ex:  # pylint: disable=broad-except
        raise_mapped(cmd, ex, group, rg, location, plan.profile, started)
        raise
    return _write_config(ws, template, deployments.outputs(deployment), subscription, group, plan)


def _write_config(ws, template, outputs, subscription, group, plan):
    values = {
        ws_mod.SUBSCRIPTION_ID: outputs.get(ws_mod.SUBSCRIPTION_ID) or subscription,
        ws_mod.RESOURCE_GROUP_NAME: outputs.get(ws_mod.RESOURCE_GROUP_NAME) or group,
    }
    for k in ws_mod.INFERENCE_CONFIG_KEYS[2:]:
        values[k] = outputs.get(k)
    missing = [k for k, v in values.items() if not v]
    if missing:
        from azure.cli.core.azclierror import DeploymentError

        raise DeploymentError(
            f"the deployment finished but its outputs lack {', '.join(missing)}",
            f"Check the outputs of {template.file}: they must give " + ", ".join(ws_mod.INFERENCE_CONFIG_KEYS) + ".",
        )
    written = ws.write_inference_config(values)
    logger.warning("Wrote %s", ws.inference_config_file)
    result = dict(written)
    result["configFile"] = str(ws.inference_config_file)
    result["deploymentName"] = DEPLOYMENT_NAME
    if plan.profile is not None:
        result["gpuProfile"] = plan.profile.key
    v = plan.values
    if "minReplicas" in v:
        result["minReplicas"] = v["minReplicas"]
    if "maximumInstanceCount" in v:
        result["maxReplicas"] = v["maximumInstanceCount"]
    return result


def raise_mapped(cmd, ex, group, rg, location, profile, started):
    """Raise one clear error for a failed what-if/validation/deployment."""
    from azure.cli.core.azclierror import AzCLIError

    tree = arm_errors.error_tree_from_exception(ex)
    failed_resource = None
    try:
        if not started:
            raise LookupError("preflight failure: no deployment operations to read")
        failed = arm_errors.failed_operations(deployments.operations(cmd.cli_ctx, group))
        if failed:
            failed_resource, op_error = failed[0]
            if op_error is not None:
                tree = op_error
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not list the deployment operations", exc_info=True)
    where = location or getattr(rg, "location", None)
    kind, message, rec = arm_errors.classify(
        tree, resource_group=group, location=where, gpu_profile=profile, failed_resource=failed_resource
    )
    if kind == arm_errors.OTHER and isinstance(ex, AzCLIError):
        raise ex
    raise arm_errors.failure(kind, message, rec)
