"""Weights streamed in parallel: the launcher serves a local safetensors checkpoint with vLLM's
`--load-format runai_streamer` when the image carries the Run:ai Model Streamer, and says so in one
line; otherwise, in one line too, it leaves vLLM's default loader.

Why: vLLM's default loader reads each safetensors shard through mmap, one page fault at a time,
which over the share's SMB mount is a chain of small synchronous reads; the streamer reads every
file with many concurrent ranged reads into a CPU buffer and hands tensors over as they arrive
(vllm/model_executor/model_loader/runai_streamer_loader.py; its concurrency goes in through
`--model-loader-extra-config '{"concurrency": N}'`, which vLLM sets as RUNAI_STREAMER_CONCURRENCY).
The stock image installs the streamer: vLLM's docker/Dockerfile, stage `vllm-openai-base`, runs
`uv pip install … 'runai-model-streamer[s3,gcs]'` (the Azure part, runai-model-streamer-azure, is
not installed: reading `az://` URIs needs it, a mounted share does not). The launcher still checks
that the package is importable, so an image without it starts with the default loader.

When the streamer is not used (one line each, naming the reason):
- the extra vLLM arguments or serve.json's `vllm_args` choose `--load-format` (or a loader config):
  the user's choice;
- the model is not a local folder (a Hugging Face id: vLLM downloads it first), or the folder has no
  `.safetensors` file (the streamer reads safetensors only);
- the checkpoint is quantized (`quantization_config` in config.json): bitsandbytes and GGUF have
  loaders of their own, and the launcher does not bet a start on the others;
- `runai_model_streamer` is not importable.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .env_names import CONCURRENCY_ENV

STREAMER_FORMAT = "runai_streamer"
STREAMER_PACKAGE = "runai_model_streamer"
# Outstanding ranged reads per process. The streamer's own default is 16; Azure Files serves a
# share's throughput to many concurrent requests (a single SMB request stream is latency-bound),
# and the benchmark (benchmarks/bench_cold_start.py --weights) measures the gain at this setting.
DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class LoaderChoice:
    args: list[str]  # what to add to vLLM's command line (empty: vLLM's default loader)
    note: str  # the one line the launcher logs


def _user_chose(extra_args: Sequence[str]) -> str | None:
    for a in extra_args:
        name = a.split("=", 1)[0].replace("_", "-")
        if name in ("--load-format", "--model-loader-extra-config"):
            return name
    return None


def _has_safetensors(folder: str) -> bool:
    try:
        return any(n.endswith(".safetensors") for n in os.listdir(folder))
    except OSError:
        return False


def _quantization(config: Mapping[str, Any] | None) -> str | None:
    for cfg in (config or {}, (config or {}).get("text_config") or {}):
        if isinstance(cfg, Mapping):
            q = cfg.get("quantization_config") or cfg.get("compression_config")
            if q:
                return (
                    str(q.get("quant_method") or q.get("format") or "unknown") if isinstance(q, Mapping) else "unknown"
                )
    return None


def streamer_installed() -> bool:
    try:
        return importlib.util.find_spec(STREAMER_PACKAGE) is not None
    except (ImportError, ValueError):
        return False


def concurrency(env: Mapping[str, str]) -> int:
    value = (env.get(CONCURRENCY_ENV) or "").strip()
    if value.isdigit() and 1 <= int(value) <= 256:
        return int(value)
    return DEFAULT_CONCURRENCY


def choose(  # pylint: disable=too-many-return-statements  # one return per reason, each with its line
    model: str,
    model_is_local: bool,
    config: Mapping[str, Any] | None,
    extra_args: Sequence[str],
    env: Mapping[str, str],
    *,
    installed: Callable[[], bool] = streamer_installed,
) -> LoaderChoice:
    """The weights loader for this start: the streamer's flags and a line saying so, else no flags
    and a line saying why vLLM's default loader reads the weights."""
    default = "vLLM's default loader reads the weights"
    flag = _user_chose(extra_args)
    if flag:
        return LoaderChoice([], f"weights: {flag} in the vLLM arguments decides the loader")
    n = concurrency(env)
    if model.lower().startswith("az://"):  # weights in Blob: only the streamer reads them (blob_weights.py)
        return LoaderChoice(
            ["--load-format", STREAMER_FORMAT, "--model-loader-extra-config", f'{{"concurrency": {n}}}'],
            f"weights: streamed from Azure Blob by the Run:ai Model Streamer ({STREAMER_FORMAT}, concurrency {n})",
        )
    if not model_is_local:
        return LoaderChoice([], f"weights: {default} ({model!r} is not a local folder)")
    if not _has_safetensors(model):
        return LoaderChoice([], f"weights: {default} (no .safetensors in {model}; the streamer reads safetensors only)")
    method = _quantization(config)
    if method:
        return LoaderChoice([], f"weights: {default} (a {method}-quantized checkpoint: not streamed)")
    if not installed():
        return LoaderChoice(
            [],
            f"weights: {default} ({STREAMER_PACKAGE} is not installed in this image; "
            "pip install runai-model-streamer streams them in parallel)",
        )
    return LoaderChoice(
        ["--load-format", STREAMER_FORMAT, "--model-loader-extra-config", f'{{"concurrency": {n}}}'],
        f"weights: streamed in parallel by the Run:ai Model Streamer ({STREAMER_FORMAT}, concurrency {n})",
    )
