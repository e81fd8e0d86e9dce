"""Turn Azure's error codes and messages into one clear line and what to do about it.

Pure: it reads codes/messages (from azure-core's HttpResponseError or a deployment's error tree),
never imports az. `classify` returns (kind, message, recommendation); `failure` makes the
AzureFailure whose kind picks the azclierror class (core/errors.py).
"""

import json
import re
import shlex
from collections.abc import Iterable
from typing import Any

from ..errors import AzureFailure
from ..gpu_profiles import GpuProfile

# kinds
RESOURCE_GROUP_NOT_FOUND = "resource_group_not_found"
PROVIDER_NOT_REGISTERED = "provider_not_registered"
QUOTA = "quota"
DEPLOYMENT_FAILED = "deployment_failed"
OTHER = "other"

_QUOTA_CODES = {
    "quotaexceeded",
    "operationnotallowed",
    "skunotavailable",
    "managedenvironmentworkloadprofilequotaexceeded",
    "insufficientquota",
    "managedenvironmentgpuquotaexceeded",
    "locationnotavailableforresourcetype",
    "noregisteredproviderfound",
    "workloadprofilenotsupported",
    "managedenvironmentinvalidworkloadprofiletype",
    "regiondoesnotsupportworkloadprofile",
}
_QUOTA_WORDS = re.compile(
    r"quota|capacity|not available in (the )?(region|location)|"
    r"not supported in (the )?(region|location)|workload profile type .* not",
    re.I,
)


def failure(kind: str, message: str, recommendation: str | None) -> AzureFailure:
    """The error to raise for a classified Azure failure."""
    return AzureFailure(kind, message, recommendation)


def flatten(error: Any) -> list[tuple[str, str, str]]:
    """Depth-first list of (code, message, target) over an error tree (dict or SDK object)."""
    out: list[tuple[str, str, str]] = []

    def walk(e: Any) -> None:
        if e is None:
            return
        if not isinstance(e, dict):
            e = {
                "code": getattr(e, "code", None),
                "message": getattr(e, "message", None),
                "target": getattr(e, "target", None),
                "details": getattr(e, "details", None),
            }
        if "error" in e and isinstance(e["error"], dict) and "code" not in e:
            e = e["error"]
        code, message = e.get("code"), e.get("message")
        # Deployment failures wrap the resource provider's JSON error in the message.
        if isinstance(message, str) and message.strip().startswith("{"):
            try:
                inner = json.loads(message)
                walk(inner)
            except ValueError:
                pass
        out.append((code or "", message or "", e.get("target") or ""))
        for d in e.get("details") or []:
            walk(d)

    walk(error)
    return out


def _innermost(entries: list[tuple[str, str, str]]) -> tuple[str, str, str]:
    """The most specific entry: the deepest one that has a message and is not a wrapper."""
    wrappers = {
        "deploymentfailed",
        "resourcedeploymentfailure",
        "invalidtemplatedeployment",
        "conflict",
        "badrequest",
        "multipleerrorsoccurred",
    }
    for code, message, target in reversed(entries):
        if message and code.lower() not in wrappers and not message.strip().startswith("{"):
            return code, message, target
    for code, message, target in reversed(entries):
        if message:
            return code, message, target
    return ("", "", "")


def classify(
    error: Any,
    resource_group: str | None = None,
    location: str | None = None,
    gpu_profile: GpuProfile | None = None,
    failed_resource: str | None = None,
) -> tuple[str, str, str]:
    """error: an error tree (dict/SDK object) or a plain message string."""
    entries = flatten(error) if not isinstance(error, str) else [("", error, "")]
    codes = {c.lower() for c, _, _ in entries}
    text = " ".join(m for _, m, _ in entries)
    if "resourcegroupnotfound" in codes or re.search(r"resource group '[^']*' could not be found", text, re.I):
        return (
            RESOURCE_GROUP_NOT_FOUND,
            f"resource group '{resource_group}' does not exist"
            if resource_group
            else "the resource group does not exist",
            (
                f"Add --location to provision and it creates the group (e.g. `az aitk inference provision "
                f"-g {shlex.quote(resource_group)} -l westus3`), or create it with `az group create -n "
                f"{shlex.quote(resource_group)} -l westus3`; or pass an existing group with -g."
                if resource_group
                else "Pass an existing group with -g, or add --location to create it."
            ),
        )
    if (
        "missingsubscriptionregistration" in codes
        or "subscriptionnotregistered" in codes
        or re.search(r"not registered to use namespace '?Microsoft\.App", text, re.I)
    ):
        ns = "Microsoft.App"
        m = re.search(r"namespace '([^']+)'", text)
        if m:
            ns = m.group(1)
        return (
            PROVIDER_NOT_REGISTERED,
            f"the subscription is not registered for the {ns} resource provider",
            f"Run `az provider register -n {ns} --wait`, then run provision again.",
        )
    if codes & _QUOTA_CODES or _QUOTA_WORDS.search(text):
        code, message, _ = _innermost(entries)
        where = f" in {location}" if location else ""
        what = ""
        if gpu_profile is not None:
            what = (
                f" Request the '{gpu_profile.quota}' quota for Azure Container Apps{where} "
                "(Azure portal > Quotas > Azure Container Apps), or try another region "
                "with --location or another --gpu-profile."
            )
        profile_type = gpu_profile.workload_profile_type if gpu_profile else "the GPU profile"
        return (
            QUOTA,
            f"no GPU capacity or quota{where} for {profile_type}: {message}",
            ("The subscription lacks the GPU quota or the region lacks the capacity." + what).strip(),
        )
    code, message, target = _innermost(entries)
    resource = failed_resource or target
    prefix = f"deployment failed at {resource}: " if resource else "deployment failed: "
    return (
        DEPLOYMENT_FAILED if entries else OTHER,
        prefix + (f"{code}: {message}" if code and message else message or code or "unknown error"),
        "Fix the cause, then run provision again (it only changes what differs). "
        + (
            f"Details: `az deployment operation group list -g {shlex.quote(resource_group)} "
            "-n aitk-inference -o table`."
            if resource_group
            else ""
        ),
    )


def _field_reader(obj: Any) -> Any:
    """A getter for one field of a dict (REST JSON) or an SDK model, absent fields being None."""
    if isinstance(obj, dict):
        return obj.get
    return lambda key: getattr(obj, key, None)


def failed_operations(operations: Iterable[Any] | None) -> list[tuple[str | None, Any]]:
    """[(resource, error)] from deployment operations (SDK objects or dicts) that failed."""
    failed = []
    for op in operations or []:
        props = op.get("properties") if isinstance(op, dict) else getattr(op, "properties", None)
        if props is None:
            continue
        get = _field_reader(props)
        state = get("provisioning_state") or get("provisioningState")
        if str(state).lower() != "failed":
            continue
        target = get("target_resource") or get("targetResource")
        if target is not None:
            name = (
                (target.get("resource_name") or target.get("resourceName"))
                if isinstance(target, dict)
                else getattr(target, "resource_name", None)
            )
            rtype = (
                (target.get("resource_type") or target.get("resourceType"))
                if isinstance(target, dict)
                else getattr(target, "resource_type", None)
            )
            resource = f"{rtype} '{name}'" if rtype else name
        else:
            resource = None
        status = get("status_message") or get("statusMessage")
        error = None
        if status is not None:
            error = (
                status.get("error", status) if isinstance(status, dict) else getattr(status, "error", None) or status
            )
        failed.append((resource, error))
    return failed


def error_tree_from_exception(ex: BaseException) -> Any:
    """Best structured view of an exception from azure-core or from az's deployment code."""
    err = getattr(ex, "error", None)
    if err is not None and (getattr(err, "code", None) or getattr(err, "message", None)):
        return err
    response = getattr(ex, "response", None)
    if response is not None:
        try:
            body = response.json()
            if isinstance(body, dict) and body.get("error"):
                return body["error"]
        except Exception:  # pylint: disable=broad-except
            pass
    return parse_error_text(str(ex))


def parse_error_text(text: str) -> dict[str, Any]:
    """az's deployment errors come as text: JSON objects ("Inner Errors: {…}") or "Code - Message"
    lines. → an error tree {"code", "message", "details"}."""
    details = []
    for line in str(text).splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                if isinstance(obj, dict):
                    details.append(obj.get("error", obj))
                    continue
            except ValueError:
                pass
        m = re.match(r"^([A-Za-z][A-Za-z0-9]+) - (.+)$", line)
        if m:
            details.append({"code": m.group(1), "message": m.group(2)})
        elif line and not line.lower().startswith("inner errors"):
            details.append({"code": "", "message": line})
    m = re.search(r"\(([A-Za-z][A-Za-z0-9]+)\)", str(text))
    return {"code": m.group(1) if m else "", "message": "", "details": details}
