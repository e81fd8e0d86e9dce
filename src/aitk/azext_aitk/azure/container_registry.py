"""Azure Container Registry (management plane, the azure-mgmt-containerregistry SDK az ships, with
the calls and models `az acr create` / `az acr import` use): find a registry in the subscription,
check a name, create one, import an image server-side (a long-running POST .../importImage).
https://learn.microsoft.com/rest/api/containerregistry/registries"""

from knack.log import get_logger

from ..core.provision import image_registry
from ..core.workspace import PROVISIONED_TAG as _TAG
from . import api_versions, resource_ids

logger = get_logger(__name__)

REGISTRY_TYPE = "Microsoft.ContainerRegistry/registries"
IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
ROLE_ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments"


def find(cli_ctx, subscription_id, name):
    """core.image_registry.Found for the registry of that name (any case) in the subscription, else None."""
    from .._client_factory import cf_container_registry

    for registry in cf_container_registry(cli_ctx, subscription_id).registries.list():
        if (registry.name or "").lower() == name.lower():
            return image_registry.Found(
                resource_ids.group_of(registry.id),
                registry.location,
                registry.login_server,
                (registry.tags or {}).get(PROVISIONED_TAG) == PROVISIONED_VALUE,
                _sku_name(registry),
            )
    return None


def _sku_name(registry):
    """ "Basic", "Standard" or "Premium" (the SDK's SkuName is a str enum: its value, not its repr)."""
    name = getattr(getattr(registry, "sku", None), "name", None)
    return str(getattr(name, "value", name) or "")


# The tag every resource a provision creates carries (templates/inference.bicep): delete finds them by it.
PROVISIONED_TAG, PROVISIONED_VALUE = _TAG


def name_availability(cli_ctx, subscription_id, name):
    """(available, reason, message) from Registries_CheckNameAvailability."""
    from azure.mgmt.containerregistry.models import RegistryNameCheckRequest

    from .._client_factory import cf_container_registry

    answer = cf_container_registry(cli_ctx, subscription_id).registries.check_name_availability(
        RegistryNameCheckRequest(name=name, type=REGISTRY_TYPE)
    )
    return bool(answer.name_available), answer.reason, answer.message


def create(cli_ctx, subscription_id, group, name, location, *, sku=image_registry.SKU):
    """Create the registry (tier `sku`: core.image_registry.SKU, or STREAMING_SKU for artifact
    streaming; no admin user, tagged aitkProvisioned); returns its login server."""
    from azure.mgmt.containerregistry.models import Registry, Sku

    from .._client_factory import cf_container_registry

    registry = Registry(
        location=location,
        sku=Sku(name=sku),
        tags={PROVISIONED_TAG: PROVISIONED_VALUE},
    )
    registry.admin_user_enabled = False
    poller = cf_container_registry(cli_ctx, subscription_id).registries.begin_create(group, name, registry)
    return poller.result().login_server


def import_image(cli_ctx, subscription_id, group, name, source):
    """Import core.image_registry.SourceImage `source` as source.target, mode NoForce as `az acr
    import` without --force (azure-cli acr/import.py); True when imported, False when the tag was
    there already (the import then copies nothing)."""
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.containerregistry.models import ImportImageParameters, ImportMode, ImportSource

    from .._client_factory import cf_container_registry

    parameters = ImportImageParameters(
        source=ImportSource(registry_uri=source.registry, source_image=source.target),
        target_tags=[source.target],
        mode=ImportMode.NO_FORCE,
    )
    client = cf_container_registry(cli_ctx, subscription_id).registries
    try:
        client.begin_import_image(group, name, parameters).result()
    except HttpResponseError as ex:
        if image_registry.tag_already_there(str(ex)):
            return False
        raise
    return True


def image_pull_resources(cli_ctx, subscription_id, app):
    """[{"id", "type", "provisioned": provision made it}] in deletion order: the registries (of the
    subscription) and user-assigned identities the container app's configuration.registries name
    (ARM JSON of the app), and the AcrPull roles of an identity that goes on a registry that stays."""
    from . import arm

    entries = ((app.get("properties") or {}).get("configuration") or {}).get("registries") or []
    servers = {(e.get("server") or "").lower() for e in entries}
    identities = {e["identity"] for e in entries if (e.get("identity") or "").startswith("/")}
    registries, roles, out = [], [], []
    if servers:
        from .._client_factory import cf_container_registry

        for registry in cf_container_registry(cli_ctx, subscription_id).registries.list():
            if (registry.login_server or "").lower() in servers:
                ours = (registry.tags or {}).get(PROVISIONED_TAG) == PROVISIONED_VALUE
                registries.append({"id": registry.id, "type": REGISTRY_TYPE, "provisioned": ours})
    for identity_id in sorted(identities):
        found = arm.get(cli_ctx, identity_id, api_versions.MANAGED_IDENTITY) or {}
        ours = (found.get("tags") or {}).get(PROVISIONED_TAG) == PROVISIONED_VALUE
        out.append({"id": identity_id, "type": IDENTITY_TYPE, "provisioned": ours})
        principal = (found.get("properties") or {}).get("principalId")
        for registry in registries:
            if ours and principal and not registry["provisioned"]:  # left behind, it would read "Identity not found"
                roles += [
                    {"id": a["id"], "type": ROLE_ASSIGNMENT_TYPE, "provisioned": True}
                    for a in _role_assignments(cli_ctx, registry["id"], principal)
                ]
    return roles + registries + out


def acr_pull_granted_at(cli_ctx, subscription_id, app):
    """createdOn of every AcrPull role assignment that the identities in the app's
    configuration.registries hold on those registries (ARM JSON of the app): when a pull was allowed."""
    from ..core.monitor.pull_authorization import ACR_PULL_ROLE_ID
    from . import arm

    entries = ((app.get("properties") or {}).get("configuration") or {}).get("registries") or []
    servers = {(e.get("server") or "").lower() for e in entries if e.get("identity")}
    if not servers:
        return []
    from .._client_factory import cf_container_registry

    registry_ids = [
        r.id
        for r in cf_container_registry(cli_ctx, subscription_id).registries.list()
        if (r.login_server or "").lower() in servers
    ]
    out = []
    for identity_id in {e["identity"] for e in entries if (e.get("identity") or "").startswith("/")}:
        principal = ((arm.get(cli_ctx, identity_id, api_versions.MANAGED_IDENTITY) or {}).get("properties") or {}).get(
            "principalId"
        )
        for registry_id in registry_ids if principal else []:
            for a in _role_assignments(cli_ctx, registry_id, principal):
                props = a.get("properties") or {}
                if str(props.get("roleDefinitionId") or "").lower().endswith("/" + ACR_PULL_ROLE_ID):
                    out.append(str(props.get("createdOn") or ""))
    return out


def _role_assignments(cli_ctx, scope, principal_id):
    """The role assignments of a principal on a scope (Role Assignments - List For Scope).
    https://learn.microsoft.com/rest/api/authorization/role-assignments/list-for-scope"""
    from . import arm

    path = f"{scope}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{principal_id}'"
    return arm.list_all(cli_ctx, path, api_versions.AUTHORIZATION)


# -- artifact streaming (the registry's data plane, https://<loginServer>) ---------------------
# The calls `az acr artifact-streaming create` and `update --enable-streaming true` make (azure-cli
# acr/artifact_streaming.py and _docker_utils.py), with az's own sign-in: an Entra token for ACR's
# audience exchanged for a registry refresh token, then an access token for the repository.
# https://learn.microsoft.com/azure/container-registry/container-registry-artifact-streaming
ACR_AUDIENCE = "https://containerregistry.azure.net"
_ONGOING = ("NotStarted", "Running")
_CONVERSION = {"conversionFormat": "overlaybd", "conversionVersion": "v1"}


class DataPlaneError(Exception):
    """A refusal of the registry's data plane: `status` and ACR's message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _check(response):
    if response.status_code < 300:
        return response
    try:
        error = (response.json().get("errors") or [{}])[0]
        message = f"{error.get('code')}: {error.get('message')}"
    except (ValueError, AttributeError, IndexError):
        message = response.text[:200] or response.reason
    raise DataPlaneError(response.status_code, message)


def _data_plane_session(cli_ctx, subscription_id, login_server, repository):
    """A requests session holding a registry access token for the repository (pull, push)."""
    import re

    import requests
    from azure.cli.core._profile import Profile

    session = requests.Session()
    base = f"https://{login_server}"
    challenge = session.get(f"{base}/v2/", timeout=60)
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge.headers.get("WWW-Authenticate") or ""))
    if challenge.status_code != 401 or "realm" not in params:
        raise DataPlaneError(challenge.status_code, f"{login_server} did not ask for a bearer token")
    (_, entra_token, _), _, tenant = Profile(cli_ctx=cli_ctx).get_raw_token(
        subscription=subscription_id, resource=ACR_AUDIENCE
    )
    refresh = _check(
        session.post(
            f"{base}/oauth2/exchange",
            data={
                "grant_type": "access_token",
                "service": params.get("service", login_server),
                "tenant": tenant,
                "access_token": entra_token,
            },
            timeout=60,
        )
    ).json()["refresh_token"]
    access = _check(
        session.post(
            f"{base}/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "service": login_server,
                "scope": f"repository:{repository}:pull,push",
                "refresh_token": refresh,
            },
            timeout=60,
        )
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {access}"
    return session, base


def start_streaming(cli_ctx, subscription_id, login_server, repository, tag):
    """Artifact streaming for repository:tag: its streaming artifact (a conversion started unless one
    exists or runs) and the repository's auto-conversion on. Returns {"digest", "status", "operation"}:
    status "Succeeded" when the streaming artifact is there. DataPlaneError when ACR refuses."""
    from ..core.provision.image_registry import STREAMING_ARTIFACT_TYPE

    session, base = _data_plane_session(cli_ctx, subscription_id, login_server, repository)
    digest = _check(session.get(f"{base}/acr/v1/{repository}/_tags/{tag}", timeout=60)).json()["tag"]["digest"]
    referrers = _check(
        session.get(
            f"{base}/v2/{repository}/referrers/{digest}", params={"artifactType": STREAMING_ARTIFACT_TYPE}, timeout=60
        )
    ).json()
    if referrers.get("manifests"):
        state = {"digest": digest, "status": "Succeeded", "operation": None}
    else:
        last = session.get(f"{base}/acr/v1/{repository}/_streaming/{digest}", timeout=60)
        op = last.json() if last.status_code == 200 else None
        if not op or op.get("status") not in _ONGOING:
            op = _check(
                session.post(f"{base}/acr/v1/{repository}/_streaming/{digest}", json=_CONVERSION, timeout=60)
            ).json()
        state = {"digest": digest, "status": op.get("status"), "operation": op.get("id")}
    _check(
        session.post(
            f"{base}/acr/v1/{repository}/_streaming", json={"convertPushedImages": True, **_CONVERSION}, timeout=60
        )
    )
    return state
