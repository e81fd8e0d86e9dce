"""`python -m aitk_serve [options] [-- extra vLLM arguments]`: check, then exec vLLM."""

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from . import (
    LaunchError,
    __version__,
    blob_weights,
    fit,
    gpus,
    serving_state,
    snapshot,
    startup_timeline,
    vllm_start,
    weights_loader,
)
from .adapter_spec import name_problem
from .adapters import AdapterInfo, ModelInfo, check_quantization, check_unique_names, inspect_model
from .discovery import Sources, mount_root, resolve
from .env_names import (
    ADAPTERS_ENV,
    CONFIG_ENV,
    DEFAULT_API_KEY_ENV,
    DEFAULT_SECONDARY_API_KEY_ENV,
    HOST_ENV,
    MODEL_ENV,
    MOUNT_ENV,
    PORT_ENV,
    SHARE_ADAPTERS_ENV,
    START_ENV,
)
from .resolver import Settings
from .validate import one_line
from .vllm_args import (
    AUTO_MAX_MODEL_LEN,
    CPU_KVCACHE_ENV,
    CPU_KVCACHE_GIB,
    KV_CACHE_BYTES_FLAG,
    MAX_MODEL_LEN_FLAG,
    build,
    count_gpus,
    flag_value,
    redact_args,
    redact_env,
    take_api_keys,
)

PROG = "aitk_serve"
DEFAULT_PORT = 8000
DEFAULT_HOST = "0.0.0.0"  # the container's ingress reaches it from outside the container
_Number = TypeVar("_Number", int, float)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m {PROG}",
        description="Serve a base model and its LoRA adapters with vLLM's OpenAI-compatible "
        "server. Arguments after `--` go to vLLM unchanged.",
        epilog=f"Environment: {MOUNT_ENV} (share mount, default /mount), {MODEL_ENV}, "
        f"{ADAPTERS_ENV} (NAME=PATH,...), {CONFIG_ENV} (serve.json), and the API key "
        f"variable named by --api-key-env. Precedence: flags > env > serve.json > "
        f"discovery.",
    )
    p.add_argument(
        "--model",
        help=f"model folder or Hugging Face id (env {MODEL_ENV}; default: the single model under <mount>/model-cache)",
    )
    p.add_argument(
        "--adapter",
        action="append",
        metavar="NAME=PATH",
        help=f"a LoRA adapter, repeatable (env {ADAPTERS_ENV}; default: every adapter "
        f"under <mount>/models and <mount>/aitk/adapters)",
    )
    p.add_argument("--served-model-name", help="name of the base model in the API (default: the model folder's name)")
    p.add_argument(
        "--config", help=f"serve.json (env {CONFIG_ENV}; default: <mount>/aitk/inference/serve.json when it exists)"
    )
    p.add_argument("--host", help=f"address to listen on (env {HOST_ENV}; default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, help=f"port to listen on (env {PORT_ENV}; default {DEFAULT_PORT})")
    p.add_argument(
        "--api-key-env",
        default=DEFAULT_API_KEY_ENV,
        metavar="VAR",
        help=f"environment variable holding the API key; when set, the API needs it (default {DEFAULT_API_KEY_ENV})",
    )
    p.add_argument(
        "--secondary-api-key-env",
        default=DEFAULT_SECONDARY_API_KEY_ENV,
        metavar="VAR",
        help="environment variable holding a second API key, accepted as well as the first "
        f"(default {DEFAULT_SECONDARY_API_KEY_ENV})",
    )
    p.add_argument(
        "--check", action="store_true", help="validate everything, print the vLLM command line as JSON, start nothing"
    )
    p.add_argument(
        "--gpu",
        metavar="NAME",
        help="with --check: plan for this GPU instead of the visible one: " + ", ".join(gpus.known_names()),
    )
    p.add_argument(
        "--gpu-memory",
        type=float,
        metavar="GiB",
        help="with --check: plan for a GPU with this much memory per GPU (with --gpu: "
        "overrides its memory; alone: a GPU with bfloat16, compute 8.0)",
    )
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return p


def planned_gpu(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[int, gpus.GpuSpec | None]:
    """(GPU count, GpuSpec or None): --gpu/--gpu-memory when given, else what is visible."""
    if args.gpu is None and args.gpu_memory is None:
        count = count_gpus(env)
        return count, (gpus.detect(count) if count else None)
    if not args.check:
        raise LaunchError(
            "--gpu and --gpu-memory plan for a GPU that is not here: use them with "
            "--check (a real start uses the visible GPU)"
        )
    spec = gpus.GpuSpec("GPU", 0, (8, 0), source="--gpu-memory")
    if args.gpu is not None:
        known = gpus.lookup(args.gpu)
        if known is None:
            raise LaunchError(
                f"--gpu {args.gpu!r} is not a GPU the launcher knows; use one of "
                f"{', '.join(gpus.known_names())}, or --gpu-memory GiB"
            )
        spec = known
    if args.gpu_memory is not None:
        if not 0 < args.gpu_memory <= 4096:
            raise LaunchError(f"--gpu-memory {args.gpu_memory:g} is not a GPU memory size in GiB")
        spec = dataclasses.replace(spec, memory_bytes=int(args.gpu_memory * gpus.GIB), source="--gpu-memory")
    return spec.count, spec


def _number(vllm_args: Sequence[str], flag: str, kind: Callable[[str], _Number]) -> _Number | None:
    value = flag_value(vllm_args, flag)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise LaunchError(f"{flag} {value!r} after -- is not a number") from None


# vLLM's human-readable integers (vllm/utils/argparse_utils.py, human_readable_int): k/m/g are
# powers of 1,000, K/M/G powers of 1,024.
_SUFFIXES = {"k": 10**3, "m": 10**6, "g": 10**9, "K": 2**10, "M": 2**20, "G": 2**30}


def _tokens(vllm_args: Sequence[str], flag: str) -> int | None:
    """A human-readable integer flag after --, as vLLM reads it (None when absent or "auto")."""
    value = flag_value(vllm_args, flag)
    if value is None or value.strip().lower() in (AUTO_MAX_MODEL_LEN, "-1"):
        return None
    text = value.strip()
    scale = _SUFFIXES.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    try:
        parsed = float(number) * scale if "." in number else int(number) * scale
    except ValueError:
        raise LaunchError(f"{flag} {value!r} after -- is not a number") from None
    if parsed < 1 or parsed != int(parsed):
        raise LaunchError(f"{flag} {value!r} after -- is not a positive whole number")
    return int(parsed)


def cpu_kv_space(vllm_args: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
    """(bytes, where from) of the CPU KV cache: VLLM_CPU_KVCACHE_SPACE (GiB, it wins in vLLM),
    else --kv-cache-memory-bytes, else the launcher's default (vllm_args.CPU_KVCACHE_GIB)."""
    space = env.get(CPU_KVCACHE_ENV, "").strip()
    if space:
        if not space.isdigit():
            raise LaunchError(f"{CPU_KVCACHE_ENV}={space!r} is not a whole number of GiB")
        return int(space) * gpus.GIB, f"{CPU_KVCACHE_ENV}={space}"
    given = _tokens(vllm_args, KV_CACHE_BYTES_FLAG)
    if given is not None:
        return given, f"{KV_CACHE_BYTES_FLAG} {given:,}"
    return int(CPU_KVCACHE_GIB) * gpus.GIB, f"the launcher's {CPU_KVCACHE_ENV}={CPU_KVCACHE_GIB}"


def cpu_expectation(model: ModelInfo | None, vllm_args: list[str], env: Mapping[str, str]) -> str:
    """The context to expect on CPU ("" for a model that is not a local folder); LaunchError when
    not even a useful context fits the KV space, before vLLM starts."""
    if model is None:
        return ""
    space, where = cpu_kv_space(vllm_args, env)
    dtype = flag_value(vllm_args, "--dtype")
    problem = fit.cpu_refusal(model.config, space, dtype, where)
    if problem:
        raise LaunchError(f"{os.path.basename(os.path.normpath(model.path))}: {problem}")
    low, high = fit.cpu_context(model.config, space, dtype)
    limit = fit.model_max_len(model.config)
    if low >= limit:
        return f"the model's whole {limit:,} tokens"
    return f"{low:,} tokens" if low == high else f"{low:,}-{high:,} tokens"


def fit_model(
    model: ModelInfo | None, infos: list[AdapterInfo], gpu: gpus.GpuSpec | None, vllm_args: list[str]
) -> fit.FitPlan | None:
    """The memory plan for a local model on `gpu` (None on CPU, or for a remote model id);
    refuses (LaunchError) when the model cannot fit."""
    if gpu is None or model is None:
        return None
    headers = fit.read_headers_from_dir(model.path)
    adapters = [fit.AdapterShape(a.name, a.rank) for a in infos]
    fitted = fit.plan(
        model.config,
        headers,
        gpu,
        adapters,
        _tokens(vllm_args, MAX_MODEL_LEN_FLAG),
        user_dtype=flag_value(vllm_args, "--dtype"),
        gpu_memory_utilization=_number(vllm_args, "--gpu-memory-utilization", float),
        max_loras=_number(vllm_args, "--max-loras", int),
        max_lora_rank=_number(vllm_args, "--max-lora-rank", int),
    )
    if not fitted.fits:
        name = os.path.basename(os.path.normpath(model.path))
        raise LaunchError(f"{name}: " + fit.refusal(fitted, model.config, headers, adapters))
    if not headers:
        fitted.notes.append(f"{model.path} has no safetensors headers: weights sized from config.json")
    return fitted


def listen_port(flag: int | None, env: Mapping[str, str]) -> int:
    """--port, else $AITK_PORT (a runtime that picks the port, like the local stand-in), else 8000.
    The address works the same way: --host, else $AITK_HOST, else 0.0.0.0."""
    if flag is not None:
        return flag
    value = env.get(PORT_ENV, "").strip()
    if not value:
        return DEFAULT_PORT
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise LaunchError(f"{PORT_ENV}={value!r} is not a port number; set it to 1-65535 or unset it")
    return int(value)


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def log(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def api_key_notes(env_key: str | None, arg_keys: list[str], env_name: str) -> list[str]:
    """What to say about the keys in effect: vLLM takes --api-key over VLLM_API_KEY
    (vllm/entrypoints/serve/middleware/register.py), and our middleware does the same."""
    if arg_keys and env_key:
        return [f"--api-key in the extra vLLM arguments replaces the keys in ${env_name} and its secondary"]
    if not arg_keys and not env_key:
        return [f"no API key in ${env_name} or --api-key: the API is open to anyone who can reach it"]
    return []


def plan(argv: Sequence[str], env: Mapping[str, str]) -> dict[str, Any]:
    """Everything before exec: returns a dict (argv, env updates, cwd, adapters, notes)."""
    own, extra = split_argv(list(argv))
    args = parser().parse_args(own)
    src = resolve(args, env)
    if not src.served_model_name.isprintable():
        raise LaunchError(
            f"served model name {src.served_model_name!r} holds control or non-printing characters "
            f"(clients would print them raw); pass --served-model-name with a plain name"
        )
    model = inspect_model(src.model) if src.model_is_local else None
    # Weights in Blob: the folder there complete and readable, or one line and no vLLM (blob_weights.py).
    in_blob = blob_weights.check(src.model, env) if blob_weights.is_blob_uri(src.model) else None
    check_unique_names(src.adapters, base_name=src.served_model_name)
    snapshots = None if args.check else snapshot.make_root()
    infos, left_out = check_adapters(src, model, snapshots)
    api_key = env.get(args.api_key_env) or None
    secondary_api_key = env.get(args.secondary_api_key_env) or None
    if api_key is None:  # one key is the primary, whichever variable holds it
        api_key, secondary_api_key = secondary_api_key, None
    notes = list(src.warnings) + left_out
    if src.config_path:
        notes.append(f"settings from {src.config_path}")
    if not src.model_is_local:
        notes.append(
            f"model {src.model!r} is not a local folder: vLLM will fetch it; "
            f"adapters are not checked against its shapes"
        )
    for info in infos:
        notes += info.warnings
    # An --api-key here would reach vLLM's command line (`ps`, logs): its keys go in the environment.
    arg_api_keys, extra_args = take_api_keys([*src.vllm_args, *extra])
    if model is not None:
        check_quantization(model.config, f"model config {model.path}/config.json", extra_args)
    notes += api_key_notes(api_key, arg_api_keys, args.api_key_env)
    gpu_count, gpu = planned_gpu(args, env)
    if gpu is not None and model is None:
        notes.append("no fit plan for a model that is not a local folder: vLLM picks dtype and context itself")
    if gpu_count and gpu is None:
        notes.append(
            "the GPU's memory cannot be read (no nvidia-smi, no torch): no fit plan; "
            "vLLM picks dtype and context itself"
        )
    fitted = fit_model(model, infos, gpu, extra_args)
    expected = fitted.expected_text() if fitted else ""
    if fitted:
        notes += [*fit.decision_lines(fitted), *fitted.notes]
    elif not gpu_count:
        expected = cpu_expectation(model, extra_args, env)
        if expected and _tokens(extra_args, MAX_MODEL_LEN_FLAG) is None:
            notes.append(f"--max-model-len auto: vLLM fixes the context at start; expected {expected} on CPU")
    command, updates, more = build(
        model=src.model,
        served_name=src.served_model_name,
        adapters=infos,
        host=args.host or env.get(HOST_ENV, "").strip() or DEFAULT_HOST,
        port=listen_port(args.port, env),
        api_key=api_key,
        secondary_api_key=secondary_api_key,
        arg_api_keys=arg_api_keys,
        gpus=gpu_count,
        num_heads=model.num_heads if model else None,
        extra_args=extra_args,
        env=env,
        fit=fitted,
    )
    notes += more
    command = with_weights_loader(command, src, model, extra_args=extra_args, env=env, notes=notes)
    if in_blob is not None:
        notes.append(in_blob.note)
        updates.update(blob_weights.env_updates(env))
    mount = mount_root(env)
    # What the server needs to resolve adapters on the share on demand (resolver.py).
    updates[SHARE_ADAPTERS_ENV] = Settings(
        mount=os.path.abspath(mount),
        served_model_name=src.served_model_name,
        model=src.model,
        model_is_local=src.model_is_local,
        max_lora_rank=cast(int, _number(command, "--max-lora-rank", int)),  # build() always sets it
        snapshot_root=snapshots or "",
        start_adapters={a.name: a.source for a in infos if a.source and a.source != a.path},
    ).to_env()
    # What this server runs, for deploy to compare with the share (serving_state.py).
    updates[serving_state.ENV] = json.dumps(
        serving_state.record(os.path.dirname(os.path.abspath(__file__)), src.config_path)
    )
    return {
        "command": command,
        "env": updates,
        "cwd": mount if os.path.isdir(mount) else os.getcwd(),
        "model": src.model,
        "served_model_name": src.served_model_name,
        "adapters": [
            {"name": a.name, "path": a.source or a.path, "loads": a.path, "rank": a.rank, "modules": a.modules}
            for a in infos
        ],
        "adapters_from": src.adapters_from,
        "notes": notes,
        "fit": fitted.as_dict() if fitted else None,
        "user_max_model_len": _tokens(extra_args, MAX_MODEL_LEN_FLAG),
        "expected_context": expected,
        "check": args.check,
    }


def with_weights_loader(
    command: list[str],
    src: Any,
    model: ModelInfo | None,
    *,
    extra_args: list[str],
    env: Mapping[str, str],
    notes: list[str],
) -> list[str]:
    """vLLM's command with the weights loader the launcher chose (weights_loader.py), noted in one line."""
    choice = weights_loader.choose(src.model, src.model_is_local, model.config if model else None, extra_args, env)
    notes.append(choice.note)
    # The user's own arguments stay last, in order, as build() left them (argparse: the last wins).
    tail = len(extra_args) if extra_args and command[-len(extra_args) :] == list(extra_args) else 0
    return [*command[: len(command) - tail], *choice.args, *command[len(command) - tail :]]


# Where adapters named on the command line come from; any other source (serve.json, discovery)
# is the share's content, which must never keep the base model and the other adapters from serving.
EXPLICIT_ADAPTER_SOURCES = ("--adapter", ADAPTERS_ENV)


def check_adapters(src: Sources, model: ModelInfo | None, snapshots: str | None) -> tuple[list[AdapterInfo], list[str]]:
    """(the adapters to serve, one line per adapter left out). Each is checked on a verified
    snapshot (snapshot.py; none with --check). An adapter from the share that fails a check is
    left out with one line naming it and the reason, and the rest serves; one named with
    --adapter or $AITK_ADAPTERS is refused (LaunchError), as the person starting it is there
    to fix it."""
    infos, left_out = [], []
    for name, path in src.adapters:
        try:
            problem = name_problem(name)
            if problem is not None:
                raise LaunchError(f"{problem} ({path})")
            infos.append(
                snapshot.checked(
                    name, path, snapshots, model=model, model_ref=src.model, served_name=src.served_model_name
                )
            )
        except LaunchError as e:
            if src.adapters_from in EXPLICIT_ADAPTER_SOURCES:
                raise
            left_out.append(f"adapter {name!r} is left out (the base model and the other adapters serve): {e}")
    return infos, left_out


def check_for_deploy(
    adapters: Mapping[str, str], model: ModelInfo | None, model_ref: str | None, served_name: str | None
) -> list[AdapterInfo]:
    """The launcher's start-up checks on adapter folders about to be uploaded, against the base
    model they will be served on (None when it is not known): what `az aitk inference deploy`
    runs before uploading anything, so an adapter the server would leave out is refused at the
    desk instead. Raises LaunchError naming the first adapter that fails and why."""
    check_unique_names(adapters.items(), base_name=served_name)
    infos = []
    for name, path in adapters.items():
        problem = name_problem(name)
        if problem is not None:
            raise LaunchError(problem)
        infos.append(snapshot.checked(name, path, None, model=model, model_ref=model_ref, served_name=served_name))
    return infos


def public(p: dict[str, Any]) -> dict[str, Any]:
    """The plan with secrets redacted, as --check prints it."""
    out = {k: v for k, v in p.items() if k != "check"}
    out["command"] = redact_args(p["command"])
    out["env"] = redact_env(p["env"])
    return out


def start_marks(p: dict[str, Any], started_at: float) -> dict[str, str]:
    """The launcher's own phase lines (docs/serving.md, "Every start measured") and what the
    server's processes need to write theirs: the start time and what the weights mark reports."""
    startup_timeline.launcher_mark(
        startup_timeline.LAUNCHER_STARTED, started_at, f"{PROG} {__version__}, pid {os.getpid()}", when=started_at
    )
    startup_timeline.launcher_mark(startup_timeline.PLANNED, started_at, f"{len(p['adapters'])} adapter(s)")
    weights = startup_timeline.weights_info(p["command"], p["model"])
    return {startup_timeline.STARTED_AT_ENV: repr(started_at), startup_timeline.WEIGHTS_ENV: json.dumps(weights)}


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    execve: Callable[[str, list[str], dict[str, str]], object] | None = None,
) -> int:
    """Check, then serve: exec the supervisor (vllm_start), which runs vLLM as its child, reads back
    the context it chose and restarts it once for memory; `execve` replaces that start (tests)."""
    env = dict(os.environ if env is None else env)
    argv = sys.argv[1:] if argv is None else argv
    started_at = time.time()
    try:
        p = plan(argv, env)
    except LaunchError as e:
        log(f"error: {e}")
        return 2
    # The last resort: a file no check foresaw still ends in one line and exit 2, never a traceback.
    except Exception as e:  # pylint: disable=broad-exception-caught
        log(
            f"error: unexpected {one_line(e)[:300]} while checking the model and adapters; "
            f"nothing was started (a file the launcher does not understand: please report it)"
        )
        return 2
    if p["check"]:
        print(json.dumps(public(p), indent=2))
        return 0
    log(f"base model {p['served_model_name']!r} from {p['model']}")
    for a in p["adapters"]:
        copy = f" (checked copy {a['loads']})" if a["loads"] != a["path"] else ""
        log(f"adapter {a['name']!r} rank {a['rank']} on {', '.join(a['modules'])} from {a['path']}{copy}")
    if not p["adapters"]:
        log(f"no adapters ({p['adapters_from']}); they can be loaded at runtime")
    for note in p["notes"]:
        log(note)
    log("start " + json.dumps(redact_args(p["command"])) + f" (cwd {p['cwd']})")
    env.update(p["env"])
    env.update(start_marks(p, started_at))
    os.chdir(p["cwd"])
    sys.stdout.flush()
    sys.stderr.flush()
    if execve is not None:
        execve(p["command"][0], p["command"], env)
        return 0
    supervisor, env[START_ENV] = vllm_start.exec_args(p["command"], p["user_max_model_len"], p["expected_context"])
    os.execve(supervisor[0], supervisor, env)  # the supervisor replaces this process and its argv
    return 0  # not reached
