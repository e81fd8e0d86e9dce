"""Microsoft.Storage: storage accounts (keys, listKeys, regenerateKey), the file service and file
shares as Azure returns them (azure-rest-api-specs Microsoft.Storage 2025-06-01).
https://learn.microsoft.com/rest/api/storagerp/"""

import base64
import copy
import os
import re
import shutil
import uuid

from ..errors import ArmError, bad_request
from ..http import json_response
from ..ids import now_iso
from .base import Kind


class StorageAccounts(Kind):
    type = "Microsoft.Storage/storageAccounts"
    api_versions = ("2025-06-01", "2025-01-01", "2024-01-01", "2023-05-01", "2023-01-01", "2022-09-01")

    def put(self, mgr, ident, rid, body, old, g):
        name = ident.names[0]
        if not re.fullmatch(r"[a-z0-9]{3,24}", name):
            raise ArmError(
                400,
                "AccountNameInvalid",
                f"{name} is not a valid storage account name. Storage account "
                "name must be between 3 and 24 characters in length and use numbers and lower-case "
                "letters only.",
            )
        for r in mgr.res.values():
            if r["type"] == self.type and r["body"]["name"] == name and r["id"].lower() != rid.lower():
                raise ArmError(409, "StorageAccountAlreadyTaken", f"The storage account named {name} is already taken.")
        loc = self.location(body, g)
        sku = (body.get("sku") or {}).get("name")
        kind = body.get("kind")
        if not sku:
            raise ArmError(400, "InvalidRequestPropertyValue", "The value of the property 'sku' is required.")
        if not kind:
            raise ArmError(400, "InvalidRequestPropertyValue", "The value of the property 'kind' is required.")
        if old and old["body"]["location"] != loc:
            raise ArmError(
                409,
                "InvalidResourceLocation",
                f"The resource '{name}' already exists in location '{old['body']['location']}' in "
                f"resource group '{g['name']}'. A resource with the same name cannot be created in "
                f"location '{loc}'. Please select a new resource name.",
            )
        props_in = body.get("properties") or {}
        private = (
            old["private"]
            if old
            else {
                "keys": [
                    {
                        "keyName": k,
                        "value": base64.b64encode(os.urandom(64)).decode(),
                        "permissions": "FULL",
                        "creationTime": now_iso(),
                    }
                    for k in ("key1", "key2")
                ],
                "created": now_iso(),
            }
        )
        url = mgr.s.url
        props = {
            "provisioningState": "Succeeded",
            "creationTime": private["created"],
            "primaryLocation": loc,
            "statusOfPrimary": "available",
            "primaryEndpoints": {
                "blob": f"{url}/{name}-blob/",
                "queue": f"{url}/{name}-queue/",
                "table": f"{url}/{name}-table/",
                "file": f"{url}/{name}/",
                "dfs": f"{url}/{name}-dfs/",
                "web": f"{url}/{name}-web/",
            },
            "accessTier": props_in.get("accessTier", "Hot"),
            "supportsHttpsTrafficOnly": props_in.get("supportsHttpsTrafficOnly", True),
            "minimumTlsVersion": props_in.get("minimumTlsVersion", "TLS1_0"),
            "allowBlobPublicAccess": props_in.get("allowBlobPublicAccess", False),
            "allowSharedKeyAccess": props_in.get("allowSharedKeyAccess", True),
            "networkAcls": props_in.get("networkAcls")
            or {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [], "defaultAction": "Allow"},
            "encryption": {
                "services": {
                    "file": {"keyType": "Account", "enabled": True},
                    "blob": {"keyType": "Account", "enabled": True},
                },
                "keySource": "Microsoft.Storage",
            },
            "keyCreationTime": {"key1": private["keys"][0]["creationTime"], "key2": private["keys"][1]["creationTime"]},
        }
        if props_in.get("largeFileSharesState"):
            props["largeFileSharesState"] = props_in["largeFileSharesState"]
        out = self.common(rid, name, body, loc)
        out.update(
            {
                "kind": kind,
                "sku": {"name": sku, "tier": "Premium" if sku.startswith("Premium") else "Standard"},
                "properties": props,
            }
        )
        return {"id": rid, "body": out, "private": private}

    def request_shape(self, mgr, rec):
        b = self.view(mgr, rec)
        return {k: b[k] for k in ("location", "tags", "kind", "sku", "properties") if k in b}

    def action(self, mgr, rec, name, req):
        if name.lower() == "listkeys" and req.method == "POST":
            return json_response(200, {"keys": copy.deepcopy(rec["private"]["keys"])})
        if name.lower() == "regeneratekey" and req.method == "POST":
            key_name = (req.json() or {}).get("keyName")
            for k in rec["private"]["keys"]:
                if k["keyName"] == key_name:
                    k["value"] = base64.b64encode(os.urandom(64)).decode()
                    k["creationTime"] = now_iso()
                    mgr.save()
                    return json_response(200, {"keys": copy.deepcopy(rec["private"]["keys"])})
            raise bad_request("InvalidValuesForRequestParameters", f"Key name '{key_name}' is not valid.")
        return super().action(mgr, rec, name, req)

    def list_keys(self, _mgr, rec):
        return {"keys": copy.deepcopy(rec["private"]["keys"])}

    def delete(self, mgr, rec):
        shutil.rmtree(mgr.s.state_dir / "shares" / rec["body"]["name"], ignore_errors=True)


class FileServices(Kind):
    type = "Microsoft.Storage/storageAccounts/fileServices"
    api_versions = StorageAccounts.api_versions
    tracked = False

    def _check(self, ident):
        if ident.names[-1] != "default":
            raise ArmError(
                400, "InvalidRequestUri", f"The file service name must be 'default', not '{ident.names[-1]}'."
            )

    def implicit(self, mgr, ident, rid):
        if ident.names[-1] != "default":
            return None
        acct = rid.rsplit("/fileServices/", 1)[0]
        if mgr.get_record(acct) is None:
            return None
        return {
            "id": rid,
            "type": self.type,
            "body": {
                "id": rid,
                "name": "default",
                "type": self.type,
                "sku": {"name": "Standard_LRS", "tier": "Standard"},
                "properties": {"cors": {"corsRules": []}, "shareDeleteRetentionPolicy": {"enabled": True, "days": 7}},
            },
            "private": {},
        }

    def put(self, mgr, ident, rid, body, old, g):
        self._check(ident)
        rec = self.implicit(mgr, ident, rid)
        if body.get("properties"):
            rec["body"]["properties"].update(body["properties"])
        return rec


class Shares(Kind):
    type = "Microsoft.Storage/storageAccounts/fileServices/shares"
    api_versions = StorageAccounts.api_versions
    tracked = False

    def put(self, mgr, ident, rid, body, old, g):
        account, svc, share = ident.names
        if svc != "default":
            raise ArmError(400, "InvalidRequestUri", f"The file service name must be 'default', not '{svc}'.")
        if not re.fullmatch(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]", share):
            raise ArmError(
                400,
                "InvalidRequestPropertyValue",
                f"The specified share name '{share}' is not valid: 3-63 lower-case letters, numbers and "
                "single hyphens, starting and ending with a letter or number.",
            )
        props_in = body.get("properties") or {}
        quota = props_in.get("shareQuota", 5120)
        if not isinstance(quota, int) or not 1 <= quota <= 102400:
            raise ArmError(
                400, "InvalidRequestPropertyValue", f"The shareQuota value '{quota}' is not valid (1-102400)."
            )
        props = {
            "lastModifiedTime": now_iso(),
            "shareQuota": quota,
            "enabledProtocols": props_in.get("enabledProtocols", "SMB"),
            "accessTier": props_in.get("accessTier", "TransactionOptimized"),
            "accessTierChangeTime": old["body"]["properties"].get("accessTierChangeTime") if old else now_iso(),
            "leaseStatus": "unlocked",
            "leaseState": "available",
            "deleted": False,
            "remainingRetentionDays": 0,
            "metadata": props_in.get("metadata") or {},
        }
        if props_in.get("metadata") is None:
            props.pop("metadata")
        out = {
            "id": rid,
            "name": share,
            "type": self.type,
            "etag": f'"0x{uuid.uuid4().hex[:15].upper()}"',
            "properties": props,
        }
        mgr.s.share_dir(account, share).mkdir(parents=True, exist_ok=True)
        return {"id": rid, "body": out, "private": {}}

    def request_shape(self, mgr, rec):
        p = rec["body"]["properties"]
        return {"properties": {k: p[k] for k in ("shareQuota", "enabledProtocols", "accessTier", "metadata") if k in p}}

    def delete(self, mgr, rec):
        account = rec["id"].split("/storageAccounts/")[1].split("/")[0]
        shutil.rmtree(mgr.s.share_dir(account, rec["body"]["name"]), ignore_errors=True)
