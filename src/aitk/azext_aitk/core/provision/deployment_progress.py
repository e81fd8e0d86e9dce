"""What provision shows while its deployment runs (like `azd provision`): each resource as its
deployment operation completes, with the elapsed time, and the deployment's portal link.

Plain Python: reads deployment operations (SDK objects or dicts, as
https://learn.microsoft.com/rest/api/resources/deployment-operations/list returns them)."""

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

DONE_STATES = {"succeeded", "failed", "canceled"}


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def portal_link(portal: str | None, deployment_id: str) -> str | None:
    """The portal page of a deployment (None when the cloud names no portal)."""
    if not portal:
        return None
    return (
        f"{portal.rstrip('/')}/#view/HubsExtension/DeploymentDetailsBlade/~/overview/id/{quote(deployment_id, safe='')}"
    )


def completed(operations: Iterable[Any] | None, seen: set[str]) -> list[tuple[str, str]]:
    """[(\"type name\", state)] of operations on a resource that completed since `seen` (updated).
    Operations without a target resource (the deployment's own bookkeeping) are skipped."""
    out = []
    for op in operations or []:
        state = str(_get(op, "properties", "provisioning_state") or _get(op, "properties", "provisioningState") or "")
        target = _get(op, "properties", "target_resource") or _get(op, "properties", "targetResource")
        rtype = _get(target, "resource_type") or _get(target, "resourceType")
        name = _get(target, "resource_name") or _get(target, "resourceName")
        if not rtype or not name or state.lower() not in DONE_STATES:
            continue
        what = f"{rtype} {name}"
        if what in seen:
            continue
        seen.add(what)
        out.append((what, state))
    return out


def line(what: str, state: str, elapsed: float) -> str:
    mark = "done" if state.lower() == "succeeded" else state.lower()
    return f"  ({elapsed:4.0f} s) {what}: {mark}"
