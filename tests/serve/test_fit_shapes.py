"""Model shapes beyond the dense Llama/Phi-3 the fit was first written for (aitk_serve.fit):
Gemma 2/3 layer patterns a config.json leaves implicit, Gemma 3's pre-scaled context, the
per-layer-type rope_parameters of transformers 5, packed quantized checkpoints (AWQ/GPTQ,
compressed-tensors) and hostile numbers. Expected values are hand arithmetic from the config."""

import time

import pytest
from aitk_serve import LaunchError, fit, gpus
from hypothesis import given, settings
from hypothesis import strategies as st

A100 = gpus.lookup("A100")

# A tiny Llama-shaped text model: hidden 64, 4 heads of 16, 2 KV heads, intermediate 128, 2 layers.
TINY = {
    "model_type": "llama",
    "hidden_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "vocab_size": 100,
    "max_position_embeddings": 4096,
    "torch_dtype": "bfloat16",
}
# LoRA A+B per rank per layer: q 64+64, k 64+32, v 64+32, o 64+64, gate 64+128, up 64+128, down 128+64.
TINY_LORA_PER_RANK_LAYER = 128 + 96 + 96 + 128 + 192 + 192 + 192


def _gemma2(**extra):
    # google/gemma-2-2b's shape: 26 layers, 8 heads, 4 KV heads of 256, window 4096.
    return {
        "model_type": "gemma2",
        "num_hidden_layers": 26,
        "hidden_size": 2304,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "intermediate_size": 9216,
        "vocab_size": 256000,
        "sliding_window": 4096,
        "max_position_embeddings": 8192,
        **extra,
    }


def test_gemma2_without_layer_types_is_sized_as_its_full_attention_layers():
    """Gemma 2 alternates sliding and full layers; a config.json written before transformers
    added layer_types says only sliding_window. Sizing every layer as sliding would promise
    contexts the full layers cannot hold."""
    kv = fit.kv_layout(_gemma2(), "bfloat16")
    assert (kv.bytes_per_token, kv.sliding_window) == (26 * 4 * 256 * 2 * 2, None)
    explicit = fit.kv_layout(_gemma2(layer_types=["sliding_attention", "full_attention"] * 13), "bfloat16")
    assert explicit == kv
    assert fit.layer_types(_gemma2())[:4] == ["sliding_attention", "full_attention"] * 2


def test_gemma3_nested_config_keeps_its_pre_scaled_context_and_pattern():
    """Gemma 3 (multimodal wrapper, numbers under text_config): max_position_embeddings 131072 is
    already scaled by its linear RoPE factor 8 (vLLM skips the factor for gemma3); every 6th
    layer is full attention (sliding_window_pattern)."""
    text = {
        "model_type": "gemma3_text",
        "num_hidden_layers": 34,
        "hidden_size": 2560,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "intermediate_size": 10240,
        "vocab_size": 262208,
        "sliding_window": 1024,
        "sliding_window_pattern": 6,
        "max_position_embeddings": 131072,
        "rope_scaling": {"rope_type": "linear", "factor": 8.0},
    }
    config = {"model_type": "gemma3", "torch_dtype": "bfloat16", "text_config": text, "vision_config": {}}
    assert fit.model_max_len(config) == 131072
    types = fit.layer_types(config)
    assert types.count("full_attention") == 34 // 6 and types[5] == "full_attention"
    assert fit.kv_layout(config, "bfloat16").bytes_per_token == 34 * 4 * 256 * 2 * 2
    # any other model's linear factor still multiplies
    assert fit.model_max_len({**TINY, "rope_scaling": {"rope_type": "linear", "factor": 8.0}}) == 4096 * 8


def test_rope_parameters_per_layer_type_are_read():
    """transformers 5 writes rope_parameters, possibly one dict per layer type."""
    nested = {"full_attention": {"rope_type": "linear", "factor": 2.0}, "sliding_attention": {"rope_type": "default"}}
    assert fit.model_max_len({**TINY, "rope_parameters": nested}) == 8192
    assert fit.model_max_len({**TINY, "rope_parameters": {"rope_type": "llama3", "factor": 8.0}}) == 4096
    assert fit.model_max_len({**TINY, "rope_parameters": {"rope_type": "default", "rope_theta": 1e6}}) == 4096


def _dense_headers():
    t = {"model.embed_tokens.weight": [100, 64], "lm_head.weight": [100, 64]}
    for n in range(2):
        p = f"model.layers.{n}."
        t |= {p + "self_attn.q_proj.weight": [64, 64], p + "self_attn.k_proj.weight": [32, 64]}
        t |= {p + "self_attn.v_proj.weight": [32, 64], p + "self_attn.o_proj.weight": [64, 64]}
        t |= {p + "mlp.gate_proj.weight": [128, 64], p + "mlp.up_proj.weight": [128, 64]}
        t |= {p + "mlp.down_proj.weight": [64, 128]}
    return [{k: {"dtype": "BF16", "shape": s} for k, s in t.items()}]


def _awq_headers():
    """AWQ 4-bit, group 32: qweight int32 (in, out / 8), qzeros int32 (in / 32, out / 8), scales."""
    h = {}
    for name, meta in _dense_headers()[0].items():
        out_dim, in_dim = meta["shape"]
        if ".layers." not in name:
            h[name] = meta
            continue
        base = name[: -len(".weight")]
        h[base + ".qweight"] = {"dtype": "I32", "shape": [in_dim, out_dim // 8]}
        h[base + ".qzeros"] = {"dtype": "I32", "shape": [in_dim // 32, out_dim // 8]}
        h[base + ".scales"] = {"dtype": "F16", "shape": [in_dim // 32, out_dim]}
    return [h]


def _packed_headers():
    """compressed-tensors pack-quantized: int32 weight_packed (out, in / 8), weight_scale."""
    h = {}
    for name, meta in _dense_headers()[0].items():
        out_dim, in_dim = meta["shape"]
        if ".layers." in name:
            h[name + "_packed"] = {"dtype": "I32", "shape": [out_dim, in_dim // 8]}
            h[name + "_scale"] = {"dtype": "BF16", "shape": [out_dim, in_dim // 32]}
        else:
            h[name] = meta
    return [h]


@pytest.mark.parametrize("headers", [_dense_headers, _awq_headers, _packed_headers])
def test_lora_slots_of_a_quantized_checkpoint_are_its_dense_layers(headers):
    config = dict(TINY)
    if headers is not _dense_headers:
        config["quantization_config"] = {"quant_method": "awq" if headers is _awq_headers else "compressed-tensors"}
    p = fit.plan(config, headers(), A100, [fit.AdapterShape("a", 16)])
    assert p.lora_bytes == 1 * 16 * 2 * TINY_LORA_PER_RANK_LAYER * 2  # 1 slot, rank 16, 2 layers, bf16
    # the weights are what is stored: int32 / uint8 packed values as they are
    if headers is _awq_headers:
        layer = sum(o * i // 8 * 4 + i // 32 * o // 8 * 4 + i // 32 * o * 2 for o, i in _LINEARS)
        assert p.weight_bytes == 2 * 100 * 64 * 2 + 2 * layer


_LINEARS = [(64, 64), (32, 64), (32, 64), (64, 64), (128, 64), (128, 64), (64, 128)]


def test_mixture_of_experts_weights_and_kv_come_from_the_checkpoint():
    """Mixtral-shaped: 2 experts of (gate, up, down) per layer, a router; KV is attention only."""
    config = {**TINY, "model_type": "mixtral", "num_local_experts": 2, "num_experts_per_tok": 2}
    h = _dense_headers()[0]
    for n in range(2):
        p = f"model.layers.{n}."
        for mlp in ("gate_proj", "up_proj", "down_proj"):
            del h[p + f"mlp.{mlp}.weight"]
        h[p + "block_sparse_moe.gate.weight"] = {"dtype": "BF16", "shape": [2, 64]}
        for e in range(2):
            for w, shape in (("w1", [128, 64]), ("w3", [128, 64]), ("w2", [64, 128])):
                h[p + f"block_sparse_moe.experts.{e}.{w}.weight"] = {"dtype": "BF16", "shape": shape}
    p = fit.plan(config, [h], A100, [])
    layer = 64 * 64 + 32 * 64 + 32 * 64 + 64 * 64 + 2 * 64 + 2 * 3 * 128 * 64
    assert p.weight_bytes == 2 * (2 * 100 * 64 + 2 * layer)
    assert p.kv.bytes_per_token == 2 * 2 * 16 * 2 * 2  # layers x KV heads x head_dim x K,V x bf16


BAD_VALUES = [0, -1, True, 4096.0, "4096", [64], {"a": 1}]


@pytest.mark.parametrize("key", ["hidden_size", "num_hidden_layers", "num_key_value_heads", "head_dim"])
@pytest.mark.parametrize("value", BAD_VALUES)
def test_a_bad_dimension_is_one_line_naming_it(key, value):
    with pytest.raises(LaunchError) as e:
        fit.plan({**TINY, key: value}, [], A100, [])
    assert key in str(e.value) and "\n" not in str(e.value)
    nested = {"model_type": "gemma3", "text_config": {**TINY, key: value}}
    with pytest.raises(LaunchError, match=f"text_config.{key}"):
        fit.plan(nested, [], A100, [])


@pytest.mark.parametrize("key", ["sliding_window", "max_position_embeddings", "kv_lora_rank", "layer_types"])
def test_a_bad_optional_key_is_one_line_naming_it(key):
    with pytest.raises(LaunchError, match=key):
        fit.plan({**TINY, key: -4 if key != "layer_types" else "sliding_attention"}, [], A100, [])


def test_optional_keys_as_transformers_writes_them_are_accepted():
    """sliding_window 0 is "no window" (Qwen2-MoE with use_sliding_window false); Cohere's
    model_max_length replaces the other length keys, as in vLLM."""
    assert fit.kv_layout({**TINY, "sliding_window": 0}, "bfloat16").sliding_window is None
    assert fit.model_max_len({**TINY, "model_max_length": 8192}) == 8192


def test_absurd_sizes_are_refused_at_once():
    start = time.monotonic()
    with pytest.raises(LaunchError, match="num_hidden_layers.*not a real model"):
        fit.plan({**TINY, "num_hidden_layers": 10**12}, [], A100, [])
    with pytest.raises(LaunchError, match="vocab_size"):
        fit.plan({**TINY, "vocab_size": 10**15}, [], A100, [])
    assert time.monotonic() - start < 1


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_KEYS = sorted(set(fit.DIMENSIONS + fit.PLAN_DIMENSIONS) | {"rope_scaling", "rope_parameters", "layer_types"})


_ROPE = st.fixed_dictionaries(
    {"rope_type": st.sampled_from(["linear", "dynamic", "yarn", "llama3", "default", "longrope"])},
    optional={"factor": st.none() | st.booleans() | st.floats() | st.integers(-5, 10**9) | st.text(max_size=3)},
)
_VALUE = _JSON | _ROPE | st.dictionaries(st.sampled_from(["full_attention", "sliding_attention"]), _ROPE)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS + ["model_type", "torch_dtype", "dtype"]), _VALUE, max_size=6))
def test_any_config_values_give_a_plan_or_one_line(changes):
    """Whatever config.json holds under the keys the plan reads, the plan is made or refused in
    one line (LaunchError), never a crash, and a made plan has no negative sizes."""
    for config in ({**TINY, **changes}, {"model_type": "gemma3", "text_config": {**TINY, **changes}}):
        try:
            p = fit.plan(config, [], A100, [])
        except LaunchError as e:
            assert "\n" not in str(e)
            continue
        assert min(p.weight_bytes, p.kv.bytes_per_token, p.activation_bytes, p.model_max_len) > 0


@pytest.mark.parametrize(
    "index, says",
    [(b"[]", "is not a JSON object"), (b"{oops", "is not valid JSON"), (b'{"weight_map": 3}', "weight_map")],
)
def test_a_bad_shard_index_is_one_line(tmp_path, index, says):
    (tmp_path / fit.INDEX_FILE).write_bytes(index)
    with pytest.raises(LaunchError, match=says):
        fit.read_headers_from_dir(str(tmp_path))


def test_a_shard_index_with_a_bom_is_read(tmp_path):
    (tmp_path / fit.INDEX_FILE).write_bytes(b'\xef\xbb\xbf{"weight_map": {"a.weight": "missing.safetensors"}}')
    assert fit.read_headers_from_dir(str(tmp_path)) == []  # the shard it names is not there: nothing to read


def test_a_quantization_a_t4_cannot_run_is_planned_on_a_gpu_that_can():
    """gpt-oss ships mxfp4 weights, which vLLM runs from compute capability 8.0: a model small
    enough for a T4's memory is still not a T4 fit, and the profile named is the A100."""
    config = {**TINY, "model_type": "gpt_oss", "quantization_config": {"quant_method": "mxfp4"}}
    t4 = fit.plan(config, [], gpus.lookup("T4"), [])
    assert not t4.fits and "mxfp4 quantization needs compute capability 8.0" in t4.problem and "7.5" in t4.problem
    assert fit.plan(config, [], A100, []).fits
    profile, _ = fit.smallest_fitting_profile(config, [], [])
    assert profile.gpu.name == "A100"
    assert "Consumption-GPU-NC24-A100" in fit.refusal(t4, config, [], [])
    assert fit.plan({**TINY, "quantization_config": {"quant_method": "awq"}}, [], gpus.lookup("T4"), []).fits
