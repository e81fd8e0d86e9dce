"""Resource Manager: subscriptions, resource groups, providers, resources and deployments."""

import copy
import json
import logging
import re
import threading

from ..errors import ArmError, missing_registration, parent_not_found, resource_not_found, rg_not_found
from ..http import Request, Response, json_response
from ..ids import LOCATIONS, Ident, norm_location
from ..providers import KINDS, container_registry
from ..providers.app import available_workload_profile_types
from .deployments import Deployments
from .operations import ASYNC_UPDATES, COLLECTIONS, AsyncOperations

log = logging.getLogger("azure_standin.arm")

NAMESPACES = [
    "Microsoft.Storage",
    "Microsoft.OperationalInsights",
    "Microsoft.App",
    "Microsoft.Resources",
    "Microsoft.ContainerService",
    "Microsoft.Insights",
    "Microsoft.Network",
    "Microsoft.Compute",
    "Microsoft.KeyVault",
    "Microsoft.ContainerRegistry",
    "Microsoft.ManagedIdentity",
    "Microsoft.Authorization",
]


class ResourceManager:  # pylint: disable=too-many-instance-attributes,too-many-public-methods  # one per part of ARM it routes to; the data planes ask it too
    """Routes ARM requests (subscriptions, resource groups, providers, resources, deployments) and keeps
    their state in state_dir/arm-state.json. https://learn.microsoft.com/rest/api/resources/"""

    def __init__(self, standin):
        self.s = standin
        self.lock = threading.RLock()
        self.groups = {}  # rg lower -> {"name","location","tags","managedBy"}
        self.res = {}  # id lower -> {"id","type","rg","body","private"}
        self.providers = {ns.lower(): [ns, True] for ns in NAMESPACES}
        self.kinds = {k.type.lower(): k for k in KINDS}
        self.deployments = Deployments(self)
        self.operations = AsyncOperations(self)
        self._load()

    # -- persistence -------------------------------------------------------------------------
    @property
    def state_path(self):
        return self.s.state_dir / "arm-state.json"

    def _load(self):
        if self.state_path.is_file():
            try:
                data = json.loads(self.state_path.read_text())
            except ValueError:
                return
            self.groups = data.get("groups", {})
            self.res = data.get("resources", {})
            for ns, reg in data.get("providers", {}).items():
                self.providers[ns.lower()] = reg
            self.deployments.load(data.get("deployments", {}))

    def save(self):
        with self.lock:
            data = {
                "groups": self.groups,
                "resources": self.res,
                "providers": self.providers,
                "deployments": self.deployments.dump(),
            }
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.chmod(0o600)
            tmp.replace(self.state_path)

    def started(self):
        # Re-apply container apps to the runtime after a restart of the stand-in.
        for rec in list(self.res.values()):
            kind = self.kinds.get(rec["type"].lower())
            if kind is not None and hasattr(kind, "resume"):
                # One app that cannot be resumed must not keep the others (or the stand-in) down.
                try:
                    kind.resume(self, rec)
                except Exception:  # pylint: disable=broad-exception-caught
                    log.exception("could not resume %s", rec["id"])

    def stopped(self):
        self.deployments.stop()

    # -- helpers for StandIn -----------------------------------------------------------------
    def set_provider(self, ns, registered):
        with self.lock:
            canon = self.providers.get(ns.lower(), [ns, False])[0]
            self.providers[ns.lower()] = [canon, bool(registered)]
            self.save()

    def create_resource_group(self, name, location="eastus"):
        with self.lock:
            g = self.groups.get(name.lower())
            if g is None:
                g = {"name": name, "location": norm_location(location), "tags": {}}
                self.groups[name.lower()] = g
                self.save()
            return self.rg_view(g)

    def storage_account(self, name):
        name = name.lower()
        with self.lock:
            for rec in self.res.values():
                if rec["type"] == "Microsoft.Storage/storageAccounts" and rec["body"]["name"] == name:
                    return rec
        return None

    def storage_key(self, account):
        rec = self.storage_account(account)
        return rec["private"]["keys"][0]["value"] if rec else None

    def share_quotas(self, account) -> dict[str, int]:
        """{share name: shareQuota} of an account's shares (Resource Manager's FileShare records)."""
        rec = self.storage_account(account)
        if rec is None:
            return {}
        prefix = (rec["id"] + "/fileServices/default/shares/").lower()
        with self.lock:
            return {
                r["body"]["name"]: int(r["body"]["properties"].get("shareQuota") or 5120)
                for k, r in self.res.items()
                if k.startswith(prefix) and "/" not in k[len(prefix) :]
            }

    def share_folder(self, account, share):
        rec = self.storage_account(account)
        if rec is None:
            return None
        sid = (rec["id"] + "/fileServices/default/shares/" + share).lower()
        with self.lock:
            if sid not in self.res:
                return None
        path = self.s.share_dir(rec["body"]["name"], self.res[sid]["body"]["name"])
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- views -------------------------------------------------------------------------------
    def rg_id(self, g):
        return f"/subscriptions/{self.s.subscription_id}/resourceGroups/{g['name']}"

    def rg_view(self, g):
        v = {
            "id": self.rg_id(g),
            "name": g["name"],
            "type": "Microsoft.Resources/resourceGroups",
            "location": g["location"],
            "tags": g.get("tags") or {},
            "properties": {"provisioningState": "Succeeded"},
        }
        if g.get("managedBy"):
            v["managedBy"] = g["managedBy"]
        return v

    def subscription_view(self):
        return {
            "id": f"/subscriptions/{self.s.subscription_id}",
            "subscriptionId": self.s.subscription_id,
            "tenantId": self.s.tenant_id,
            "displayName": "aitk stand-in subscription",
            "state": "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "tags": {},
        }

    def provider_view(self, ns_lower):
        canon, reg = self.providers.get(ns_lower, [ns_lower, False])
        types = []
        for k in self.kinds.values():
            if k.type.lower().startswith(canon.lower() + "/"):
                types.append(
                    {
                        "resourceType": k.type.split("/", 1)[1],
                        "locations": list(LOCATIONS),
                        "apiVersions": list(k.api_versions),
                        "capabilities": "None",
                    }
                )
        if canon.lower() == "microsoft.resources":
            types.append(
                {
                    "resourceType": "deployments",
                    "locations": [],
                    "apiVersions": ["2025-04-01", "2024-11-01", "2024-03-01", "2022-09-01"],
                }
            )
        return {
            "id": f"/subscriptions/{self.s.subscription_id}/providers/{canon}",
            "namespace": canon,
            "registrationState": "Registered" if reg else "NotRegistered",
            "registrationPolicy": "RegistrationRequired",
            "resourceTypes": types,
        }

    def get_record(self, rid):
        with self.lock:
            return self.res.get(rid.lower())

    def view(self, rec):
        kind = self.kinds[rec["type"].lower()]
        return kind.view(self, rec)

    # -- request handling --------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        try:
            self._auth(req)
            if "api-version" not in req.query and "api-version" not in {k.lower() for k in req.query}:
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            return self._route(req)
        except ArmError as e:
            return e.response()

    def _auth(self, req):
        auth = req.headers.get("Authorization") or ""
        if not auth:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                headers={
                    "WWW-Authenticate": f'Bearer authorization_uri="{self.s.url}/{self.s.tenant_id}", '
                    'error="invalid_token", '
                    "error_description=\"The authentication failed because of missing 'Authorization' header.\""
                },
            )
        if not auth.lower().startswith("bearer "):
            raise ArmError(
                401,
                "AuthenticationFailedInvalidHeader",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            )
        claims = self.s.entra.verify(auth[7:].strip())
        if claims is None:
            raise ArmError(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                headers={
                    "WWW-Authenticate": f'Bearer authorization_uri="{self.s.url}/{self.s.tenant_id}", '
                    'error="invalid_token", error_description="The access token is invalid."'
                },
            )
        aud = claims.get("aud", "").rstrip("/")
        if aud not in (self.s.url.rstrip("/"),):
            raise ArmError(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. "
                f"It should exactly match with one of the allowed audiences '{self.s.url}/'.",
            )

    def _route(self, req):  # pylint: disable=too-many-return-statements  # one return per REST route
        parts = [p for p in req.path.split("/") if p]
        low = [p.lower() for p in parts]
        m = req.method
        if low == ["subscriptions"] and m == "GET":
            return json_response(200, {"value": [self.subscription_view()], "count": {"type": "Total", "value": 1}})
        if low == ["tenants"] and m == "GET":
            return json_response(200, {"value": [self._tenant_view()]})
        if low and low[0] == "providers":
            return json_response(200, {"value": [self.provider_view(ns) for ns in sorted(self.providers)]})
        if len(low) < 2 or low[0] != "subscriptions":
            raise ArmError(404, "InvalidResourceNamespace", f"The path '{req.path}' is not a valid ARM path.")
        if parts[1].lower() != self.s.subscription_id.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{parts[1]}' could not be found.")
        rest, lrest = parts[2:], low[2:]
        if not rest:
            if m == "GET":
                return json_response(200, self.subscription_view())
            raise ArmError(405, "MethodNotAllowed", "Method not allowed.")
        if lrest == ["resources"] and m == "GET":
            return json_response(200, {"value": self._subscription_resources(req.query.get("$filter") or "")})
        if lrest == ["locations"]:
            return json_response(200, {"value": [self._location_view(loc) for loc in LOCATIONS]})
        if lrest[0] == "providers":
            return self._providers(req, rest[1:])
        if lrest[0] == "resourcegroups":
            if len(rest) == 1:
                if m != "GET":
                    raise ArmError(405, "MethodNotAllowed", "Method not allowed.")
                with self.lock:
                    return json_response(200, {"value": [self.rg_view(g) for g in self.groups.values()]})
            rg = rest[1]
            if len(rest) == 2:
                return self._rg(req, rg)
            with self.lock:
                g = self.groups.get(rg.lower())
            if g is None:
                raise rg_not_found(rg)
            if lrest[2] == "resources" and len(rest) == 3 and m == "GET":
                with self.lock:
                    items = [
                        self.view(r)
                        for r in self.res.values()
                        if r["rg"] == rg.lower() and len(r["type"].split("/")) == 2
                    ]
                return json_response(200, {"value": items})
            if lrest[2] == "deployments":  # the legacy path az uses for deployment operations
                return self.deployments.handle(req, g, rest[3:])
            if lrest[2] != "providers" or len(rest) < 5:
                raise ArmError(400, "InvalidRequestUri", f"The request URI '{req.path}' is not valid.")
            ns, tail = rest[3], rest[4:]
            if ns.lower() == "microsoft.resources" and tail[0].lower() == "deployments":
                return self.deployments.handle(req, g, tail[1:])
            return self._resource(req, g, ns, tail)
        raise ArmError(400, "InvalidRequestUri", f"The request URI '{req.path}' is not valid.")

    def _tenant_view(self):
        return {
            "id": f"/tenants/{self.s.tenant_id}",
            "tenantId": self.s.tenant_id,
            "tenantCategory": "Home",
            "country": "US",
            "countryCode": "US",
            "displayName": "aitk stand-in tenant",
            "domains": ["standin.onmicrosoft.com"],
            "defaultDomain": "standin.onmicrosoft.com",
            "tenantType": "AAD",
        }

    def _location_view(self, loc):
        return {
            "id": f"/subscriptions/{self.s.subscription_id}/locations/{loc}",
            "name": loc,
            "displayName": loc,
            "type": "Region",
            "regionalDisplayName": loc,
        }

    def _subscription_resources(self, flt):
        """The top-level resources of the subscription matching a $filter of `eq` conditions."""
        conds = {k.lower(): v for k, v in re.findall(r"(\w+)\s+eq\s+'([^']*)'", flt)}
        unknown = set(conds) - {"resourcegroup", "resourcetype", "name"}
        if unknown or (flt and not conds):
            raise ArmError(
                400,
                "InvalidFilterInQueryString",
                f"The $filter '{flt}' is not supported by the stand-in (only eq on resourceGroup, resourceType, name).",
            )
        with self.lock:
            items = []
            for r in self.res.values():
                if len(r["type"].split("/")) != 2:
                    continue
                v = self.view(r)
                if "resourcegroup" in conds and r["rg"] != conds["resourcegroup"].lower():
                    continue
                if "resourcetype" in conds and r["type"].lower() != conds["resourcetype"].lower():
                    continue
                if "name" in conds and v["name"].lower() != conds["name"].lower():
                    continue
                items.append(v)
        return items

    def _providers(self, req, rest):  # pylint: disable=too-many-return-statements  # one return per route
        if not rest:
            return json_response(200, {"value": [self.provider_view(ns) for ns in sorted(self.providers)]})
        ns = rest[0]
        if ns.lower() == "microsoft.resources" and len(rest) >= 2:
            return self.deployments.handle_subscription(req, rest[1:])
        if (
            len(rest) == 4
            and req.method == "GET"
            and ns.lower() == "microsoft.app"
            and rest[1].lower() == "locations"
            and rest[3].lower() == "availablemanagedenvironmentsworkloadprofiletypes"
        ):
            return self._available_workload_profiles(req, rest[2])
        if (
            len(rest) == 5
            and req.method == "GET"
            and ns.lower() == "microsoft.app"
            and rest[1].lower() == "locations"
            and rest[3].lower() in COLLECTIONS
        ):
            return self.operations.handle(rest[3], rest[4])
        if ns.lower() == "microsoft.containerregistry":
            answer = container_registry.provider_route(self, req, rest[1:])
            if answer is not None:
                return answer
        if len(rest) == 2 and req.method == "GET" and f"{ns}/{rest[1]}".lower() in self.kinds:
            return self._list_type(f"{ns}/{rest[1]}", None)
        if len(rest) == 1 and req.method == "GET":
            if ns.lower() not in self.providers:
                raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{ns}' is invalid.")
            return json_response(200, self.provider_view(ns.lower()))
        if len(rest) == 2 and req.method == "POST" and rest[1].lower() in ("register", "unregister"):
            if ns.lower() not in self.providers:
                raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{ns}' is invalid.")
            self.set_provider(ns, rest[1].lower() == "register")
            return json_response(200, self.provider_view(ns.lower()))
        raise ArmError(400, "InvalidRequestUri", f"The request URI '{req.path}' is not valid.")

    def _available_workload_profiles(self, req, location):
        """Microsoft.App AvailableWorkloadProfiles_Get (azure-rest-api-specs Microsoft.App
        stable/2025-07-01 AvailableWorkloadProfiles.json). A location the provider is not in is
        refused as Resource Manager refuses a provider request for a region it has no
        registration in: 400 NoRegisteredProviderFound
        (https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-register-resource-provider)."""
        loc = norm_location(location)
        api_version = req.query.get("api-version") or ""
        if loc not in LOCATIONS:
            raise ArmError(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for location '{location}' and API version "
                f"'{api_version}' for type 'locations/availableManagedEnvironmentsWorkloadProfileTypes'. "
                f"The supported api-versions are '2025-07-01, 2025-01-01, 2024-03-01'. The supported "
                f"locations are '{', '.join(LOCATIONS)}'.",
            )
        return json_response(200, available_workload_profile_types(self.s.subscription_id, loc))

    def _rg(self, req, rg):
        m = req.method
        with self.lock:
            g = self.groups.get(rg.lower())
            if m == "HEAD":
                return Response(204 if g else 404, {}, b"")
            if m == "GET":
                if g is None:
                    raise rg_not_found(rg)
                return json_response(200, self.rg_view(g))
            if m in ("PUT", "PATCH"):
                body = req.json() or {}
                if m == "PUT":
                    loc = norm_location(body.get("location"))
                    if not loc:
                        raise ArmError(
                            400, "LocationRequired", "The location property is required for this definition."
                        )
                    if not re.fullmatch(r"[-\w._()]{1,90}", rg) or rg.endswith("."):
                        raise ArmError(
                            400,
                            "InvalidResourceGroup",
                            f"The provided resource group name '{rg}' has these invalid characters or is too long.",
                        )
                    if loc not in LOCATIONS:
                        # what ARM answers `az group create -l <not a region>` (HTTP 400)
                        raise ArmError(
                            400,
                            "LocationNotAvailableForResourceGroup",
                            f"The provided location '{body.get('location')}' is not available for resource group. "
                            f"List of available regions is '{','.join(LOCATIONS)}'.",
                        )
                    if g is not None and g["location"] != loc:
                        raise ArmError(
                            409,
                            "InvalidResourceGroupLocation",
                            f"Invalid resource group location '{loc}'. The Resource group already exists in "
                            f"location '{g['location']}'.",
                        )
                    created = g is None
                    if created:
                        g = {"name": rg, "location": loc}
                        self.groups[rg.lower()] = g
                    g["tags"] = body.get("tags") or {}
                    if body.get("managedBy"):
                        g["managedBy"] = body["managedBy"]
                    self.save()
                    return json_response(201 if created else 200, self.rg_view(g))
                if g is None:
                    raise rg_not_found(rg)
                if "tags" in body:
                    g["tags"] = body["tags"] or {}
                self.save()
                return json_response(200, self.rg_view(g))
            if m == "DELETE":
                if g is None:
                    raise rg_not_found(rg)
                doomed = [r for r in self.res.values() if r["rg"] == rg.lower()]
                doomed.sort(key=lambda r: -len(r["type"].split("/")))
                for r in doomed:
                    self._delete_record(r)
                del self.groups[rg.lower()]
                self.deployments.forget_group(rg)
                self.save()
                return Response(200, {}, b"")
        raise ArmError(405, "MethodNotAllowed", "Method not allowed.")

    # -- resources ---------------------------------------------------------------------------
    def parse(self, g, ns, tail, sub=None):
        """tail after the namespace -> (Ident, extra) where extra is a trailing collection/action.
        An extension resource ({resource}/providers/{ns}/{type}/{name}, e.g. a role assignment on a
        registry) gets the Ident of its own type with .scope, the id of the resource it extends.
        https://learn.microsoft.com/azure/azure-resource-manager/management/extension-resource-types"""
        low = [p.lower() for p in tail]
        if "providers" in low[1:] and low.index("providers", 1) % 2 == 0:
            i = low.index("providers", 1)
            scope_ident = self.parse(g, ns, tail[:i], sub)
            ident = self.parse(g, tail[i + 1], tail[i + 2 :], sub)
            ident.scope = self.make_id(scope_ident, self.canonical(scope_ident))
            return ident
        types, names = tail[0::2], tail[1::2]
        extra = None
        if len(tail) % 2 == 1:
            extra = types[-1]
            types = types[:-1]
        return Ident(sub or self.s.subscription_id, g["name"], ns, types, names, extra)

    def canonical(self, ident):
        kind = self.kinds.get(ident.type.lower())
        if kind is None:
            raise ArmError(
                400,
                "InvalidResourceType",
                f"The resource type '{'/'.join(ident.types)}' could not be found in the namespace "
                f"'{ident.ns}' for api version '(any)'.",
            )
        return kind

    def make_id(self, ident, kind):
        ctypes = kind.type.split("/")
        path = "/".join(f"{t}/{n}" for t, n in zip(ctypes[1:], ident.names, strict=False))
        if getattr(ident, "scope", None):
            return f"{ident.scope}/providers/{ctypes[0]}/{path}"
        return f"/subscriptions/{self.s.subscription_id}/resourceGroups/{ident.rg}/providers/{ctypes[0]}/{path}"

    def _resource(self, req, g, ns, tail):  # pylint: disable=too-many-return-statements  # one return per route
        ident = self.parse(g, ns, tail)
        m = req.method
        if not ident.types and ident.tail and m == "GET" and ident.scope:
            return self._list_extensions(ident, req.query.get("$filter") or "")
        if not ident.types and ident.tail and m == "GET":
            return self._list_type(f"{ns}/{ident.tail}", g["name"])
        if not ident.types:
            raise ArmError(400, "InvalidRequestUri", f"The request URI '{req.path}' is not valid.")
        if ident.tail is not None:
            kind = self.canonical(ident) if ident.types else None
            rid = self.make_id(ident, kind)
            rec = self.get_record(rid) or kind.implicit(self, ident, rid)
            # a collection of child resources, e.g. .../fileServices/default/shares
            child_type = (ident.type + "/" + ident.tail).lower()
            if m == "GET" and child_type in self.kinds:
                if rec is None:
                    raise resource_not_found(kind.type, "/".join(ident.names), g["name"])
                items = self.kinds[child_type].children(self, rec, child_type)
                return json_response(200, {"value": items})
            if rec is None:
                raise resource_not_found(kind.type, "/".join(ident.names), g["name"])
            return kind.action(self, rec, ident.tail, req)
        kind = self.canonical(ident)
        rid = self.make_id(ident, kind)
        if m in ("GET", "HEAD"):
            rec = self.get_record(rid) or kind.implicit(self, ident, rid)
            if rec is None:
                if m == "HEAD":
                    return Response(404, {}, b"")
                raise resource_not_found(kind.type, "/".join(ident.names), g["name"])
            if m == "HEAD":
                return Response(204, {}, b"")
            stale = self.operations.stale_view(rid)  # an update still running shows the old state
            return json_response(200, stale if stale is not None else self.view(rec))
        if m == "PUT":
            body = req.json() or {}
            status, view = self.put_resource(ident, body, req.query.get("api-version"))
            return json_response(status, view)
        if m == "PATCH":
            rec = self.get_record(rid)
            if rec is None:
                raise resource_not_found(kind.type, "/".join(ident.names), g["name"])
            merged = copy.deepcopy(kind.request_shape(self, rec))
            _merge(merged, req.json() or {})
            if kind.type.lower() not in ASYNC_UPDATES:
                status, view = self.put_resource(ident, merged, req.query.get("api-version"))
                return json_response(200, view)
            # Microsoft.App runs an update as an asynchronous operation (arm/operations.py): the request
            # is checked now (a bad one is refused at once), the work goes on after the 202.
            old_view = self.view(rec)
            failure = self.operations.take_failure(kind.type)
            if failure is None:
                self.put_resource(ident, merged, req.query.get("api-version"))
            return self.operations.start(self.get_record(rid), old_view, req.query.get("api-version"), failure)
        if m == "DELETE":
            with self.lock:
                rec = self.get_record(rid)
                if rec is None:
                    return Response(204, {}, b"")
                self._delete_record(rec)
                self.save()
            return Response(200, {}, b"")
        raise ArmError(405, "MethodNotAllowed", "Method not allowed.")

    def _list_extensions(self, ident, flt):
        """The extension resources of one type on a resource and the scopes below it (Role
        Assignments - List For Scope: $filter=principalId eq '{id}' narrows them).
        https://learn.microsoft.com/rest/api/authorization/role-assignments/list-for-scope"""
        rtype = f"{ident.ns}/{ident.tail}".lower()
        principal = dict(re.findall(r"(\w+)\s+eq\s+'([^']*)'", flt)).get("principalId")
        scope = ident.scope.lower()
        with self.lock:
            items = [
                self.view(r)
                for r in self.res.values()
                if r["type"].lower() == rtype
                and r["id"].lower().startswith(scope + "/")
                and (principal is None or r["body"].get("properties", {}).get("principalId") == principal)
            ]
        return json_response(200, {"value": items})

    def _list_type(self, rtype, rg):
        kind = self.kinds.get(rtype.lower())
        if kind is None or len(kind.type.split("/")) != 2:
            raise ArmError(400, "InvalidResourceType", f"The resource type '{rtype}' could not be found.")
        with self.lock:
            items = [
                self.view(r)
                for r in self.res.values()
                if r["type"] == kind.type and (rg is None or r["rg"] == rg.lower())
            ]
        return json_response(200, {"value": items})

    def put_resource(self, ident, body, _api_version):
        """Create or update a resource (used by the REST PUT and by deployments).
        Returns (status, view); raises ArmError."""
        kind = self.canonical(ident)
        ns_state = self.providers.get(kind.type.split("/")[0].lower())
        if ns_state is None or not ns_state[1]:
            raise missing_registration(kind.type.split("/")[0])
        with self.lock:
            g = self.groups.get(ident.rg.lower())
            if g is None:
                raise rg_not_found(ident.rg)
            rid = self.make_id(ident, kind)
            parent = ident.parent()
            if parent is not None:
                pkind = self.canonical(parent)
                pid = self.make_id(parent, pkind)
                if (self.get_record(pid) or pkind.implicit(self, parent, pid)) is None:
                    raise parent_not_found((pkind.type, "/".join(parent.names)))
            if ident.scope and self.get_record(ident.scope) is None:
                raise parent_not_found((ident.scope.split("/providers/", 1)[-1], ident.scope.rsplit("/", 1)[-1]))
            old = self.get_record(rid)
            if not isinstance(body, dict):
                raise ArmError(400, "InvalidRequestContent", "The request content is not a JSON object.")
            rec = kind.put(self, ident, rid, body, old, g)
            rec.setdefault("id", rid)
            rec["type"] = kind.type
            rec["rg"] = ident.rg.lower()
            self.res[rid.lower()] = rec
            self.save()
        kind.after_put(self, rec, old)
        return (200 if old else 201), self.view(rec)

    def _delete_record(self, rec):
        kind = self.kinds[rec["type"].lower()]
        for child in [r for r in self.res.values() if r["id"].lower().startswith(rec["id"].lower() + "/")]:
            self._delete_record(child)
        kind.delete(self, rec)
        self.res.pop(rec["id"].lower(), None)


def _merge(dst, src):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v
