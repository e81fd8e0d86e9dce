"""Where the base model and the adapters come from.

Precedence, per setting: flags > environment > serve.json > discovery on the share
(docs/contracts.md). For adapters the first source that names any wins as a whole (sources are
not merged), so a serve.json that lists adapters turns discovery off.
"""

import argparse
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from . import LaunchError, adapter_spec, serve_config
from . import validate as v
from .env_names import ADAPTERS_ENV, CONFIG_ENV, MODEL_ENV, MOUNT_ENV
from .layout import (
    ADAPTER_CONFIG_FILE,
    ADAPTERS_DIR,
    DEFAULT_CHECKPOINT_DIR,
    FINETUNED_MODELS_DIR,
    FINETUNING_CONFIG_FILE,
    MODEL_CACHE_DIR,
    MOUNT_PATH,
    SERVE_CONFIG_FILE,
)

_MAX_DEPTH = 6  # how deep discovery looks under model-cache/ and models/
# The folders Hugging Face's Trainer saves intermediate checkpoints in (PREFIX_CHECKPOINT_DIR
# "checkpoint" + "-<step>", transformers/trainer_utils.py); each holds a whole peft adapter.
CHECKPOINT_FOLDER = re.compile(r"checkpoint-.*")


@dataclass
class ServeConfig:
    """What serve.json says (all optional)."""

    path: str | None = None
    model: str | None = None
    served_model_name: str | None = None
    adapters: list | None = None  # [(name, path)] in file order
    vllm_args: list = field(default_factory=list)


def mount_root(env: Mapping[str, str]) -> str:
    return env.get(MOUNT_ENV) or MOUNT_PATH


def _pairs_no_dupes(path: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [k for k, _ in pairs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise LaunchError(f"config file {path}: two adapters are named {dupes[0]!r} (or another key appears twice)")
        return dict(pairs)

    return hook


def read_serve_object(path: str) -> dict[str, Any]:
    """serve.json's JSON object, refused as the launcher refuses it at start: the one reader of
    the file (load_serve_config here; the extension's deploy and provision through
    azext_aitk/core/deploy/serve_file.py)."""
    data = v.load_json(path, "config file", object_pairs_hook=_pairs_no_dupes(path))
    unknown = sorted(set(data) - set(serve_config.KEYS))
    if unknown:
        raise LaunchError(
            f"config file {path}: unknown keys {unknown} (known: model, served_model_name, adapters, vllm_args)"
        )
    adapters = data.get("adapters")
    if adapters is not None:
        if not isinstance(adapters, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in adapters.items()
        ):
            raise LaunchError(f'config file {path}: "adapters" must map names to paths')
    vllm_args = data.get("vllm_args") or []
    if not isinstance(vllm_args, list) or not all(isinstance(a, str) for a in vllm_args):
        raise LaunchError(f'config file {path}: "vllm_args" must be a list of strings')
    for key in ("model", "served_model_name"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise LaunchError(f'config file {path}: "{key}" must be a string')
    return data


def load_serve_config(path: str, required: bool) -> ServeConfig:
    """Read serve.json. `required`: the user named the file (a missing file is an error)."""
    if not os.path.isfile(path):
        if required:
            raise LaunchError(f"config file {path} does not exist")
        return ServeConfig()
    data = read_serve_object(path)
    adapters = data.get(serve_config.ADAPTERS)
    return ServeConfig(
        path=path,
        model=data.get(serve_config.MODEL),
        served_model_name=data.get(serve_config.SERVED_MODEL_NAME),
        adapters=None if adapters is None else list(adapters.items()),
        vllm_args=list(data.get(serve_config.VLLM_ARGS) or []),
    )


def parse_adapter_specs(specs: Iterable[str], source: str) -> list[tuple[str, str]]:
    """["NAME=PATH", ...] -> [(name, path)]; refuses a spec without a name or a path."""
    pairs = []
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        pair = adapter_spec.split(spec)
        if pair is None:
            raise LaunchError(f"{source}: adapter {spec!r} is not NAME=PATH")
        pairs.append(pair)
    return pairs


def looks_like_path(value: str) -> bool:
    return value.startswith(("/", "./", "../", "~")) or value in (".", "..")


def missing_folder(value: str, mount: str, relative_to_mount: bool) -> str | None:
    """For a model `value` that names nothing on disk and does not start like a path: why it can only
    be meant as a folder (then it is one that does not exist), or None when it can be a Hugging Face
    id that vLLM looks up (or downloads) itself. A repo id has one '/' at most, `org/name`
    (huggingface_hub's validate_repo_id:
    https://huggingface.co/docs/huggingface_hub/package_reference/utilities#huggingface_hub.utils.validate_repo_id);
    `org/name` whose `org` is a folder here means that folder. A URL (s3://...) is vLLM's to read."""
    if "://" in value:
        return None
    parts = value.replace(os.sep, "/").split("/")
    if len(parts) > 2 or "" in parts:
        return "a Hugging Face id has one '/' at most, as in org/name"
    if len(parts) == 2:
        bases = [mount] if relative_to_mount else [os.getcwd(), mount]
        for base in bases:
            if os.path.isdir(os.path.join(base, parts[0])):
                return f"{os.path.join(base, parts[0])} is a folder without {parts[1]!r} in it"
    return None


def resolve_path(value: str, mount: str, relative_to_mount: bool) -> str:
    """A path from a flag/env (relative to the cwd, else to the mount) or from serve.json
    (relative to the mount)."""
    value = os.path.expanduser(value)
    if os.path.isabs(value):
        return os.path.normpath(value)
    if not relative_to_mount and os.path.exists(value):
        return os.path.abspath(value)
    return os.path.normpath(os.path.join(mount, value))


def walk_folders(top: str, want: Callable[[str, set[str]], bool], depth: int = _MAX_DEPTH) -> list[str]:
    """Folders under `top` (sorted, at most `depth` deep) for which want(path, files) holds;
    does not descend into a folder it returns. Each real folder is visited once: a linked
    folder (a loop back up, or a second name for an adapter) is not entered again, and real
    entries are visited before linked ones, so the real path names what is found."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    if not os.path.isdir(top):
        return found

    def visit(path: str, level: int) -> None:
        try:
            st = os.stat(path)
            entries = sorted(os.scandir(path), key=lambda e: (e.is_symlink(), e.name))
            files = {e.name for e in entries if e.is_file()}
            folders = [e for e in entries if e.is_dir() and not e.name.startswith(".")]
        except OSError:
            return
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        if level > 0 and want(path, files):
            found.append(path)
            return
        if level < depth:
            for e in folders:
                visit(e.path, level + 1)

    visit(top, 0)
    return found


def discover_models(mount: str) -> list[str]:
    """Hugging Face model folders under <mount>/model-cache (folders with config.json that
    are not adapters)."""
    return walk_folders(
        os.path.join(mount, MODEL_CACHE_DIR),
        lambda p, files: "config.json" in files and ADAPTER_CONFIG_FILE not in files,
    )


def adapter_name_for(rel: str) -> str:
    """models/<a>/<b>/adapter -> "a-b": the folder path under models/, a trailing `adapter`
    folder dropped, joined with '-'."""
    parts = [p for p in rel.replace(os.sep, "/").split("/") if p]
    if len(parts) > 1 and parts[-1] == "adapter":
        parts = parts[:-1]
    return "-".join(parts)


def checkpoint_dirs(mount: str) -> tuple[list[str], list[str]]:
    """(absolute folders, warnings): where fine-tuning writes its checkpoints: every
    `passes.<pass>.training_args.output_dir` of the AI Toolkit's finetuning/olive-config.json
    on the share, else the AI Toolkit's default. The file is fine-tuning's, not ours: one that
    cannot be read costs a warning and the default, never the start."""
    default = [os.path.normpath(os.path.join(mount, DEFAULT_CHECKPOINT_DIR))]
    path = os.path.join(mount, FINETUNING_CONFIG_FILE)
    if not os.path.isfile(path):
        return default, []
    try:
        config = v.load_json(path, "fine-tuning config")
        dirs = []
        for name, step in v.mapping(config, "passes", path).items():
            if isinstance(step, dict):
                training = v.mapping(step, "training_args", f"{path}: passes.{name}")
                out = v.string(training, "output_dir", f"{path}: passes.{name}.training_args")
                if out:
                    dirs.append(os.path.normpath(os.path.join(mount, out)))
    except LaunchError as e:
        return default, [f"{e}; skipping checkpoints in {DEFAULT_CHECKPOINT_DIR}/ (the default)"]
    return dirs or default, []


def is_checkpoint(path: str, models_dir: str, skip_dirs: Iterable[str]) -> bool:
    """True for a fine-tuning checkpoint folder (skip_dirs: checkpoint_dirs' folders)."""
    rel = os.path.relpath(path, models_dir).split(os.sep)
    if any(CHECKPOINT_FOLDER.fullmatch(part) for part in rel):
        return True
    return any(path == d or path.startswith(d + os.sep) for d in skip_dirs)


def discover_adapters(mount: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(pairs, warnings): every final peft adapter under <mount>/models (named after its folder
    path) and every <mount>/aitk/adapters/<NAME>; a deployed adapter wins over a fine-tuning
    one of the same name, with a warning. Fine-tuning's intermediate checkpoints (checkpoint-*
    folders, the configured checkpoint folder) are skipped, with one note saying how many:
    each would take a LoRA slot in GPU memory. --adapter or serve.json can still name one."""
    found: dict[str, str] = {}
    warnings: list[str] = []
    models_dir = os.path.join(mount, FINETUNED_MODELS_DIR)
    skip_dirs, more = checkpoint_dirs(mount)
    warnings += more
    skipped = []
    for path in walk_folders(models_dir, lambda p, files: ADAPTER_CONFIG_FILE in files):
        if is_checkpoint(path, models_dir, skip_dirs):
            skipped.append(path)
            continue
        name = adapter_name_for(os.path.relpath(path, models_dir))
        if name in found:
            raise LaunchError(
                f"two adapters are named {name!r} ({found[name]} and {path}); pass --adapter NAME=PATH to name them"
            )
        found[name] = path
    deployed = os.path.join(mount, ADAPTERS_DIR)
    if os.path.isdir(deployed):
        for entry in sorted(os.scandir(deployed), key=lambda e: e.name):
            if entry.is_dir() and not entry.name.startswith("."):
                # The same folder reached from models/ through a link: serve it once, by the
                # name deploy gave it.
                real = os.path.realpath(entry.path)
                for name in [n for n, p in found.items() if os.path.realpath(p) == real]:
                    del found[name]
                if entry.name in found:
                    warnings.append(
                        f"adapter {entry.name!r}: serving the deployed {entry.path}, not {found[entry.name]}"
                    )
                found[entry.name] = entry.path
    if skipped:
        shown = ", ".join(os.path.relpath(p, mount) for p in skipped[:3])
        warnings.append(
            f"skipped {len(skipped)} fine-tuning checkpoint adapter"
            f"{'s' if len(skipped) > 1 else ''} ({shown}{', ...' if len(skipped) > 3 else ''}); "
            f"name one with --adapter NAME=PATH or serve.json to serve it"
        )
    return sorted(found.items()), warnings


@dataclass
class Sources:  # pylint: disable=too-many-instance-attributes  # one field per launcher setting
    model: str  # a local folder (absolute) or a Hugging Face model id
    model_is_local: bool
    served_model_name: str
    adapters: list  # [(name, absolute path)]
    adapters_from: str
    vllm_args: list
    config_path: str | None
    warnings: list


def resolve(args: argparse.Namespace, env: Mapping[str, str]) -> Sources:
    """Apply precedence to the parsed flags and the environment. Raises LaunchError."""
    mount = mount_root(env)
    warnings = []
    config_path = args.config or env.get(CONFIG_ENV)
    if config_path:
        cfg = load_serve_config(resolve_path(config_path, mount, False), required=True)
    else:
        cfg = load_serve_config(os.path.join(mount, SERVE_CONFIG_FILE), required=False)

    # The base model.
    if args.model:
        model, from_mount, given_by = args.model, False, "--model"
    elif env.get(MODEL_ENV):
        model, from_mount, given_by = env[MODEL_ENV], False, MODEL_ENV
    elif cfg.model:
        model, from_mount, given_by = cfg.model, True, f"{cfg.path}: model"
    else:
        found = discover_models(mount)
        if not found:
            raise LaunchError(
                f"no model given and none found under "
                f"{os.path.join(mount, MODEL_CACHE_DIR)}; pass --model PATH|ID "
                f"or set {MODEL_ENV}"
            )
        if len(found) > 1:
            raise LaunchError(
                f"several models under {os.path.join(mount, MODEL_CACHE_DIR)} "
                f"({', '.join(os.path.relpath(p, mount) for p in found)}); "
                f"pass --model to pick one"
            )
        model, from_mount, given_by = found[0], False, "discovery"
    path = resolve_path(model, mount, from_mount)
    if os.path.exists(path) or looks_like_path(model):
        model, local = path, True
    elif (why := missing_folder(model, mount, from_mount)) is not None:
        where = f"under the mount {mount}" if from_mount else f"in {os.getcwd()} or under the mount {mount}"
        raise LaunchError(
            f"{given_by} {model}: no such model folder {where} ({why}); give the folder that holds the "
            f"model's config.json, or a Hugging Face id (org/name)"
        )
    else:
        local = False  # a Hugging Face model id: vLLM downloads it; nothing to inspect here

    served = (
        args.served_model_name or cfg.served_model_name or (os.path.basename(model.rstrip("/")) if local else model)
    )

    # The adapters: the first source that names any.
    if args.adapter:
        pairs, source = parse_adapter_specs(args.adapter, "--adapter"), "--adapter"
        pairs = [(n, resolve_path(p, mount, False)) for n, p in pairs]
    elif env.get(ADAPTERS_ENV, "").strip():
        pairs, source = parse_adapter_specs(env[ADAPTERS_ENV].split(","), ADAPTERS_ENV), ADAPTERS_ENV
        pairs = [(n, resolve_path(p, mount, False)) for n, p in pairs]
    elif cfg.adapters is not None:  # then cfg.path is set: both come from the file
        pairs, source = [(n, resolve_path(p, mount, True)) for n, p in cfg.adapters], cast(str, cfg.path)
    else:
        pairs, more = discover_adapters(mount)
        warnings += more
        source = f"discovery under {mount}"
    return Sources(
        model=model,
        model_is_local=local,
        served_model_name=served,
        adapters=pairs,
        adapters_from=source,
        vllm_args=list(cfg.vllm_args),
        config_path=cfg.path,
        warnings=warnings,
    )
