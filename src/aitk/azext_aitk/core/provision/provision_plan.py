"""`az aitk inference provision`: which template, and the parameters it is deployed with.

Pure decisions: the user's parameters (the workspace's parameters file, then --parameters), the
GPU profile (flag, else the parameters, else the app's current one, else the default), the API
key (the app's, else a new one), replica defaults and the *Exists flags. The operation reads
Azure and hands the answers in.
"""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import api_key, gpu_profiles
from .. import workspace as ws_mod
from ..errors import MissingTemplatesError, ParameterError, StorageElsewhereError, WorkspaceError
from ..gpu_profiles import GpuProfile
from ..init import shipped_templates
from . import finetuning_reuse
from . import template_parameters as params_mod
from .template_parameters import Entries

DEFAULT_MIN_REPLICAS = 0  # an idle endpoint costs nothing
DEFAULT_MAX_REPLICAS = 1
EXISTS_PARAMETERS = ("storageAccountExists", "fileShareExists", "acaEnvironmentExists", "acaLogAnalyticsExists")


@dataclass(frozen=True)
class Template:
    file: str  # what az deploys: the shipped ARM JSON or the workspace's Bicep
    types: dict[str, str]  # {parameter: lower-case type}
    description: str
    limits: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)  # {int parameter: (min, max)}
    edited: bool = False  # the workspace's own Bicep, which differs from the shipped one


@dataclass(frozen=True)
class UserParameters:
    """What the user asked for in parameters: the merged entries, and the workspace's parameters
    file on its own (what a workspace brings, apart from what was typed)."""

    entries: Entries
    file_entries: Entries
    file_source: str  # the file's workspace path, or "the shipped parameters file"

    @property
    def file_location(self) -> str | None:
        """The `location` the parameters file sets, if any."""
        value = params_mod.values(self.file_entries).get("location")
        return value if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True)
class ProvisionPlan:
    parameters: Entries  # what the deployment gets, {name: {"value": v}}
    profile: GpuProfile | None  # the GPU profile those parameters select
    new_key: bool  # True: no app had a key, a new one is in the parameters
    add_profile: GpuProfile | None = None  # to add to the existing environment before deploying

    @property
    def values(self) -> dict[str, Any]:
        return params_mod.values(self.parameters)


def choose_template(ws: ws_mod.Workspace) -> Template:
    """The shipped template, unless the workspace's Bicep differs from the shipped one."""
    missing = shipped_templates.missing()
    if missing:
        raise MissingTemplatesError(f"the aitk extension is missing its templates ({', '.join(missing)}); reinstall it")
    shipped_bicep = shipped_templates.BICEP.read_text(encoding="utf-8")
    if ws.bicep_file.is_file():
        text = ws_mod.read_text(ws.bicep_file, "template")
        if not ws_mod.same_text(text, shipped_bicep):
            return Template(
                str(ws.bicep_file),
                params_mod.bicep_parameter_types(text),
                f"{ws_mod.BICEP_FILE} (edited; compiled by az's Bicep CLI)",
                edited=True,
            )
    template = json.loads(shipped_templates.ARM_JSON.read_text(encoding="utf-8"))
    return Template(
        str(shipped_templates.ARM_JSON),
        params_mod.template_parameter_types(template),
        "the shipped template (ARM JSON twin of inference.bicep)",
        params_mod.template_parameter_limits(template),
    )


def shipped_serving() -> dict[str, Any]:
    """The container start command and image aitk ships (the shipped parameters file's
    defaultCommands, the shipped template's image)."""
    shipped = params_mod.values(params_mod.load_parameters_file(shipped_templates.PARAMETERS))
    return {"defaultCommands": shipped.get("defaultCommands"), "image": shipped_templates.default_image()}


def read_parameters(
    ws: ws_mod.Workspace,
    template: Template,
    finetuning: Mapping[str, Any],
    cli_parameters: Sequence[Any] | None,
    cwd: str,
) -> UserParameters:
    """The parameters file (the workspace's, else the shipped one) under --parameters, nulls
    resolved from the fine-tuning config; only names the template declares. Each source is
    checked against the template's names and types here, before anything reaches Azure."""
    types = template.types
    if ws.parameters_file.is_file():
        file_entries = params_mod.load_parameters_file(ws.parameters_file)
        source = ws_mod.PARAMETERS_FILE
    else:
        file_entries = params_mod.load_parameters_file(shipped_templates.PARAMETERS)
        source = "the shipped parameters file"
    try:
        params_mod.check_names(file_entries, types)
    except ParameterError as e:
        raise ParameterError(f"{source}: {e}", e.recommendation) from None
    params_mod.check_values(file_entries, types, source, template.limits)
    cli_entries = params_mod.parse_parameter_args(cli_parameters, types, cwd=cwd)
    params_mod.check_values(cli_entries, types, "--parameters", template.limits)
    entries = params_mod.resolve_defaults(params_mod.merge(file_entries, cli_entries), finetuning)
    return UserParameters({n: e for n, e in entries.items() if n in types}, file_entries, source)


def storage_elsewhere(
    account: str, its_group: str, group: str, finetuning_account: str | None
) -> StorageElsewhereError:
    """The storage account the parameters name is in another resource group of the subscription
    than the one provision deploys to: the template would try to create it (storage account names
    are unique across Azure, so Azure answers StorageAccountAlreadyTaken). Refused before anything
    is created, naming both groups and the choice."""
    whose = (
        f"fine-tuning's storage account '{account}' (infra/finetuning.config.json)"
        if finetuning_account and finetuning_account.lower() == account.lower()
        else f"the storage account '{account}'"
    )
    return StorageElsewhereError(
        f"{whose} is in resource group '{its_group}', not '{group}' where provision deploys; "
        "the endpoint's share must be in its own resource group",
        f"Provision into '{its_group}' (-g {its_group}) to serve from that share, or make a new storage account "
        f"in '{group}' with --parameters storageAccountName=<new name> (then copy the model to its share). "
        "Nothing was created.",
    )


def resource_names(entries: Entries) -> dict[str, str]:
    """The string-valued parameters (resource names among them)."""
    return {n: v for n, v in params_mod.values(entries).items() if isinstance(v, str)}


def app_to_reuse(names: Mapping[str, str], ws: ws_mod.Workspace, group: str, subscription: str) -> str | None:
    """The container app whose key and profile provision keeps: the one the parameters name,
    else the one the workspace's config names in the same subscription and group."""
    if names.get("acaAppName"):
        return names["acaAppName"]
    try:
        cfg = ws.inference_config()
    except WorkspaceError:
        return None
    if cfg.resource_group == group and cfg.subscription_id == subscription:
        return cfg.app_name
    return None


def _fit_existing_environment(
    final: Entries, environment_profiles: Callable[[], Sequence[tuple[str, str]] | None]
) -> finetuning_reuse.ProfileFit | None:
    """Where the chosen GPU profile runs in the existing environment (None: no known profile, or
    the environment's profiles cannot be read); raises when it cannot run there."""
    chosen = gpu_profiles.by_type(params_mod.values(final).get("workloadProfileType") or "")
    env_name = resource_names(final).get("acaEnvironmentName")
    if chosen is None or not env_name:
        return None
    profiles = environment_profiles()
    if profiles is None:
        return None
    return finetuning_reuse.fit(finetuning_reuse.Environment(env_name, finetuning_reuse.profile_list(profiles)), chosen)


def reuse_environment(entries: Entries, types: Mapping[str, str], env: finetuning_reuse.Environment) -> Entries:
    """The parameters with fine-tuning's environment and its Log Analytics workspace named (only
    what the template declares; the user named no environment)."""
    out = dict(entries)
    if "acaEnvironmentName" in types:
        out["acaEnvironmentName"] = {"value": env.name}
    if env.log_analytics and "acaLogAnalyticsName" in types:
        out["acaLogAnalyticsName"] = {"value": env.log_analytics}
    return out


def choose_scale_concurrency(
    entries: Entries, flag: int | None, estimated: int | None, *, current: int | None = None
) -> tuple[int | None, str | None]:
    """(the HTTP scale rule's concurrentRequests to deploy, what set it when not the estimate), in
    the precedence the GPU profile has (gpu_profiles.named): --scale-concurrency, else the
    parameters' scaleConcurrentRequests (left in place: None), else the existing app's current value
    (what `bench --apply-scale-rule` measured survives a re-provision), else the estimate from the
    GPU fit (core/provision/scale_rule.py), else None (the template's default)."""
    if flag is not None:
        if isinstance(flag, bool) or not isinstance(flag, int) or flag < 1:
            raise ParameterError(
                f"--scale-concurrency is {flag}; the HTTP scale rule's concurrentRequests is a whole number from 1",
                recommendation="Give the requests per second one replica carries (bench reports it), e.g. "
                "--scale-concurrency 2.",
            )
        return flag, "--scale-concurrency"
    given = params_mod.values(entries).get("scaleConcurrentRequests")
    if given is not None:
        return None, "the parameters' scaleConcurrentRequests"
    if current is not None and current >= 1:
        return current, "the app's current rule"
    return estimated, None


def plan(  # pylint: disable=too-many-locals  # one keyword per decision the operation hands in
    entries: Entries,
    types: Mapping[str, str],
    *,
    existing_key: str | None = None,
    existing_secondary_key: str | None = None,
    current_profile: GpuProfile | None = None,
    gpu_profile: str | None = None,
    location: str | None = None,
    image: str | None = None,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
    exists: Mapping[str, bool] | None = None,
    environment_profiles: Callable[[], Sequence[tuple[str, str]] | None] | None = None,
    new_key: Callable[[], str] = api_key.generate,
    default_profile: GpuProfile | None = None,
    image_pull: Mapping[str, Any] | None = None,
    scale_concurrency: int | None = None,
) -> ProvisionPlan:
    """The final parameters. Flags win over the user's parameters; computed values (profile,
    replicas) fill in only what the user left out; only parameters the template declares are set.

    existing_key/existing_secondary_key/current_profile: of the app provision updates (None for a
    new app; a re-provision keeps both keys, an app from before the secondary key gets one); exists: the
    *Exists flags; environment_profiles: reads [(name, type)] of the existing environment (asked
    only when it exists and a known GPU profile is chosen); default_profile: the one fitted to
    the model (core/provision/profile_fit.py) when nothing else names one, else gpu_profiles' default;
    image_pull: the template parameters of a pull from the user's registry (--image-registry,
    core/provision/image_registry.template_values), which win over the image;
    scale_concurrency: the HTTP scale rule's value (choose_scale_concurrency() above), None to leave it
    to the parameters or the template."""
    final = dict(entries)

    def put(name: str, value: Any, override: bool = True) -> None:
        if name in types and (override or name not in final):
            final[name] = {"value": value}

    key = existing_key or new_key()
    put("apiKey", key)
    if "apiKeySecondary" in types:  # a workspace's own template from before it has none
        put("apiKeySecondary", existing_secondary_key or new_key())
    if location:
        put("location", location)
    if image:
        put("image", image)
    for n, v in (image_pull or {}).items():
        put(n, v)
    named = gpu_profiles.named(gpu_profile, params_mod.values(final).get("workloadProfileType"), current_profile)
    profile = (default_profile or gpu_profiles.get(None)) if named is None else named.profile
    if profile is not None:  # only --gpu-profile overrides what the parameters say
        for n, v in gpu_profiles.template_parameters(profile).items():
            put(n, v, override=named is not None and named.chosen_by == gpu_profiles.BY_OPTION)
    put(
        "minReplicas", DEFAULT_MIN_REPLICAS if min_replicas is None else min_replicas, override=min_replicas is not None
    )
    if max_replicas is not None:
        put("maximumInstanceCount", max_replicas)
    else:
        put("maximumInstanceCount", DEFAULT_MAX_REPLICAS, override=False)
    if scale_concurrency is not None:
        put("scaleConcurrentRequests", scale_concurrency)
    exists = dict(exists or {})
    if exists.get("acaEnvironmentExists") and "acaLogAnalyticsExists" in exists:
        # An existing environment keeps its own logs: the template's workspace is only for a new one.
        exists["acaLogAnalyticsExists"] = True
    for n, v in exists.items():
        put(n, v)
    add_profile = None
    if exists.get("acaEnvironmentExists") and "workloadProfileName" in types and environment_profiles is not None:
        where = _fit_existing_environment(final, environment_profiles)
        if where is not None:
            put("workloadProfileName", where.workload_profile_name)
            add_profile = where.add
    profile_type = params_mod.values(final).get("workloadProfileType")
    return ProvisionPlan(
        final,
        gpu_profiles.by_type(profile_type) if profile_type else None,
        new_key=existing_key is None,
        add_profile=add_profile,
    )
