"""provision's GPU profile decision (core/provision/profile_fit.py) on real models' configs and sparse
safetensors headers (aitk_testkit.real_models), the region refusal (core/provision/regions.py), and the
decision inside provision with Azure replaced by fakes."""

import math

import pytest
from aitk_serve import fit
from azext_aitk.core import gpu_profiles
from azext_aitk.core.errors import ModelFitError, RegionError
from azext_aitk.core.provision import profile_fit, regions

from aitk_testkit import real_models as rm

GIB = 1024**3
T4_BUDGET = int(14.74 * 1024**3 * 0.92)  # CUDA's T4 total as vLLM logs it x vLLM's default utilization


def _model(tmp_path, name):
    config, shards = rm.MODELS[name]
    folder = rm.write_sparse_model(tmp_path / name, config, shards)
    return profile_fit.ModelFacts(name, config, fit.read_headers_from_dir(str(folder)))


def _params(c):
    """Parameters of a dense decoder, counted by hand from config.json."""
    h, i, v, layers = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["num_hidden_layers"]
    d = h // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * d
    per_layer = h * h * 2 + kv * h * 2 + 3 * i * h + 2 * h  # q, o; k, v; gate, up, down; two norms
    return 2 * v * h + layers * per_layer + h  # embeddings, lm_head, layers, final norm


def _kv_per_token(c):  # layers x KV heads x head_dim x (K, V) x 2 bytes
    return c["num_hidden_layers"] * c["num_key_value_heads"] * (c["hidden_size"] // c["num_attention_heads"]) * 2 * 2


def test_phi3_mini_4k_gets_the_t4_with_its_whole_context(tmp_path):
    m = _model(tmp_path, "Phi-3-mini-4k-instruct")
    # by hand: 3.8 B parameters in float16 plus one 4,096-token request fit the T4's budget
    assert _params(m.config) * 2 + 4096 * _kv_per_token(m.config) < T4_BUDGET
    choice = profile_fit.default_profile(m)
    assert choice.profile.key == "T4" and choice.chosen_by == "the fit"
    assert choice.plan.max_model_len == 4096 and choice.plan.dtype == "float16"  # T4 has no bfloat16
    assert choice.plan.weight_bytes == _params(m.config) * 2


def test_llama3_8b_gets_the_a100(tmp_path):
    m = _model(tmp_path, "Meta-Llama-3-8B")
    assert _params(m.config) * 2 > T4_BUDGET  # by hand: 8.0 B parameters x 2 bytes > the T4's budget
    choice = profile_fit.default_profile(m)
    assert choice.profile.key == "A100"
    assert choice.plan.max_model_len == 8192 and choice.plan.dtype == "bfloat16"


def test_phi3_mini_128k_gets_the_t4_with_its_context_cut(tmp_path):
    m = _model(tmp_path, "Phi-3-mini-128k-instruct")
    # by hand: what is left after the weights, the 0.5 GiB runtime reserve of a T4 and the 2 %
    # safety margin holds more than 4,096 tokens of KV cache but far fewer than 131,072: the rule
    # keeps the T4, context cut
    left = T4_BUDGET - _params(m.config) * 2 - GIB // 2 - math.ceil(T4_BUDGET * 0.02)
    most = left // _kv_per_token(m.config)
    assert 4096 < most < 131072
    choice = profile_fit.default_profile(m)
    assert choice.profile.key == "T4"
    assert profile_fit.T4_MIN_CONTEXT <= choice.plan.max_model_len <= most
    assert choice.plan.max_model_len % 1024 == 0 and choice.plan.model_max_len == 131072
    assert any("the model's 131,072 tokens of context do not fit T4" in n for n in choice.plan.notes)


def test_explicit_profile_too_small_is_refused_naming_the_one_that_fits_and_its_price(tmp_path):
    m = _model(tmp_path, "Meta-Llama-3-8B")
    with pytest.raises(ModelFitError) as e:
        profile_fit.choose(m, "T4", None, None)
    msg = str(e.value)
    assert "\n" not in msg
    assert "does not fit T4 (--gpu-profile)" in msg
    a100 = gpu_profiles.get("A100")
    assert f"the profile that would fit: A100 ({a100.workload_profile_type}" in msg
    assert f"${a100.usd_per_hour:.2f}/hour list price as of {gpu_profiles.PRICES_AS_OF}" in msg
    assert "--gpu-profile A100" in e.value.recommendation


def test_precedence_flag_parameters_current_app_then_the_fit(tmp_path):
    m = _model(tmp_path, "Phi-3-mini-4k-instruct")
    a100 = gpu_profiles.get("A100")
    assert profile_fit.choose(m, "A100", "Consumption-GPU-NC8as-T4", None).chosen_by == "--gpu-profile"
    by_params = profile_fit.choose(m, None, "Consumption-GPU-NC24-A100", None)
    assert by_params.profile.key == "A100" and by_params.chosen_by == "the parameters' workloadProfileType"
    assert profile_fit.choose(m, None, None, a100).chosen_by == "the container app's current profile"
    assert profile_fit.choose(m, None, None, None).profile.key == "T4"
    assert profile_fit.choose(None, "A100", None, None) is None  # no model: provision keeps its default
    assert profile_fit.choose(m, None, "D4", None) is None  # not a GPU profile aitk knows


def test_plan_summary_and_lines_show_profile_dtype_context_and_memory_split(tmp_path):
    choice = profile_fit.default_profile(_model(tmp_path, "Phi-3-mini-128k-instruct"))
    s = profile_fit.plan_summary(choice)
    assert (s["gpuProfile"], s["dtype"], s["maxModelLen"]) == ("T4", "float16", choice.plan.max_model_len)
    mem = s["memory"]
    assert mem["budget_bytes"] == (
        mem["weights_bytes"]
        + mem["lora_slots_bytes"]
        + mem["activation_bytes"]
        + mem["runtime_reserve_bytes"]
        + mem["safety_margin_bytes"]
        + mem["kv_pool_bytes"]
    )
    low, high = choice.plan.expected_context()
    assert s["expectedContext"] == {"from": low, "to": high, "fixedBy": "vLLM at start"}
    assert profile_fit.T4_MIN_CONTEXT <= low < high < 131072
    lines = profile_fit.plan_lines(choice)
    assert lines[0].startswith("GPU profile T4 (Consumption-GPU-NC8as-T4, chosen by the fit;")
    assert lines[1] == (
        f"dtype float16 (checkpoint bfloat16); context expected {low:,}-{high:,} tokens of the model's 131,072 "
        "(vLLM fixes the exact value at start)"
    )
    assert "weights 7.12" in lines[2] and "safety margin 0.27" in lines[2] and "KV pool" in lines[2]
    whole = profile_fit.plan_lines(profile_fit.default_profile(_model(tmp_path, "Phi-3-mini-4k-instruct")))
    assert whole[1] == (
        "dtype float16 (checkpoint bfloat16); context 4,096 tokens, the model's whole (vLLM fixes the exact value at start)"
    )


def test_region_refusals_are_one_line_and_list_the_regions_that_offer_it():
    t4 = gpu_profiles.get("T4")
    asked = []

    def offering():
        asked.append(1)
        return ["eastus", "westus3"]

    regions.check("East US", ["Consumption", "Consumption-GPU-NC8as-T4"], t4, offering)  # offered: fine
    assert not asked  # the listing is only asked for a refusal
    with pytest.raises(RegionError) as e:
        regions.check("eastus2", ["Consumption", "D4"], t4, offering)
    assert str(e.value) == (
        "eastus2 does not offer the Consumption-GPU-NC8as-T4 workload profile (T4); regions that do: eastus, westus3"
    )
    with pytest.raises(RegionError) as e:
        regions.check("mars", None, t4, offering)
    assert "location 'mars' is not a region" in str(e.value) and "eastus, westus3" in str(e.value)
    assert "\n" not in str(e.value)
    assert regions.is_unknown_location("NoRegisteredProviderFound")
    assert regions.is_unknown_location("LocationNotAvailableForResourceGroup")
    assert not regions.is_unknown_location("QuotaExceeded")


def test_a_config_the_memory_model_cannot_size_is_not_a_refusal():
    from azext_aitk.core.errors import UnsizableModelError

    with pytest.raises(UnsizableModelError, match="cannot size its weights"):
        profile_fit.choose(profile_fit.ModelFacts("m", {}, []), None, None, None)
