"""Real models' config.json (the published values on the Hugging Face Hub, fields the memory
model reads) and sparse safetensors checkpoints with their exact tensor shapes: each shard is a
real header followed by a hole (`truncate`), so a 14B checkpoint costs no disk.

Values from the model repositories' config.json files:
https://huggingface.co/microsoft/Phi-3-mini-4k-instruct, .../Phi-3-mini-128k-instruct,
.../Phi-3-medium-4k-instruct, https://huggingface.co/meta-llama/Meta-Llama-3-8B,
https://huggingface.co/mistralai/Mistral-7B-v0.1, https://huggingface.co/meta-llama/Llama-3.2-3B-Instruct
(shard counts as published).
"""

import json
from pathlib import Path

PHI3_MINI_4K = {
    "architectures": ["Phi3ForCausalLM"],
    "model_type": "phi3",
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "num_hidden_layers": 32,
    "vocab_size": 32064,
    "max_position_embeddings": 4096,
    "original_max_position_embeddings": 4096,
    "sliding_window": 2047,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
PHI3_MINI_128K = dict(
    PHI3_MINI_4K,
    max_position_embeddings=131072,
    sliding_window=262144,
    rope_scaling={"type": "longrope", "long_factor": [1.0] * 48, "short_factor": [1.0] * 48},
)
PHI3_MEDIUM_4K = dict(
    PHI3_MINI_4K,
    hidden_size=5120,
    intermediate_size=17920,
    num_attention_heads=40,
    num_key_value_heads=10,
    num_hidden_layers=40,
)
LLAMA3_8B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "num_hidden_layers": 32,
    "vocab_size": 128256,
    "max_position_embeddings": 8192,
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
MISTRAL_7B = dict(
    LLAMA3_8B,
    architectures=["MistralForCausalLM"],
    model_type="mistral",
    vocab_size=32000,
    max_position_embeddings=32768,
    sliding_window=4096,
    rope_theta=10000.0,
)

LLAMA32_3B = dict(
    LLAMA3_8B,
    hidden_size=3072,
    intermediate_size=8192,
    num_attention_heads=24,
    num_key_value_heads=8,
    num_hidden_layers=28,
    head_dim=128,
    max_position_embeddings=131072,
    rope_scaling={
        "factor": 32.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    tie_word_embeddings=True,
)

# name -> (config, number of shards in the published checkpoint)
MODELS = {
    "Phi-3-mini-4k-instruct": (PHI3_MINI_4K, 2),
    "Phi-3-mini-128k-instruct": (PHI3_MINI_128K, 2),
    "Phi-3-medium-4k-instruct": (PHI3_MEDIUM_4K, 6),
    "Meta-Llama-3-8B": (LLAMA3_8B, 4),
    "Mistral-7B-v0.1": (MISTRAL_7B, 2),
    "Llama-3.2-3B-Instruct": (LLAMA32_3B, 2),
}
DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4}


def tensor_shapes(config):
    """Hugging Face tensor names and shapes of a dense decoder checkpoint (Phi-3 packs q/k/v and
    gate/up; Llama and Mistral do not)."""
    h, i, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    d = config.get("head_dim") or h // heads
    t = {"model.embed_tokens.weight": [v, h]}
    for n in range(config["num_hidden_layers"]):
        p = f"model.layers.{n}."
        t[p + "input_layernorm.weight"] = [h]
        t[p + "post_attention_layernorm.weight"] = [h]
        t[p + "self_attn.o_proj.weight"] = [h, heads * d]
        t[p + "mlp.down_proj.weight"] = [h, i]
        if config["model_type"] == "phi3":
            t[p + "self_attn.qkv_proj.weight"] = [(heads + 2 * kv) * d, h]
            t[p + "mlp.gate_up_proj.weight"] = [2 * i, h]
        else:
            t[p + "self_attn.q_proj.weight"] = [heads * d, h]
            t[p + "self_attn.k_proj.weight"] = [kv * d, h]
            t[p + "self_attn.v_proj.weight"] = [kv * d, h]
            t[p + "mlp.gate_proj.weight"] = [i, h]
            t[p + "mlp.up_proj.weight"] = [i, h]
    t["model.norm.weight"] = [h]
    if not config.get("tie_word_embeddings"):
        t["lm_head.weight"] = [v, h]
    return t


def write_sparse_shard(path, tensors, dtype="BF16"):
    """A safetensors file whose data region is a hole: header, then truncate to the full size."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in tensors.items():
        size = DTYPE_BYTES[dtype]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        f.truncate(8 + len(raw) + offset)
    return path


def write_sparse_model(folder, config, shards=1, dtype="BF16"):
    """config.json, the shards and model.safetensors.index.json (as the Hub publishes them)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    names = list(tensor_shapes(config).items())
    shapes = dict(names)
    per = -(-len(names) // shards)
    weight_map = {}
    for s in range(shards):
        part = dict(names[s * per : (s + 1) * per])
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors" if shards > 1 else "model.safetensors"
        write_sparse_shard(folder / file, part, dtype)
        weight_map.update({k: file for k in part})
    if shards > 1:
        (folder / "model.safetensors.index.json").write_text(
            json.dumps(
                {
                    "metadata": {"total_size": sum(_numel(s) * DTYPE_BYTES[dtype] for s in shapes.values())},
                    "weight_map": weight_map,
                }
            )
        )
    return folder


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n
