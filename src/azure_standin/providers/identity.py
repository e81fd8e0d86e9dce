"""Microsoft.ManagedIdentity user-assigned identities and Microsoft.Authorization role assignments
(the pair a container app uses to pull from a registry without a password).
https://learn.microsoft.com/rest/api/managedidentity/user-assigned-identities
https://learn.microsoft.com/rest/api/authorization/role-assignments"""

import re
import time
import uuid

from ..errors import ArmError
from ..ids import now_iso
from .base import Kind

# AcrPull: "Pull artifacts from a container registry".
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/containers#acrpull
ACR_PULL_ROLE_ID = "7f951dda-4ed3-4680-a7ca-43fe172d538d"

# A new role assignment takes effect minutes after it exists: "Azure RBAC propagation can take 1-5
# minutes, so the Container App revision fails to pull the image from ACR"
# (microsoft/GitHub-Copilot-for-Azure PR #1701; microsoft/azure-container-apps #646); Learn's RBAC
# troubleshooting page: role changes can take minutes to take effect as Resource Manager caches them
# (https://learn.microsoft.com/azure/role-based-access-control/troubleshooting). The stand-in plays
# 180 s (the middle of those reports) x its time_scale, unless StandIn(role_propagation_s=...) says.
ROLE_PROPAGATION_S = 180.0

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class UserAssignedIdentities(Kind):
    type = "Microsoft.ManagedIdentity/userAssignedIdentities"
    api_versions = ("2024-11-30", "2023-01-31", "2018-11-30")

    def put(self, mgr, ident, rid, body, old, g):
        name = ident.names[0]
        # 3-128 characters: letters, digits, hyphens and underscores, starting with a letter or digit
        # (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules,
        # #microsoftmanagedidentity)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{2,127}", name):
            raise ArmError(400, "InvalidResourceName", f"The identity name '{name}' is invalid.")
        loc = self.location(body, g)
        private = old["private"] if old else {"principalId": str(uuid.uuid4()), "clientId": str(uuid.uuid4())}
        out = self.common(rid, name, body, loc)
        out["properties"] = {
            "tenantId": mgr.s.tenant_id,
            "principalId": private["principalId"],
            "clientId": private["clientId"],
        }
        return {"id": rid, "body": out, "private": private}


class RoleAssignments(Kind):
    """An extension resource: its id is {scope}/providers/Microsoft.Authorization/roleAssignments/{guid}."""

    type = "Microsoft.Authorization/roleAssignments"
    api_versions = ("2022-04-01", "2020-10-01-preview")
    tracked = False

    def put(self, mgr, ident, rid, body, old, g):
        name = ident.names[0]
        if not _GUID.fullmatch(name):
            raise ArmError(400, "InvalidRoleAssignmentId", f"The role assignment ID '{name}' is not valid: a GUID.")
        props = body.get("properties") or {}
        role = props.get("roleDefinitionId") or ""
        principal = props.get("principalId") or ""
        if not role or not principal:
            raise ArmError(400, "InvalidRequestContent", "roleDefinitionId and principalId are required.")
        if old and (old["body"]["properties"]["principalId"], old["body"]["properties"]["roleDefinitionId"]) != (
            principal,
            role,
        ):
            # https://learn.microsoft.com/azure/role-based-access-control/troubleshooting#symptom---role-assignment-update-is-not-allowed
            raise ArmError(
                400,
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            )
        scope = getattr(ident, "scope", None) or rid.rsplit("/providers/Microsoft.Authorization/", 1)[0]
        out = self.common(rid, name, body, None)
        created = old["body"]["properties"]["createdOn"] if old else now_iso()
        out["properties"] = {
            "roleDefinitionId": role,
            "principalId": principal,
            "principalType": props.get("principalType") or "ServicePrincipal",
            "scope": scope,
            # read-only RoleAssignmentProperties (Microsoft.Authorization 2022-04-01 RoleAssignmentsCalls.json)
            "createdOn": created,
            "updatedOn": now_iso(),
        }
        # when it takes effect (wall clock, kept across restarts): see ROLE_PROPAGATION_S
        effective_at = old["private"].get("effective_at") if old else None
        if effective_at is None:
            effective_at = time.time() + mgr.s.role_propagation_s * mgr.s.runtime.time_scale
        return {"id": rid, "body": out, "private": {"effective_at": effective_at}}


def principal_of(mgr, identity_id):
    rec = mgr.get_record(identity_id or "")
    return rec["private"]["principalId"] if rec and rec["type"] == UserAssignedIdentities.type else None


def holds_role(mgr, principal_id, role_id, scope_id):
    """True when the principal holds the role at scope_id or a scope above it (assignments are
    inherited by child scopes: https://learn.microsoft.com/azure/role-based-access-control/scope-overview)
    by an assignment that has taken effect (ROLE_PROPAGATION_S after it was made)."""
    scope = scope_id.lower()
    with mgr.lock:
        for r in mgr.res.values():
            if r["type"] != RoleAssignments.type:
                continue
            p = r["body"]["properties"]
            if p["principalId"] != principal_id or not p["roleDefinitionId"].lower().endswith("/" + role_id):
                continue
            at = p["scope"].lower().rstrip("/")
            in_effect = time.time() >= (r.get("private") or {}).get("effective_at", 0.0)
            if in_effect and (scope == at or scope.startswith(at + "/")):
                return True
    return False
