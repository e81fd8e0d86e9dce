"""Asynchronous operations of Resource Manager, as Microsoft.App runs an update (PATCH) of a container
app or an environment: 202 Accepted with the operation's URLs, the work goes on after the answer.

The protocol (https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations):
- `Azure-AsyncOperation`: GET it for `{"status": "InProgress" | "Succeeded" | "Failed" | "Canceled",
  "error": {...}}` (200 while it runs, with Retry-After);
- `Location`: GET it for 202 while the operation runs, then the result (200 with the resource) or
  the error (4xx).
The URL names are the ones azure-cli's containerapp client recognises
(azure/cli/command_modules/containerapp/_clients.py, azure-cli 2.91: ContainerAppClient.update polls
Azure-AsyncOperation, else Location; ManagedEnvironmentClient.update tells
`managedEnvironmentOperationStatuses` from `managedEnvironmentOperationResults` in the Location).

The resource itself is not up to date while the operation runs: for `window_s` after the 202 a GET of
it shows what it was before (its old properties, its old `provisioningState` "Succeeded"), so a
client that polls the resource instead of the operation sees the update finished before it began.
A failed update leaves the resource in its terminal failure state (an environment's
`provisioningState` "UpgradeFailed", an app's "Failed": EnvironmentProvisioningState and
ContainerAppProvisioningState in Microsoft.App stable/2025-07-01 CommonDefinitions.json /
ManagedEnvironments.json)."""

import copy
import threading
import time
import uuid

from ..http import Response, json_response
from ..ids import now_iso

# resource type (lower) -> (the operation status collection, the operation result collection, the
# failed provisioningState), under /subscriptions/{s}/providers/Microsoft.App/locations/{location}/
ASYNC_UPDATES = {
    "microsoft.app/containerapps": ("containerappOperationStatuses", "containerappOperationResults", "Failed"),
    "microsoft.app/managedenvironments": (
        "managedEnvironmentOperationStatuses",
        "managedEnvironmentOperationResults",
        "UpgradeFailed",
    ),
}
COLLECTIONS = {name.lower() for statuses, results, _ in ASYNC_UPDATES.values() for name in (statuses, results)}


class AsyncOperations:
    """The operations running or done, by id; the old views of resources whose update runs."""

    def __init__(self, mgr, window_s: float = 2.0):
        self.mgr = mgr
        self.window_s = window_s
        self.lock = threading.Lock()
        self.ops: dict[str, dict] = {}
        self.failures: dict[str, tuple[str, str]] = {}  # resource type (lower) -> (code, message)

    def fail_next_update(self, resource_type: str, code: str, message: str) -> None:
        """Make the next update of that type end Failed with this error (a fault, as set_faults)."""
        with self.lock:
            self.failures[resource_type.lower()] = (code, message)

    def take_failure(self, resource_type: str):
        with self.lock:
            return self.failures.pop(resource_type.lower(), None)

    def start(self, rec, old_view, api_version, error=None) -> Response:
        """The 202 for an update whose new state is already in `rec` (or, with `error`, that fails)."""
        rtype = rec["type"].lower()
        statuses, results, failed_state = ASYNC_UPDATES[rtype]
        opid = str(uuid.uuid4())
        base = f"/subscriptions/{self.mgr.s.subscription_id}/providers/Microsoft.App/locations/{old_view['location']}"
        with self.lock:
            self.ops[opid] = {
                "rid": rec["id"].lower(),
                "old": copy.deepcopy(old_view),
                "until": time.monotonic() + self.window_s,
                "start": now_iso(),
                "error": error,
                "failed_state": failed_state,
                "status_path": f"{base}/{statuses}/{opid}",
            }
        if error is not None:
            with self.mgr.lock:
                rec["body"]["properties"]["provisioningState"] = failed_state
                self.mgr.save()
        query = f"?api-version={api_version}"
        status_url = f"{self.mgr.s.url}{base}/{statuses}/{opid}{query}"
        # an environment's Location is its status URL (ManagedEnvironmentClient.update polls it as such)
        location = status_url
        if rtype != "microsoft.app/managedenvironments":
            location = f"{self.mgr.s.url}{base}/{results}/{opid}{query}"
        return Response(202, {"Azure-AsyncOperation": status_url, "Location": location, "Retry-After": "1"}, b"")

    def stale_view(self, rid: str):
        """What a GET of the resource shows while an update of it runs (its old view), else None."""
        now = time.monotonic()
        with self.lock:
            running = [op for op in self.ops.values() if op["rid"] == rid.lower() and now < op["until"]]
        return copy.deepcopy(running[0]["old"]) if running else None

    def handle(self, collection: str, opid: str) -> Response:
        with self.lock:
            op = self.ops.get(opid)
        if op is None:
            return json_response(
                404, {"error": {"code": "OperationNotFound", "message": f"The operation '{opid}' was not found."}}
            )
        running = time.monotonic() < op["until"]
        status = "InProgress" if running else ("Failed" if op["error"] else "Succeeded")
        if collection.lower().endswith("operationstatuses"):
            body = {"id": op["status_path"], "name": opid, "status": status, "startTime": op["start"]}
            if not running:
                body["endTime"] = now_iso()
            if status == "Failed":
                body["error"] = {"code": op["error"][0], "message": op["error"][1]}
            resp = json_response(200, body)
            if running:
                resp.headers["Retry-After"] = "1"
            return resp
        if running:
            return Response(202, {"Retry-After": "1"}, b"")
        if op["error"]:
            return json_response(400, {"error": {"code": op["error"][0], "message": op["error"][1]}})
        rec = self.mgr.get_record(op["rid"])
        if rec is None:
            return Response(204, {}, b"")
        return json_response(200, self.mgr.view(rec))
