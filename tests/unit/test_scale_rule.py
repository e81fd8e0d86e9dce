"""The HTTP scale rule's value from what one replica carries (core/provision/scale_rule.py): the
arithmetic redone by hand on real models' fits, the rule from a rate, and bench's measured value."""

import math

import pytest
from aitk_serve import fit
from azext_aitk.core import gpu_profiles
from azext_aitk.core.provision import profile_fit, scale_rule

from .test_profile_fit import _model


def _by_hand(plan, speed, prompt, output):
    """The docstring's five steps, written out again."""
    _, seqs = fit.batch_defaults(plan.gpu)
    batch = max(1, min(seqs, plan.kv_pool_bytes // plan.kv.request_bytes(prompt + output)))
    params = plan.weight_bytes / 2  # float16 / bfloat16
    step_memory = (plan.weight_bytes + batch * plan.kv.request_bytes(prompt + output // 2)) / speed.memory_bytes_per_s
    step_compute = 2 * params * batch / speed.fp16_flops_per_s
    prefill = 2 * params * prompt / speed.fp16_flops_per_s
    return batch, batch / (output * max(step_memory, step_compute) + batch * prefill) * scale_rule.ROOFLINE_SHARE


@pytest.mark.parametrize("name, key", [("Phi-3-mini-4k-instruct", "T4"), ("Meta-Llama-3-8B", "A100")])
def test_estimate_is_the_documented_arithmetic(tmp_path, name, key):
    m = _model(tmp_path, name)
    choice = profile_fit.default_profile(m)
    assert choice.profile.key == key
    cap = scale_rule.estimate(choice.plan, choice.profile, 512, 256)
    batch, rps = _by_hand(choice.plan, gpu_profiles.GPU_SPEEDS[choice.profile.gpu], 512, 256)
    assert cap.batch == batch and cap.requests_per_second == pytest.approx(rps, rel=1e-3)
    assert cap.rule == max(1, math.floor(rps)) and cap.source == "estimate"
    assert cap.request_seconds > 1  # an LLM request takes seconds, not milliseconds


def test_longer_answers_mean_a_lower_rule(tmp_path):
    choice = profile_fit.default_profile(_model(tmp_path, "Phi-3-mini-4k-instruct"))
    short = scale_rule.estimate(choice.plan, choice.profile, 128, 64)
    long = scale_rule.estimate(choice.plan, choice.profile, 512, 1024)
    assert short.requests_per_second > long.requests_per_second and short.rule >= long.rule


def test_a_request_longer_than_the_context_is_cut_to_it(tmp_path):
    choice = profile_fit.default_profile(_model(tmp_path, "Phi-3-mini-4k-instruct"))
    cap = scale_rule.estimate(choice.plan, choice.profile, 100_000, 100_000)
    assert cap.prompt_tokens + cap.output_tokens <= choice.plan.max_model_len


@pytest.mark.parametrize("rps, want", [(0.0, 1), (0.4, 1), (1.0, 1), (2.99, 2), (37.5, 37), (float("nan"), 1)])
def test_rule_value_is_a_whole_rate_of_at_least_one(rps, want):
    assert scale_rule.rule_value(rps) == want


def test_measured_takes_the_best_clean_level_per_replica():
    levels = [
        {"concurrency": 1, "requests": 8, "failed": 0, "seconds": 8.0, "promptTokens": 1024, "outputTokens": 1024},
        {"concurrency": 8, "requests": 32, "failed": 0, "seconds": 4.0, "promptTokens": 4096, "outputTokens": 4096},
        {"concurrency": 32, "requests": 128, "failed": 3, "seconds": 4.0, "promptTokens": 1, "outputTokens": 1},
    ]
    cap = scale_rule.measured(levels, replicas=1)
    assert (cap.requests_per_second, cap.rule, cap.batch, cap.source) == (8.0, 8, 8, "bench")
    assert (cap.prompt_tokens, cap.output_tokens) == (128, 128)
    assert scale_rule.measured(levels, replicas=2).rule == 4  # two replicas served it
    assert scale_rule.measured([levels[2]], replicas=1) is None  # no clean level: no value


def test_lines_say_the_window_count():
    cap = scale_rule.ReplicaCapacity(3.2, 48, 15.0, 512, 256, 3, "estimate")
    text = scale_rule.line(cap, 3)
    assert "concurrentRequests 3" in text and "more than 45 requests" in text and "3.2 requests/s" in text
    assert "concurrentRequests 5 (--scale-concurrency)" in scale_rule.line(cap, 5, "--scale-concurrency")


def test_with_rule_sets_the_http_rule_and_keeps_the_rest():
    template = {
        "containers": [{"name": "main"}],
        "scale": {
            "minReplicas": 0,
            "maxReplicas": 2,
            "rules": [
                {"name": "q", "custom": {"type": "azure-queue"}},
                {"name": "http-concurrency", "http": {"metadata": {"concurrentRequests": "8", "x": "y"}}},
            ],
        },
    }
    out = scale_rule.with_rule(template, 3)
    assert scale_rule.current_rule(out) == 3 and scale_rule.current_rule(template) == 8  # a copy
    assert out["scale"]["rules"][0] == template["scale"]["rules"][0]
    assert out["scale"]["rules"][1]["http"]["metadata"] == {"concurrentRequests": "3", "x": "y"}
    assert out["containers"] == template["containers"] and out["scale"]["maxReplicas"] == 2
    bare = scale_rule.with_rule({"containers": []}, 2)
    assert bare["scale"]["rules"] == [{"name": "http-concurrency", "http": {"metadata": {"concurrentRequests": "2"}}}]
    assert scale_rule.current_rule({"containers": []}) is None


def test_provision_takes_the_flag_then_the_parameters_then_the_estimate():
    from azext_aitk.core.errors import ParameterError
    from azext_aitk.core.provision import provision_plan

    given = {"scaleConcurrentRequests": {"value": 5}}
    assert provision_plan.choose_scale_concurrency(given, 2, 7) == (2, "--scale-concurrency")
    assert provision_plan.choose_scale_concurrency(given, None, 7) == (None, "the parameters' scaleConcurrentRequests")
    assert provision_plan.choose_scale_concurrency({}, None, 7) == (7, None)
    assert provision_plan.choose_scale_concurrency({}, None, None) == (None, None)
    # the app's current value (bench --apply-scale-rule) comes before the estimate, after the rest
    assert provision_plan.choose_scale_concurrency({}, None, 7, current=3) == (3, "the app's current rule")
    assert provision_plan.choose_scale_concurrency({}, 2, 7, current=3) == (2, "--scale-concurrency")
    assert provision_plan.choose_scale_concurrency(given, None, 7, current=3) == (
        None,
        "the parameters' scaleConcurrentRequests",
    )
    with pytest.raises(ParameterError, match="--scale-concurrency is 0"):
        provision_plan.choose_scale_concurrency({}, 0, 7)
    types = {"scaleConcurrentRequests": "int", "apiKey": "securestring"}
    planned = provision_plan.plan(given, types, new_key=lambda: "k", scale_concurrency=3)
    assert planned.values["scaleConcurrentRequests"] == 3
    kept = provision_plan.plan(given, types, new_key=lambda: "k")
    assert kept.values["scaleConcurrentRequests"] == 5
    # a workspace's own template without the parameter gets none
    assert (
        "scaleConcurrentRequests" not in provision_plan.plan({}, {"apiKey": "securestring"}, scale_concurrency=3).values
    )
