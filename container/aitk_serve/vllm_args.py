"""Turn what the launcher found into vLLM's command line and environment."""

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from . import LaunchError
from .adapters import AdapterInfo, smallest_max_lora_rank
from .env_names import ARG_API_KEYS_ENV, CPU_KVCACHE_ENV, RUNTIME_LORA_ENV, SECONDARY_API_KEY_ENV, VLLM_API_KEY_ENV

if TYPE_CHECKING:
    from .fit import FitPlan

# vLLM's OpenAI server, taking a second API key from the environment too (api_server.py).
API_SERVER_MODULE = "aitk_serve.api_server"
# On CPU: the same server after a fix to vLLM 0.32's CPU LoRA ops (see cpu_server.py).
CPU_SERVER_MODULE = "aitk_serve.cpu_server"
MIDDLEWARE = "aitk_serve.middleware.KeyGateMiddleware"
# Adapters on the share resolved on demand (resolver_middleware.py). vLLM adds --middleware in
# order and the last added runs first: this one goes first so it runs inside the API-key check.
SHARE_MIDDLEWARE = "aitk_serve.resolver_middleware.ShareAdapterMiddleware"
REDACTED = "<redacted>"
# The keys go to vLLM in VLLM_API_KEY_ENV (vllm/envs.py) and SECONDARY_API_KEY_ENV: that keeps
# them out of the process's command line (visible in `ps`) and out of vLLM's argument log.
CPU_KVCACHE_GIB = "1"
# vLLM 0.32 takes "auto" (or -1) for --max-model-len: the model's whole context when it fits the KV
# cache its own memory profiling leaves, else the largest that does (vllm/utils/argparse_utils.py,
# human_readable_int_or_auto; vllm/v1/core/kv_cache_utils.py, _auto_fit_max_model_len).
MAX_MODEL_LEN_FLAG = "--max-model-len"
AUTO_MAX_MODEL_LEN = "auto"
KV_CACHE_BYTES_FLAG = "--kv-cache-memory-bytes"
CPU_GPU_MEMORY_UTILIZATION = "0.3"
# With no adapter at start, LoRA stays on (adapters can be hot-loaded) at vLLM's default rank.
DEFAULT_MAX_LORA_RANK = 16
API_KEY_FLAG = "--api-key"
# vLLM 0.32's options that start like --api-key. Its parser (argparse, allow_abbrev on, `_` read as
# `-` by FlexibleArgumentParser) takes any unambiguous prefix: --api-k, --api-ke=K, --api_key all set
# api_key, while --api and --api- are refused as ambiguous.
VLLM_API_OPTIONS = (API_KEY_FLAG, "--api-server-count")
# The shortest prefix that can mean --api-key (an ambiguous one is redacted too, never echoed).
_SHORTEST_API_KEY_PREFIX = "--api"


def count_gpus(env: Mapping[str, str], dev_dir: str = "/dev", nvidia_smi: str | None = None) -> int:
    """GPUs this process may use: CUDA_VISIBLE_DEVICES when set, else the /dev/nvidiaN device
    files (what a container sees), else `nvidia-smi -L`."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip()]
        return 0 if not ids or ids[0].strip() == "-1" else len(ids)
    try:
        devices = [n for n in os.listdir(dev_dir) if re.fullmatch(r"nvidia\d+", n)]
    except OSError:
        devices = []
    if devices:
        return len(devices)
    smi = nvidia_smi if nvidia_smi is not None else shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False).stdout
            return sum(1 for line in out.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            return 0
    return 0


def tensor_parallel_size(gpus: int, num_heads: int | None = None) -> int:
    """The largest GPU count <= gpus that divides the attention heads (vLLM needs that)."""
    for n in range(max(gpus, 1), 0, -1):
        if num_heads is None or num_heads % n == 0:
            return n
    return 1


def has_flag(args: Iterable[str], flag: str) -> bool:
    """True when vLLM arguments set `flag` (--a-b, --a_b, --a-b=value)."""
    names = {flag, flag.replace("-", "_").replace("__", "--", 1)}
    return any(a in names or a.split("=", 1)[0] in names for a in args)


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """The value the last `flag` in vLLM arguments sets (--a-b V, --a_b V, --a-b=V), or None."""
    names = {flag, flag.replace("-", "_").replace("__", "--", 1)}
    found = None
    for i, a in enumerate(args):
        name, eq, value = a.partition("=")
        if name in names:
            found = value if eq else (args[i + 1] if i + 1 < len(args) else None)
    return found


def with_flag(args: Sequence[str], flag: str, value: str) -> list[str]:
    """`args` with every `flag` (any spelling, with its value) removed and `flag value` appended."""
    names = {flag, flag.replace("-", "_").replace("__", "--", 1)}
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        name, eq, _ = a.partition("=")
        if name in names:
            skip = not eq
            continue
        out.append(a)
    return [*out, flag, value]


def lora_modules_arg(adapters: Iterable[AdapterInfo], base_name: str) -> list[str]:
    """vLLM's JSON form of --lora-modules, one item per adapter (all after ONE flag: vLLM's
    parser replaces, not extends, the list on a second --lora-modules)."""
    return [
        json.dumps({"name": a.name, "path": a.path, "base_model_name": base_name}, separators=(",", ":"))
        for a in adapters
    ]


def build(
    *,
    model: str,
    served_name: str,
    adapters: Sequence[AdapterInfo],
    host: str,
    port: int,
    api_key: str | None,
    gpus: int,
    secondary_api_key: str | None = None,
    arg_api_keys: Sequence[str] = (),
    num_heads: int | None = None,
    extra_args: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    python: str | None = None,
    fit: "FitPlan | None" = None,
) -> tuple[list[str], dict[str, str], list[str]]:
    """(argv, env updates, notes) for exec'ing vLLM's OpenAI server. `fit` (an
    aitk_serve.fit.FitPlan, GPU only) sets dtype, context, LoRA slots and memory use. `arg_api_keys`:
    the keys of an --api-key taken off `extra_args` (take_api_keys); they replace the other two."""
    env = env or {}
    extra = list(extra_args)
    notes = []
    argv = [
        python or sys.executable,
        "-m",
        API_SERVER_MODULE if gpus > 0 else CPU_SERVER_MODULE,
        "--model",
        model,
        "--served-model-name",
        served_name,
        "--host",
        host,
        "--port",
        str(port),
    ]
    max_rank = max((a.rank for a in adapters), default=0)
    argv += [
        "--enable-lora",
        "--max-lora-rank",
        str(smallest_max_lora_rank(max_rank) if adapters else DEFAULT_MAX_LORA_RANK),
        "--max-loras",
        str(fit.max_loras if fit else max(len(adapters), 1)),
    ]
    if fit:
        argv += ["--max-cpu-loras", str(fit.max_cpu_loras)]
    if adapters:
        argv += ["--lora-modules", *lora_modules_arg(adapters, served_name)]
    argv += ["--middleware", SHARE_MIDDLEWARE, "--middleware", MIDDLEWARE]
    updates = {RUNTIME_LORA_ENV: "True"}
    if api_key:
        updates[VLLM_API_KEY_ENV] = api_key
    if secondary_api_key and secondary_api_key != api_key:
        updates[SECONDARY_API_KEY_ENV] = secondary_api_key
    if arg_api_keys:
        updates[ARG_API_KEYS_ENV] = json.dumps(list(arg_api_keys))
    if gpus > 0:
        tp = tensor_parallel_size(gpus, num_heads)
        if tp > 1 and not has_flag(extra, "--tensor-parallel-size") and not has_flag(extra, "-tp"):
            argv += ["--tensor-parallel-size", str(tp)]
        if tp != gpus:
            notes.append(
                f"{gpus} GPUs visible; tensor parallel size {tp} (it must divide the {num_heads} attention heads)"
            )
        if fit:
            for flag, planned in (
                ("--dtype", fit.dtype),
                ("--gpu-memory-utilization", fit.gpu_memory_utilization),
            ):
                if not has_flag(extra, flag):
                    argv += [flag, str(planned)]
    else:
        cpu = []
        # the variable overrides --kv-cache-memory-bytes on CPU (vllm/platforms/cpu.py): set it only
        # when the user gave neither
        if not env.get(CPU_KVCACHE_ENV) and not has_flag(extra, KV_CACHE_BYTES_FLAG):
            updates[CPU_KVCACHE_ENV] = CPU_KVCACHE_GIB
            cpu.append(f"{CPU_KVCACHE_ENV}={CPU_KVCACHE_GIB}")
        if not has_flag(extra, "--gpu-memory-utilization"):
            argv += ["--gpu-memory-utilization", CPU_GPU_MEMORY_UTILIZATION]
            cpu.append(f"--gpu-memory-utilization {CPU_GPU_MEMORY_UTILIZATION}")
        if cpu:
            notes.append("no GPU visible: CPU defaults " + ", ".join(cpu))
        notes.append(
            f"no GPU visible: vLLM's server runs through {CPU_SERVER_MODULE} (fixes "
            f"base-model rows batched with adapter rows in vLLM's CPU LoRA ops)"
        )
    if not has_flag(extra, MAX_MODEL_LEN_FLAG):
        # vLLM measures what fits at start-up and picks the context itself (docs/serving.md)
        argv += [MAX_MODEL_LEN_FLAG, AUTO_MAX_MODEL_LEN]
    # The launcher's own package must stay importable for --middleware after exec.
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if here not in paths:
        updates["PYTHONPATH"] = os.pathsep.join([here, *paths])
    return argv + extra, updates, notes


def _option_name(arg: str) -> str:
    return arg.split("=", 1)[0].replace("_", "-")


def _secret_flag(arg: str) -> str | None:
    """The flag as written when `arg` may set vLLM's --api-key (--api-key, --api_key, --api-k,
    --api-ke=VALUE, and the ambiguous --api, --api-), else None."""
    name = _option_name(arg)
    if len(name) >= len(_SHORTEST_API_KEY_PREFIX) and API_KEY_FLAG.startswith(name):
        return arg.split("=", 1)[0]
    return None


def _ambiguous(arg: str) -> list[str]:
    """vLLM's options an abbreviated `arg` could mean, when more than one (argparse refuses it)."""
    name = _option_name(arg)
    matches = [o for o in VLLM_API_OPTIONS if o.startswith(name)]
    return matches if len(matches) > 1 and name not in matches else []


def _is_option(arg: str) -> bool:
    # What argparse takes for the next option rather than a value (it reads "-5" as a value).
    return arg.startswith("-") and not re.fullmatch(r"-\d[\d.]*", arg)


def secret_values(argv: Sequence[str]) -> list[tuple[int, str]]:
    """(index, value) of every secret value: vLLM's --api-key takes several (nargs="+"), so every
    argument after it up to the next option is a key; `--api-key=K` holds one itself (and what
    follows it, up to the next option, is redacted too: vLLM would echo it in its usage error)."""
    found, inside = [], False
    for i, arg in enumerate(argv):
        if _secret_flag(arg):
            inside = True
            if "=" in arg:
                found.append((i, arg.split("=", 1)[1]))
            continue
        if inside and not _is_option(arg):
            found.append((i, arg))
        else:
            inside = False
    return found


def api_keys_in_args(argv: Sequence[str]) -> list[str]:
    """The API keys extra vLLM arguments set (vLLM uses them instead of VLLM_API_KEY)."""
    return [value for _, value in secret_values(argv) if value]


def take_api_keys(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(keys, the other arguments): every --api-key in extra vLLM arguments, in each form vLLM's
    parser accepts, taken off the command line so the keys reach vLLM in the environment only
    (env_names.ARG_API_KEYS_ENV). Raises LaunchError for a flag without a key or an ambiguous one."""
    found = dict(secret_values(argv))
    keys, rest = [], []
    for i, arg in enumerate(argv):
        flag = _secret_flag(arg)
        if flag is None:
            if i not in found:
                rest.append(arg)
            continue
        if _ambiguous(arg):
            raise LaunchError(
                f"{flag} in the extra vLLM arguments could mean any of {', '.join(_ambiguous(arg))}; "
                f"write the option in full ({API_KEY_FLAG} KEY)"
            )
        own, j = ([found[i]] if i in found else []), i + 1
        while j in found and _secret_flag(argv[j]) is None:
            own.append(found[j])
            j += 1
        if not any(own):
            raise LaunchError(
                f"{flag} in the extra vLLM arguments has no key after it: give one ({API_KEY_FLAG} KEY) "
                f"or leave it out and put the key in the variable --api-key-env names"
            )
        keys += [k for k in own if k and k not in keys]
    return keys, rest


def redact_args(argv: Sequence[str]) -> list[str]:
    """The command line with every secret value replaced."""
    out = list(argv)
    for i, _ in secret_values(argv):
        flag = _secret_flag(out[i])
        out[i] = f"{flag}={REDACTED}" if flag else REDACTED
    return out


def redact_env(updates: Mapping[str, str]) -> dict[str, str]:
    return {
        k: (REDACTED if "KEY" in k.upper() or "SECRET" in k.upper() or "TOKEN" in k.upper() else v)
        for k, v in updates.items()
    }
