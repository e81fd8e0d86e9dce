"""Workspaces that fine-tune a Windows on-device model (Phi Silica, and Aion Instruct after it): vLLM
cannot serve them, so `init` refuses them in one line, writing nothing.

The AI Toolkit is now Foundry Toolkit (its 1.0 release); its current fine-tuning is LoRA for Phi
Silica: Windows' own language model, whose weights are not public, trained by Microsoft's prebuilt
fine-tuning container on an Azure Container Apps job; the adapter it leaves is loaded on a Windows
device by the Windows AI APIs (`LanguageModelExperimental.LoadAdapter`,
https://learn.microsoft.com/windows/ai/apis/phi-silica-lora). Remote fine-tuning of Hugging Face
models and inference on ACA (what aitk serves) live on its legacy "Project Template" page.

How such a workspace is told apart, by its files (microsoft/windows-ai-studio-templates,
finetuning_configs/microsoft/phi-silica-3.6/1/lora/ and aion-instruct-1.1/1/lora/): the method's
trainer config (`lora.yaml`, `soft_prompt.yaml`, the file the fine-tuning config's ARGS names as
`mount/<run_id>/<file>`) has the top-level keys `finetune_dataset` and `model_path` and a `model`
that is a model name, not a Hugging Face id (`Phi-3.6-mini-instruct`, `Aion-1.1`); the Project
Template workspaces fine-tune with Olive/peft configs that name a Hugging Face model
(`microsoft/Phi-3-mini-4k-instruct`) and have no such file. `model_project.config` beside it (its
`modelInfo.id`, e.g. `microsoft/phi-silica-3.6`) only names the model in the message.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import WorkspaceError

# The trainer config's files in those templates (one per method), and the keys that mark its shape.
METHOD_FILES = ("lora.yaml", "soft_prompt.yaml")
TRAINER_KEYS = ("finetune_dataset", "model_path", "model")
PROJECT_CONFIG = "model_project.config"
_TOP_LEVEL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*?)\s*$")
_ARGS_FILE = re.compile(r"(?:^|/)([A-Za-z0-9_.-]+\.ya?ml)$")
_MAX_BYTES = 256 * 1024  # a trainer config is a few hundred bytes; anything larger is not one


@dataclass(frozen=True)
class OnDeviceWorkspace:
    trainer_file: str  # the workspace-relative file that shows it ("lora.yaml")
    model: str  # its `model` value ("Phi-3.6-mini-instruct")
    model_id: str | None  # model_project.config's modelInfo.id, when there ("microsoft/phi-silica-3.6")


def top_level_keys(text: str) -> dict[str, str]:
    """{key: raw value} of a YAML file's top-level `key: value` lines (no YAML library: only the
    column-0 scalars are needed), quotes and `!!type` tags stripped from the value."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _TOP_LEVEL.match(line)
        if not m:
            continue
        value = re.sub(r"^!!\w+\s+", "", m.group(2).split(" #", 1)[0].strip())
        out[m.group(1)] = value.strip("'\"")
    return out


def is_trainer_config(keys: Mapping[str, str]) -> bool:
    """The Windows on-device trainer's config: its keys, and a `model` that is not a Hugging Face id."""
    model = keys.get("model", "")
    return all(k in keys for k in TRAINER_KEYS) and bool(model) and "/" not in model


def _candidates(finetuning_config: Mapping[str, Any]) -> list[str]:
    names = list(METHOD_FILES)
    args = finetuning_config.get("ARGS")
    for arg in args if isinstance(args, list) else []:
        m = _ARGS_FILE.search(str(arg))
        if m and m.group(1) not in names:
            names.append(m.group(1))
    return names


def _read(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > _MAX_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _model_id(root: Path) -> str | None:
    text = _read(root / PROJECT_CONFIG)
    try:
        info = json.loads(text).get("modelInfo") if text else None
    except (ValueError, AttributeError):
        return None
    model_id = info.get("id") if isinstance(info, dict) else None
    return model_id if isinstance(model_id, str) and model_id else None


def find(root: Path, finetuning_config: Mapping[str, Any] | None) -> OnDeviceWorkspace | None:
    """The on-device fine-tuning that the workspace at `root` holds, or None (reads only)."""
    for name in _candidates(finetuning_config or {}):
        text = _read(root / name)
        keys = top_level_keys(text) if text else {}
        if is_trainer_config(keys):
            return OnDeviceWorkspace(name, keys["model"], _model_id(root))
    return None


def refusal(found: OnDeviceWorkspace) -> WorkspaceError:
    named = f"{found.model_id} ({found.model})" if found.model_id else found.model
    return WorkspaceError(
        f"this workspace fine-tunes {named}, a Windows on-device model (Phi Silica family; {found.trainer_file}): "
        "its weights are not public and its LoRA adapters run on Windows devices, so vLLM cannot serve it",
        "aitk serves Hugging Face models (a config.json and safetensors) and their peft LoRA adapters, as the "
        'Foundry Toolkit\'s legacy "Project Template" workspaces fine-tune them; run init in such a workspace '
        "(or pass --workspace PATH). Load this adapter with the Windows AI APIs on a Windows device instead.",
    )
