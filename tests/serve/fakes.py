"""Model and adapter folders written directly (numpy + safetensors, zeros): fast inputs for the
launcher's inspection tests, shaped exactly like Hugging Face / peft files."""

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

LLAMA = dict(
    model_type="llama",
    architectures=["LlamaForCausalLM"],
    hidden_size=128,
    intermediate_size=256,
    num_attention_heads=2,
    num_key_value_heads=2,
    num_hidden_layers=2,
    vocab_size=512,
    tie_word_embeddings=False,
)
PHI3 = dict(LLAMA, model_type="phi3", architectures=["Phi3ForCausalLM"])


def model_tensors(config):
    h, i, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    d = config.get("head_dim") or h // heads
    t = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,), "lm_head.weight": (v, h)}
    for n in range(config["num_hidden_layers"]):
        p = f"model.layers.{n}."
        t[p + "input_layernorm.weight"] = (h,)
        t[p + "post_attention_layernorm.weight"] = (h,)
        t[p + "self_attn.o_proj.weight"] = (h, heads * d)
        t[p + "mlp.down_proj.weight"] = (h, i)
        if config["model_type"] == "phi3":
            t[p + "self_attn.qkv_proj.weight"] = ((heads + 2 * kv) * d, h)
            t[p + "mlp.gate_up_proj.weight"] = (2 * i, h)
        else:
            t[p + "self_attn.q_proj.weight"] = (heads * d, h)
            t[p + "self_attn.k_proj.weight"] = (kv * d, h)
            t[p + "self_attn.v_proj.weight"] = (kv * d, h)
            t[p + "mlp.gate_proj.weight"] = (i, h)
            t[p + "mlp.up_proj.weight"] = (i, h)
    return t


def write_model(path, config=None, weights=True, **overrides):
    config = dict(config or LLAMA, **overrides)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    if weights:
        save_file(
            {k: np.zeros(s, np.float32) for k, s in model_tensors(config).items()}, str(path / "model.safetensors")
        )
    return path


def lora_tensors(config, targets, rank, layers=None):
    """peft's tensor names and shapes for a LoRA on `targets` of the model in `config`."""
    shapes = {k: s for k, s in model_tensors(config).items() if len(s) == 2}
    t = {}
    for name, (out_dim, in_dim) in shapes.items():
        module = name[: -len(".weight")]
        suffix = module.rsplit(".", 1)[-1]
        if suffix not in targets:
            continue
        if layers is not None and ".layers." in module and int(module.split(".")[2]) not in layers:
            continue
        key = "base_model.model." + module
        if suffix == "embed_tokens":
            t[key + ".lora_embedding_A"] = (rank, out_dim)
            t[key + ".lora_embedding_B"] = (in_dim, rank)
        else:
            t[key + ".lora_A.weight"] = (rank, in_dim)
            t[key + ".lora_B.weight"] = (out_dim, rank)
    return t


def write_adapter(
    path,
    tensors=None,
    *,
    model_config=None,
    targets=("q_proj", "v_proj"),
    rank=8,
    weights=True,
    config=True,
    **config_overrides,
):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if config:
        cfg = dict(
            peft_type="LORA",
            r=rank,
            lora_alpha=2 * rank,
            target_modules=list(targets),
            bias="none",
            modules_to_save=None,
            base_model_name_or_path="tiny-llama",
            task_type="CAUSAL_LM",
        )
        cfg.update(config_overrides)
        (path / "adapter_config.json").write_text(json.dumps(cfg))
    if weights:
        if tensors is None:
            tensors = lora_tensors(model_config or LLAMA, targets, rank)
        save_file({k: np.zeros(s, np.float32) for k, s in tensors.items()}, str(path / "adapter_model.safetensors"))
    return path
