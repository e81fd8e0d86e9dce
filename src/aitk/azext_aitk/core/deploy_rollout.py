"""`az aitk inference deploy`: after the sync, how the server picks up what changed.

Pure decision over the paths the sync wrote or deleted:
- nothing the server reads changed: nothing to do;
- only adapters changed and the app runs at most one replica: load them into the running server
  (vLLM's runtime LoRA API), falling back to a restart when the server is down or refuses;
- the launcher or inference/ changed, or more than one replica may run (a runtime load reaches
  one replica only): restart the revision.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from aitk_serve import layout

NONE = "none"
HOT_LOAD = "hot-load"
RESTART = "restart"


@dataclass(frozen=True)
class Rollout:
    action: str  # NONE, HOT_LOAD or RESTART
    adapters: tuple[str, ...] = ()  # the changed adapters (what a hot-load loads), sorted


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def changed_adapters(changed_paths: Iterable[str], adapter_names: Iterable[str]) -> tuple[str, ...]:
    paths = list(changed_paths)
    return tuple(sorted(n for n in adapter_names if any(_under(p, layout.adapter_dir(n)) for p in paths)))


def serving_changed(changed_paths: Iterable[str]) -> bool:
    """True when the launcher or the inference/ folder changed (a new process must read them)."""
    return any(_under(p, layout.LAUNCHER_DIR) or _under(p, layout.INFERENCE_DIR) for p in changed_paths)


def decide(changed_paths: Iterable[str], adapter_names: Iterable[str], max_replicas: int) -> Rollout:
    """changed_paths: share paths uploaded or deleted; adapter_names: the adapters this deploy
    pushed; max_replicas: the app's scale limit."""
    paths = list(changed_paths)
    adapters = changed_adapters(paths, adapter_names)
    serving = serving_changed(paths)
    if not serving and not adapters:
        return Rollout(NONE)
    if serving or max_replicas > 1:
        return Rollout(RESTART, adapters)
    return Rollout(HOT_LOAD, adapters)
