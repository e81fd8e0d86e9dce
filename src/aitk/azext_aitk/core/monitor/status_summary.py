"""`az aitk inference status`: one summary of the app, its latest revision and the server.

Plain Python over the ARM JSON (camelCase, api-version 2024-03-01) the command reads.
"""

from collections.abc import Iterable
from typing import Any

from .. import gpu_profiles
from .startup_failure import error_line

Json = dict[str, Any]

ERROR_WORDS = ("error", "traceback", "exception", "failed", "fatal", "killed", "out of memory")


def last_error_line(log_lines: Iterable[str] | None) -> str | None:
    """The console line that best names why a start failed: the launcher's or vLLM's refusal
    (argparse's last words before exit 2: `aitk_serve: error: ...`, `api_server.py: error: ...`),
    else the container's last error-looking line."""
    lines = [ln.strip() for ln in log_lines or [] if ln.strip()]
    for line in reversed(lines):
        if error_line(line):
            return error_line(line)
    for line in reversed(lines):
        if any(w in line.lower() for w in ERROR_WORDS):
            return line
    return None


def gpu_profile(app_props: Json, env_props: Json | None) -> tuple[str | None, bool | None]:
    """(profile key or workload profile type, serverless?) of the app's workload profile."""
    wp_name = app_props.get("workloadProfileName")
    for wp in (env_props or {}).get("workloadProfiles") or []:
        if wp.get("name") == wp_name:
            p = gpu_profiles.by_type(wp.get("workloadProfileType"))
            return (p.key if p else wp.get("workloadProfileType")), (p.serverless if p else None)
    return (wp_name or None), None


def latest_revision(app_props: Json, revisions: list[Json] | None) -> Json | None:
    name = app_props.get("latestRevisionName")
    for r in revisions or []:
        if r.get("name") == name:
            return r
    return revisions[-1] if revisions else None


def replica_list(replicas: Iterable[Json] | None) -> list[Json]:
    """Name, runningState and restarts of each replica, as Replicas_ListReplicas gives them."""
    out = []
    for r in replicas or []:
        p = r.get("properties") or {}
        cs = p.get("containers") or []
        out.append(
            {
                "name": r.get("name"),
                "runningState": p.get("runningState"),
                "restarts": sum(int(c.get("restartCount") or 0) for c in cs),
            }
        )
    return out


def http_rule(scale: Json) -> int | None:
    """The HTTP scale rule's concurrentRequests (core/provision/scale_rule.current_rule)."""
    from ..provision import scale_rule

    return scale_rule.current_rule({"scale": scale})


def running_replicas(replicas: Iterable[Json] | None) -> int:
    n = 0
    for r in replicas or []:
        cs = (r.get("properties") or {}).get("containers") or []
        if (r.get("properties") or {}).get("runningState") == "Running" or any(c.get("ready") for c in cs):
            n += 1
    return n


def start_up_error(revision: Json | None, replicas: list[Json] | None, log_lines: list[str] | None) -> str | None:
    """The last start-up error: the revision's runningStateDetails / provisioningError, a
    container's state details, else the last error-looking log line; None when none."""
    props = (revision or {}).get("properties") or {}
    failed = props.get("runningState") in ("Failed", "Degraded") or props.get("healthState") == "Unhealthy"
    for key in ("runningStateDetails", "provisioningError"):
        if failed and props.get(key):
            return str(props[key])
    for r in replicas or []:
        for c in (r.get("properties") or {}).get("containers") or []:
            if c.get("runningStateDetails") and c.get("runningState") not in ("Running", None):
                return str(c["runningStateDetails"])
    if not failed and not any(
        (c.get("restartCount") or 0) > 0
        for r in replicas or []
        for c in (r.get("properties") or {}).get("containers") or []
    ):
        return None
    line = last_error_line(log_lines)
    if line:
        return line
    if failed:
        return (
            f"revision {(revision or {}).get('name')} failed to start ({props.get('runningState')}, "
            f"{props.get('healthState')}); Azure gave no details and no replica is left to read "
            "the console log from"
        )
    return None


def summarize(
    app: Json | None,
    env: Json | None,
    revisions: list[Json] | None,
    replicas: list[Json] | None,
    ready: bool,
    *,
    models: Iterable[str] | None,
    log_lines: list[str] | None = None,
    note: str | None = None,
) -> Json:
    props = (app or {}).get("properties") or {}
    rev = latest_revision(props, revisions)
    rprops = (rev or {}).get("properties") or {}
    scale = (props.get("template") or {}).get("scale") or {}
    profile, serverless = gpu_profile(props, (env or {}).get("properties"))
    result = {
        "app": (app or {}).get("name"),
        "resourceGroup": None,
        "provisioningState": props.get("provisioningState"),
        "runningStatus": props.get("runningStatus"),
        "revision": (rev or {}).get("name"),
        "revisionState": rprops.get("runningState"),
        "health": rprops.get("healthState"),
        "replicas": running_replicas(replicas),
        # each replica of the latest revision (Replicas_ListReplicas): the scale rule may run several
        "replicaList": replica_list(replicas),
        "gpuProfile": profile,
        "serverless": serverless,
        "minReplicas": scale.get("minReplicas", 0) if scale else 0,
        "maxReplicas": scale.get("maxReplicas"),
        "scaleConcurrentRequests": http_rule(scale),
        "ready": bool(ready),
        "models": list(models or []),
        "url": None,
        "error": start_up_error(rev, replicas, log_lines),
    }
    if note:
        result["note"] = note
    return result
