"""What-if of a resource-group deployment: the changes a template would make, compared property by
property with what is deployed, read-only properties ignored, secrets masked.
https://learn.microsoft.com/rest/api/resources/deployments/what-if"""

import copy

from ..errors import ArmError
from .expressions import TemplateError

READ_ONLY = {
    "provisioningState",
    "fqdn",
    "latestRevisionName",
    "latestReadyRevisionName",
    "latestRevisionFqdn",
    "customDomainVerificationId",
    "outboundIpAddresses",
    "eventStreamEndpoint",
    "runningStatus",
    "defaultDomain",
    "staticIp",
    "customerId",
    "createdDate",
    "modifiedDate",
    "primaryEndpoints",
    "creationTime",
    "lastModifiedTime",
    "etag",
    "id",
    "systemData",
    "environmentId",
}


def compute_changes(engine, g, name, props):
    """The what-if result of deploying `props` (template + parameters) into group g: one change per
    template resource (Create / Modify with a property delta / NoChange) and Ignore for the group's other
    resources. https://learn.microsoft.com/azure/azure-resource-manager/templates/deploy-what-if"""
    tpl = engine.evaluate_template(g, name, props, what_if=True)
    changes = []
    groups = {g["name"].lower()}
    _changes_of(engine, tpl, changes, groups)
    ids = {c["resourceId"].lower() for c in changes}
    with engine.mgr.lock:
        for rec in engine.mgr.res.values():
            if rec["rg"] in groups and rec["id"].lower() not in ids and len(rec["type"].split("/")) == 2:
                changes.append({"resourceId": rec["id"], "changeType": "Ignore", "before": engine.mgr.view(rec)})
    return {"status": "Succeeded", "properties": {"changes": changes}}


def _changes_of(engine, tpl, changes, groups):
    """The changes of tpl's resources; a nested deployment's resources are listed in its place, as
    what-if expands nested templates (deploy-what-if, "What-if limits": up to 500 nested templates)."""
    for r in tpl.resources:
        if not r.condition or r.existing:
            continue
        if r.nested is not None:
            try:
                target, child = engine.nested_template(tpl, r, what_if=True)
            except TemplateError as e:
                raise ArmError(400, "InvalidTemplate", e.message, target=r.id) from e
            groups.add(target["name"].lower())
            _changes_of(engine, child, changes, groups)
            continue
        try:
            desired = tpl.resource_body(r)
        except TemplateError as e:
            raise ArmError(
                400,
                "InvalidTemplate",
                f"Unable to process template language expressions for resource '{r.id}'. '{e.message}'",
                target=r.id,
            ) from e
        desired_full = {"id": r.id, "name": r.name.split("/")[-1], "type": r.type, "apiVersion": r.api_version}
        desired_full.update(_mask_secrets(r, desired))
        ident = engine.ident_of(r.id)
        kind = engine.mgr.canonical(ident)
        rec = engine.mgr.get_record(engine.mgr.make_id(ident, kind))
        if rec is None:
            changes.append({"resourceId": r.id, "changeType": "Create", "after": desired_full})
            continue
        before = engine.mgr.view(rec)
        before["apiVersion"] = r.api_version
        delta = _delta(before, desired_full, "")
        change = {"resourceId": r.id, "before": before, "after": _overlay(before, desired_full)}
        change["changeType"] = "Modify" if delta else "NoChange"
        if delta:
            change["delta"] = delta
        changes.append(change)


def _mask_secrets(r, body):
    body = copy.deepcopy(body)
    if r.type.lower() == "microsoft.app/containerapps":
        for s in ((body.get("properties") or {}).get("configuration") or {}).get("secrets") or []:
            if "value" in s:
                s.pop("value")
    if r.type.lower() == "microsoft.app/managedenvironments/storages":
        (body.get("properties") or {}).get("azureFile", {}).pop("accountKey", None)
    if r.type.lower() == "microsoft.app/managedenvironments":
        la = ((body.get("properties") or {}).get("appLogsConfiguration") or {}).get("logAnalyticsConfiguration") or {}
        la.pop("sharedKey", None)
    return body


def _overlay(before, after):
    out = copy.deepcopy(before)
    for k, v in after.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _overlay(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _delta(before, after, path):
    """Property changes of the properties the template sets (read-only ones ignored)."""
    out = []
    for k, v in after.items():
        if k in READ_ONLY or k == "apiVersion":
            continue
        p = f"{path}.{k}" if path else k
        found = k in before
        if not found:
            lk = next((bk for bk in before if bk.lower() == k.lower()), None)
            found, bv = lk is not None, before.get(lk) if lk else None
        else:
            bv = before[k]
        if not found:
            out.append({"path": p, "propertyChangeType": "Create", "after": copy.deepcopy(v)})
        elif isinstance(v, dict) and isinstance(bv, dict):
            sub = _delta(bv, v, p)
            if sub:
                out.append({"path": p, "propertyChangeType": "Modify", "children": sub})
        elif (
            isinstance(v, str)
            and isinstance(bv, str)
            and k in ("location",)
            and v.replace(" ", "").lower() == bv.lower()
        ):
            continue
        elif _norm(v) != _norm(bv):
            if isinstance(v, list) and isinstance(bv, list):
                out.append(
                    {"path": p, "propertyChangeType": "Modify", "before": copy.deepcopy(bv), "after": copy.deepcopy(v)}
                )
            else:
                out.append(
                    {"path": p, "propertyChangeType": "Modify", "before": copy.deepcopy(bv), "after": copy.deepcopy(v)}
                )
    return out


def _norm(v):
    if isinstance(v, list):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k.lower(): _norm(x) for k, x in v.items() if k not in READ_ONLY}
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v
