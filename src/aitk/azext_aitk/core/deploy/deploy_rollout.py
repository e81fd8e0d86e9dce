"""`az aitk inference deploy`: after the sync, how the server picks up what changed.

Pure decision over the paths the sync wrote or deleted and the paths the share held before:
- nothing the server reads changed: nothing to do;
- the launcher or inference/ changed: restart the revision (a new process must read them);
- only adapters changed, all of them new on the share: nothing to restart or load, at any
  replica count: every replica resolves an adapter on the share by name on the first request
  that names it (aitk_serve.resolver, docs/serving.md "Adapters on demand");
- an adapter's files were replaced: each replica re-checks a changed folder on the next request
  that names it (at most every 2 s) and swaps to a verified copy (aitk_serve.snapshot), but only
  when such a request comes; so that no replica answers with the old weights after deploy
  returns, with one replica unload and load it over vLLM's runtime LoRA API (falling back to a
  restart when the server is down or refuses), and with more than one restart (a runtime call
  reaches one replica only).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aitk_serve import layout, serving_state

from .sync_plan import LocalFile, RemoteFile

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


# -- what the running server serves (aitk_serve/serving_state.py) ---------------------------------


def expected_serving(
    local: Mapping[str, LocalFile], remote: Mapping[str, RemoteFile], deleted: Iterable[str] = ()
) -> dict[str, str | None]:
    """What a server started now would report: the release `current` names and the SHA-256 of
    serve.json, as the share holds them after this deploy's sync."""
    gone = set(deleted)
    current = local.get(layout.LAUNCHER_CURRENT_FILE)
    release = current.data.decode("ascii").strip() if current is not None and current.data else None
    serve = local.get(layout.SERVE_CONFIG_FILE)
    if serve is not None:
        sha = serve.sha256
    else:
        found = remote.get(layout.SERVE_CONFIG_FILE)
        sha = found.sha256 if found is not None and found.path not in gone else None
    return {serving_state.RELEASE: release, serving_state.SERVE_CONFIG: sha}


def serving_behind(expected: Mapping[str, str | None], reported: Mapping[str, str | None] | None) -> str | None:
    """What the running server lacks of the share's state (one phrase), or None when it runs it
    (or cannot tell: `reported` None). A server that reports nothing predates the report: behind."""
    if reported is None:
        return None
    if reported.get(serving_state.RELEASE) != expected.get(serving_state.RELEASE):
        return (
            f"runs launcher release {reported.get(serving_state.RELEASE) or 'unknown'}, the share holds "
            f"{expected.get(serving_state.RELEASE)}"
        )
    if reported.get(serving_state.SERVE_CONFIG) != expected.get(serving_state.SERVE_CONFIG):
        return f"started with another {layout.SERVE_CONFIG_FILE} than the share holds"
    return None


def restart_targets(app_props: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]]) -> list[str]:
    """The revisions to restart so the server re-reads the share: the active ones that take traffic
    (else the app's latest revision, when active). Only an active revision can be restarted
    (ACA answers `BadRequest: Revision … is not active`), and after a provision that changed the
    app the latest *ready* revision may be an inactive one."""
    active = [r for r in revisions if (r.get("properties") or {}).get("active")]
    serving = [r["name"] for r in active if ((r.get("properties") or {}).get("trafficWeight") or 0) > 0]
    if serving:
        return sorted(serving)
    latest = app_props.get("latestRevisionName")
    return [r["name"] for r in active if r.get("name") == latest] or sorted(r["name"] for r in active)
