"""Long-running updates (PATCH) of Microsoft.App resources, followed as azure-cli's containerapp
client follows them (azure/cli/command_modules/containerapp/_clients.py, azure-cli 2.91:
ContainerAppClient.update and ManagedEnvironmentClient.update with poll_status / poll_results):

- 202 with `Azure-AsyncOperation`: GET that URL until its `status` is Succeeded (done) or Failed /
  Canceled (its `error` is the failure); a status URL in `Location` (an environment's
  `managedEnvironmentOperationStatuses`) is read the same way;
- 202 with only `Location` (an operation result): GET it while it answers 202; its error answer is
  the failure;
- then one GET of the resource: a terminal failure state there (Failed, Canceled, an environment's
  UpgradeFailed) is a failure too.
Each wait between GETs is the answer's Retry-After (az: `_extract_delay`), 2 s without one.
Polling the resource's provisioningState instead would end early: while the update runs, a GET of
the resource still shows its old state, "Succeeded" included
(https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations)."""

import json
import time
from types import SimpleNamespace

from ..core.errors import AzureFailure
from . import arm

POLL_SECONDS = 2.0  # az's POLLING_SECONDS when an answer has no Retry-After
# provisioningState values after which nothing more happens to the update: ContainerAppProvisioningState
# and EnvironmentProvisioningState (Microsoft.App stable/2025-07-01: Succeeded, Failed, Canceled,
# and for an environment also UpgradeFailed; the others, InProgress, Waiting, UpgradeRequested,
# InitializationInProgress, InfrastructureSetupInProgress... are still running).
FAILED_STATES = ("failed", "canceled", "upgradefailed")


class OperationFailed(AzureFailure):
    """An update Azure accepted and then did not carry out; `.error` (code, message) is Azure's."""

    def __init__(self, message: str, recommendation: str | None = None, code: str = "", detail: str = "") -> None:
        super().__init__(
            "operation_failed",
            message,
            recommendation or "`az resource show --ids <id>` shows its state; run the command again once fixed.",
        )
        self.error = SimpleNamespace(code=code, message=detail or message)

    @classmethod
    def of(cls, what: str, code: str, detail: str) -> "OperationFailed":
        return cls(f"{what} failed: {code}: {detail}" if code else f"{what} failed: {detail}", None, code, detail)


def operation_status(body) -> tuple[str, str, str]:
    """('running' | 'succeeded' | 'failed', error code, error message) of an Azure-AsyncOperation body."""
    status = str((body or {}).get("status") or "").lower()
    if status == "succeeded":
        return "succeeded", "", ""
    if status in ("failed", "canceled"):
        err = (body or {}).get("error") or {}
        return "failed", str(err.get("code") or status.capitalize()), str(err.get("message") or "")
    return "running", "", ""


def delay(headers) -> float:
    """az's _extract_delay: Retry-After (seconds), retry-after-ms, x-ms-retry-after-ms, else 2 s."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    try:
        if headers.get("retry-after"):
            return min(float(headers["retry-after"]), 60.0)
        for name in ("retry-after-ms", "x-ms-retry-after-ms"):
            if headers.get(name):
                return min(float(headers[name]) / 1000.0, 60.0)
    except ValueError:
        pass
    return POLL_SECONDS


def update(cli_ctx, path, body, api_version, *, what, timeout, sleep=time.sleep, clock=time.monotonic):
    """PATCH `path` with `body` and wait until Azure carried the update out; the resource's JSON then.
    Raises OperationFailed when the operation fails or `timeout` seconds pass."""
    resp = arm.send(cli_ctx, "PATCH", path, api_version, body)
    deadline = clock() + timeout
    if resp.status_code in (201, 202):
        operation = resp.headers.get("Azure-AsyncOperation")
        location = resp.headers.get("Location") or ""
        if not operation and "operationstatuses" in location.lower():
            operation = location
        while True:
            if clock() >= deadline:
                raise OperationFailed.of(what, "", f"it did not finish within {int(timeout)} s")
            sleep(delay(resp.headers))
            if operation:
                resp = arm.send(cli_ctx, "GET", operation, None)
                state, code, message = operation_status(_json(resp))
                if state == "failed":
                    raise OperationFailed.of(what, code, message)
                if state == "succeeded":
                    break
            elif location:
                try:
                    resp = arm.send(cli_ctx, "GET", location, None)
                except Exception as ex:  # pylint: disable=broad-except  # az's HTTPError: the operation's error
                    err = (_json(getattr(ex, "response", None)) or {}).get("error") or {}
                    raise OperationFailed.of(what, str(err.get("code") or ""), str(err.get("message") or ex)) from None
                if resp.status_code != 202:
                    break
            else:
                break
    final = arm.get(cli_ctx, path, api_version) or {}
    state = str((final.get("properties") or {}).get("provisioningState") or "")
    if state.lower() in FAILED_STATES:
        raise OperationFailed.of(what, state, f"the resource's provisioningState is {state}")
    return final


def _json(resp):
    try:
        text = resp.text if resp is not None else ""
        return json.loads(text) if text and text.strip() else None
    except (ValueError, AttributeError):
        return None
