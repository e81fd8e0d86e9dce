"""`az aitk inference provision`: deploy the template with az's own deployment code."""

import json
import os
from dataclasses import dataclass
from typing import Any

from knack.log import get_logger

from ..azure import (
    container_app,
    container_app_job,
    deployments,
    file_share,
    log_analytics,
    managed_environment,
    resource_group,
    resource_ids,
    secret_logging,
    storage_account,
)
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
    replicas,
    scale_rule,
    target,
    template_parameters,
    workspace_overrides,
)
from ..core.provision import image_registry as core_image_registry
from . import _confirm, _registry
from ._config import use_subscription

logger = get_logger(__name__)

DEPLOYMENT_NAME = deployments.DEPLOYMENT_NAME


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
    """({"primary": key, "secondary": key}, gpu profile, registry it pulls from, its HTTP scale
    rule's concurrentRequests) of the container app when it exists, else ({}, None, None, None)."""
    if not app_name:
        return {}, None, None, None
    aca = container_app.ContainerApp(cli_ctx, subscription, group, app_name)
    app = aca.find()
    if app is None:
        return {}, None, None, None
    return (
        aca.api_keys(),
        aca.workload_profile(app),
        container_app.image_registry(app),
        container_app.scale_concurrency(app),
    )


def finetuning_environment(cli_ctx, subscription, group, ft):
    """fine-tuning's environment in the resource group (core/provision/finetuning_reuse.py), or None: the
    one ACA_JOB_NAME's job runs in, else the one named by AI Toolkit's scheme. The job's environment in
    another resource group or subscription is not served from (the template reads the environment in
    the app's group): one warning line says so."""
    env_name, found_by = None, ""
    job = ft.get(ws_mod.ACA_JOB_NAME)
    if isinstance(job, str) and job.strip():
        env_id = resource_ids.parse(container_app_job.environment_id(cli_ctx, subscription, group, job.strip()))
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
    logs_id = log_analytics.find_by_customer_id(cli_ctx, resource_ids.group_id(subscription, group), customer_id)
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


def find_base_model(cli_ctx, subscription, group, *, names, exists, ws, model_arg):
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
    endpoint, key = storage_account.file_access(cli_ctx, subscription, group, account)
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


# -- the phases -------------------------------------------------------------------------------
# containerapp's create → validate → construct → create → post_process is the model. Each phase is
# a function whose name says whether it changes Azure: read_*, fit_*, plan_* and preflight only
# read; apply_prerequisites, deploy and write_config change things, and run only after every
# check of preflight has passed (docs/contracts.md, "Provision").


@dataclass(frozen=True)
class Existing:  # pylint: disable=too-many-instance-attributes  # one field per fact read
    """What provision reads from Azure before it decides anything (read once)."""

    resource_group: Any  # the group (SDK model), or None when it does not exist yet
    keys: dict  # {"primary", "secondary"} of the container app provision updates, {} for a new one
    current_profile: Any  # that app's GPU profile, or None
    current_registry: str | None  # the registry that app pulls from, or None
    current_scale_concurrency: int | None  # that app's HTTP scale rule value (bench may have set it)
    entries: dict  # the user's parameters, fine-tuning's environment named when reused
    names: dict  # their string values (resource names)
    reused_env: Any  # fine-tuning's Environment when provision serves from it, else None
    exists: dict  # the *Exists flags
    env_profiles: Any  # [(name, type)] of the existing environment, or None
    storage_group: str | None  # the group of the subscription holding the storage account, or None
    registry_found: Any  # the --image-registry registry of the subscription, or None


def read_target(cmd, ws, ft, resource_group_name):
    """(subscription id, resource group): --subscription and -g, else the workspace's own
    infra/inference.config.json, else infra/finetuning.config.json, else az's defaults
    (core/provision/target.py); says on stderr which one named the group. Reads only."""
    from knack.validators import DefaultStr

    # az fills -g from `az config set defaults.group` as a DefaultStr: that is the last choice.
    typed = None if isinstance(resource_group_name, DefaultStr) else resource_group_name
    az_default = cmd.cli_ctx.config.get("defaults", "group", fallback=None)
    chosen = target.resolve(typed, az_default, ws.read_inference_config_any(), ft)
    if not chosen.resource_group:
        raise target.no_resource_group()
    group = naming.check_resource_group(chosen.resource_group, chosen.source)
    if chosen.source != target.FROM_FLAG:
        logger.warning("Resource group '%s' (from %s; -g overrides it)", group, chosen.source)
    subscription = use_subscription(cmd, chosen.subscription, chosen.subscription_source)
    return subscription, group


def read_existing(cli_ctx, subscription, group, *, ws, ft, template, entries, image_registry_name):
    """Everything provision needs to know about what is in Azure, read once. Reads only."""
    # pylint: disable=too-many-locals  # the target, the workspace and the request
    rg = resource_group.find(cli_ctx, subscription, group)
    names = provision_plan.resource_names(entries)
    storage = names.get("storageAccountName")
    storage_exists = bool(rg) and bool(storage) and storage_account.exists(cli_ctx, subscription, group, storage)
    storage_group = (
        group
        if storage_exists
        else (storage_account.resource_group_of(cli_ctx, subscription, storage) if storage else None)
    )
    if rg is None:  # a new group holds nothing yet
        exists = dict.fromkeys(provision_plan.EXISTS_PARAMETERS, False)
        found_registry = _registry.read(cli_ctx, subscription, image_registry_name)
        return Existing(None, {}, None, None, None, entries, names, None, exists, None, storage_group, found_registry)
    app_name = provision_plan.app_to_reuse(names, ws, group, subscription)
    keys, current_profile, current_registry, current_rule = existing_app(cli_ctx, subscription, group, app_name)
    # the registry --image-registry names, else the one the app pulls from (plan_deployment keeps it)
    found_registry = _registry.read(cli_ctx, subscription, image_registry_name or current_registry)
    env = environment_to_reuse(
        cli_ctx, subscription, group, ft, names=names, existing_app_name=app_name if keys else None
    )
    if env is not None:
        entries = provision_plan.reuse_environment(entries, template.types, env)
        names = provision_plan.resource_names(entries)
    exists = existing_resources(cli_ctx, subscription, group, names)
    env_profiles = (
        environment_profiles(cli_ctx, subscription, group, names["acaEnvironmentName"])
        if exists.get("acaEnvironmentExists")
        else None
    )
    return Existing(
        rg,
        keys,
        current_profile,
        current_registry,
        current_rule,
        entries,
        names,
        env,
        exists,
        env_profiles,
        storage_group,
        found_registry,
    )


def fit_model(cli_ctx, subscription, group, *, existing, ws, model, gpu_profile):
    """The GPU profile fitted to the base model (profile_fit.Fitted), or None. Reads the model only."""
    try:
        return profile_fit.choose(
            find_base_model(
                cli_ctx, subscription, group, names=existing.names, exists=existing.exists, ws=ws, model_arg=model
            ),
            gpu_profile,
            template_parameters.values(existing.entries).get("workloadProfileType"),
            existing.current_profile,
        )
    except UnsizableModelError as e:
        logger.warning("%s: GPU profile not fitted to the model.", e)
        return None


@dataclass(frozen=True)
class Planned:
    """The frozen plan: what is deployed, where, and the registry pull (its parameters are in it)."""

    plan: provision_plan.ProvisionPlan
    location: str | None  # where new resources go
    pull: Any  # _registry.PlannedPull, or None
    capacity: Any = None  # scale_rule.ReplicaCapacity estimated from the fit, or None
    scale_rule_from: str | None = None  # what set scaleConcurrentRequests when not the estimate


def plan_deployment(cli_ctx, group, template, *, existing, fitted, request):
    """The final parameters (core/provision/provision_plan.py), the location, and the registry pull.
    Decides only: the registry's parameters are in the plan, nothing is written into it later."""
    where = (
        request.location
        or template_parameters.values(existing.entries).get("location")
        or getattr(existing.resource_group, "location", None)
    )
    image_registry_name = request.image_registry
    if image_registry_name is None and request.image is None and existing.current_registry:
        image_registry_name = existing.current_registry  # a re-provision must not move the pull back to Docker Hub
        logger.warning("%s", core_image_registry.kept_line(existing.current_registry))
    image = request.image or template_parameters.values(existing.entries).get("image")
    pull = _registry.plan(
        cli_ctx,
        image_registry_name,
        existing.registry_found,
        group=group,
        location=where,
        template=template,
        image=image,
        streaming=request.image_streaming,
    )
    capacity = scale_rule.estimate(fitted.plan, fitted.profile) if fitted is not None else None
    rule, rule_from = provision_plan.choose_scale_concurrency(
        existing.entries,
        request.scale_concurrency,
        capacity.rule if capacity else None,
        current=existing.current_scale_concurrency,
    )
    plan = provision_plan.plan(
        existing.entries,
        template.types,
        existing_key=existing.keys.get(api_key.PRIMARY),
        existing_secondary_key=existing.keys.get(api_key.SECONDARY),
        current_profile=existing.current_profile,
        gpu_profile=request.gpu_profile,
        location=request.location,
        image=request.image,
        min_replicas=request.min_replicas,
        max_replicas=request.max_replicas,
        exists=existing.exists,
        environment_profiles=lambda: existing.env_profiles,
        default_profile=fitted.profile if fitted else None,
        image_pull=pull.values if pull else None,
        scale_concurrency=rule,
    )
    return Planned(plan, where, pull, capacity, rule_from)


def preflight(cmd, ws, subscription, group, *, template, user, existing, fitted, planned, request):
    """Every check, before anything is created or changed: the plan shown, the region, the
    storage account's group, the replica counts, the registry name, that the config can be
    written, and the user's yes to an always-on cost or to what the workspace changes about the
    container. Reads only."""
    cli_ctx, plan = cmd.cli_ctx, planned.plan
    if existing.resource_group is None and not planned.location:
        raise resource_group.missing_error(group)
    resource_group.check_providers(cli_ctx, subscription)
    if existing.storage_group and existing.storage_group.lower() != group.lower():
        raise provision_plan.storage_elsewhere(
            existing.names["storageAccountName"],
            existing.storage_group,
            group,
            ws.read_finetuning_config().get(ws_mod.STORAGE_ACCOUNT_NAME),
        )
    values = plan.values
    counts = [
        v if isinstance(v, int) and not isinstance(v, bool) else None
        for v in (values.get("minReplicas"), values.get("maximumInstanceCount"))
    ]
    replicas.check(*counts, "the deployment's parameters (flags over the parameters file)")
    if request.location and user.file_location and request.location != user.file_location:
        logger.warning(
            "--location %s wins over location '%s' of %s.", request.location, user.file_location, user.file_source
        )
    if fitted is not None:
        for line in profile_fit.plan_lines(fitted) + list(fitted.plan.notes):
            logger.warning("%s", line)
    elif plan.profile is not None:
        logger.warning("GPU profile %s (%s)", plan.profile.key, gpu_profiles.price(plan.profile))
    if "scaleConcurrentRequests" in template.types:
        logger.warning(
            "%s", scale_rule.line(planned.capacity, values.get("scaleConcurrentRequests"), planned.scale_rule_from)
        )
    new_environment = not existing.exists.get("acaEnvironmentExists")
    if planned.location and (existing.resource_group is None or (plan.profile is not None and new_environment)):
        check_region(cli_ctx, subscription, planned.location, plan.profile or gpu_profiles.get(None))
    _registry.check(cli_ctx, subscription, planned.pull)
    env = existing.reused_env or existing.names.get("acaEnvironmentName")
    if isinstance(env, str):
        env = finetuning_reuse.Environment(env, ())
    for line in finetuning_reuse.summary(values, env, plan.add_profile):
        logger.warning(line)
    if plan.new_key:
        logger.info("made a new API key (kept only as the container app's secret)")
    if request.what_if:
        return
    workspace_files.check_writable(ws.inference_config_file)
    cost = replicas.always_on_line(counts[0] or 0, plan.profile)
    _confirm.confirm(
        [cost] if cost else [],
        "Keep the replicas running?",
        request.yes,
        (cost or "") + " No terminal to ask whether to go on.",
    )
    registry_cost = _registry.cost_lines(planned.pull)
    _confirm.confirm(
        registry_cost,
        "Create the registry at that price?",
        request.yes,
        " ".join(registry_cost) + " No terminal to ask whether to go on.",
    )
    overrides = workspace_overrides.lines(
        user.file_entries,
        user.file_source,
        provision_plan.shipped_serving(),
        ws_mod.BICEP_FILE if template.edited else None,
    )
    _confirm.confirm(
        overrides,
        "Deploy the container as the workspace sets it?",
        request.yes,
        "; ".join(overrides[:-1]) + ", and there is no terminal to ask whether to deploy it.",
    )


def apply_prerequisites(cmd, ws, subscription, group, *, existing, planned):
    """Change Azure, in the order a retry can pick up: add the GPU profile to the environment
    provision reuses (it creates nothing, and Azure may refuse it: a region without the profile;
    then nothing at all has changed), record where provision creates things (the incomplete
    config), create the resource group, create and fill the registry. Returns the registry
    report, or None."""
    cli_ctx, plan = cmd.cli_ctx, planned.plan
    env = existing.reused_env or existing.names.get("acaEnvironmentName")
    if plan.add_profile is not None and env is not None:
        add_profile(cli_ctx, subscription, group, env if isinstance(env, str) else env.name, plan.add_profile)
    record_partial_config(ws, subscription, group, existing.names, planned.location)
    if existing.resource_group is None:
        resource_group.create(cli_ctx, subscription, group, planned.location)
    return _registry.create_and_import(cli_ctx, subscription, planned.pull)


def deploy(cmd, subscription, group, *, template, planned, request):
    """Run the deployment (or its what-if): the deployment when it finished, None for --what-if or
    --no-wait. Changes Azure (not for --what-if)."""
    plan = planned.plan
    parameter_arg = [[json.dumps(plan.parameters)]]
    logger.warning(
        "%s %s in resource group '%s' (subscription %s)…",
        "What-if of" if request.what_if else "Deploying",
        template.description,
        group,
        subscription,
    )
    started = False
    # az's --debug logs the request body
    with secret_logging.redacted(plan.values.get("apiKey"), plan.values.get("apiKeySecondary")):
        try:
            if request.what_if:
                deployments.what_if(cmd, group, template.file, parameter_arg)
                return None
            poller = deployments.start(cmd, group, template.file, parameter_arg, request.no_wait)
            started = True
            if request.no_wait:
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
            return deployments.watch(cmd, poller, subscription, group, report=logger.warning)
        except Exception as ex:  # pylint: disable=broad-except
            raise_mapped(
                cmd,
                ex,
                subscription=subscription,
                group=group,
                location=planned.location,
                profile=plan.profile,
                started=started,
            )
            raise


@dataclass(frozen=True)
class Request:  # pylint: disable=too-many-instance-attributes  # one field per option
    """What the user asked provision for (the command's options)."""

    location: str | None
    gpu_profile: str | None
    model: str | None
    min_replicas: int | None
    max_replicas: int | None
    scale_concurrency: int | None
    image: str | None
    image_registry: str | None
    what_if: bool
    no_wait: bool
    yes: bool
    image_streaming: bool = False


def inference_provision(
    cmd,
    workspace=None,
    *,
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
    yes=False,
    scale_concurrency=None,
    image_streaming=False,
):
    # pylint: disable=too-many-locals
    request = Request(
        location,
        gpu_profile,
        model,
        min_replicas,
        max_replicas,
        scale_concurrency,
        image,
        image_registry,
        what_if,
        no_wait,
        yes,
        bool(image_streaming),
    )
    ws = aitk_originals.migrated_workspace(workspace)
    ft = ws.read_finetuning_config()
    template = provision_plan.choose_template(ws)
    user = provision_plan.read_parameters(ws, template, ft, parameters, os.getcwd())
    subscription, group = read_target(cmd, ws, ft, resource_group_name)

    existing = read_existing(
        cmd.cli_ctx,
        subscription,
        group,
        ws=ws,
        ft=ft,
        template=template,
        entries=user.entries,
        image_registry_name=image_registry,
    )
    fitted = fit_model(cmd.cli_ctx, subscription, group, existing=existing, ws=ws, model=model, gpu_profile=gpu_profile)
    planned = plan_deployment(cmd.cli_ctx, group, template, existing=existing, fitted=fitted, request=request)
    preflight(
        cmd,
        ws,
        subscription,
        group,
        template=template,
        user=user,
        existing=existing,
        fitted=fitted,
        planned=planned,
        request=request,
    )
    if what_if:
        if existing.resource_group is None:
            logger.warning(
                "Resource group '%s' does not exist: provision would create it in %s, then deploy everything new.",
                group,
                planned.location,
            )
            return None
        return deploy(cmd, subscription, group, template=template, planned=planned, request=request)

    pulled_from = apply_prerequisites(cmd, ws, subscription, group, existing=existing, planned=planned)
    deployment = deploy(cmd, subscription, group, template=template, planned=planned, request=request)
    if deployment is None:  # --no-wait
        return None
    result = write_config(
        ws,
        template,
        deployments.outputs(deployment),
        subscription=subscription,
        group=group,
        plan=planned.plan,
        fitted=fitted,
    )
    if pulled_from:
        result["imageRegistry"] = pulled_from
    for line in next_steps.after("provision", workspace):
        logger.warning(line)
    return result


def check_region(cli_ctx, subscription, location, profile):
    """Refuse a location that does not exist or lacks the profile. Reads only."""
    types = managed_environment.available_profile_types(cli_ctx, subscription, location)
    regions.check(
        location,
        types,
        profile,
        lambda: managed_environment.regions_offering(cli_ctx, subscription, profile.workload_profile_type),
    )


def record_partial_config(ws, subscription, group, names, location):
    """Write the incomplete config (core/workspace.py) before anything is created, so that a
    failed provision can be retried or deleted. Writes the workspace."""
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


def environment_to_reuse(cli_ctx, subscription, group, ft, *, names, existing_app_name):
    """fine-tuning's environment when provision serves from it: the user named none, and the app
    is new or already runs there (an app cannot move to another environment). Reads only."""
    if not ft or names.get("acaEnvironmentName"):
        return None
    env = finetuning_environment(cli_ctx, subscription, group, ft)
    if env is None:
        return None
    app_env = app_environment(cli_ctx, subscription, group, existing_app_name) if existing_app_name else None
    return env if app_env is None or app_env.lower() == env.name.lower() else None


def add_profile(cli_ctx, subscription, group, env_name, profile):
    """Add the serverless GPU profile to the existing environment. Changes Azure; a refusal is
    one clear error (the deployment has not started)."""
    logger.warning(
        "Adding the workload profile %s (%s) to the environment %s…",
        profile.workload_profile_name,
        profile.workload_profile_type,
        env_name,
    )
    try:
        managed_environment.add_workload_profile(cli_ctx, subscription, group, env_name, profile)
    except Exception as ex:  # pylint: disable=broad-except
        tree = arm_errors.error_tree_from_exception(ex)
        reason = tree.get("message") if isinstance(tree, dict) else getattr(tree, "message", None)
        env = finetuning_reuse.Environment(env_name, ())
        raise finetuning_reuse.add_failed(env, profile, reason or str(ex)) from None


def write_config(ws, template, outputs, *, subscription, group, plan, fitted=None):
    """Write infra/inference.config.json from the finished deployment; the command's result."""
    values = {
        ws_mod.SUBSCRIPTION_ID: outputs.get(ws_mod.SUBSCRIPTION_ID) or subscription,
        ws_mod.RESOURCE_GROUP_NAME: outputs.get(ws_mod.RESOURCE_GROUP_NAME) or group,
    }
    for k in ws_mod.INFERENCE_CONFIG_KEYS[2:]:
        values[k] = outputs.get(k)
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise arm_errors.failure(
            arm_errors.DEPLOYMENT_FAILED,
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
    if "scaleConcurrentRequests" in v:
        result["scaleConcurrentRequests"] = v["scaleConcurrentRequests"]
    if fitted is not None:
        result["modelFit"] = profile_fit.plan_summary(fitted)
    return result


def raise_mapped(cmd, ex, *, subscription, group, location, profile, started):
    """Raise one clear error for a failed what-if/validation/deployment."""
    from .._exception_handler import is_az_error

    tree = arm_errors.error_tree_from_exception(ex)
    failed_resource = None
    if started:  # a pre-flight failure has no deployment operations to read
        try:
            failed = arm_errors.failed_operations(deployments.operations(cmd.cli_ctx, subscription, group))
            if failed:
                failed_resource, op_error = failed[0]
                if op_error is not None:
                    tree = op_error
        except Exception:  # pylint: disable=broad-except
            logger.debug("could not list the deployment operations", exc_info=True)
    kind, message, rec = arm_errors.classify(
        tree, resource_group=group, location=location, gpu_profile=profile, failed_resource=failed_resource
    )
    if kind == arm_errors.OTHER and is_az_error(ex):
        raise ex
    raise arm_errors.failure(kind, message, rec)
