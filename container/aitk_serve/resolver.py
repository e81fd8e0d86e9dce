"""Adapters on the share, resolved on demand by name, on whichever replica a request reaches.

A request whose `model` is neither the base model nor a loaded adapter is looked up on the share:
`<mount>/aitk/adapters/NAME/` (what `az aitk inference deploy --adapter` uploads), else a
fine-tuning run under `<mount>/models/` named the way discovery names it at start
(discovery.adapter_name_for). The folder is inspected with the launcher's own checks
(adapters.inspect_adapter: peft features, target modules, shapes against the base model) and its
rank is held against the running `--max-lora-rank`; only then does vLLM load it.

Names never become paths outside the adapter roots: a name is one folder name (no `/`, `\\`,
NUL, control characters, nothing hidden) and the folder, and every entry in it, must resolve
(symlinks followed) inside `<mount>/aitk/adapters` or `<mount>/models` of the share's real path.

This module is pure (stdlib, the launcher's own modules); vLLM is imported only by
`make_resolver`/`register`, which run in vLLM's API-server process (resolver_middleware.py).
The launcher hands the server its settings in one environment variable (SHARE_ADAPTERS_ENV).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from . import LaunchError, snapshot
from .adapters import AdapterInfo, ModelInfo, inspect_model, smallest_max_lora_rank
from .discovery import adapter_name_for, checkpoint_dirs, is_checkpoint, walk_folders
from .env_names import SHARE_ADAPTERS_ENV
from .layout import ADAPTER_CONFIG_FILE, ADAPTERS_DIR, FINETUNED_MODELS_DIR

if TYPE_CHECKING:  # vLLM is imported only in its API-server process (make_resolver)
    from vllm.lora.resolver import LoRAResolver

RESOLVER_NAME = "aitk share adapters"
MAX_NAME_LENGTH = 255  # a folder name on Azure Files (and most file systems)
NOT_FOUND = 404
BAD_REQUEST = 400
# How stale the walk of models/ may be (seconds): a fine-tuning run saved after a walk is found
# this much later at most; a deployed adapter (aitk/adapters/NAME) is looked up directly, at once.
WALK_TTL = 5.0
# How often a loaded adapter's folder on the share is compared with what was loaded (seconds): a
# re-upload under the same name serves new requests this much later at most.
RECHECK_INTERVAL = 2.0


@dataclass(frozen=True)
class Settings:
    """What the server process needs to resolve adapters the way the launcher checked them."""

    mount: str
    served_model_name: str
    model: str  # the base model: a local folder or a Hugging Face id
    model_is_local: bool
    max_lora_rank: int  # the running --max-lora-rank
    snapshot_root: str = ""  # where verified copies go (snapshot.py); "" only outside the launcher
    start_adapters: dict = field(default_factory=dict)  # name -> folder of those loaded at start

    def to_env(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings | None:
        raw = env.get(SHARE_ADAPTERS_ENV)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(
                mount=str(data["mount"]),
                served_model_name=str(data["served_model_name"]),
                model=str(data["model"]),
                model_is_local=bool(data["model_is_local"]),
                max_lora_rank=int(data["max_lora_rank"]),
                snapshot_root=str(data.get("snapshot_root") or ""),
                start_adapters={str(k): str(v) for k, v in dict(data.get("start_adapters") or {}).items()},
            )
        except (ValueError, KeyError, TypeError):
            log(f"{SHARE_ADAPTERS_ENV} is not what the launcher writes: adapters are not resolved on demand")
            return None


class Refused(Exception):
    """A name that cannot be served: the HTTP status (404 or 400) and one line saying why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def error_body(self) -> dict:
        """The error in vLLM's (OpenAI's) shape: vllm/entrypoints/serve/engine/protocol.py."""
        kind = "NotFoundError" if self.status == NOT_FOUND else "BadRequestError"
        return {"error": {"message": self.reason, "type": kind, "param": "model", "code": self.status}}


def log(msg: str) -> None:
    print(f"aitk_serve: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Names and paths (pure)


def plausible_name(name: object) -> bool:
    """True for a string that can be one adapter folder's name (or discovery's name of one)."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME_LENGTH
        and not name.startswith(".")
        and not any(c in name for c in "/\\")
        and name.isprintable()
    )


def adapter_roots(mount: str) -> tuple[str, str]:
    """(deployed root, fine-tuning root) below the share's real path."""
    real = os.path.realpath(mount)
    return os.path.join(real, *ADAPTERS_DIR.split("/")), os.path.join(real, FINETUNED_MODELS_DIR)


def inside(path: str, roots: Iterable[str]) -> bool:
    """True when `path`, symlinks resolved, lies strictly below one of `roots`."""
    real = os.path.realpath(path)
    return any(real.startswith(root + os.sep) for root in roots)


def confine(name: str, path: str, roots: Iterable[str]) -> None:
    """Refuse an adapter folder that is, or holds, a link out of the adapter roots."""
    escapes = not inside(path, roots)
    if not escapes:
        try:
            escapes = any(e.is_symlink() and not inside(e.path, roots) for e in os.scandir(path))
        except OSError as e:
            raise Refused(BAD_REQUEST, f"adapter {name!r} ({path}): cannot be read ({e.strerror})") from None
    if escapes:
        raise Refused(
            BAD_REQUEST,
            f"adapter {name!r} ({path}) links outside the share's adapter folders "
            f"({ADAPTERS_DIR}/, {FINETUNED_MODELS_DIR}/); copy the adapter onto "
            f"the share instead of linking to it",
        )


def finetuned_adapters(root: str) -> dict:
    """{name: [folders]} of every peft adapter under models/, named as discovery names them, by
    discovery's own walk (each real folder once: symlink loops cost nothing)."""
    found: dict = {}
    for path in walk_folders(root, lambda p, files: ADAPTER_CONFIG_FILE in files):
        found.setdefault(adapter_name_for(os.path.relpath(path, root)), []).append(path)
    return found


def share_adapters(mount: str, runs: dict | None = None) -> dict:
    """{name: folder} of every adapter on the share but fine-tuning's checkpoints; a deployed one
    wins over a fine-tuning run of the same name (as at start); names two fine-tuning runs share
    are left out."""
    deployed, finetuned = adapter_roots(mount)
    # Fine-tuning's intermediate checkpoints are not listed, as discovery does not serve them at
    # start; a request that names one still loads it (find_adapter).
    skip_dirs, _ = checkpoint_dirs(mount)
    found = {
        name: paths[0]
        for name, paths in (finetuned_adapters(finetuned) if runs is None else runs).items()
        if len(paths) == 1 and plausible_name(name) and not is_checkpoint(paths[0], finetuned, skip_dirs)
    }
    try:
        entries = list(os.scandir(deployed)) if os.path.isdir(deployed) else []
    except OSError as e:
        log(f"cannot list {deployed} ({e.strerror}): its adapters are not listed")
        entries = []
    for entry in entries:
        if plausible_name(entry.name) and entry.is_dir():
            found[entry.name] = entry.path
    return dict(sorted(found.items()))


def find_adapter(mount: str, name: str, runs: dict | None = None) -> str:
    """The folder on the share that `name` names. Raises Refused: 404 when there is none, 400
    when the name is ambiguous. Never joins a name that is not one plain folder name."""
    if not plausible_name(name):
        raise Refused(
            NOT_FOUND,
            f"model {name!r} does not exist, and it cannot be an adapter on the "
            f"share: an adapter name is one folder name (no '/', not hidden, at "
            f"most {MAX_NAME_LENGTH} printable characters)",
        )
    deployed, finetuned = adapter_roots(mount)
    candidate = os.path.join(deployed, name)
    if os.path.isdir(candidate):
        return candidate
    runs = (finetuned_adapters(finetuned) if runs is None else runs).get(name, [])
    if len(runs) > 1:
        raise Refused(
            BAD_REQUEST,
            f"two fine-tuning runs on the share are named {name!r} "
            f"({', '.join(runs)}); upload the one you mean with `az aitk "
            f"inference deploy --adapter NAME=PATH` under its own name",
        )
    if runs:
        return runs[0]
    raise Refused(
        NOT_FOUND,
        f"model {name!r} does not exist: it is not the base model, not a loaded "
        f"adapter, and not on the share ({ADAPTERS_DIR}/{name}/ or a fine-tuning "
        f"run under {FINETUNED_MODELS_DIR}/); upload it with `az aitk inference "
        f"deploy --adapter {name}=PATH`, or see GET /v1/models for what is served",
    )


def rank_refusal(name: str, rank: int, max_lora_rank: int) -> str:
    """Why an adapter of `rank` cannot load into a server running --max-lora-rank, and the fix."""
    try:
        wanted = smallest_max_lora_rank(rank)
    except LaunchError as e:
        return f"adapter {name!r}: {e}"
    return (
        f"adapter {name!r} has LoRA rank {rank}, above this server's --max-lora-rank "
        f"{max_lora_rank} (fixed at start: every adapter slot is sized by it); set "
        f'"vllm_args": ["--max-lora-rank", "{wanted}"] in serve.json and redeploy, or '
        f"redeploy with the adapter on the share so the launcher sizes the rank for it"
    )


def _signature(path: str) -> tuple:
    """What changes when an adapter folder's files are rewritten (a finished or a new upload)."""
    sig = []
    try:
        for e in sorted(os.scandir(path), key=lambda e: e.name):
            st = e.stat()
            sig.append((e.name, st.st_size, st.st_mtime_ns))
    except OSError:
        return ()
    return tuple(sig)


# ---------------------------------------------------------------------------------------------
# The catalogue one server process keeps


class ShareAdapters:  # pylint: disable=too-many-instance-attributes  # caches, each with its lock
    """Looks adapters up on the share and inspects them, remembering each folder's verdict until
    its files change. Thread-safe: the server calls it from worker threads.

    Each adapter is checked on a verified snapshot (snapshot.py) and vLLM is handed the snapshot,
    so a folder rewritten on the share never reaches vLLM unchecked: `recheck` takes a new
    snapshot of a changed folder, and the middleware points the name at it only once it passed."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._verdicts: dict = {}  # (name, folder) -> (signature, AdapterInfo | Refused)
        self._model: ModelInfo | None = None
        self._model_read = False
        self._walk_lock = threading.Lock()  # one walk of models/ at a time; the others wait for it
        self._runs: tuple[float, dict] | None = None  # (when, finetuned_adapters) of the last walk
        self._rechecked: dict[str, float] = {}  # name -> when its folder was last compared
        self._folders: dict[str, str] = {}  # name -> the folder a version that passed came from

    def model(self) -> ModelInfo | None:
        with self._lock:
            if not self._model_read:
                self._model_read = True
                if self.settings.model_is_local:
                    try:
                        self._model = inspect_model(self.settings.model)
                    except LaunchError as e:
                        log(f"on-demand adapters are not checked against the base model's shapes: {e}")
        return self._model

    def runs(self) -> dict:
        """finetuned_adapters of the share's models/, walked at most once per WALK_TTL seconds
        however many requests ask (a request for an unknown name, GET /v1/models)."""
        with self._walk_lock:
            now = self._clock()
            if self._runs is None or now - self._runs[0] >= WALK_TTL:
                self._runs = (now, finetuned_adapters(adapter_roots(self.settings.mount)[1]))
            return self._runs[1]

    def lookup(self, name: str) -> AdapterInfo:
        """The inspected adapter `name` names; raises Refused (404/400) with the reason."""
        if name == self.settings.served_model_name:
            raise Refused(BAD_REQUEST, f"{name!r} is the base model's name, not an adapter's")
        if not plausible_name(name):  # before any walk: find_adapter says why
            find_adapter(self.settings.mount, name, {})
        return self.inspect(name, find_adapter(self.settings.mount, name, self.runs()))

    def inspect(self, name: str, path: str) -> AdapterInfo:
        confine(name, path, adapter_roots(self.settings.mount))
        signature = _signature(path)
        with self._lock:
            known = self._verdicts.get((name, path))
        if known is not None and known[0] == signature:
            verdict = known[1]
        else:
            verdict = self._judge(name, path)
            with self._lock:
                self._verdicts[(name, path)] = (signature, verdict)
                if isinstance(verdict, AdapterInfo):
                    self._folders[name] = path
            if isinstance(verdict, Refused):
                log(f"refused on-demand adapter: {verdict.reason}")
        if isinstance(verdict, Refused):
            raise verdict
        return verdict

    def due(self, name: str) -> bool:
        """Whether `recheck` would compare `name`'s folder now (a cheap test, no file access)."""
        return self._clock() - self._rechecked.get(name, -RECHECK_INTERVAL) >= RECHECK_INTERVAL

    def recheck(self, name: str, loaded_path: str) -> AdapterInfo | None:
        """For a name vLLM has loaded from `loaded_path`: the new version to load instead when
        the adapter's folder on the share changed and the change passed the checks; None when
        nothing changed, the change was refused (the loaded version keeps serving, and the
        refusal is logged once), or the folder was compared less than RECHECK_INTERVAL ago."""
        now = self._clock()
        with self._lock:
            if now - self._rechecked.get(name, -RECHECK_INTERVAL) < RECHECK_INTERVAL:
                return None
            self._rechecked[name] = now
            folder = self._folders.get(name, self.settings.start_adapters.get(name))
        if folder is None:
            return None  # not an adapter this catalogue loaded
        try:
            info = self.inspect(name, folder)
        except Refused:
            return None
        return info if info.path != loaded_path else None

    def _judge(self, name: str, path: str) -> AdapterInfo | Refused:
        root = self.settings.snapshot_root or None
        try:
            info = snapshot.checked(
                name,
                path,
                root,
                model=self.model(),
                model_ref=self.settings.model,
                served_name=self.settings.served_model_name,
            )
        except LaunchError as e:
            return Refused(BAD_REQUEST, str(e))
        if info.rank > self.settings.max_lora_rank:
            return Refused(BAD_REQUEST, rank_refusal(name, info.rank, self.settings.max_lora_rank))
        return info

    def available(self) -> list:
        """Every adapter on the share that would load now (AdapterInfo), by name."""
        servable = []
        for name, path in share_adapters(self.settings.mount, self.runs()).items():
            if name == self.settings.served_model_name:
                continue
            try:
                servable.append(self.inspect(name, path))
            except Refused:
                continue
        return servable


_catalog_lock = threading.Lock()
_catalog: dict = {}


def current_catalog(env: Mapping[str, str] | None = None) -> ShareAdapters | None:
    """This process's catalogue, from the launcher's settings in the environment (None when the
    server was not started by the launcher)."""
    env = os.environ if env is None else env
    raw = env.get(SHARE_ADAPTERS_ENV, "")
    with _catalog_lock:
        if raw not in _catalog:
            settings = Settings.from_env(env)
            _catalog[raw] = ShareAdapters(settings) if settings else None
        return _catalog[raw]


# ---------------------------------------------------------------------------------------------
# vLLM's side (imported only inside vLLM's API-server process)


def make_resolver(catalog_source: Callable[[], ShareAdapters | None] = current_catalog) -> LoRAResolver:
    """A vllm.lora.resolver.LoRAResolver over the share. vLLM 0.32 asks it from
    OpenAIServingModels.resolve_lora (vllm/entrypoints/openai/models/serving.py) when a request
    names a model that is neither the base nor loaded, then loads what it returns; None means
    "not found". The reason for None reaches the client through resolver_middleware."""
    import asyncio

    from vllm.lora.request import LoRARequest
    from vllm.lora.resolver import LoRAResolver

    class ShareAdapterResolver(LoRAResolver):  # pylint: disable=too-few-public-methods
        async def resolve_lora(self, base_model_name: str, lora_name: str) -> LoRARequest | None:
            catalog = catalog_source()
            if catalog is None:
                return None
            try:
                info = await asyncio.to_thread(catalog.lookup, lora_name)
            except Refused:
                return None
            log(
                f"loading adapter {info.name!r} rank {info.rank} on {', '.join(info.modules)} "
                f"from {info.path} on demand"
            )
            # lora_int_id is a placeholder: vLLM sets its own unique id before loading.
            return LoRARequest(
                lora_name=info.name,
                lora_int_id=1,
                lora_path=info.path,
                base_model_name=catalog.settings.served_model_name,
            )

    return ShareAdapterResolver()


_registered: list = []


def register() -> LoRAResolver:
    """Register the share's resolver with vLLM's registry, once per process; returns it."""
    if not _registered:
        from vllm.lora.resolver import LoRAResolverRegistry

        _registered.append(make_resolver())
        LoRAResolverRegistry.register_resolver(RESOLVER_NAME, _registered[0])
    return _registered[0]
