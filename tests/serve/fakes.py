"""Model and adapter folders written directly (numpy + safetensors, zeros): fast inputs for the
launcher's inspection tests, shaped exactly like Hugging Face / peft files."""

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from aitk_testkit.tiny_models import TINY_LLAMA_CONFIG, lora_tensors, model_tensors

LLAMA = dict(TINY_LLAMA_CONFIG)
PHI3 = dict(LLAMA, model_type="phi3", architectures=["Phi3ForCausalLM"])


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
