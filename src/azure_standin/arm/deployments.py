"""Microsoft.Resources/deployments at resource-group scope: PUT (long-running, Azure-AsyncOperation),
GET (outputs, outputResources), operations, validate, whatIf, cancel, DELETE."""

import copy
import hashlib
import json
import logging
import threading
import time
import uuid

from .. import jsonc
from ..errors import ArmError, rg_not_found
from ..http import Response, json_response
from ..ids import STORAGE_SUFFIX, Ident, now_iso
from .expressions import TemplateError, Unresolved
from .template import OUTPUT_TYPE_NAMES, Context, Template
from .what_if import compute_changes

log = logging.getLogger("azure_standin.deployments")

DEPLOY_FAILED_MSG = (
    "At least one resource deployment operation failed. Please list deployment operations for "
    "details. Please see https://aka.ms/arm-deployment-operations for usage details."
)


class _Ctx(Context):
    def __init__(self, eng, g, dep_name, what_if=False):
        self.eng, self.mgr, self.g, self.name, self.what_if = eng, eng.mgr, g, dep_name, what_if
        self.template_meta = {}

    def resource_group(self):
        return self.mgr.rg_view(self.g)

    def subscription(self):
        s = self.mgr.s
        return {
            "id": f"/subscriptions/{s.subscription_id}",
            "subscriptionId": s.subscription_id,
            "tenantId": s.tenant_id,
            "displayName": "aitk stand-in subscription",
        }

    def deployment(self):
        return {
            "name": self.name,
            "properties": {
                "template": self.template_meta,
                "templateLink": None,
                "mode": "Incremental",
                "provisioningState": "Accepted",
            },
        }

    def environment(self):
        u = self.mgr.s.url
        return {
            "name": "AitkStandIn",
            "gallery": f"{u}/gallery/",
            "graph": f"{u}/graph/",
            "portal": f"{u}/portal",
            "graphAudience": f"{u}/graph/",
            "activeDirectoryDataLake": "",
            "batch": "",
            "media": "",
            "sqlManagement": "",
            "vmImageAliasDoc": "",
            "resourceManager": f"{u}/",
            "authentication": {
                "loginEndpoint": f"{u}/",
                "audiences": [f"{u}/"],
                "tenant": "common",
                "identityProvider": "AAD",
            },
            "suffixes": {
                "acrLoginServer": ".azurecr.standin",
                "keyvaultDns": ".vault.standin.local",
                "storage": STORAGE_SUFFIX,
                "sqlServerHostname": ".database.standin.local",
            },
        }

    def _rec(self, rid):
        rec = self.mgr.get_record(rid)
        if rec is None:
            # implicit children (fileServices/default)
            try:
                ident = self.eng.ident_of(rid)
                kind = self.mgr.canonical(ident)
                rec = kind.implicit(self.mgr, ident, self.mgr.make_id(ident, kind))
            except (ArmError, ValueError):
                rec = None
        if rec is None:
            if self.what_if:
                raise Unresolved(rid)
            parts = rid.split("/providers/", 1)[-1].split("/")
            rtype = "/".join([parts[0]] + parts[1::2])
            name = "/".join(parts[2::2])
            raise TemplateError(
                f"The Resource '{rtype}/{name}' under resource group '{self.g['name']}' "
                "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                code="ResourceNotFound",
            )
        return rec

    def reference(self, resource_id, api_version, full):
        parts = [p for p in resource_id.split("/") if p]
        if len(parts) == 8 and "/".join(parts[4:7]).lower() == "providers/microsoft.resources/deployments":
            # a nested deployment's outputs: reference(<its id>).outputs.<name>.value
            # https://learn.microsoft.com/azure/azure-resource-manager/templates/linked-templates#get-values-from-linked-template
            d = self.eng.deps.get(f"{parts[3].lower()}/{parts[7].lower()}")
            if d is None or d["properties"]["provisioningState"] != "Succeeded":
                if self.what_if:
                    raise Unresolved(resource_id)
                raise TemplateError(f"Deployment '{parts[7]}' could not be found.", code="DeploymentNotFound")
            body = self.eng.view(d)
            if full:
                body["apiVersion"] = api_version
                return body
            return body["properties"]
        rec = self._rec(resource_id)
        body = self.mgr.view(rec)
        if full:
            body = copy.deepcopy(body)
            body["apiVersion"] = api_version
            return body
        return copy.deepcopy(body.get("properties") or {})

    def list_keys(self, resource_id, api_version):
        rec = self._rec(resource_id)
        kind = self.mgr.kinds[rec["type"].lower()]
        if not hasattr(kind, "list_keys"):
            raise TemplateError(f"listKeys() on a resource of type '{rec['type']}' is not supported by the stand-in.")
        return kind.list_keys(self.mgr, rec)


class Deployments:
    def __init__(self, mgr):
        self.mgr = mgr
        self.deps = {}  # "rg/name" lower -> record
        self.ops = {}  # async operation id -> {"kind","key"/"result","status"}
        self.threads = []
        self._stopping = False

    def load(self, data):
        self.deps = data or {}
        for d in self.deps.values():
            if d["properties"]["provisioningState"] in ("Accepted", "Running"):
                d["properties"]["provisioningState"] = "Failed"
                d["properties"]["error"] = {
                    "code": "DeploymentFailed",
                    "message": "The stand-in restarted during the deployment.",
                }

    def dump(self):
        return self.deps

    def stop(self):
        self._stopping = True
        for t in self.threads:
            t.join(timeout=10)

    def forget_group(self, rg):
        for k in [k for k in self.deps if k.startswith(rg.lower() + "/")]:
            del self.deps[k]

    def ident_of(self, rid):
        parts = [p for p in rid.split("/") if p]
        low = [p.lower() for p in parts]
        if len(parts) < 8 or low[0] != "subscriptions" or low[2] != "resourcegroups" or low[4] != "providers":
            raise ValueError(rid)
        tail = parts[6:]
        ext = [i for i, p in enumerate(low[6:]) if p == "providers" and i % 2 == 0]
        if ext:  # an extension resource: {scope}/providers/{ns}/{type}/{name}
            i = ext[0] + 6
            inner = f"/subscriptions/{parts[1]}/resourceGroups/{parts[3]}/providers/" + "/".join(parts[i + 1 :])
            ident = self.ident_of(inner)
            ident.scope = "/" + "/".join(parts[:i])
            return ident
        if len(tail) % 2:
            raise ValueError(rid)
        return Ident(parts[1], parts[3], parts[5], tail[0::2], tail[1::2])

    # -- routing -----------------------------------------------------------------------------
    def handle_subscription(self, req, rest):
        # /subscriptions/{s}/providers/Microsoft.Resources/locations/{loc}/operationResults/{id}
        low = [p.lower() for p in rest]
        if len(rest) == 4 and low[0] == "locations" and low[2] in ("operationresults", "operationstatuses"):
            return self._whatif_poll(rest[3])
        if low and low[0] == "deployments":
            raise ArmError(
                400, "InvalidRequestUri", "Subscription-scope deployments are not supported by the stand-in."
            )
        raise ArmError(400, "InvalidRequestUri", f"The request URI '{req.path}' is not valid.")

    def _existing(self, key, name):
        d = self.deps.get(key)
        if d is None:
            raise ArmError(404, "DeploymentNotFound", f"Deployment '{name}' could not be found.")
        return d

    def handle(self, req, g, rest):  # pylint: disable=too-many-return-statements  # one return per REST route
        m = req.method
        if not rest:
            if m == "GET":
                with self.mgr.lock:
                    items = [self.view(d) for k, d in self.deps.items() if k.startswith(g["name"].lower() + "/")]
                return json_response(200, {"value": items})
            raise ArmError(405, "MethodNotAllowed", "Method not allowed.")
        name = rest[0]
        key = f"{g['name'].lower()}/{name.lower()}"
        tail = [p.lower() for p in rest[1:]]
        if not tail:
            return self._deployment(req, g, name, key)
        if tail[0] == "validate" and m == "POST":
            return self.validate(req, g, name)
        if tail[0] == "whatif" and m == "POST":
            return self.what_if(req, g, name)
        if tail[0] == "cancel" and m == "POST":
            d = self._existing(key, name)
            d["cancel"] = True
            return Response(204, {}, b"")
        if tail[0] == "exporttemplate" and m == "POST":
            d = self._existing(key, name)
            return json_response(200, {"template": d["template"]})
        if tail[0] == "operationstatuses" and len(tail) == 2 and m == "GET":
            d = self._existing(key, name)
            state = d["properties"]["provisioningState"]
            body = {"status": state}
            if state == "Failed":
                body["error"] = d["properties"].get("error")
            return json_response(200, body, {"Retry-After": "1"} if state in ("Accepted", "Running") else {})
        if tail[0] == "operations" and m == "GET":
            d = self._existing(key, name)
            ops = copy.deepcopy(d.get("operations", []))
            if len(tail) == 2:
                op = next((o for o in ops if o["operationId"].lower() == tail[1]), None)
                if op is None:
                    raise ArmError(404, "DeploymentOperationNotFound", f"Operation '{rest[2]}' could not be found.")
                return json_response(200, op)
            return json_response(200, {"value": ops})
        raise ArmError(400, "InvalidRequestUri", f"The request URI '{req.path}' is not valid.")

    def _deployment(self, req, g, name, key):
        m = req.method
        if m == "PUT":
            return self.put(req, g, name, key)
        if m in ("GET", "HEAD"):
            d = self.deps.get(key)
            if d is None:
                if m == "HEAD":
                    return Response(404, {}, b"")
                raise ArmError(404, "DeploymentNotFound", f"Deployment '{name}' could not be found.")
            return Response(204, {}, b"") if m == "HEAD" else json_response(200, self.view(d))
        if m == "DELETE":
            with self.mgr.lock:
                d = self.deps.get(key)
                if d is None:
                    return Response(204, {}, b"")
                if d["properties"]["provisioningState"] in ("Accepted", "Running"):
                    raise ArmError(409, "DeploymentActive", f"The deployment '{name}' is active and cannot be deleted.")
                del self.deps[key]
                self.mgr.save()
            return Response(202, {"Location": self._loc_url(g, "delete-" + uuid.uuid4().hex)}, b"")
        raise ArmError(405, "MethodNotAllowed", "Method not allowed.")

    def _loc_url(self, g, opid):
        s = self.mgr.s
        return (
            f"{s.url}/subscriptions/{s.subscription_id}/providers/Microsoft.Resources/locations/"
            f"{g['location']}/operationResults/{opid}?api-version=2024-11-01"
        )

    # -- common ------------------------------------------------------------------------------
    def _body(self, req):
        try:
            body = jsonc.loads(req.body or b"{}") or {}
        except ValueError:
            raise ArmError(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            ) from None
        props = body.get("properties") or {}
        if props.get("templateLink"):
            raise ArmError(
                400, "InvalidTemplate", "templateLink is not supported by the stand-in; inline the template."
            )
        if props.get("parametersLink"):
            raise ArmError(400, "InvalidTemplate", "parametersLink is not supported by the stand-in.")
        if not isinstance(props.get("template"), dict):
            raise ArmError(
                400, "InvalidRequestContent", "The request content was invalid: properties.template is required."
            )
        mode = props.get("mode") or "Incremental"
        if mode.lower() != "incremental":
            raise ArmError(
                400, "InvalidTemplate", f"Deployment mode '{mode}' is not supported by the stand-in (only Incremental)."
            )
        return body, props

    def evaluate_template(self, g, name, props, what_if=False):
        ctx = _Ctx(self, g, name, what_if=what_if)
        t = props["template"]
        ctx.template_meta = {"contentVersion": t.get("contentVersion", "1.0.0.0"), "metadata": t.get("metadata")}
        params = props.get("parameters") or {}
        try:
            return Template(t, params, ctx, what_if=what_if)
        except TemplateError as e:
            raise ArmError(400, "InvalidTemplate", e.message, target=self._dep_id(g, name)) from e

    def _template_hash(self, template):
        return str(int(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16], 16))

    def _params_view(self, tpl):
        secure = tpl.secure_parameters()
        types = tpl.parameter_types()
        out = {}
        for k, v in tpl.params.items():
            tname = OUTPUT_TYPE_NAMES.get(types.get(k, "string"), "String")
            out[k] = {"type": tname} if k in secure else {"type": tname, "value": copy.deepcopy(v)}
        return out

    def _providers_view(self, tpl):
        by_ns = {}
        for r in tpl.resources:
            ns, _, rt = r.type.partition("/")
            by_ns.setdefault(ns, set()).add(rt)
        return [
            {
                "namespace": ns,
                "resourceTypes": [{"resourceType": rt, "locations": [self._loc_of(tpl)]} for rt in sorted(rts)],
            }
            for ns, rts in by_ns.items()
        ]

    def _loc_of(self, tpl):
        return tpl.ctx.g["location"]

    def _deps_view(self, tpl):
        out = []
        for r in tpl.resources:
            if r.depends_on:
                out.append(
                    {
                        "id": r.id,
                        "resourceType": r.type,
                        "resourceName": r.name,
                        "dependsOn": [
                            {"id": d.id, "resourceType": d.type, "resourceName": d.name} for d in r.depends_on
                        ],
                    }
                )
        return out

    def _dep_id(self, g, name):
        return (
            f"/subscriptions/{self.mgr.s.subscription_id}/resourceGroups/{g['name']}/providers/"
            f"Microsoft.Resources/deployments/{name}"
        )

    def view(self, d):
        v = {k: copy.deepcopy(d[k]) for k in ("id", "name", "type", "tags", "properties") if k in d}
        v["tags"] = v.get("tags") or {}
        return v

    # -- PUT ---------------------------------------------------------------------------------
    def put(self, req, g, name, key):
        body, props = self._body(req)
        fingerprint = self._template_hash({"t": props["template"], "p": props.get("parameters") or {}})
        s = self.mgr.s
        with self.mgr.lock:
            cur = self.deps.get(key)
            if (
                cur
                and cur["properties"]["provisioningState"] in ("Accepted", "Running")
                and cur.get("fingerprint") == fingerprint
            ):
                # The same PUT again (a client retrying after a lost response): same operation.
                return json_response(
                    201,
                    self.view(cur),
                    {
                        "Azure-AsyncOperation": f"{s.url}{cur['id']}/operationStatuses/{cur['asyncop']}?api-version="
                        f"{req.query.get('api-version', '2024-11-01')}",
                        "Retry-After": "1",
                    },
                )
            if cur and cur["properties"]["provisioningState"] in ("Accepted", "Running"):
                raise ArmError(
                    409,
                    "DeploymentActive",
                    f"The deployment with resource id '{cur['id']}' cannot be saved, because this would "
                    "overwrite an existing deployment which is still active. Please see "
                    "https://aka.ms/arm-deploy for usage details.",
                )
        tpl = self.evaluate_template(g, name, props)
        cid = req.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        opid = uuid.uuid4().hex.upper()[:16]
        d = {
            "id": self._dep_id(g, name),
            "name": name,
            "type": "Microsoft.Resources/deployments",
            "tags": body.get("tags") or {},
            "template": props["template"],
            "operations": [],
            "asyncop": opid,
            "fingerprint": fingerprint,
            "properties": {
                "templateHash": self._template_hash(props["template"]),
                "parameters": self._params_view(tpl),
                "mode": "Incremental",
                "provisioningState": "Accepted",
                "timestamp": now_iso(),
                "duration": "PT0S",
                "correlationId": cid,
                "providers": self._providers_view(tpl),
                "dependencies": self._deps_view(tpl),
            },
        }
        with self.mgr.lock:
            self.deps[key] = d
            self.mgr.save()
        t = threading.Thread(target=self._run, args=(g, name, key, props), daemon=True, name=f"deploy-{name}")
        self.threads = [x for x in self.threads if x.is_alive()] + [t]
        t.start()
        headers = {
            "Azure-AsyncOperation": f"{s.url}{d['id']}/operationStatuses/{opid}?api-version="
            f"{req.query.get('api-version', '2024-11-01')}",
            "Retry-After": "1",
        }
        return json_response(201, self.view(d), headers)

    def _run(self, g, name, key, props):
        start = time.time()
        d = self.deps[key]
        d["properties"]["provisioningState"] = "Running"
        error = None
        try:
            tpl = self.evaluate_template(g, name, props)
            error = self._execute(tpl, d, d)
        except ArmError as e:
            error = e.error()
        except Exception as e:  # pylint: disable=broad-exception-caught  # a stand-in bug fails the deployment
            log.exception("deployment %s crashed", name)
            error = {"code": "InternalServerError", "message": f"stand-in deployment error: {e!r}"}
        self._finish(d, error, start)

    def _execute(self, tpl, d, top):
        """Deploy tpl's resources in order, then its outputs, recording operations in d (top: the
        deployment the user started, whose cancel stops nested ones too). Returns the error or None."""
        error = None
        for r in tpl.deploy_order():
            if top.get("cancel") or self._stopping:
                d["properties"]["provisioningState"] = "Canceled"
                return {"code": "DeploymentCanceled", "message": "The deployment was canceled."}
            error = self._deploy_one(tpl, r, d, top)
            if error:
                break
        if error is None:
            try:
                d["properties"]["outputs"] = tpl.outputs()
            except TemplateError as e:
                error = {
                    "code": "DeploymentOutputEvaluationFailed",
                    "message": "Unable to evaluate template outputs. Please see error details and "
                    "deployment operations. Please see https://aka.ms/arm-common-errors for usage details.",
                    "details": [{"code": e.code, "message": e.message, "target": e.target}],
                }
        d["properties"]["outputResources"] = [
            {"id": o["properties"]["targetResource"]["id"]}
            for o in d["operations"]
            if o["properties"]["provisioningState"] == "Succeeded"
        ]
        return error

    def _finish(self, d, error, start):
        with self.mgr.lock:
            p = d["properties"]
            if error is not None and p["provisioningState"] != "Canceled":
                p["provisioningState"] = "Failed"
                if error.get("code") in ("DeploymentOutputEvaluationFailed", "InternalServerError", "InvalidTemplate"):
                    p["error"] = error
                else:
                    p["error"] = {
                        "code": "DeploymentFailed",
                        "target": d["id"],
                        "message": DEPLOY_FAILED_MSG,
                        "details": [error],
                    }
            elif error is None:
                p["provisioningState"] = "Succeeded"
            p["duration"] = f"PT{time.time() - start:.7f}S"
            p["timestamp"] = now_iso()
            self.mgr.save()

    def nested_template(self, tpl, r, what_if=False):
        """(target group record, Template) of the nested deployment r of tpl."""
        g = self.mgr.groups.get(r.nested.resource_group.lower())
        if g is None:
            raise rg_not_found(r.nested.resource_group)
        if not r.nested.inner:
            return g, tpl.nested_outer(r)
        props = {"template": r.nested.template, "parameters": tpl.nested_parameters(r)}
        return g, self.evaluate_template(g, r.name, props, what_if=what_if)

    def _deploy_nested(self, tpl, r, top):
        """Deploy a nested deployment as ARM does: a deployment of its own in the target group
        (listed there, with its operations and outputs), run before the resources that depend on it.
        https://learn.microsoft.com/azure/azure-resource-manager/templates/deploy-to-resource-group#deploy-to-multiple-resource-groups"""
        start = time.time()
        g, child = self.nested_template(tpl, r)
        d = {
            "id": self._dep_id(g, r.name),
            "name": r.name,
            "type": "Microsoft.Resources/deployments",
            "tags": {},
            "template": r.nested.template,
            "operations": [],
            "properties": {
                "templateHash": self._template_hash(r.nested.template),
                "parameters": self._params_view(child) if r.nested.inner else {},
                "mode": "Incremental",
                "provisioningState": "Running",
                "timestamp": now_iso(),
                "duration": "PT0S",
                "correlationId": top["properties"].get("correlationId"),
                "providers": self._providers_view(child),
                "dependencies": self._deps_view(child),
            },
        }
        with self.mgr.lock:
            self.deps[f"{g['name'].lower()}/{r.name.lower()}"] = d
        error = self._execute(child, d, top)
        self._finish(d, error, start)
        if error is None:
            return None
        return d["properties"].get("error") or error

    def _deploy_one(self, tpl, r, d, top):
        op_id = uuid.uuid4().hex.upper()[:16]
        t0 = time.time()
        op = {
            "id": f"{d['id']}/operations/{op_id}",
            "operationId": op_id,
            "properties": {
                "provisioningOperation": "Create",
                "provisioningState": "Running",
                "timestamp": now_iso(),
                "duration": "PT0S",
                "trackingId": str(uuid.uuid4()),
                "serviceRequestId": str(uuid.uuid4()),
                "targetResource": {
                    "id": r.id,
                    "resourceType": r.type,
                    "resourceName": r.name,
                    "apiVersion": r.api_version,
                },
            },
        }
        d["operations"].append(op)
        error, status = None, None
        try:
            if r.nested is not None:
                error = self._deploy_nested(tpl, r, top)
                status = 400 if error else 201
            else:
                body = tpl.resource_body(r)
                ident = self.ident_of(r.id)
                status, _ = self.mgr.put_resource(ident, body, r.api_version)
        except TemplateError as e:
            error = {
                "code": "InvalidTemplate",
                "target": r.id,
                "message": f"Unable to process template language expressions for resource '{r.id}' at line '1' "
                f"and column '1'. '{e.message}'",
            }
            if e.code == "ResourceNotFound":
                error = {"code": "ResourceNotFound", "target": r.id, "message": e.message}
        except ArmError as e:
            error = e.error()
            error.setdefault("target", r.id)
            status = e.status
        except Exception as e:  # pylint: disable=broad-exception-caught  # a stand-in bug fails the operation
            log.exception("resource %s failed", r.id)
            error = {"code": "InternalServerError", "target": r.id, "message": f"stand-in error: {e!r}"}
            status = 500
        p = op["properties"]
        p["duration"] = f"PT{time.time() - t0:.7f}S"
        p["timestamp"] = now_iso()
        if error:
            p["provisioningState"] = "Failed"
            p["statusCode"] = {400: "BadRequest", 404: "NotFound", 409: "Conflict", 500: "InternalServerError"}.get(
                status, "BadRequest"
            )
            p["statusMessage"] = {"status": "Failed", "error": error}
            return error
        p["provisioningState"] = "Succeeded"
        p["statusCode"] = "Created" if status == 201 else "OK"
        p["statusMessage"] = {"status": "Succeeded"}
        return None

    # -- validate ----------------------------------------------------------------------------
    def validate(self, req, g, name):
        _, props = self._body(req)
        tpl = self.evaluate_template(g, name, props)
        v = {
            "id": self._dep_id(g, name),
            "name": name,
            "type": "Microsoft.Resources/deployments",
            "properties": {
                "templateHash": self._template_hash(props["template"]),
                "parameters": self._params_view(tpl),
                "mode": "Incremental",
                "provisioningState": "Succeeded",
                "timestamp": now_iso(),
                "duration": "PT0S",
                "correlationId": req.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4()),
                "providers": self._providers_view(tpl),
                "dependencies": self._deps_view(tpl),
                "validatedResources": [{"id": r.id} for r in tpl.resources if r.condition and not r.existing],
            },
        }
        return json_response(200, v)

    # -- what-if -----------------------------------------------------------------------------
    def what_if(self, req, g, name):
        _, props = self._body(req)
        opid = "whatif-" + uuid.uuid4().hex
        try:
            result = compute_changes(self, g, name, props)
        except ArmError as e:
            result = {"status": "Failed", "error": e.error()}
        except TemplateError as e:
            result = {
                "status": "Failed",
                "error": {"code": "InvalidTemplate", "message": e.message, "target": e.target},
            }
        self.ops[opid] = {"result": result, "polls": 0}
        return Response(202, {"Location": self._loc_url(g, opid), "Retry-After": "1"}, b"")

    def _whatif_poll(self, opid):
        op = self.ops.get(opid)
        if op is None:
            if opid.startswith("delete-"):
                return Response(204, {}, b"")
            raise ArmError(404, "NotFound", f"Operation '{opid}' not found.")
        op["polls"] += 1
        if op["polls"] == 1:
            return Response(202, {"Retry-After": "1"}, b"")
        return json_response(200, op["result"])
