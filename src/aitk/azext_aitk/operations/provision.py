"""`az aitk inference provision`: deploy the template with az's own deployment code."""

# pylint: disable=too-many-positional-arguments  # provision's phases are being rewritten (issue 22)
import json
import os

from knack.log import get_logger

from ..azure import (
    container_app,
    container_app_job,
    deployments,
    file_share,
    log_analytics,
    managed_environment,
    secret_logging,
    storage_account,
)
from ..azure.resource_group import check_providers, check_resource_group
from ..core import api_key, gpu_profiles, next_steps
from ..core import names as naming
from ..core import workspace as ws_mod
from ..core.errors import ModelFitError, UnsizableModelError
from ..core.init import aitk_originals, workspace_files
from ..core.provision import (
    arm_errors,
    deployment_progress,
    finetuning_reuse,
    profile_fit,
    provision_plan,
    regions,
    target,
    template_parameters,
)
from ..core.provision import image_registry as core_image_registry
from . import _registry

logger = get_logger(__name__)

DEPLOYMENT_NAME = deployments.DEPLOYMENT_NAME


def resolve_target(cmd, ws, ft, resource_group_name):
    """(subscription id, resource group): --subscription and -g, else the workspace's own
    infra/inference.config.json, else infra/finetuning.config.json, else az's defaults
    (core/provision/target.py); says on stderr which one named the group."""
    from azure.cli.core.azclierror import RequiredArgumentMissingError
    from azure.cli.core.commands.client_factory import get_subscription_id
    from knack.validators import DefaultStr

    # az fills -g from `az config set defaults.group` as a DefaultStr: that is the last choice.
    typed = None if isinstance(resource_group_name, DefaultStr) else resource_group_name
    az_default = cmd.cli_ctx.config.get("defaults", "group", fallback=None)
    chosen = target.resolve(typed, az_default, ws.read_inference_config_any(), ft)
    if not chosen.resource_group:
        raise RequiredArgumentMissingError(
            "no resource group: pass -g, or run in a workspace whose infra/finetuning.config.json names one",
            "az aitk inference provision -g my-rg  (or `az config set defaults.group=my-rg`)",
        )
    group = naming.check_resource_group(chosen.resource_group, chosen.source)
    if chosen.source != target.FROM_FLAG:
        logger.warning("Resource group '%s' (from %s; -g overrides it)", group, chosen.source)
    subscription = cmd.cli_ctx.data.get("subscription_id") or chosen.subscription
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
    """({"primary": key, "secondary": key}, gpu profile, registry it pulls from) of the container
    app when it exists, else ({}, None, None)."""
    if not app_name:
        return {}, None, None
    aca = container_app.ContainerApp(cli_ctx, subscription, group, app_name)
    app = aca.find()
    if app is None:
        return {}, None, None
    return aca.api_keys(), aca.workload_profile(app), container_app.image_registry(app)


def finetuning_environment(cli_ctx, subscription, group, ft):
    """fine-tuning's environment in the resource group (core/provision/finetuning_reuse.py), or None: the
    one ACA_JOB_NAME's job runs in, else the one named by AI Toolkit's scheme. The job's environment in
    another resource group or subscription is not served from (the template reads the environment in
    the app's group): one warning line says so."""
    env_name, found_by = None, ""
    job = ft.get(ws_mod.ACA_JOB_NAME)
    if isinstance(job, str) and job.strip():
        env_id = container_app_job.environment_id(cli_ctx, subscription, group, job.strip())
        env_name = finetuning_reuse.environment_in_group(env_id, subscription, group)
        found_by = f"the job {job.strip()}"
        elsewhere = finetuning_reuse.environment_elsewhere(env_id, subscription, group)
        if elsewhere is not None:
            logger.warning("%s", finetuning_reuse.not_reused_line(elsewhere, job.strip(), group))
    if env_name is None:
        env_name = finetuning_reuse.original_environment(
            managed_environment.names_in_group(cli_ctx, subscription, group)
        )
        found_by = "AI Toolkit's naming scheme"
    if env_name is None:
        return None
    env_id = managed_environment.resource_id(subscription, group, env_name)
    env = managed_environment.get_json(cli_ctx, env_id)
    if env is None:
        return None
    props = env.get("properties") or {}
    customer_id = ((props.get("appLogsConfiguration") or {}).get("logAnalyticsConfiguration") or {}).get("customerId")
    logs_id = log_analytics.find_by_customer_id(
        cli_ctx, f"/subscriptions/{subscription}/resourceGroups/{group}", customer_id
    )
    return finetuning_reuse.Environment(
        env_name,
        finetuning_reuse.profile_list(
            (wp.get("name"), wp.get("workloadProfileType")) for wp in props.get("workloadProfiles") or []
        ),
        logs_id.rstrip("/").rsplit("/", 1)[-1] if logs_id else None,
        found_by,
    )


def app_environment(cli_ctx, subscription, group, app_name):
    """The name of the environment the container app runs in, or None (no such app)."""
    if not app_name:
        return None
    app = container_app.ContainerApp(cli_ctx, subscription, group, app_name).find_json()
    env_id = ((app or {}).get("properties") or {}).get("managedEnvironmentId") or ""
    return env_id.rstrip("/").rsplit("/", 1)[-1] or None


def environment_profiles(cli_ctx, subscription, group, env_name):
    """[(name, workloadProfileType)] of an existing environment, or None when unknown."""
    return managed_environment.workload_profiles(cli_ctx, subscription, group, env_name)


def _local_model(path):
    from aitk_serve import LaunchError, fit, validate

    try:
        config = validate.load_json(os.path.join(path, "config.json"), "config.json")
        return profile_fit.ModelFacts(path, config, fit.read_headers_from_dir(path))
    except LaunchError as e:
        raise ModelFitError(
            str(e), "Pass --model with a Hugging Face model folder (config.json, *.safetensors)."
        ) from None


def _serve_json_model(ws):
    """The base model inference/serve.json names (a share path or a hub id), else None (also for
    a file the launcher would refuse: deploy says why)."""
    from ..core.deploy import serve_file
    from ..core.errors import WorkspaceError

    try:
        return serve_file.model(ws)
    except WorkspaceError:
        return None


def find_base_model(cli_ctx, group, names, exists, ws, model_arg):
    """The base model's config and safetensors headers (profile_fit.ModelFacts), read from a
    local folder (--model PATH) or from the share by byte ranges (--model SHARE_PATH, else
    serve.json's model, else the one model under model-cache/); None, with a line on stderr
    saying why, when there is none to read."""
    from aitk_serve import LaunchError, layout

    from .._client_factory import cf_share

    if model_arg and os.path.isdir(os.path.expanduser(model_arg)):
        return _local_model(os.path.expanduser(model_arg))
    wanted = model_arg or _serve_json_model(ws)
    account, share_name = names.get("storageAccountName"), names.get("fileShareName")
    if not (exists.get("storageAccountExists") and exists.get("fileShareExists")):
        if model_arg:
            raise ModelFitError(
                f"--model {model_arg} is not a local folder, and the share it would be on does not exist yet",
                "Pass a local model folder with --model, or leave --model out.",
            )
        logger.warning("No share with a base model yet: GPU profile not fitted to the model.")
        return None
    endpoint, key = storage_account.file_access(cli_ctx, group, account)
    share = cf_share(cli_ctx, endpoint, share_name, account, key)
    if wanted:
        candidates = [wanted.strip("/")]
    else:
        candidates = file_share.find_models(share, layout.MODEL_CACHE_DIR)
        if len(candidates) != 1:
            logger.warning(
                "%s model folders under %s/ on the share: GPU profile not fitted to the model (pass --model).",
                "Several" if candidates else "No",
                layout.MODEL_CACHE_DIR,
            )
            return None
    where = f"the share's {candidates[0]}"
    try:
        found = file_share.read_model(share, candidates[0])
    except LaunchError as e:
        raise ModelFitError(f"{where}: {e}", "Fix the model folder, or pass --model.") from None
    if found is None:
        if model_arg:
            raise ModelFitError(
                f"--model {model_arg}: no config.json there, locally or on the share",
                "Pass a model folder: a local one, or one on the share such as model-cache/<org>/<model>.",
            )
        logger.warning("%s has no config.json (a Hugging Face id?): GPU profile not fitted to the model.", where)
        return None
    return profile_fit.ModelFacts(where, *found)


def check_region(cli_ctx, subscription, location, profile):
    """Refuse, before anything is deployed, a location that does not exist or lacks the profile."""
    types = managed_environment.available_profile_types(cli_ctx, subscription, location)
    regions.check(
        location,
        types,
        profile,
        lambda: managed_environment.regions_offering(cli_ctx, subscription, profile.workload_profile_type),
    )


def inference_provision(
    cmd,
    workspace=None,
    resource_group_name=None,
    location=None,
    parameters=None,
    gpu_profile=None,
    model=None,
    min_replicas=None,
    max_replicas=None,
    image=None,
    what_if=False,
    no_wait=False,
    image_registry=None,
):
    # pylint: disable=too-many-arguments,too-many-locals,too-many-statements  # the command's steps in order
    ws = aitk_originals.migrated_workspace(workspace)
    ft = ws.read_finetuning_config()
    template = provision_plan.choose_template(ws)
    entries = provision_plan.user_parameters(ws, template.types, ft, parameters, os.getcwd())
    subscription, group = resolve_target(cmd, ws, ft, resource_group_name)

    rg = check_resource_group(cmd.cli_ctx, subscription, group, location)
    check_providers(cmd.cli_ctx, subscription)
    names = provision_plan.resource_names(entries)
    app_name = provision_plan.app_to_reuse(names, ws, group, subscription)
    keys, current_profile, current_registry = existing_app(cmd.cli_ctx, subscription, group, app_name)
    if image_registry is None and image is None and current_registry:
        image_registry = current_registry  # a re-provision must not move the pull back to Docker Hub
        logger.warning("%s", core_image_registry.kept_line(current_registry))
    entries, names, reused_env = with_finetuning_environment(
        cmd.cli_ctx, subscription, group, ft, template.types, entries, app_name if keys else None
    )
    exists = existing_resources(cmd.cli_ctx, subscription, group, names)
    try:
        fitted = profile_fit.choose(
            find_base_model(cmd.cli_ctx, group, names, exists, ws, model),
            gpu_profile,
            template_parameters.values(entries).get("workloadProfileType"),
            current_profile,
        )
    except UnsizableModelError as e:
        logger.warning("%s: GPU profile not fitted to the model.", e)
        fitted = None
    plan = provision_plan.plan(
        entries,
        template.types,
        existing_key=keys.get(api_key.PRIMARY),
        existing_secondary_key=keys.get(api_key.SECONDARY),
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
        default_profile=fitted.profile if fitted else None,
    )
    if fitted is not None:
        for line in profile_fit.plan_lines(fitted):
            logger.warning("%s", line)
        for note in fitted.plan.notes:
            logger.warning("%s", note)
    elif plan.profile is not None:
        logger.warning("GPU profile %s (%s)", plan.profile.key, gpu_profiles.price(plan.profile))
    where = location or plan.values.get("location") or getattr(rg, "location", None)
    if plan.profile is not None and where and not exists.get("acaEnvironmentExists"):
        check_region(cmd.cli_ctx, subscription, where, plan.profile)
    registry = _registry.check(cmd.cli_ctx, subscription, group, where, template, plan, image_registry)
    report_reuse(cmd.cli_ctx, subscription, group, plan, reused_env or names.get("acaEnvironmentName"), what_if)

    if not what_if:
        record_partial_config(ws, subscription, group, names, where)  # before the deployment, not after it
    pulled_from = _registry.provide(cmd.cli_ctx, subscription, registry, plan, what_if)
    parameter_arg = [[json.dumps(plan.parameters)]]
    logger.warning(
        "%s %s in resource group '%s' (subscription %s)…",
        "What-if of" if what_if else "Deploying",
        template.description,
        group,
        subscription,
    )
    started = False
    # az's --debug logs the request body
    with secret_logging.redacted(plan.values.get("apiKey"), plan.values.get("apiKeySecondary")):
        try:
            if what_if:
                deployments.what_if(cmd, group, template.file, parameter_arg)
                return None
            poller = deployments.start(cmd, group, template.file, parameter_arg, no_wait)
            started = True
            if no_wait:
                logger.warning(
                    "The deployment '%s' runs on: `az deployment group wait -g %s -n %s --created` waits "
                    "for it; then run `az aitk inference provision` again (it changes nothing) to write %s.",
                    DEPLOYMENT_NAME,
                    group,
                    DEPLOYMENT_NAME,
                    ws_mod.INFERENCE_CONFIG_FILE,
                )
                return None
            link = deployment_progress.portal_link(
                getattr(cmd.cli_ctx.cloud.endpoints, "portal", None), deployments.deployment_id(subscription, group)
            )
            if link:
                logger.warning("Deployment '%s' in the portal: %s", DEPLOYMENT_NAME, link)
            deployment = deployments.watch(cmd, poller, group, logger.warning)
        except Exception as ex:  # pylint: disable=broad-except
            raise_mapped(cmd, ex, group, rg, location, plan.profile, started)
            raise
    result = _write_config(ws, template, deployments.outputs(deployment), subscription, group, plan, fitted)
    if pulled_from:
        result["imageRegistry"] = pulled_from
    for line in next_steps.after("provision", workspace):
        logger.warning(line)
    return result


def record_partial_config(ws, subscription, group, names, location):
    """Write the incomplete config (core/workspace.py) before the deployment starts, so that a
    failed provision can be retried or deleted."""
    workspace_files.check_writable(ws.inference_config_file)
    values = {ws_mod.SUBSCRIPTION_ID: subscription, ws_mod.RESOURCE_GROUP_NAME: group}
    for key, param in PARTIAL_CONFIG_NAMES.items():
        if names.get(param):
            values[key] = names[param]
    try:
        if ws.write_partial_inference_config(values, location):
            logger.info("wrote %s (marked incomplete until the deployment succeeds)", ws.inference_config_file)
    except OSError as e:
        raise workspace_files.cannot_write(ws.inference_config_file, e) from None


# The template parameters that name a resource of the config, when the user gave them.
PARTIAL_CONFIG_NAMES = {
    ws_mod.STORAGE_ACCOUNT_NAME: "storageAccountName",
    ws_mod.FILE_SHARE_NAME: "fileShareName",
    ws_mod.ACA_APP_NAME: "acaAppName",
}


def environment_to_reuse(cli_ctx, subscription, group, ft, names, existing_app_name):
    """fine-tuning's environment when provision serves from it: the user named none, and the app
    is new or already runs there (an app cannot move to another environment)."""
    if not ft or names.get("acaEnvironmentName"):
        return None
    env = finetuning_environment(cli_ctx, subscription, group, ft)
    if env is None:
        return None
    app_env = app_environment(cli_ctx, subscription, group, existing_app_name) if existing_app_name else None
    return env if app_env is None or app_env.lower() == env.name.lower() else None


def with_finetuning_environment(cli_ctx, subscription, group, ft, types, entries, existing_app_name):
    """(entries, resource names, fine-tuning's Environment or None): the parameters naming
    fine-tuning's environment and Log Analytics when provision serves from them."""
    # pylint: disable=too-many-arguments  # the target, the fine-tuning config and the parameters
    env = environment_to_reuse(
        cli_ctx, subscription, group, ft, provision_plan.resource_names(entries), existing_app_name
    )
    if env is not None:
        entries = provision_plan.reuse_environment(entries, types, env)
    return entries, provision_plan.resource_names(entries), env


def report_reuse(cli_ctx, subscription, group, plan, env, what_if):
    """Say what is reused and what is new (and whether the key is new); add the GPU profile the
    plan adds (not for --what-if).
    env: fine-tuning's Environment, the name of the one the parameters name, or None."""
    if plan.new_key:
        logger.info("made a new API key (kept only as the container app's secret)")
    if isinstance(env, str):
        env = finetuning_reuse.Environment(env, ())
    for line in finetuning_reuse.summary(plan.values, env, plan.add_profile):
        logger.warning(line)
    if plan.add_profile is not None and env is not None and not what_if:
        add_profile(cli_ctx, subscription, group, env, plan.add_profile)


def add_profile(cli_ctx, subscription, group, env, profile):
    """Add the serverless GPU profile to the existing environment; a refusal is one clear error
    (nothing else is deployed yet)."""
    logger.warning(
        "Adding the workload profile %s (%s) to the environment %s…",
        profile.workload_profile_name,
        profile.workload_profile_type,
        env.name,
    )
    try:
        managed_environment.add_workload_profile(cli_ctx, subscription, group, env.name, profile)
    except Exception as ex:  # pylint: disable=broad-except
        tree = arm_errors.error_tree_from_exception(ex)
        reason = tree.get("message") if isinstance(tree, dict) else getattr(tree, "message", None)
        raise finetuning_reuse.add_failed(env, profile, reason or str(ex)) from None


def _write_config(ws, template, outputs, subscription, group, plan, fitted=None):  # pylint: disable=too-many-arguments
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
    try:
        written = ws.write_inference_config(values)
    except OSError as e:
        raise workspace_files.not_written(ws.inference_config_file, e, values) from None
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
    if fitted is not None:
        result["modelFit"] = profile_fit.plan_summary(fitted)
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
