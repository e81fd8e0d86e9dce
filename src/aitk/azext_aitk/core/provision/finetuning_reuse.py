"""Reusing fine-tuning's Container Apps environment and Log Analytics for inference.

AI Toolkit's fine-tuning (its finetuning.bicep) leaves an environment `aienv<suffix>` with a
Consumption profile and a dedicated NC24-A100 profile named `GPU`, its logs in `ailog<suffix>`,
and a job `aiacajob<suffix>` whose `properties.environmentId` names the environment;
infra/finetuning.config.json names the job, not the environment. Provision serves from that
environment by default, adding the chosen serverless GPU profile when it lacks one.

Azure's rules for an existing environment (the stand-in enforces them too):
- serverless (consumption) GPU profiles can be added to a workload profiles environment later,
  GPU-enabled dedicated ones only when the environment is created
  (learn.microsoft.com/azure/container-apps/workload-profiles-overview);
- a Consumption-only environment has no GPUs
  (learn.microsoft.com/azure/container-apps/environment-type-consumption-only);
- serverless GPUs exist only in some regions (learn.microsoft.com/azure/container-apps/gpu-serverless-overview):
  Azure answers that when the profile is added.

Plain Python: the operation reads Azure and hands the facts in.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import gpu_profiles
from ..errors import EnvironmentProfileError
from ..gpu_profiles import GpuProfile

# finetuning.bicep's default environment name: 'aienv' + substring(uniqueString(resourceGroup().id), 0, 5);
# 'waisenv' + the same in older configs (phi-2, mistral-7b, zephyr-7b-beta).
ORIGINAL_ENVIRONMENT = re.compile(r"^(ai|wais)env[a-z0-9]{5}$")


@dataclass(frozen=True)
class Environment:
    """An existing environment provision may serve from, as read from Azure."""

    name: str
    profiles: tuple[tuple[str, str], ...]  # (name, workloadProfileType); () for Consumption-only
    log_analytics: str | None = None  # the workspace its logs go to, when found
    found_by: str = ""  # how it was found, for the user ("job aiacajobabcde")


@dataclass(frozen=True)
class ProfileFit:
    workload_profile_name: str  # what the app runs on
    add: GpuProfile | None  # the profile to add to the environment first, or None


@dataclass(frozen=True)
class ElsewhereEnvironment:
    """Fine-tuning's environment when its job's environmentId names another resource group or
    subscription than the one provision deploys to."""

    name: str
    resource_group: str
    subscription: str  # the id, as the environmentId spells it
    other_subscription: bool


def _environment(env_id: Mapping[str, str], subscription: str, group: str) -> tuple[str, str, str, bool] | None:
    """(name, group, subscription, in `group` of `subscription`) of an environment's id, parsed
    by azure/resource_ids.parse, else None. Azure compares ids case-insensitively
    (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules)."""
    is_environment = (
        env_id.get("namespace", "").lower() == "microsoft.app"
        and env_id.get("type", "").lower() == "managedenvironments"
        and not any(k.startswith("child_") for k in env_id)
    )
    env_subscription, env_group, name = (env_id.get(k, "") for k in ("subscription", "resource_group", "name"))
    if not (is_environment and env_subscription and env_group and name):
        return None
    here = env_subscription.lower() == subscription.lower() and env_group.lower() == group.lower()
    return name, env_group, env_subscription, here


def environment_in_group(env_id: Mapping[str, str], subscription: str, group: str) -> str | None:
    """The name of the environment `env_id` names when it is in `group` of `subscription`, else None."""
    found = _environment(env_id, subscription, group)
    return found[0] if found and found[3] else None


def environment_elsewhere(env_id: Mapping[str, str], subscription: str, group: str) -> ElsewhereEnvironment | None:
    """The environment `env_id` names when it is outside `group` of `subscription`, else None (in
    the group, or not an environment's id)."""
    found = _environment(env_id, subscription, group)
    if found is None or found[3]:
        return None
    name, env_group, env_subscription, _ = found
    return ElsewhereEnvironment(name, env_group, env_subscription, env_subscription.lower() != subscription.lower())


def not_reused_line(env: ElsewhereEnvironment, job: str, group: str) -> str:
    """The warning that fine-tuning's environment is not served from, why, and how to name one."""
    where = f"resource group '{env.resource_group}'"
    if env.other_subscription:
        where += f" of subscription {env.subscription}"
    return (
        f"Fine-tuning's Container Apps environment '{env.name}' (the job {job}'s) is in {where}, not in "
        f"'{group}': provision serves only from an environment in its own resource group, so it does not "
        f"reuse it (nor its GPU profiles). `--parameters acaEnvironmentName=<name>` names the environment "
        f"in '{group}' it serves from (an existing one, or a new one it makes)."
    )


def original_environment(names: Iterable[str]) -> str | None:
    """The one environment named by finetuning.bicep's scheme, else None (none, or several)."""
    matches = [n for n in names if ORIGINAL_ENVIRONMENT.match(n or "")]
    return matches[0] if len(matches) == 1 else None


def _alternatives(env: Environment) -> str:
    """The choices a user has when the profile cannot go into `env`."""
    options = []
    for name, wp_type in env.profiles:
        profile = gpu_profiles.by_type(wp_type)
        if profile is not None:
            kind = "serverless" if profile.serverless else "dedicated, billed per node while running"
            options.append(f"`--gpu-profile {profile.key}` to run on its {kind} profile '{name}'")
    options.append("a new environment: `--parameters acaEnvironmentName=<new name>`")
    return "Choose " + ", or ".join(options) + "."


def fit(env: Environment, profile: GpuProfile) -> ProfileFit:
    """Where the app runs in the existing environment for `profile`; raises when the profile is
    not there and cannot be added."""
    for name, wp_type in env.profiles:
        if str(wp_type).lower() == profile.workload_profile_type.lower():
            return ProfileFit(name, None)
    have = ", ".join(f"{n} ({t})" for n, t in env.profiles) or "none"
    if not env.profiles:
        why = "it is a Consumption-only environment, which has no GPUs"
    elif not profile.serverless:
        why = "GPU-enabled dedicated profiles can only be added when an environment is created"
    else:
        taken = {n.lower() for n, _ in env.profiles}
        name = profile.workload_profile_name
        while name.lower() in taken:
            name += "-1"
        return ProfileFit(name, profile._replace(workload_profile_name=name))
    raise EnvironmentProfileError(
        f"the Container Apps environment '{env.name}' has no {profile.workload_profile_type} workload profile "
        f"(it has: {have}) and cannot get one: {why}",
        _alternatives(env),
    )


def add_failed(env: Environment, profile: GpuProfile, reason: str) -> EnvironmentProfileError:
    """The error for a profile Azure refused to add (a region without it, mostly)."""
    reason = " ".join(str(reason).split()) or "Azure refused it"
    return EnvironmentProfileError(
        f"cannot add the {profile.workload_profile_type} workload profile to the Container Apps environment "
        f"'{env.name}': {reason}",
        _alternatives(env),
    )


def summary(values: Mapping[str, Any], env: Environment | None, add: GpuProfile | None) -> list[str]:
    """Lines saying which resources provision reuses and which it makes (values: the deployment's
    parameters, *Exists flags among them)."""
    exists = {k: bool(v) for k, v in values.items() if k.endswith("Exists")}
    roles = [
        ("storage account", "storageAccountName", "storageAccountExists"),
        ("file share", "fileShareName", "fileShareExists"),
        ("Container Apps environment", "acaEnvironmentName", "acaEnvironmentExists"),
        ("Log Analytics workspace", "acaLogAnalyticsName", "acaLogAnalyticsExists"),
    ]
    reused: list[str] = []
    new: list[str] = []
    for role, name_param, exists_param in roles:
        name = values.get(name_param)
        shown = f"{role} {name}" if isinstance(name, str) and name else f"{role} (the template's default name)"
        if name_param == "acaLogAnalyticsName" and exists.get("acaEnvironmentExists"):
            shown = f"{role} {name}" if isinstance(name, str) and name else f"{role} (the environment's own)"
        if exists.get(exists_param):
            if env is not None and name_param == "acaEnvironmentName" and env.found_by:
                shown += f" (fine-tuning's, found by {env.found_by})"
            reused.append(shown)
        elif not (exists.get("acaEnvironmentExists") and name_param == "acaLogAnalyticsName"):
            new.append(shown)
    app = values.get("acaAppName")
    new.append(
        f"container app {app}" if isinstance(app, str) and app else "container app (the template's default name)"
    )
    lines = ["Reuses: " + (", ".join(reused) if reused else "nothing"), "New or updated: " + ", ".join(new)]
    if add is not None and env is not None:
        lines.append(
            f"Adds the workload profile {add.workload_profile_name} ({add.workload_profile_type}) "
            f"to the environment {env.name}"
        )
    return lines


def profile_list(profiles: Iterable[tuple[Any, Any]] | None) -> tuple[tuple[str, str], ...]:
    """[(name, type)] as read from Azure, as plain strings."""
    return tuple((str(n), str(t)) for n, t in (profiles or ()))
