"""Which GPU profile serves the base model: the launcher's memory model (aitk_serve.fit) applied
to the profiles of core/gpu_profiles.py, before anything is deployed.

Pure: the operation reads config.json and the safetensors headers (share or local folder) and
hands them in. The rule (docs/serving.md, "Fitting the model to the GPU"):
- no profile named: the serverless T4 when the model fits it with at least T4_MIN_CONTEXT
  tokens of context (or its whole context, when shorter), else the cheapest profile that fits
  with that context (the serverless A100 first);
- a profile named (--gpu-profile, the parameters, the app's current one): planned as the
  launcher will plan it; refused when the model does not fit it at a useful context
  (aitk_serve.fit.USEFUL_CONTEXT), naming the profile that would fit and its list price.
"""

from dataclasses import dataclass

from aitk_serve import LaunchError, fit, gpus

from .. import gpu_profiles
from ..errors import ModelFitError, UnsizableModelError
from ..gpu_profiles import GpuProfile

T4_MIN_CONTEXT = 4096


@dataclass(frozen=True)
class ModelFacts:
    """What the fit needs of the base model, and where it was read (for messages)."""

    where: str
    config: dict
    headers: list[dict]


@dataclass(frozen=True)
class ProfileFit:
    profile: GpuProfile
    plan: fit.FitPlan
    chosen_by: str  # "the fit", "--gpu-profile", "the parameters", "the container app"


def launcher_profile(profile: GpuProfile) -> gpus.WorkloadProfile:
    """The launcher's GPU facts for an extension profile (same workload profile type)."""
    for wp in gpus.PROFILES:
        if wp.name.lower() == profile.workload_profile_type.lower():
            return wp
    raise KeyError(profile.workload_profile_type)


def _in_order() -> list[GpuProfile]:
    """The extension's profiles, cheapest first (gpu_profiles keeps the launcher table's order)."""
    return list(gpu_profiles.PROFILES.values())


def plan_for(model: ModelFacts, profile: GpuProfile) -> fit.FitPlan:
    """The launcher's plan on `profile` (no adapters yet: deploy pushes them later; each one
    the launcher serves takes a LoRA slot it plans for at start-up)."""
    try:
        # what the launcher refuses at every start (bad numbers, a quantization vLLM cannot load):
        # no profile helps, so provision stops here instead of deploying a server that cannot start
        fit.check_dimensions(model.config)
    except LaunchError as e:
        raise ModelFitError(
            f"{model.where}: {e}", "Pass --model with a model the server can load (it refuses this one at start-up)."
        ) from None
    try:
        return fit.plan(model.config, model.headers, launcher_profile(profile).gpu, [])
    except LaunchError as e:
        raise UnsizableModelError(f"{model.where}: {e}") from None


def _fits(p: fit.FitPlan, min_context: int) -> bool:
    return p.fits and p.max_model_len >= min(min_context, p.model_max_len)


def smallest_fitting(model: ModelFacts, min_context: int) -> ProfileFit | None:
    for profile in _in_order():
        p = plan_for(model, profile)
        if _fits(p, min_context):
            return ProfileFit(profile, p, "the fit")
    return None


def default_profile(model: ModelFacts) -> ProfileFit:
    """T4 when the model fits it with T4_MIN_CONTEXT tokens, else the cheapest that fits."""
    found = smallest_fitting(model, T4_MIN_CONTEXT) or smallest_fitting(model, fit.USEFUL_CONTEXT)
    if found is None:
        largest = _in_order()[-1]
        raise ModelFitError(
            f"{model.where} fits no Azure Container Apps GPU profile: "
            f"{plan_for(model, largest).problem} (the largest, {largest.key})",
            "Serve a smaller or quantized model.",
        )
    return found


def check_profile(model: ModelFacts, profile: GpuProfile, chosen_by: str) -> ProfileFit:
    """The plan on a profile the user chose; ModelFitError when the model cannot fit it."""
    p = plan_for(model, profile)
    if p.fits:
        return ProfileFit(profile, p, chosen_by)
    other = smallest_fitting(model, T4_MIN_CONTEXT) or smallest_fitting(model, fit.USEFUL_CONTEXT)
    if other is None:
        hint = "no Azure Container Apps GPU profile fits it"
        rec = "Serve a smaller or quantized model."
    else:
        hint = (
            f"the profile that would fit: {other.profile.key} ({other.profile.workload_profile_type}, "
            f"{other.plan.max_model_len:,} tokens of context, {gpu_profiles.price(other.profile)})"
        )
        rec = f"Pass --gpu-profile {other.profile.key}, or leave --gpu-profile out to let provision choose."
    raise ModelFitError(f"{model.where} does not fit {profile.key} ({chosen_by}): {p.problem}; {hint}", rec)


def context_text(p: fit.FitPlan) -> str:
    """The context to expect, as a range where the model's whole context may not fit; vLLM fixes
    the exact value when it starts (the launcher passes --max-model-len auto)."""
    low, _ = p.expected_context()
    if low >= p.model_max_len:
        return f"context {p.model_max_len:,} tokens, the model's whole (vLLM fixes the exact value at start)"
    return (
        f"context expected {p.expected_text()} of the model's {p.model_max_len:,} (vLLM fixes the exact value at start)"
    )


def plan_summary(pf: ProfileFit) -> dict:
    """What --what-if prints and provision returns: profile, dtype, context, memory split."""
    p = pf.plan
    low, high = p.expected_context()
    return {
        "gpuProfile": pf.profile.key,
        "workloadProfileType": pf.profile.workload_profile_type,
        "chosenBy": pf.chosen_by,
        "pricePerHour": gpu_profiles.price(pf.profile),
        "dtype": p.dtype,
        "maxModelLen": p.max_model_len,
        "modelMaxLen": p.model_max_len,
        # vLLM fixes the context at start (--max-model-len auto); the plan expects this range
        "expectedContext": {
            "from": min(low, p.model_max_len),
            "to": min(high, p.model_max_len),
            "fixedBy": "vLLM at start",
        },
        "memory": p.split(),
    }


def plan_lines(pf: ProfileFit) -> list[str]:
    """One line per decision, for stderr."""
    p = pf.plan
    gib = fit.GIB
    return [
        f"GPU profile {pf.profile.key} ({pf.profile.workload_profile_type}, chosen by {pf.chosen_by}; "
        f"{gpu_profiles.price(pf.profile)})",
        f"dtype {p.dtype} (checkpoint {p.checkpoint_dtype}); {context_text(p)}",
        f"GPU memory per GPU: {p.budget_bytes / gib:.2f} GiB budget = weights {p.weight_bytes / gib:.2f} + "
        f"LoRA slots {p.lora_bytes / gib:.2f} + activations {p.activation_bytes / gib:.2f} + non-torch and "
        f"CUDA graphs {p.runtime_reserve_bytes / gib:.2f} + safety margin {p.margin_bytes / gib:.2f} + KV pool "
        f"{p.kv_pool_bytes / gib:.2f} GiB ({p.kv.bytes_per_token:,} bytes/token, {p.kv.kind})",
    ]


def choose(
    model: ModelFacts | None,
    gpu_profile: str | None,
    parameter_type: str | None,
    current_profile: GpuProfile | None,
) -> ProfileFit | None:
    """The profile provision deploys, fitted to the model, by gpu_profiles.named's precedence
    (--gpu-profile, the parameters' workloadProfileType, the app's current profile, else the fit);
    None without a model (provision keeps its default) or when the parameters name a type that is
    not a GPU profile aitk knows. UnsizableModelError when config.json lacks what the memory model
    needs."""
    if model is None:
        return None
    named = gpu_profiles.named(gpu_profile, parameter_type, current_profile)
    if named is None:
        return default_profile(model)
    return check_profile(model, named.profile, named.chosen_by) if named.profile else None
