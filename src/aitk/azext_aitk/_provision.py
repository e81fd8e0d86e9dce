"""`az aitk inference provision`: deploy the template with az's own deployment code."""
import json

from knack.log import get_logger

from . import api_key, gpu_profiles, templates_shipped
from . import azure_errors as ae
from . import parameters as params_mod
from . import workspace as ws_mod
from ._errors import azure_error

logger = get_logger(__name__)

DEPLOYMENT_NAME = "aitk-inference"
DEFAULT_MAX_REPLICAS = 1


def resolve_target(cmd, ft, resource_group_name):
    """(subscription id, resource group): flags, else infra/finetuning.config.json, else az's
    defaults."""
    from azure.cli.core.azclierror import RequiredArgumentMissingError
    from azure.cli.core.commands.client_factory import get_subscription_id
    subscription = cmd.cli_ctx.data.get("subscription_id") or ft.get(ws_mod.SUBSCRIPTION_ID) or None
    group = resource_group_name or ft.get(ws_mod.RESOURCE_GROUP_NAME) \
        or cmd.cli_ctx.config.get("defaults", "group", fallback=None)
    if not group:
        raise RequiredArgumentMissingError(
            "no resource group: pass -g, or run in a workspace whose infra/finetuning.config.json "
            "names one",
            "az aitk inference provision -g <resource-group>  (or `az config set defaults.group=<name>`)")
    if subscription:
        cmd.cli_ctx.data["subscription_id"] = subscription
    subscription = get_subscription_id(cmd.cli_ctx)   # a name becomes its id
    cmd.cli_ctx.data["subscription_id"] = subscription
    return subscription, group


def choose_template(ws):
    """(template file to deploy, {parameter: type}, description)."""
    from azure.cli.core.azclierror import CLIInternalError
    missing = templates_shipped.missing()
    if missing:
        raise CLIInternalError(f"the aitk extension is missing its templates ({', '.join(missing)}); "
                               "reinstall it")
    shipped_bicep = templates_shipped.BICEP.read_text(encoding="utf-8")
    if ws.bicep_file.is_file():
        text = ws.bicep_file.read_text(encoding="utf-8-sig")
        if not ws_mod.same_text(text, shipped_bicep):
            return str(ws.bicep_file), params_mod.bicep_parameter_types(text), \
                f"{ws_mod.BICEP_FILE} (edited; compiled by az's Bicep CLI)"
    template = json.loads(templates_shipped.ARM_JSON.read_text(encoding="utf-8"))
    return str(templates_shipped.ARM_JSON), params_mod.template_parameter_types(template), \
        "the shipped template (ARM JSON twin of inference.bicep)"


def _exists(fn, *args):
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
    try:
        fn(*args)
        return True
    except ResourceNotFoundError:
        return False
    except HttpResponseError as e:
        if getattr(e, "status_code", None) == 404:
            return False
        raise


def existing_resources(cli_ctx, subscription, group, names):
    """Which of the named resources exist already ({param: bool} for the *Exists parameters)."""
    from ._client_factory import cf_container_apps, cf_log_analytics, cf_storage
    result = {"storageAccountExists": False, "fileShareExists": False,
              "acaEnvironmentExists": False, "acaLogAnalyticsExists": False}
    storage_name, share_name = names.get("storageAccountName"), names.get("fileShareName")
    if storage_name:
        storage = cf_storage(cli_ctx, subscription)
        result["storageAccountExists"] = _exists(storage.storage_accounts.get_properties, group, storage_name)
        if share_name and result["storageAccountExists"]:
            result["fileShareExists"] = _exists(storage.file_shares.get, group, storage_name, share_name)
    if names.get("acaEnvironmentName"):
        aca = cf_container_apps(cli_ctx, subscription)
        result["acaEnvironmentExists"] = _exists(aca.managed_environments.get, group,
                                                 names["acaEnvironmentName"])
    if names.get("acaLogAnalyticsName"):
        la = cf_log_analytics(cli_ctx, subscription)
        result["acaLogAnalyticsExists"] = _exists(la.workspaces.get, group, names["acaLogAnalyticsName"])
    return result


APP_API_VERSION = "2024-03-01"   # what the profile lookup reads (the SDK az ships speaks 2022-10-01)


def existing_app(cli_ctx, subscription, group, app_name):
    """(key, gpu profile) of the container app when it exists, else (None, None)."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
    from ._client_factory import cf_container_apps, retry_lost
    if not app_name:
        return None, None
    aca = cf_container_apps(cli_ctx, subscription)
    try:
        app = aca.container_apps.get(group, app_name)
    except ResourceNotFoundError:
        return None, None
    except HttpResponseError as e:
        if getattr(e, "status_code", None) == 404:
            return None, None
        raise
    key = api_key.from_secrets(retry_lost(aca.container_apps.list_secrets, group, app_name).value)
    return key, _app_profile(cli_ctx, subscription, app)


def _app_profile(cli_ctx, subscription, app):
    """The GPU profile the app runs on, read through the generic resource API (the app's
    workloadProfileName and the environment's profiles are newer than the SDK's models)."""
    from ._client_factory import cf_resources
    try:
        resources = cf_resources(cli_ctx, subscription)
        props = resources.resources.get_by_id(app.id, APP_API_VERSION).properties or {}
        env_id = props.get("managedEnvironmentId") or props.get("environmentId")
        wp_name = props.get("workloadProfileName")
        if not env_id or not wp_name:
            return None
        env = resources.resources.get_by_id(env_id, APP_API_VERSION).properties or {}
        for wp in env.get("workloadProfiles") or []:
            if wp.get("name") == wp_name:
                return gpu_profiles.by_type(wp.get("workloadProfileType"))
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not read the app's workload profile", exc_info=True)
    return None


def environment_profiles(cli_ctx, subscription, group, env_name):
    """[(name, workloadProfileType)] of an existing environment, or None when unknown."""
    from ._client_factory import cf_resources
    env_id = (f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
              f"Microsoft.App/managedEnvironments/{env_name}")
    try:
        props = cf_resources(cli_ctx, subscription).resources.get_by_id(env_id, APP_API_VERSION).properties or {}
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not read the environment's workload profiles", exc_info=True)
        return None
    return [(wp.get("name"), wp.get("workloadProfileType")) for wp in props.get("workloadProfiles") or []]


def fit_existing_environment(profiles, env_name, profile):
    """The workload profile name to use in an existing environment for `profile`; raises when
    the environment has no profile of that type (the template never re-PUTs an existing one)."""
    from azure.cli.core.azclierror import ValidationError
    for name, wp_type in profiles:
        if str(wp_type).lower() == profile.workload_profile_type.lower():
            return name
    have = ", ".join(f"{n} ({t})" for n, t in profiles) or "none"
    raise ValidationError(
        f"the existing Container Apps environment '{env_name}' has no {profile.workload_profile_type} "
        f"workload profile (it has: {have})",
        f"Add it with `az containerapp env workload-profile add -g <group> -n {env_name} "
        f"--workload-profile-name {profile.workload_profile_name} --workload-profile-type "
        f"{profile.workload_profile_type}`, pick a profile it has with --gpu-profile, or use a new "
        "environment: --parameters acaEnvironmentName=<new name>.")


def check_resource_group(cli_ctx, subscription, group):
    from azure.core.exceptions import ResourceNotFoundError
    from ._client_factory import cf_resources
    try:
        return cf_resources(cli_ctx, subscription).resource_groups.get(group)
    except ResourceNotFoundError:
        kind, message, rec = ae.classify({"code": "ResourceGroupNotFound", "message": ""},
                                         resource_group=group)
        raise azure_error(kind, message, rec) from None


def check_providers(cli_ctx, subscription, namespaces=("Microsoft.App",)):
    """Fail early, with the command to fix it, when a resource provider is not registered.
    Anything short of a definite "NotRegistered" is left to the deployment."""
    from ._client_factory import cf_resources
    for ns in namespaces:
        try:
            state = cf_resources(cli_ctx, subscription).providers.get(ns).registration_state
        except Exception:  # pylint: disable=broad-except
            logger.debug("could not read the registration of %s", ns, exc_info=True)
            continue
        if str(state).lower() in ("notregistered", "unregistered"):
            kind, message, rec = ae.classify(
                {"code": "MissingSubscriptionRegistration",
                 "message": f"The subscription is not registered to use namespace '{ns}'."})
            raise azure_error(kind, message, rec)


def build_parameters(ws, types, ft, cli_parameters, cwd):
    if ws.parameters_file.is_file():
        file_entries = params_mod.load_parameters_file(ws.parameters_file)
        source = ws_mod.PARAMETERS_FILE
    else:
        file_entries = params_mod.load_parameters_file(templates_shipped.PARAMETERS)
        source = "the shipped parameters file"
    try:
        params_mod.check_names(file_entries, types)
    except params_mod.ParameterError as e:
        raise params_mod.ParameterError(f"{source}: {e}", e.recommendation) from None
    cli_entries = params_mod.parse_parameter_args(cli_parameters, types, cwd=cwd)
    entries = params_mod.resolve_defaults(params_mod.merge(file_entries, cli_entries), ft)
    return {n: e for n, e in entries.items() if n in types}


def run(cmd, workspace=None, resource_group_name=None, location=None, parameters=None,
        gpu_profile=None, min_replicas=None, max_replicas=None, image=None, what_if=False,
        no_wait=False):
    import os
    ws = ws_mod.Workspace(workspace or ".")
    ft = ws.read_finetuning_config()
    template_file, types, template_desc = choose_template(ws)
    entries = build_parameters(ws, types, ft, parameters, os.getcwd())
    subscription, group = resolve_target(cmd, ft, resource_group_name)

    rg = check_resource_group(cmd.cli_ctx, subscription, group)
    check_providers(cmd.cli_ctx, subscription)
    names = {n: v for n, v in params_mod.values(entries).items() if isinstance(v, str)}

    app_name = names.get("acaAppName")
    if not app_name:
        try:
            cfg = ws.read_inference_config()
            if cfg[ws_mod.RESOURCE_GROUP_NAME] == group and cfg[ws_mod.SUBSCRIPTION_ID] == subscription:
                app_name = cfg[ws_mod.ACA_APP_NAME]
        except ws_mod.WorkspaceError:
            pass
    key, current_profile = existing_app(cmd.cli_ctx, subscription, group, app_name)
    if key is None:
        key = api_key.generate()
        logger.info("made a new API key (kept only as the container app's secret)")

    final = dict(entries)

    def put(name, value, override=True):
        if name in types and (override or name not in final):
            final[name] = {"value": value}

    put("apiKey", key)
    if location:
        put("location", location)
    if image:
        put("image", image)
    if gpu_profile:
        profile = gpu_profiles.get(gpu_profile)
        for n, v in gpu_profiles.template_parameters(profile).items():
            put(n, v)
    else:
        chosen_type = params_mod.values(final).get("workloadProfileType")
        profile = gpu_profiles.by_type(chosen_type) if chosen_type else None
        if profile is None and not chosen_type:
            profile = current_profile or gpu_profiles.get(None)
        if profile is not None:
            for n, v in gpu_profiles.template_parameters(profile).items():
                put(n, v, override=False)
    put("minReplicas", 0 if min_replicas is None else min_replicas, override=min_replicas is not None)
    if max_replicas is not None:
        put("maximumInstanceCount", max_replicas)
    else:
        put("maximumInstanceCount", DEFAULT_MAX_REPLICAS, override=False)
    exists = existing_resources(cmd.cli_ctx, subscription, group, names)
    for n, v in exists.items():
        put(n, v)
    chosen = gpu_profiles.by_type(params_mod.values(final).get("workloadProfileType") or "")
    if exists.get("acaEnvironmentExists") and chosen is not None and "workloadProfileName" in types:
        profiles = environment_profiles(cmd.cli_ctx, subscription, group, names["acaEnvironmentName"])
        if profiles is not None:
            put("workloadProfileName", fit_existing_environment(profiles, names["acaEnvironmentName"], chosen))

    parameter_arg = [[json.dumps(final)]]
    logger.warning("%s %s in resource group '%s' (subscription %s)…",
                   "What-if of" if what_if else "Deploying", template_desc, group, subscription)
    profile_type = params_mod.values(final).get("workloadProfileType")
    profile = gpu_profiles.by_type(profile_type) if profile_type else None

    from azure.cli.command_modules.resource.custom import (
        deploy_arm_template_at_resource_group, what_if_deploy_arm_template_at_resource_group)
    from azure.cli.core.commands import LongRunningOperation
    started = False
    try:
        if what_if:
            what_if_deploy_arm_template_at_resource_group(
                cmd, resource_group_name=group, template_file=template_file,
                parameters=parameter_arg, deployment_name=DEPLOYMENT_NAME, no_prompt=True)
            return None
        poller = deploy_arm_template_at_resource_group(
            cmd, resource_group_name=group, template_file=template_file, parameters=parameter_arg,
            deployment_name=DEPLOYMENT_NAME, no_wait=no_wait, no_prompt=True)
        started = True
        if no_wait:
            logger.warning("The deployment '%s' runs on. When it finished, run `az aitk inference "
                           "provision` again (it changes nothing) to write %s.", DEPLOYMENT_NAME,
                           ws_mod.INFERENCE_CONFIG_FILE)
            return None
        deployment = LongRunningOperation(cmd.cli_ctx, start_msg="Deploying",
                                          finish_msg="Deployed")(poller)
    except Exception as ex:  # pylint: disable=broad-except
        raise_mapped(cmd, ex, group, rg, location, profile, started)
        raise

    outputs = _outputs(deployment)
    values = {
        ws_mod.SUBSCRIPTION_ID: outputs.get(ws_mod.SUBSCRIPTION_ID) or subscription,
        ws_mod.RESOURCE_GROUP_NAME: outputs.get(ws_mod.RESOURCE_GROUP_NAME) or group,
    }
    for k in ws_mod.INFERENCE_CONFIG_KEYS[2:]:
        values[k] = outputs.get(k)
    missing = [k for k, v in values.items() if not v]
    if missing:
        from azure.cli.core.azclierror import DeploymentError
        raise DeploymentError(f"the deployment finished but its outputs lack {', '.join(missing)}",
                              f"Check the outputs of {template_file}: they must give "
                              + ", ".join(ws_mod.INFERENCE_CONFIG_KEYS) + ".")
    written = ws.write_inference_config(values)
    logger.warning("Wrote %s", ws.inference_config_file)
    result = dict(written)
    result["configFile"] = str(ws.inference_config_file)
    result["deploymentName"] = DEPLOYMENT_NAME
    if profile is not None:
        result["gpuProfile"] = profile.key
    v = params_mod.values(final)
    if "minReplicas" in v:
        result["minReplicas"] = v["minReplicas"]
    if "maximumInstanceCount" in v:
        result["maxReplicas"] = v["maximumInstanceCount"]
    return result


def _outputs(deployment):
    props = getattr(deployment, "properties", None)
    outputs = getattr(props, "outputs", None) or {}
    result = {}
    for k, v in outputs.items():
        result[k] = v.get("value") if isinstance(v, dict) else v
    return result


def raise_mapped(cmd, ex, group, rg, location, profile, started):
    """Raise one clear az error for a failed what-if/validation/deployment."""
    from azure.cli.core.azclierror import AzCLIError
    tree = ae.error_tree_from_exception(ex)
    failed_resource = None
    try:
        if not started:
            raise LookupError("preflight failure: no deployment operations to read")
        from ._client_factory import cf_deployments
        ops = list(cf_deployments(cmd.cli_ctx).deployment_operations.list(group, DEPLOYMENT_NAME))
        failed = ae.failed_operations(ops)
        if failed:
            failed_resource, op_error = failed[0]
            if op_error is not None:
                tree = op_error
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not list the deployment operations", exc_info=True)
    where = location or getattr(rg, "location", None)
    kind, message, rec = ae.classify(tree, resource_group=group, location=where,
                                     gpu_profile=profile, failed_resource=failed_resource)
    if kind == ae.OTHER and isinstance(ex, AzCLIError):
        raise ex
    raise azure_error(kind, message, rec)
