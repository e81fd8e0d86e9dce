"""Microsoft.ContainerRegistry: registries (name rules, global name uniqueness,
checkNameAvailability) and importImage, the server-side copy `az acr import` asks for
(azure-rest-api-specs specification/containerregistry, Registries_ImportImage, ImportImageParameters).
https://learn.microsoft.com/rest/api/containerregistry/registries"""

import hashlib
import re
import threading
import time
import uuid
from urllib.parse import parse_qsl

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


# -- the registry's data plane (https://<loginServer>): sign-in, tags, referrers, artifact streaming ---
# Reached through StandIn's CONNECT tunnel (server.py, `proxy_url`): a client names the login server
# as in Azure, the tunnel stands in for DNS. Sources:
# - sign-in: ACR's AAD token exchange, as az does it (azure-cli acr/_docker_utils.py): GET /v2/ answers
#   401 with `WWW-Authenticate: Bearer realm="https://<ls>/oauth2/token",service="<ls>"`; POST
#   /oauth2/exchange (grant_type=access_token, service, tenant, access_token: an Entra token) gives a
#   refresh_token; POST /oauth2/token (grant_type=refresh_token, service, scope, refresh_token) an
#   access_token (https://learn.microsoft.com/azure/container-registry/container-registry-authentication,
#   "Microsoft Entra authentication" / azure/acr docs AAD-OAuth.md).
# - tags: GET /acr/v1/<repo>/_tags/<tag> -> {"registry", "imageName", "tag": {"name", "digest", ...}}
#   (Container Registry data plane REST, "Get Tag Properties"); referrers: GET /v2/<repo>/referrers/<digest>
#   ?artifactType=... -> an OCI image index (OCI distribution spec, "Listing Referrers").
# - artifact streaming (https://learn.microsoft.com/azure/container-registry/container-registry-artifact-streaming;
#   the paths and fields are the ones `az acr artifact-streaming` sends and reads, azure-cli
#   acr/artifact_streaming.py): POST /acr/v1/<repo>/_streaming/<digest> {"conversionFormat": "overlaybd",
#   "conversionVersion": "v1"} starts a conversion (202, an operation {"id", "status", "progress"});
#   GET of that path is the last operation for the digest; GET /acr/v1/<repo>/_operations/<id> its state
#   (NotStarted, Running, Succeeded, Failed, Canceled); on success a streaming artifact (artifactType
#   application/vnd.azure.artifact.streaming.v1) refers to the image: "the original and the streaming
#   artifact" are both stored. GET/POST /acr/v1/<repo>/_streaming: the repository's auto-conversion
#   ({"convertPushedImages", "conversionFormat", "conversionVersion"}; inactive by default).
# - Premium only: "Artifact streaming is only available in the Premium service tiers"; "If the user is on
#   Basic or Standard SKUs, the following commands will fail" (Learn, above). The failure's code and text
#   are not documented: here an OCI-style {"errors": [{"code": "UNSUPPORTED", ...}]} with status 400.
# - Linux AMD64 only ("UNSUPPORTED_PLATFORM", troubleshoot-artifact-streaming): the stand-in's imports are
#   linux/amd64 (the vLLM image is), so a conversion never fails on the platform here.
STREAMING_ARTIFACT_TYPE = "application/vnd.azure.artifact.streaming.v1"
ACR_AUDIENCES = ("https://containerregistry.azure.net",)
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
# A conversion takes this long (Azure seconds, times the runtime's time_scale); Azure's take minutes
# for a large image, the stand-in keeps it short so a test can see it finish.
CONVERT_SECONDS = 3.0
_DATA = {"refresh": {}, "access": {}, "streaming": {}, "ops": {}, "auto": {}}
_DATA_LOCK = threading.Lock()


def _acr_error(status, code, message, headers=None):
    return json_response(status, {"errors": [{"code": code, "message": message, "detail": None}]}, headers)


def _form(req):
    return dict(parse_qsl(req.body.decode("utf-8", "replace")))


def _challenge(host):
    realm = f'Bearer realm="https://{host}/oauth2/token",service="{host}"'
    return _acr_error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": realm})


def _digest_of(rec, repo, tag):
    return "sha256:" + hashlib.sha256(f"{rec['id'].lower()}|{repo}|{tag}".encode()).hexdigest()


def _tag_of_digest(rec, repo, digest):
    return next((t for t in repository_tags(rec).get(repo, []) if _digest_of(rec, repo, t) == digest), None)


def _streaming_allowed(rec):
    sku = rec["body"]["sku"]["name"]
    if sku != "Premium":
        return _acr_error(
            400,
            "UNSUPPORTED",
            f"Artifact streaming is only available in the Premium service tier; registry "
            f"'{rec['body']['name']}' is {sku}.",
        )
    return None


def _op_view(op):
    """An operation's state now: Running until its time is up, then Succeeded (its artifact recorded)."""
    if op["status"] == "Running" and time.monotonic() >= op["done_at"]:
        op["status"], op["progress"] = "Succeeded", "100%"
    return {k: v for k, v in op.items() if k != "done_at"}


def _sign_in(mgr, req, rec):
    """The token endpoints (/oauth2/exchange, /oauth2/token), or None for another path."""
    path = req.path
    if path == "/oauth2/exchange" and req.method == "POST":
        form = _form(req)
        claims = mgr.s.entra.verify(form.get("access_token", "")) if form.get("grant_type") == "access_token" else None
        aud = str((claims or {}).get("aud") or "").rstrip("/")
        if claims is None or (aud not in ACR_AUDIENCES and aud != mgr.s.url.rstrip("/")):
            return _acr_error(401, "UNAUTHORIZED", "invalid or expired access token")
        token = f"acrrt-{uuid.uuid4().hex}"
        with _DATA_LOCK:
            _DATA["refresh"][token] = rec["id"].lower()
        return json_response(200, {"refresh_token": token})
    if path == "/oauth2/token" and req.method == "POST":
        form = _form(req)
        # grant_type refresh_token, or password with the null GUID as user and a token of the registry as
        # password: az sends the access token it already holds so (a second sign-in within one command,
        # azure-cli _docker_utils._get_token_with_username_and_password after _get_credentials), and ACR takes it.
        with _DATA_LOCK:
            if form.get("grant_type") == "password" and form.get("username") == EMPTY_GUID:
                presented = form.get("password", "")
                owner = _DATA["refresh"].get(presented) or _DATA["access"].get(presented)
            elif form.get("grant_type") == "refresh_token":
                owner = _DATA["refresh"].get(form.get("refresh_token", ""))
            else:
                owner = None
        if owner != rec["id"].lower():
            return _acr_error(401, "UNAUTHORIZED", "invalid refresh token")
        token = f"acrat-{uuid.uuid4().hex}"
        with _DATA_LOCK:
            _DATA["access"][token] = rec["id"].lower()
        return json_response(200, {"access_token": token})
    return None


def _acr_v1(mgr, req, rec, parts, host):  # pylint: disable=too-many-return-statements  # one per answer
    """/acr/v1/<repo>/_tags, _operations and _streaming (parts: the path's segments)."""
    key = rec["id"].lower()
    if "_tags" in parts and req.method == "GET":  # /acr/v1/<repo>/_tags/<tag>
        i = parts.index("_tags")
        repo, tag = "/".join(parts[2:i]), "/".join(parts[i + 1 :])
        if tag not in repository_tags(rec).get(repo, []):
            return _acr_error(404, "TAG_UNKNOWN", f"tag {tag} of {repo} not found")
        now = rec["private"].get("created")
        digest = _digest_of(rec, repo, tag)
        return json_response(
            200,
            {
                "registry": host,
                "imageName": repo,
                "tag": {"name": tag, "digest": digest, "createdTime": now, "lastUpdateTime": now},
            },
        )
    if "_operations" in parts and req.method == "GET":  # /acr/v1/<repo>/_operations/<id>
        opid = parts[-1].split(":", 1)[0]
        with _DATA_LOCK:
            op = _DATA["ops"].get(opid)
            view = _op_view(op) if op is not None and op["registry"] == key else None
        if view is None:
            return _acr_error(404, "NOT_FOUND", f"operation {opid} not found")
        return json_response(200, {k: v for k, v in view.items() if k != "registry"})
    if "_streaming" in parts:
        i = parts.index("_streaming")
        repo, rest = "/".join(parts[2:i]), parts[i + 1 :]
        if not rest:  # the repository's auto-conversion
            refused = _streaming_allowed(rec) if req.method == "POST" else None
            if refused is not None:
                return refused
            with _DATA_LOCK:
                setting = _DATA["auto"].setdefault(
                    (key, repo),
                    {"conversionFormat": "overlaybd", "conversionVersion": "v1", "convertPushedImages": False},
                )
                if req.method == "POST":
                    body = req.json() or {}
                    setting["convertPushedImages"] = bool(body.get("convertPushedImages"))
                out = dict(setting, status="Succeeded") if req.method == "POST" else dict(setting)
            return json_response(200, out)
        digest = rest[0]
        if _tag_of_digest(rec, repo, digest) is None:
            return _acr_error(404, "MANIFEST_UNKNOWN", f"manifest {digest} of {repo} not found")
        with _DATA_LOCK:
            last = _DATA["streaming"].get((key, repo, digest))
            view = _op_view(_DATA["ops"][last]) if last else None
        if req.method == "GET":
            if view is None:
                return _acr_error(404, "NOT_FOUND", f"no streaming operation for {digest}")
            return json_response(200, {k: v for k, v in view.items() if k != "registry"})
        if req.method == "POST":
            refused = _streaming_allowed(rec)
            if refused is not None:
                return refused
            op = {
                "id": str(uuid.uuid4()),
                "status": "Running",
                "progress": "0%",
                "repository": repo,
                "digest": digest,
                "registry": key,
                "done_at": time.monotonic() + mgr.s.runtime.seconds(CONVERT_SECONDS),
            }
            with _DATA_LOCK:
                _DATA["ops"][op["id"]] = op
                _DATA["streaming"][(key, repo, digest)] = op["id"]
            return json_response(202, {k: v for k, v in op.items() if k not in ("done_at", "registry")})
    return None


def _referrers(req, rec, parts):
    """/v2/<repo>/referrers/<digest>: the streaming artifact once its conversion succeeded."""
    key = rec["id"].lower()
    i = parts.index("referrers")
    repo, digest = "/".join(parts[1:i]), "/".join(parts[i + 1 :])
    wanted = req.query.get("artifactType")
    with _DATA_LOCK:
        last = _DATA["streaming"].get((key, repo, digest))
        view = _op_view(_DATA["ops"][last]) if last else None
    manifests = []
    if view is not None and view["status"] == "Succeeded" and wanted in (None, STREAMING_ARTIFACT_TYPE):
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + hashlib.sha256(view["id"].encode()).hexdigest(),
                "size": 1024,
                "artifactType": STREAMING_ARTIFACT_TYPE,
            }
        )
    return json_response(
        200,
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests},
    )


def data_plane(mgr, req, host):
    """A request to a registry's login server `host`."""
    rec = registry_of_server(mgr, host)
    if rec is None:
        return _acr_error(404, "NAME_UNKNOWN", f"registry {host} not found")
    signed = _sign_in(mgr, req, rec)
    if signed is not None:
        return signed
    path = req.path
    auth = req.headers.get("Authorization") or ""
    with _DATA_LOCK:
        owner = _DATA["access"].get(auth[7:].strip()) if auth.lower().startswith("bearer ") else None
    if owner != rec["id"].lower():
        return _challenge(host)
    if path in ("/v2/", "/v2"):
        return json_response(200, {})
    parts = path.strip("/").split("/")
    answer = None
    if parts[:2] == ["acr", "v1"] and len(parts) >= 4:
        answer = _acr_v1(mgr, req, rec, parts, host)
    elif parts[:1] == ["v2"] and "referrers" in parts and req.method == "GET":
        answer = _referrers(req, rec, parts)
    return answer if answer is not None else _acr_error(404, "NOT_FOUND", f"no route for {req.method} {path}")


def streaming_state(mgr, image):
    """(repository setting, last operation) of `image` (loginServer/repo:tag) for tests: ({} | setting,
    None | the operation's view)."""
    server, _, rest = (image or "").partition("/")
    repo, _, tag = rest.rpartition(":")
    rec = registry_of_server(mgr, server)
    if rec is None:
        return {}, None
    key = rec["id"].lower()
    with _DATA_LOCK:
        setting = dict(_DATA["auto"].get((key, repo)) or {})
        last = _DATA["streaming"].get((key, repo, _digest_of(rec, repo, tag)))
        view = _op_view(_DATA["ops"][last]) if last else None
    return setting, view
