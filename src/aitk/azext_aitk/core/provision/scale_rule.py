"""The HTTP scale rule's value (`concurrentRequests`) from what one replica carries.

Azure's rule (https://learn.microsoft.com/azure/container-apps/scale-app#http): "Every 15 seconds,
the number of concurrent requests is calculated as the number of requests in the past 15 seconds
divided by 15", and desiredReplicas = ceil(that / concurrentRequests) ("Scale behavior"). So the
value is a rate: the requests per second above which one replica is not enough. ACA's default
(10) and the template's old '8' ask for 8-10 new requests every second before a second replica
starts; an LLM replica that answers a request in seconds carries far fewer, so a value from the
replica's own capacity is what makes maxReplicas > 1 do anything.

The arithmetic (docs/serving.md, "Scale-out"), from the GPU fit of the model (aitk_serve.fit's
FitPlan: weights, KV pool and KV bytes per token, per GPU), the GPU's peak rates
(core/gpu_profiles.GPU_SPEEDS) and an expected request of P prompt and O output tokens:

1. batch B = min(vLLM's max_num_seqs, KV pool / KV bytes of one request of P + O tokens):
   the requests one replica decodes at once;
2. one decode step at B, memory- or compute-bound (the roofline): t_step = max((weights + B x KV of
   P + O/2 tokens) / memory bandwidth, 2 x parameters x B / FP16 FLOP/s);
3. one prefill: t_prefill = 2 x parameters x P / FP16 FLOP/s;
4. seconds to serve B requests: O x t_step + B x t_prefill; the roofline's requests per second
   = B / that, times ROOFLINE_SHARE (aitk's assumption, not a measurement: a replica reaches about
   half its roofline once scheduling, sampling and HTTP are counted; bench measures the real rate);
5. concurrentRequests = max(1, floor(requests per second)): the API takes whole numbers from 1, so
   a replica that carries less than one request a second still gets 1 (a second replica then
   starts at more than 15 requests in a 15 s window).

Pure: no az, no HTTP.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aitk_serve import fit

from ..gpu_profiles import GPU_SPEEDS, GpuProfile

HTTP_WINDOW_S = 15  # the rule's window (scale-app.md)
MIN_RULE = 1  # concurrentRequests "Min value 1" (scale-app.md)
DEFAULT_PROMPT_TOKENS = 512  # aitk's expected request: a chat turn with some history
DEFAULT_OUTPUT_TOKENS = 256
ROOFLINE_SHARE = 0.5


@dataclass(frozen=True)
class ReplicaCapacity:
    """What one replica carries at the expected request, and the rule value that matches it."""

    requests_per_second: float
    batch: int  # requests decoded at once
    request_seconds: float  # one request's time at that batch (queueing left out)
    prompt_tokens: int
    output_tokens: int
    rule: int  # concurrentRequests
    source: str  # "estimate" (the arithmetic above) or "bench" (measured)


def rule_value(requests_per_second: float) -> int:
    """concurrentRequests for a replica that carries `requests_per_second`: a second replica once
    the requests of a 15 s window / 15 exceed it."""
    if not math.isfinite(requests_per_second) or requests_per_second < MIN_RULE:
        return MIN_RULE
    return int(math.floor(requests_per_second))


def estimate(
    plan: fit.FitPlan,
    profile: GpuProfile,
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS,
) -> ReplicaCapacity | None:
    """The arithmetic of the module docstring for the launcher's plan on `profile`; None when the
    plan does not fit or aitk has no speeds for the profile's GPU."""
    speed = GPU_SPEEDS.get(profile.gpu)
    if speed is None or not plan.fits or plan.kv.bytes_per_token <= 0 or plan.weight_bytes <= 0:
        return None
    output = max(1, min(output_tokens, plan.max_model_len // 2))
    prompt = max(1, min(prompt_tokens, plan.max_model_len - output))
    _, max_num_seqs = fit.batch_defaults(plan.gpu)
    per_request = plan.kv.request_bytes(prompt + output)
    batch = max(1, min(max_num_seqs, plan.kv_pool_bytes // max(per_request, 1)))
    params = plan.weight_bytes / fit.VLLM_DTYPE_BYTES.get(plan.dtype, 2)  # per GPU
    kv_read = batch * plan.kv.request_bytes(prompt + output // 2)
    t_step = max((plan.weight_bytes + kv_read) / speed.memory_bytes_per_s, 2 * params * batch / speed.fp16_flops_per_s)
    t_prefill = 2 * params * prompt / speed.fp16_flops_per_s
    batch_seconds = output * t_step + batch * t_prefill
    rps = batch / batch_seconds * ROOFLINE_SHARE
    return ReplicaCapacity(
        round(rps, 3), batch, round(batch_seconds / ROOFLINE_SHARE, 3), prompt, output, rule_value(rps), "estimate"
    )


def measured(levels: Sequence[dict[str, Any]], replicas: int) -> ReplicaCapacity | None:
    """What bench measured: the most requests per second a concurrency level completed without a
    failure, over the replicas that served it; None when no level completed cleanly."""
    clean = [lv for lv in levels if lv.get("requests") and not lv.get("failed") and lv.get("seconds")]
    if not clean:
        return None
    best = max(clean, key=lambda lv: lv["requests"] / lv["seconds"])
    rps = best["requests"] / best["seconds"] / max(1, replicas)
    done = best["requests"]
    return ReplicaCapacity(
        round(rps, 3),
        int(best["concurrency"]),
        round(float(best.get("latencyP50") or 0.0), 3),
        int(best.get("promptTokens", 0) // max(done, 1)),
        int(best.get("outputTokens", 0) // max(done, 1)),
        rule_value(rps),
        "bench",
    )


def summary(cap: ReplicaCapacity) -> dict[str, Any]:
    """What --what-if, provision and bench show of it."""
    return {
        "requestsPerSecondPerReplica": cap.requests_per_second,
        "concurrentRequests": cap.rule,
        "batch": cap.batch,
        "requestSeconds": cap.request_seconds,
        "promptTokens": cap.prompt_tokens,
        "outputTokens": cap.output_tokens,
        "source": cap.source,
    }


def line(cap: ReplicaCapacity | None, chosen: int | None, override: str | None = None) -> str:
    """One line for stderr: the value the rule gets, and why."""
    if override:
        return (
            f"HTTP scale rule: concurrentRequests {chosen} ({override}): a second replica starts when a 15 s "
            f"window holds more than {HTTP_WINDOW_S * (chosen or MIN_RULE)} requests"
        )
    if cap is None:
        return "HTTP scale rule: concurrentRequests as the template sets it (no GPU fit of the model to derive it from)"
    how = (
        f"estimated: a batch of {cap.batch} requests of {cap.prompt_tokens}+{cap.output_tokens} tokens, "
        f"{cap.request_seconds:g} s each"
        if cap.source == "estimate"
        else f"measured by bench at concurrency {cap.batch}"
    )
    return (
        f"HTTP scale rule: concurrentRequests {cap.rule}: one replica carries about "
        f"{cap.requests_per_second:g} requests/s ({how}); a second replica starts when a 15 s window holds "
        f"more than {HTTP_WINDOW_S * cap.rule} requests"
    )


RULE_NAME = "http-concurrency"  # the template's rule


def current_rule(template: dict[str, Any]) -> int | None:
    """The first HTTP rule's concurrentRequests of a container app's `properties.template`, or None."""
    for rule in ((template or {}).get("scale") or {}).get("rules") or []:
        http = (rule or {}).get("http")
        if http is not None:
            try:
                return int(str((http.get("metadata") or {}).get("concurrentRequests")))
            except ValueError:
                return None
    return None


def with_rule(template: dict[str, Any], value: int) -> dict[str, Any]:
    """A copy of `properties.template` whose first HTTP rule asks for `value` (a string in the API),
    one named RULE_NAME added when it has none; the other rules and fields as they were."""
    out = dict(template or {})
    scale = dict(out.get("scale") or {})
    rules = [dict(r) for r in scale.get("rules") or []]
    for i, rule in enumerate(rules):
        if rule.get("http") is not None:
            http = dict(rule["http"])
            http["metadata"] = {**(http.get("metadata") or {}), "concurrentRequests": str(value)}
            rules[i] = {**rule, "http": http}
            break
    else:
        rules.append({"name": RULE_NAME, "http": {"metadata": {"concurrentRequests": str(value)}}})
    scale["rules"] = rules
    out["scale"] = scale
    return out
