"""`az aitk inference deploy`: after the sync, how the server picks up what changed.

Pure decision over the paths the sync wrote or deleted and the paths the share held before:
- nothing the server reads changed: nothing to do;
- the launcher or inference/ changed: restart the revision (a new process must read them);
- only adapters changed, all of them new on the share: nothing to restart or load, at any
  replica count: every replica resolves an adapter on the share by name on the first request
  that names it (aitk_serve.resolver, docs/serving.md "Adapters on demand");
- an adapter's files were replaced: a replica that already loaded it keeps the old weights (vLLM
  does not reload a loaded adapter), so with one replica unload and load it over vLLM's runtime
  LoRA API (falling back to a restart when the server is down or refuses), and with more than one
  restart (a runtime call reaches one replica only).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from aitk_serve import layout

NONE = "none"
ON_DEMAND = "on-demand"
HOT_LOAD = "hot-load"
RESTART = "restart"


@dataclass(frozen=True)
class Rollout:
    action: str  # NONE, ON_DEMAND, HOT_LOAD or RESTART
    adapters: tuple[str, ...] = ()  # the changed adapters, sorted


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def changed_adapters(changed_paths: Iterable[str], adapter_names: Iterable[str]) -> tuple[str, ...]:
    paths = list(changed_paths)
    return tuple(sorted(n for n in adapter_names if any(_under(p, layout.adapter_dir(n)) for p in paths)))


def serving_changed(changed_paths: Iterable[str]) -> bool:
    """True when the launcher or the inference/ folder changed (a new process must read them)."""
    return any(_under(p, layout.LAUNCHER_DIR) or _under(p, layout.INFERENCE_DIR) for p in changed_paths)


def decide(
    changed_paths: Iterable[str],
    adapter_names: Iterable[str],
    max_replicas: int,
    paths_before: Iterable[str] = (),
) -> Rollout:
    """changed_paths: share paths uploaded or deleted; adapter_names: the adapters this deploy
    pushed; max_replicas: the app's scale limit; paths_before: the share paths (under the synced
    roots) that existed before the sync."""
    paths = list(changed_paths)
    adapters = changed_adapters(paths, adapter_names)
    serving = serving_changed(paths)
    if serving:
        return Rollout(RESTART, adapters)
    if not adapters:
        return Rollout(NONE)
    replaced = changed_adapters(paths_before, adapters)
    if not replaced:
        return Rollout(ON_DEMAND, adapters)
    if max_replicas > 1:
        return Rollout(RESTART, adapters)
    return Rollout(HOT_LOAD, adapters)
