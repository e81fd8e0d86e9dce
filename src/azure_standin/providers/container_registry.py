"""Microsoft.ContainerRegistry: registries (name rules, global name uniqueness,
checkNameAvailability) and importImage, the server-side copy `az acr import` asks for
(azure-rest-api-specs specification/containerregistry, Registries_ImportImage, ImportImageParameters).
https://learn.microsoft.com/rest/api/containerregistry/registries"""

import re
import threading
import time
import uuid

from ..errors import ArmError
from ..http import Response, json_response
from ..ids import now_iso
from .base import Kind

# Registry names: 5-50 alphanumerics, globally unique; the login server is the lower-cased name.
# https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftcontainerregistry
NAME_RULE = re.compile(r"[A-Za-z0-9]{5,50}")
# The stand-in's login server suffix: its cloud's suffixes.acrLoginServer (server.cloud_metadata).
LOGIN_SERVER_SUFFIX = "azurecr.standin.local"
# Basic, Standard, Premium (https://learn.microsoft.com/azure/container-registry/container-registry-skus)
SKUS = ("Basic", "Standard", "Premium")
# An import takes this long (Azure seconds, times the runtime's time_scale): long enough that a
# client must poll the operation, as `az acr import` does.
IMPORT_SECONDS = 2.0


def login_server(name):
    return f"{name.lower()}.{LOGIN_SERVER_SUFFIX}"


def _name_invalid(name):
    return ArmError(
        400,
        "RegistryNameInvalid" if name else "InvalidParameter",
        f"The registry name '{name}' is invalid: a registry name must be 5 to 50 alphanumeric characters.",
    )


def _taken(mgr, name, rid=None):
    """A registry of that name exists, in this subscription (another id) or elsewhere (the
    stand-in's taken_registry_names: names other Azure customers hold)."""
    if name.lower() in {n.lower() for n in getattr(mgr.s, "taken_registry_names", ())}:
        return True
    with mgr.lock:
        return any(
            r["type"] == Registries.type
            and r["body"]["name"].lower() == name.lower()
            and (rid is None or r["id"].lower() != rid.lower())
            for r in mgr.res.values()
        )


class Registries(Kind):
    type = "Microsoft.ContainerRegistry/registries"
    api_versions = ("2026-09-01-preview", "2025-04-01", "2023-07-01", "2023-01-01-preview", "2019-05-01")

    def put(self, mgr, ident, rid, body, old, g):
        name = ident.names[0]
        if not NAME_RULE.fullmatch(name):
            raise _name_invalid(name)
        if old is None and _taken(mgr, name, rid):
            # https://learn.microsoft.com/azure/container-registry/container-registry-get-started-portal
            # ("The registry name must be unique within Azure")
            raise ArmError(
                409,
                "AlreadyInUse",
                f"The registry {name} is already in use.",
            )
        loc = self.location(body, g)
        if old and old["body"]["location"] != loc:
            raise ArmError(
                409,
                "InvalidResourceLocation",
                f"The resource '{name}' already exists in location '{old['body']['location']}' in resource group "
                f"'{g['name']}'. A resource with the same name cannot be created in location '{loc}'.",
            )
        sku = (body.get("sku") or {}).get("name")
        if sku not in SKUS:
            raise ArmError(400, "InvalidSku", f"The sku '{sku}' is invalid: one of {', '.join(SKUS)}.")
        pin = body.get("properties") or {}
        private = old["private"] if old else {"created": now_iso(), "tags": {}}
        out = self.common(rid, name, body, loc)
        out["sku"] = {"name": sku, "tier": sku}
        out["properties"] = {
            "loginServer": login_server(name),
            "creationDate": private["created"],
            "provisioningState": "Succeeded",
            "adminUserEnabled": bool(pin.get("adminUserEnabled", False)),
            "publicNetworkAccess": pin.get("publicNetworkAccess", "Enabled"),
            "anonymousPullEnabled": False,
            "zoneRedundancy": "Disabled",
        }
        return {"id": rid, "body": out, "private": private}

    def request_shape(self, mgr, rec):
        b = self.view(mgr, rec)
        return {"location": b["location"], "tags": b["tags"], "sku": {"name": b["sku"]["name"]}}

    def action(self, mgr, rec, name, req):
        if name.lower() == "importimage" and req.method == "POST":
            return start_import(mgr, rec, req)
        return super().action(mgr, rec, name, req)


def repository_tags(rec):
    """{repository: [tags]} of a registry record (what imports left there)."""
    return rec["private"].get("tags") or {}


def has_image(mgr, image):
    """True when `image` (loginServer/repo:tag) names a tag imported into a registry of the stand-in."""
    server, _, rest = (image or "").partition("/")
    repo, _, tag = rest.rpartition(":")
    with mgr.lock:
        for r in mgr.res.values():
            if r["type"] == Registries.type and r["body"]["properties"]["loginServer"] == server.lower():
                return tag in repository_tags(r).get(repo, [])
    return False


def registry_of_server(mgr, server):
    with mgr.lock:
        for r in mgr.res.values():
            if r["type"] == Registries.type and r["body"]["properties"]["loginServer"] == (server or "").lower():
                return r
    return None


# -- importImage (long-running) ------------------------------------------------------------
_OPS = {}  # operation id -> {"done_at", "status", "error"}
_OPS_LOCK = threading.Lock()


def start_import(mgr, rec, req):
    """Registries_ImportImage: 202 + Azure-AsyncOperation; the tags appear when it succeeds.
    mode NoForce: "any existing target tags will fail the operation before any copying begins"
    (ImportMode in the REST spec); the failure reads "Tag X already exists in target registry."
    as Azure words it (seen in Azure/azure-cli#10938)."""
    params = req.json() or {}
    source = params.get("source") or {}
    src_image = source.get("sourceImage")
    if not src_image or not (source.get("registryUri") or source.get("resourceId")):
        raise ArmError(400, "InvalidParameter", "The source must name sourceImage and registryUri or resourceId.")
    targets = params.get("targetTags") or [src_image.split("@", 1)[0]]
    mode = params.get("mode") or "NoForce"
    tags = rec["private"].setdefault("tags", {})
    error = None
    for target in targets:
        repo, _, tag = target.rpartition(":")
        if not repo:
            repo, tag = target, "latest"
        if mode == "NoForce" and tag in tags.get(repo, []):
            error = {"code": "Conflict", "message": f"Tag {target} already exists in target registry."}
            break
    if error is None:
        error = _docker_hub_refusal(mgr, source)
    if error is None:
        for target in targets:
            repo, _, tag = target.rpartition(":")
            if not repo:
                repo, tag = target, "latest"
            if tag not in tags.setdefault(repo, []):
                tags[repo].append(tag)
        rec["private"].setdefault("imports", []).append(
            {"source": f"{source.get('registryUri') or source.get('resourceId')}/{src_image}", "targets": targets}
        )
        mgr.save()
    opid = f"registries-{uuid.uuid4()}"
    with _OPS_LOCK:
        _OPS[opid] = {"done_at": time.monotonic() + mgr.s.runtime.seconds(IMPORT_SECONDS), "error": error}
    loc = rec["body"]["location"]
    url = (
        f"{mgr.s.url}/subscriptions/{mgr.s.subscription_id}/providers/Microsoft.ContainerRegistry/locations/{loc}"
        f"/operationResults/{opid}?api-version={req.query.get('api-version')}"
    )
    return Response(202, {"Azure-AsyncOperation": url, "Location": url, "Retry-After": "1"}, b"")


# Docker Hub limits pulls, and an import from docker.io without `source.credentials` is anonymous:
# "Docker Hub has rate limits on pulls by anonymous and authenticated users" ... import with
# credentials or from another registry
# (https://learn.microsoft.com/azure/container-registry/buffer-gate-public-content).
# The refusal is Docker's own text (https://docs.docker.com/docker-hub/usage/, "toomanyrequests");
# ACR reports it in the import operation's error (its code is not documented: InvalidParameters here).
# StandIn.docker_hub_anonymous_pulls_left: None = no limit reached; a number = pulls left, then refused.
DOCKER_HUB_HOSTS = ("docker.io", "registry-1.docker.io", "index.docker.io")
TOO_MANY_REQUESTS = (
    "toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit"
)


def _docker_hub_refusal(mgr, source):
    if (source.get("registryUri") or "").lower() not in DOCKER_HUB_HOSTS or source.get("credentials"):
        return None
    with _OPS_LOCK:
        left = getattr(mgr.s, "docker_hub_anonymous_pulls_left", None)
        if left is None:
            return None
        if left > 0:
            mgr.s.docker_hub_anonymous_pulls_left = left - 1
            return None
    return {"code": "InvalidParameters", "message": f"Error copying image from docker.io: {TOO_MANY_REQUESTS}"}


def provider_route(mgr, req, rest):  # pylint: disable=too-many-return-statements  # one return per answer
    """Subscription-level routes: POST checkNameAvailability and the import operations' status.
    rest: the path after /providers/Microsoft.ContainerRegistry."""
    low = [p.lower() for p in rest]
    if low == ["checknameavailability"] and req.method == "POST":
        # Registries_CheckNameAvailability: {nameAvailable, reason, message}
        name = (req.json() or {}).get("name") or ""
        if not NAME_RULE.fullmatch(name):
            return json_response(
                200,
                {"nameAvailable": False, "reason": "Invalid", "message": _name_invalid(name).message},
            )
        if _taken(mgr, name):
            return json_response(
                200,
                {
                    "nameAvailable": False,
                    "reason": "AlreadyExists",
                    "message": f"The registry {name} is already in use.",
                },
            )
        return json_response(200, {"nameAvailable": True})
    if len(low) == 4 and low[0] == "locations" and low[2] == "operationresults" and req.method == "GET":
        with _OPS_LOCK:
            op = _OPS.get(rest[3])
        if op is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{rest[3]}' was not found.")
        if time.monotonic() < op["done_at"]:
            return json_response(200, {"status": "InProgress"}, {"Retry-After": "1"})
        if op["error"]:
            return json_response(200, {"status": "Failed", "error": op["error"]})
        return json_response(200, {"status": "Succeeded", "endTime": now_iso()})
    return None
