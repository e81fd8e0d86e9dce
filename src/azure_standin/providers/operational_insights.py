"""Microsoft.OperationalInsights: Log Analytics workspaces and their shared keys
(azure-rest-api-specs Microsoft.OperationalInsights 2025-02-01).
https://learn.microsoft.com/rest/api/loganalytics/workspaces"""

import base64
import copy
import os
import re
import uuid

from ..errors import ArmError
from ..http import json_response
from ..ids import now_iso
from .base import Kind


class Workspaces(Kind):
    type = "Microsoft.OperationalInsights/workspaces"
    api_versions = ("2025-02-01", "2023-09-01", "2022-10-01", "2021-06-01", "2020-08-01")

    def put(self, mgr, ident, rid, body, old, g):
        name = ident.names[0]
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]", name):
            raise ArmError(
                400, "BadRequest", f"Workspace name '{name}' is not valid: 4-63 letters, digits and hyphens."
            )
        loc = self.location(body, g)
        private = (
            old["private"]
            if old
            else {
                "customerId": str(uuid.uuid4()),
                "created": now_iso(),
                "keys": {
                    "primarySharedKey": base64.b64encode(os.urandom(64)).decode(),
                    "secondarySharedKey": base64.b64encode(os.urandom(64)).decode(),
                },
            }
        )
        pin = body.get("properties") or {}
        props = {
            "provisioningState": "Succeeded",
            "customerId": private["customerId"],
            "sku": {"name": (pin.get("sku") or {}).get("name", "PerGB2018"), "lastSkuUpdate": private["created"]},
            "retentionInDays": pin.get("retentionInDays", 30),
            "features": {"legacy": 0, "searchVersion": 1, "enableLogAccessUsingOnlyResourcePermissions": True},
            "workspaceCapping": {
                "dailyQuotaGb": -1.0,
                "quotaNextResetTime": now_iso(),
                "dataIngestionStatus": "RespectQuota",
            },
            "publicNetworkAccessForIngestion": pin.get("publicNetworkAccessForIngestion", "Enabled"),
            "publicNetworkAccessForQuery": pin.get("publicNetworkAccessForQuery", "Enabled"),
            "createdDate": private["created"],
            "modifiedDate": now_iso(),
        }
        out = self.common(rid, name, body, loc)
        out["properties"] = props
        out["etag"] = f'"{uuid.uuid4()}"'
        return {"id": rid, "body": out, "private": private}

    def request_shape(self, mgr, rec):
        b = self.view(mgr, rec)
        p = b["properties"]
        return {
            "location": b["location"],
            "tags": b["tags"],
            "properties": {"sku": {"name": p["sku"]["name"]}, "retentionInDays": p["retentionInDays"]},
        }

    def action(self, mgr, rec, name, req):
        if name.lower() in ("sharedkeys", "listkeys") and req.method == "POST":
            return json_response(200, copy.deepcopy(rec["private"]["keys"]))
        return super().action(mgr, rec, name, req)

    def list_keys(self, _mgr, rec):
        return copy.deepcopy(rec["private"]["keys"])
