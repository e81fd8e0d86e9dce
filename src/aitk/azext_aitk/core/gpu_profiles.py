"""GPU workload profiles of Azure Container Apps that can serve a model with vLLM.

Public facts (learn.microsoft.com/azure/container-apps/workload-profiles-overview and
…/gpu-serverless-overview, …/quota-requests): serverless GPU profiles are billed per replica and can scale to zero;
dedicated ones are billed per node while any node runs. Each needs GPU quota for the
subscription and exists only in some regions.

Quota names as the serverless GPU page spells them in its quota request steps ("Managed
Environment Consumption NCA100 Gpus" / "Managed Environment Consumption T4 Gpus",
https://learn.microsoft.com/azure/container-apps/gpu-serverless-overview#request-serverless-gpu-quota).

Prices: the GPU meter's public list price in USD per GPU hour (pay-as-you-go), as published on
PRICES_SOURCE and quoted in public guides as of PRICES_AS_OF (T4 about $0.32, A100 about $2.34;
vCPU and memory seconds are billed on top). Not checked against a bill or the Retail Prices API
by this project; your price depends on region, currency and agreement. None: no price in this
table (the dedicated profiles are billed per node at rates this table does not hold).
"""

from typing import NamedTuple

from aitk_serve import gpus

PRICES_SOURCE = "https://azure.microsoft.com/pricing/details/container-apps/"
PRICES_AS_OF = "2026-03"


class GpuProfile(NamedTuple):
    key: str  # what --gpu-profile takes
    workload_profile_type: str
    workload_profile_name: str
    serverless: bool
    gpu: str
    gpu_count: int
    cpu: str
    memory: str
    quota: str  # the quota's name in the Azure portal
    usd_per_hour: float | None = None  # list price of one replica (serverless) or node (dedicated)


# The GPU facts (workload profile types, serverless or dedicated, GPUs a replica or node has)
# are the launcher's table, aitk_serve/gpus.py, which the fit uses too; this table adds what only
# Azure's side needs, by workload profile type: the key --gpu-profile takes, the profile's name in
# the environment, what the app's container asks for a replica (cpu/memory: the most the profile
# offers a replica), the quota's name and the list price.
_AZURE_FACTS: dict[str, tuple[str, str, str, str, str, float | None]] = {
    "Consumption-GPU-NC8as-T4": ("T4", "gpu-t4", "8.0", "56Gi", "Managed Environment Consumption T4 Gpus", 0.32),
    "Consumption-GPU-NC24-A100": (
        "A100",
        "gpu-a100",
        "24.0",
        "220Gi",
        "Managed Environment Consumption NCA100 Gpus",
        2.34,
    ),
    "NC24-A100": ("NC24-A100", "nc24-a100", "24.0", "220Gi", "Subscription NCA100 GPUs", None),
    "NC48-A100": ("NC48-A100", "nc48-a100", "48.0", "440Gi", "Subscription NCA100 GPUs", None),
    "NC96-A100": ("NC96-A100", "nc96-a100", "96.0", "880Gi", "Subscription NCA100 GPUs", None),
}


def _profile(wp: gpus.WorkloadProfile) -> GpuProfile:
    key, name, cpu, memory, quota, usd_per_hour = _AZURE_FACTS[wp.name]
    return GpuProfile(
        key, wp.name, name, wp.serverless, f"NVIDIA {wp.gpu.name}", wp.gpu.count, cpu, memory, quota, usd_per_hour
    )


# key (what --gpu-profile takes) → profile, in the launcher table's order (cheapest first).
PROFILES = {p.key: p for p in map(_profile, gpus.PROFILES)}
DEFAULT_PROFILE = "T4"


class GpuSpeed(NamedTuple):
    """One GPU's peak rates (per board), for the scale rule's arithmetic (core/provision/scale_rule.py)."""

    memory_bytes_per_s: float
    fp16_flops_per_s: float  # dense FP16/BF16 tensor-core peak
    source: str


# NVIDIA's datasheets: T4 320 GB/s and 65 TFLOPS FP16 (https://www.nvidia.com/en-us/data-center/tesla-t4/);
# A100 80GB PCIe (the board of Azure's NC A100 v4 series,
# https://learn.microsoft.com/azure/virtual-machines/nc-a100-v4-series) 1,935 GB/s and 312 TFLOPS FP16
# dense (https://www.nvidia.com/en-us/data-center/a100/).
GPU_SPEEDS = {
    "NVIDIA T4": GpuSpeed(320e9, 65e12, "https://www.nvidia.com/en-us/data-center/tesla-t4/"),
    "NVIDIA A100": GpuSpeed(1935e9, 312e12, "https://www.nvidia.com/en-us/data-center/a100/"),
}


def names() -> list[str]:
    return list(PROFILES)


def get(name: str | None) -> GpuProfile:
    """Look a profile up by its key or its workload profile type, ignoring case."""
    if name is None:
        return PROFILES[DEFAULT_PROFILE]
    wanted = name.strip().lower()
    for profile in PROFILES.values():
        if wanted in (profile.key.lower(), profile.workload_profile_type.lower()):
            return profile
    raise KeyError(name)


def by_type(workload_profile_type: object) -> GpuProfile | None:
    for profile in PROFILES.values():
        if profile.workload_profile_type.lower() == str(workload_profile_type).lower():
            return profile
    return None


def template_parameters(profile: GpuProfile) -> dict[str, str | bool]:
    """The template parameters that select the profile (docs/contracts.md)."""
    return {
        "workloadProfileName": profile.workload_profile_name,
        "workloadProfileType": profile.workload_profile_type,
        "cpu": profile.cpu,
        "memory": profile.memory,
        "workloadProfileDedicated": not profile.serverless,
    }


def describe(profile: GpuProfile) -> str:
    kind = (
        "serverless, billed per replica, scales to zero"
        if profile.serverless
        else "dedicated, billed per node while running"
    )
    return (
        f"{profile.key}: {profile.workload_profile_type} ({profile.gpu_count}x {profile.gpu}, "
        f"{profile.cpu.split('.')[0]} vCPU, {profile.memory[:-2]} GiB a replica; {kind})"
    )


def price(profile: GpuProfile) -> str:
    """'$2.34/hour (list price, 2026-03)', or that the table has none."""
    if profile.usd_per_hour is None:
        return f"no list price in aitk's table (see {PRICES_SOURCE})"
    return f"${profile.usd_per_hour:.2f}/hour list price as of {PRICES_AS_OF}"


class NamedProfile(NamedTuple):
    """A profile someone named, and who: `profile` is None when the parameters name a workload
    profile type that is not one of this table's GPU profiles."""

    profile: GpuProfile | None
    chosen_by: str


BY_OPTION = "--gpu-profile"


def named(gpu_profile: str | None, parameter_type: str | None, current: GpuProfile | None) -> NamedProfile | None:
    """The one precedence of the profile provision deploys: --gpu-profile, then the parameters'
    workloadProfileType, then the container app's current profile; None when nobody named one
    (the fit to the model decides, else DEFAULT_PROFILE). KeyError for an unknown --gpu-profile."""
    if gpu_profile:
        return NamedProfile(get(gpu_profile), BY_OPTION)
    if parameter_type:
        return NamedProfile(by_type(parameter_type), "the parameters' workloadProfileType")
    if current is not None:
        return NamedProfile(current, "the container app's current profile")
    return None
