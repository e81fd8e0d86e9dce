"""Adapters on MoE base models and quantized base models (aitk_serve.adapters): peft's LoRA on fused expert parameters
(target_parameters, what peft makes of expert targets on transformers 5) is refused in one
line for a model whose vLLM implementation cannot load it, and sized per expert where it can."""

import pytest
from aitk_serve import LaunchError, fit, gpus
from aitk_serve.adapters import check_quantization, inspect_adapter, inspect_model

from serve.conftest import refused, run_launcher
from serve.fakes import LLAMA, lora_tensors, write_adapter, write_model

EXPERTS, RANK = 4, 8
HIDDEN, INTER = LLAMA["hidden_size"], LLAMA["intermediate_size"]


def _fused_expert_tensors(rank=RANK, experts=EXPERTS):
    """Attention LoRA plus peft's fused-expert layout for every layer: experts.base_layer is
    gate_up_proj (A: rank x experts by hidden; B: 2 x intermediate by rank x experts), experts is
    down_proj (A: rank x experts by intermediate; B: hidden by rank x experts)."""
    t = lora_tensors(LLAMA, ("q_proj",), rank)
    for n in range(LLAMA["num_hidden_layers"]):
        p = f"base_model.model.model.layers.{n}.mlp.experts"
        t[p + ".base_layer.lora_A.weight"] = (rank * experts, HIDDEN)
        t[p + ".base_layer.lora_B.weight"] = (2 * INTER, rank * experts)
        t[p + ".lora_A.weight"] = (rank * experts, INTER)
        t[p + ".lora_B.weight"] = (HIDDEN, rank * experts)
    return t


@pytest.mark.parametrize(
    "architecture, model_type", [("MixtralForCausalLM", "mixtral"), ("Qwen2MoeForCausalLM", "qwen2_moe")]
)
def test_fused_expert_lora_on_a_2d_moe_model_is_refused_in_one_line(tmp_path, architecture, model_type):
    model = write_model(
        tmp_path / "m", dict(LLAMA, model_type=model_type, architectures=[architecture], num_local_experts=EXPERTS)
    )
    adapter = write_adapter(
        tmp_path / "a", _fused_expert_tensors(), targets=("q_proj",), target_parameters=["gate_up_proj", "down_proj"]
    )
    with pytest.raises(LaunchError) as e:
        inspect_adapter("moe", str(adapter), inspect_model(str(model)))
    message = str(e.value)
    assert "\n" not in message and "fused MoE expert parameters" in message and model_type in message
    assert "base_layer" not in message  # not "targets 'base_layer', which is not a module"


def test_fused_expert_lora_on_a_3d_moe_model_is_sized_per_expert(tmp_path):
    model = write_model(
        tmp_path / "m",
        dict(LLAMA, model_type="gpt_oss", architectures=["GptOssForCausalLM"], num_local_experts=EXPERTS),
    )
    adapter = write_adapter(
        tmp_path / "a", _fused_expert_tensors(), targets=("q_proj",), target_parameters=["mlp.experts"]
    )
    info = inspect_adapter("moe", str(adapter), inspect_model(str(model)))
    assert info.rank == RANK  # not RANK x EXPERTS: the stacked rows are one rank-8 LoRA per expert
    assert info.modules == ["experts", "q_proj"]
    odd = write_adapter(tmp_path / "b", _fused_expert_tensors(rank=5, experts=3), targets=("q_proj",))
    with pytest.raises(LaunchError, match="does not split over the base model's 4 experts"):
        inspect_adapter("odd", str(odd), inspect_model(str(model)))


@pytest.mark.parametrize(
    "quant, ok",
    [
        ({"quant_method": "awq", "bits": 4}, "awq"),
        ({"quant_method": "GPTQ", "bits": 4}, "gptq"),
        ({"quant_method": "compressed_tensors"}, "compressed-tensors"),
        ({"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "FP8"}}, "modelopt"),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True}, None),
        ({"quant_method": "hqq"}, None),
        ("awq", None),
    ],
)
def test_a_quantization_vllm_cannot_load_is_refused_before_the_start(tmp_path, quant, ok):
    """vLLM 0.32 refuses an unknown quantization method only once the engine starts."""
    config = dict(LLAMA, quantization_config=quant)
    if ok:
        assert check_quantization(config) == ok
        return
    with pytest.raises(LaunchError) as e:
        inspect_model(str(write_model(tmp_path / "m", config)))
    assert "\n" not in str(e.value) and "quantiz" in str(e.value)
    with pytest.raises(LaunchError):  # the fit (provision's path) says the same
        fit.plan(config, [], gpus.lookup("A100"), [])


def test_a_deprecated_quantization_needs_vllms_flag(tmp_path):
    model = write_model(tmp_path / "m", dict(LLAMA, quantization_config={"quant_method": "fbgemm_fp8"}))
    r = run_launcher(["--check", "--model", str(model)], tmp_path)
    refused(r, "loads only with --allow-deprecated-quantization")
    r = run_launcher(["--check", "--model", str(model), "--", "--allow-deprecated-quantization"], tmp_path)
    assert r.returncode == 0, r.stderr
    # nested under text_config (multimodal wrappers) counts as well
    nested = {"model_type": "gemma3", "text_config": dict(LLAMA, quantization_config={"quant_method": "eetq"})}
    with pytest.raises(LaunchError, match="'eetq'"):
        check_quantization(nested)


@pytest.mark.parametrize("in_config", [True, False])
def test_peft_trainable_tokens_are_named_as_such(tmp_path, in_config):
    """peft's trainable_token_indices stores new embedding rows (not modules_to_save): the refusal
    names what the adapter holds, whether its config says so or only its weights do."""
    tensors = lora_tensors(LLAMA, ("q_proj",), RANK)
    tensors["base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"] = (3, HIDDEN)
    extra = {"trainable_token_indices": [1, 2, 3]} if in_config else {}
    adapter = write_adapter(tmp_path / "a", tensors, targets=("q_proj",), **extra)
    with pytest.raises(LaunchError, match="cannot serve trainable tokens") as e:
        inspect_adapter("tt", str(adapter), inspect_model(str(write_model(tmp_path / "m"))))
    assert "modules_to_save" not in str(e.value)
