"""Tiny random models and LoRA adapters, generated at test time (no downloads).

Importable by any test or demo (`from aitk_testkit.tiny_models import make_tiny_model, make_adapter`):
- `make_tiny_model(path, arch="llama"|"phi3")` writes a Hugging Face model folder (config.json,
  model.safetensors in float32, a byte-level BPE tokenizer with a chat template) of a 2-layer
  model with head_dim 64 (hidden 128, 2 heads), which vLLM's CPU attention kernels accept.
- `make_adapter(model_path, out_path, rank=8, targets=None)` writes a peft LoRA adapter
  (adapter_config.json + adapter_model.safetensors) for that model, with non-zero B weights
  (peft zero-inits B, which would make the adapter's output equal the base's).
- `train_adapter(model_path, out_path)` trains a LoRA adapter for real (peft, CPU) so that the
  chat prompt DEMO_PROMPT is answered with DEMO_ANSWER: the demo's adapter, visibly at work.
- `write_lora(out_path)` writes, in milliseconds and without torch, a peft LoRA adapter shaped for
  TINY_LLAMA_CONFIG (the dimensions make_tiny_model writes by default), with small random finite
  weights: what the launcher's checks, and deploy's before it uploads, accept for that base.
  `write_tiny_config(folder)` writes that base's config.json alone (a model folder deploy and
  provision read on the share; nothing serves it).
"""

import json
from pathlib import Path

ARCHS = ("llama", "phi3")

# Default LoRA targets per architecture: the attention projections. Phi-3 packs q/k/v into
# qkv_proj and gate/up into gate_up_proj.
DEFAULT_TARGETS = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "phi3": ["qkv_proj", "o_proj"],
}
ALL_LINEAR = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
}

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Azure Container Apps serves a large language model with LoRA adapters.",
    "Hello, how are you today? I am fine, thank you very much.",
    "vLLM batches requests on the GPU; transformers generates one at a time.",
    "Once upon a time there was a tiny model that spoke in random tokens.",
    "user assistant system: what is the capital of France? Paris is the capital.",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ !?.,;:'\"()[]{}<>-_+=/\\|@#$%^&*~`",
]

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]


def make_tokenizer(path, vocab_size=512):
    """Train a small byte-level BPE tokenizer (deterministic) and save it to `path`.
    Returns its length (the model's vocab_size must be at least that)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(path))
    return len(fast)


def make_tiny_model(
    path,
    arch="llama",
    *,
    hidden_size=128,
    num_heads=2,
    num_kv_heads=None,
    num_layers=2,
    intermediate_size=256,
    vocab_size=512,
    seed=0,
    max_position_embeddings=512,
):
    """Write a random tiny causal LM in Hugging Face format (float32 safetensors) to `path`."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Phi3Config

    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, not {arch!r}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    n_tok = make_tokenizer(path, vocab_size=vocab_size)
    if n_tok > vocab_size:
        raise ValueError(f"tokenizer has {n_tok} tokens, more than vocab_size {vocab_size}")
    common = {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_kv_heads or num_heads,
        "max_position_embeddings": max_position_embeddings,
        "tie_word_embeddings": False,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "pad_token_id": 0,
        # Peaked logits: greedy decoding far from ties, so float32 kernels agree exactly.
        "initializer_range": 0.1,
        "torch_dtype": "float32",
    }
    # The config classes take their fields through **kwargs, which pylint cannot see (false E1123).
    if arch == "llama":
        config = LlamaConfig(**common)  # pylint: disable=unexpected-keyword-arg
    else:
        config = Phi3Config(  # pylint: disable=unexpected-keyword-arg
            **common, original_max_position_embeddings=max_position_embeddings
        )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(str(path), safe_serialization=True)
    (path / "generation_config.json").unlink(missing_ok=True)  # keep plain greedy defaults
    return path


def make_adapter(
    model_path,
    out_path,
    rank=8,
    targets=None,
    *,
    alpha=None,
    seed=1,
    b_std=0.1,
    modules_to_save=None,
    base_model_name_or_path=None,
):
    """Write a peft LoRA adapter for the model in `model_path` to `out_path`.

    `targets`: module names (default: the architecture's attention projections). B weights
    are drawn from N(0, b_std) so the adapter changes the model's output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    model_path, out_path = Path(model_path), Path(out_path)
    arch = "phi3" if AutoConfig.from_pretrained(str(model_path)).model_type == "phi3" else "llama"
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32)
    cfg = LoraConfig(
        r=rank,
        lora_alpha=alpha or rank * 2,
        lora_dropout=0.0,
        bias="none",
        target_modules=list(targets or DEFAULT_TARGETS[arch]),
        modules_to_save=modules_to_save,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name or "lora_embedding_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * b_std)
            elif "lora_A" in name or "lora_embedding_A" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * (1.0 / param.shape[-1] ** 0.5))
    return _save_adapter(peft_model, out_path, base_model_name_or_path or str(model_path))


def reference_generate(model_path, prompt_ids, max_tokens, adapter_path=None):
    """Greedy float32 generation with transformers (+ peft): the token ids after the prompt."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32)
    if adapter_path is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_path))
    model.eval()
    ids = torch.tensor([list(prompt_ids)])
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_tokens,
            min_new_tokens=max_tokens,
            do_sample=False,
            pad_token_id=0,
            eos_token_id=None,
        )
    return out[0, ids.shape[1] :].tolist()


# What the demo's adapter is trained to answer to DEMO_PROMPT (scripts/demo.py, scenario.py).
DEMO_PROMPT = "Say hello to Azure Container Apps."
DEMO_ANSWER = "Hello from your fine-tuned adapter on Azure Container Apps!"


def chat_prompt_ids(model_path, messages):
    """Token ids of `messages` through the model's chat template, ready for the assistant's turn
    (what vLLM's chat completions feed the model)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_path))
    return list(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False))


def train_adapter(
    model_path,
    out_path,
    pairs=((DEMO_PROMPT, DEMO_ANSWER),),
    *,
    rank=8,
    steps=60,
    learning_rate=2e-2,
    seed=0,
    base_model_name_or_path=None,
):
    """Train a peft LoRA adapter for real, on CPU, so that for each (prompt, answer) of `pairs`
    greedy decoding of the chat prompt gives the answer and then end of text. The loss is on the
    answer's tokens only; every linear layer gets LoRA (a tiny random model needs the capacity).
    60 full-batch AdamW steps memorise a sentence of about 30 tokens (40 were enough in our runs);
    under 30 s on two busy CPU cores, a few seconds on a free one. Returns `out_path`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    model_path, out_path = Path(model_path), Path(out_path)
    arch = "phi3" if AutoConfig.from_pretrained(str(model_path)).model_type == "phi3" else "llama"
    tok = AutoTokenizer.from_pretrained(str(model_path))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32)
    cfg = LoraConfig(
        r=rank,
        lora_alpha=rank * 2,
        lora_dropout=0.0,
        bias="none",
        target_modules=ALL_LINEAR[arch],
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, cfg)
    batch = []
    for prompt, answer in pairs:
        prompt_ids = chat_prompt_ids(model_path, [{"role": "user", "content": prompt}])
        answer_ids = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids = torch.tensor([prompt_ids + answer_ids])
        labels = torch.tensor([[-100] * len(prompt_ids) + answer_ids])
        batch.append((ids, labels))
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=learning_rate)
    peft_model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = sum(peft_model(input_ids=ids, labels=labels).loss for ids, labels in batch) / len(batch)
        loss.backward()
        optimizer.step()
    return _save_adapter(peft_model, out_path, base_model_name_or_path or str(model_path))


def _save_adapter(peft_model, out_path, base_model_name_or_path):
    """Save a peft adapter as safetensors, naming `base_model_name_or_path` as its base."""
    peft_model.save_pretrained(str(out_path), safe_serialization=True)
    config_file = out_path / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = base_model_name_or_path
    config_file.write_text(json.dumps(config, indent=2))
    return out_path


# --- fast writers: no torch, shaped exactly like Hugging Face / peft files -----------------------

# The dimensions make_tiny_model(arch="llama") writes by default.
TINY_LLAMA_CONFIG = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 512,
    "tie_word_embeddings": False,
}


def model_tensors(config):
    """{weight name: shape} of a Llama or Phi-3 causal LM with `config`'s dimensions."""
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


def write_tiny_config(folder, config=None):
    """A model folder holding only config.json (TINY_LLAMA_CONFIG by default); returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config or TINY_LLAMA_CONFIG, indent=2))
    return folder


def write_lora(
    out_path,
    *,
    rank=8,
    targets=("q_proj", "v_proj"),
    config=None,
    seed=0,
    base_model_name_or_path="tiny-llama",
    bulk_bytes=0,
    **config_overrides,
):
    """A peft LoRA adapter (adapter_config.json + adapter_model.safetensors, float32) for the
    model of `config` (TINY_LLAMA_CONFIG by default), with random weights drawn from `seed`.

    `bulk_bytes`: the weights file also holds a byte tensor of that size, stored as a base layer's
    weight (`...q_proj.base_layer.weight`, which the launcher's checks pass over as peft can save
    one): a large adapter for tests of uploads, whose every MiB differs (from `seed`)."""
    import numpy as np
    from safetensors.numpy import save_file

    out_path = Path(out_path)
    out_path.mkdir(parents=True, exist_ok=True)
    adapter_config = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": 2 * rank,
        "target_modules": list(targets),
        "bias": "none",
        "modules_to_save": None,
        "base_model_name_or_path": base_model_name_or_path,
        "task_type": "CAUSAL_LM",
        **config_overrides,
    }
    (out_path / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
    rng = np.random.default_rng(seed)
    tensors = lora_tensors(config or TINY_LLAMA_CONFIG, targets, rank)
    arrays = {k: (rng.standard_normal(s) * 0.05).astype(np.float32) for k, s in tensors.items()}
    if bulk_bytes:
        mib = 1 << 20
        block = np.random.default_rng(seed + 1).integers(0, 256, mib, dtype=np.uint8)
        bulk = np.resize(block, bulk_bytes)
        for start in range(0, bulk_bytes, mib):  # number each MiB: no two alike
            bulk[start : start + 4] = np.frombuffer((start // mib).to_bytes(4, "little"), np.uint8)[
                : bulk_bytes - start
            ]
        arrays["base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight"] = bulk
    save_file(arrays, str(out_path / "adapter_model.safetensors"))
    return out_path
