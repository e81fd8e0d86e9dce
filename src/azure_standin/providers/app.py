"""Microsoft.App: managed environments (workload profiles, GPU quotas), their Azure Files storages,
container apps (secrets, revisions, ingress) run by the stand-in's container runtime, and revisions
with their replicas (azure-rest-api-specs Microsoft.App 2025-07-01).
https://learn.microsoft.com/rest/api/resource-manager/containerapps/"""

import copy
import hashlib
import json
import logging
import os
import random
import re
import string
from datetime import datetime, timezone

from ..errors import ArmError
from ..http import Response, json_response
from ..ids import now_iso
from ..runtime import azure_rules
from .base import Kind
from .container_registry import has_image, registry_of_server
from .identity import ACR_PULL_ROLE_ID, holds_role, principal_of
from .operational_insights import Workspaces

log = logging.getLogger("azure_standin.providers.app")

# Where each GPU workload profile type is offered. Serverless: the "Supported regions" table of
# "Using serverless GPUs in Azure Container Apps"
# (https://learn.microsoft.com/azure/container-apps/gpu-serverless-overview#supported-regions, as
# the page read in 2026-03). Dedicated GPU profiles: Learn gives no per-region table ("available
# in select regions", https://learn.microsoft.com/azure/container-apps/workload-profiles-overview);
# the stand-in offers them where it offers the serverless A100.
_T4_REGIONS = {
    "australiaeast", "brazilsouth", "canadacentral", "centralindia", "eastus", "francecentral", "italynorth",
    "japaneast", "northcentralus", "southcentralus", "southeastasia", "southindia", "swedencentral", "westeurope",
    "westus", "westus2", "westus3",
}  # fmt: skip
_A100_REGIONS = {
    "australiaeast",
    "brazilsouth",
    "canadacentral",
    "eastus",
    "italynorth",
    "swedencentral",
    "westus",
    "westus3",
}
GPU_PROFILE_REGIONS = {
    "consumption-gpu-nc8as-t4": _T4_REGIONS,
    "consumption-gpu-nc24-a100": _A100_REGIONS,
    "nc24-a100": _A100_REGIONS,
    "nc48-a100": _A100_REGIONS,
    "nc96-a100": _A100_REGIONS,
}
# The quota each GPU type draws on, named as the serverless GPU page's quota request steps name
# them (…/gpu-serverless-overview#request-serverless-gpu-quota).
GPU_QUOTAS = {
    "consumption-gpu-nc8as-t4": "Managed Environment Consumption T4 Gpus",
    "consumption-gpu-nc24-a100": "Managed Environment Consumption NCA100 Gpus",
    "nc24-a100": "Subscription NCA100 GPUs",
    "nc48-a100": "Subscription NCA100 GPUs",
    "nc96-a100": "Subscription NCA100 GPUs",
}
# What GET .../locations/{location}/availableManagedEnvironmentsWorkloadProfileTypes lists per type:
# (canonical name, category, cores, memoryGiB, gpus), the shape of azure-rest-api-specs Microsoft.App
# stable/2025-07-01 AvailableWorkloadProfiles.json and its example AvailableWorkloadProfiles_Get.json.
# GPU sizes: https://learn.microsoft.com/azure/container-apps/workload-profiles-overview#profile-types.
PROFILE_TYPE_FACTS = {
    "consumption": ("Consumption", "Consumption", 4, 8, 0),
    "d4": ("D4", "General purpose D-series", 4, 16, 0),
    "d8": ("D8", "General purpose D-series", 8, 32, 0),
    "d16": ("D16", "General purpose D-series", 16, 64, 0),
    "d32": ("D32", "General purpose D-series", 32, 128, 0),
    "e4": ("E4", "Memory optimized E-series", 4, 32, 0),
    "e8": ("E8", "Memory optimized E-series", 8, 64, 0),
    "e16": ("E16", "Memory optimized E-series", 16, 128, 0),
    "e32": ("E32", "Memory optimized E-series", 32, 256, 0),
    "consumption-gpu-nc8as-t4": ("Consumption-GPU-NC8as-T4", "GPU-NC8as-T4", 8, 56, 1),
    "consumption-gpu-nc24-a100": ("Consumption-GPU-NC24-A100", "GPU-NC24-A100", 24, 220, 1),
    "nc24-a100": ("NC24-A100", "GPU-NC-A100", 24, 220, 1),
    "nc48-a100": ("NC48-A100", "GPU-NC-A100", 48, 440, 2),
    "nc96-a100": ("NC96-A100", "GPU-NC-A100", 96, 880, 4),
}


def available_workload_profile_types(subscription_id, location):
    """The AvailableWorkloadProfilesCollection of a (known) location: every CPU type, and the GPU
    types GPU_PROFILE_REGIONS puts there."""
    out = []
    for low, (name, category, cores, memory, gpu_count) in PROFILE_TYPE_FACTS.items():
        if low in GPU_PROFILE_REGIONS and location not in GPU_PROFILE_REGIONS[low]:
            continue
        props = {
            "displayName": name if low == "consumption" or gpu_count else f"Dedicated-{name}",
            "category": category,
            "applicability": "LocationDefault" if low == "consumption" else "Custom",
            "cores": cores,
            "memoryGiB": memory,
        }
        if gpu_count:
            props["gpus"] = gpu_count
        out.append(
            {
                "location": location,
                "properties": props,
                "id": f"/subscriptions/{subscription_id}/providers/Microsoft.App/"
                f"availableManagedEnvironmentsWorkloadProfileTypes/{name}",
                "name": name,
                "type": "Microsoft.App/availableManagedEnvironmentsWorkloadProfileTypes",
            }
        )
    return {"value": out}


CPU_PROFILES = {"consumption", "d4", "d8", "d16", "d32", "e4", "e8", "e16", "e32"}
SERVERLESS = {"consumption", "consumption-gpu-nc8as-t4", "consumption-gpu-nc24-a100"}


def _rand(n, alphabet=string.ascii_lowercase + string.digits):
    return "".join(random.SystemRandom().choice(alphabet) for _ in range(n))


class ManagedEnvironments(Kind):
    type = "Microsoft.App/managedEnvironments"
    # 2023-11-02-preview: what AI Toolkit's own fine-tuning and inference templates deploy with.
    api_versions = ("2025-07-01", "2025-01-01", "2024-10-02-preview", "2024-03-01", "2023-11-02-preview", "2023-05-01")

    def put(self, mgr, ident, rid, body, old, g):
        name = ident.names[0]
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", name) or "--" in name:
            raise ArmError(
                400,
                "ManagedEnvironmentInvalidName",
                f"Invalid ManagedEnvironment name: '{name}'. A name must consist of lower case "
                "alphanumeric characters or '-', start with an alphabetic character, and end with an "
                "alphanumeric character and cannot have '--'. The length must not be more than 32 characters.",
            )
        loc = self.location(body, g)
        pin = body.get("properties") or {}
        profiles = copy.deepcopy(pin.get("workloadProfiles") or [])
        for wp in profiles:
            wtype = str(wp.get("workloadProfileType", ""))
            low = wtype.lower()
            if low not in CPU_PROFILES and low not in GPU_QUOTAS:
                raise ArmError(400, "WorkloadProfileInvalidType", f"Workload profile type '{wtype}' is invalid.")
            if low in SERVERLESS:
                for prop in ("minimumCount", "maximumCount"):
                    if wp.get(prop) is not None:
                        raise ArmError(
                            400,
                            "WorkloadProfilePropertyNotSupported",
                            f"Workload Profile property '{prop[0].upper() + prop[1:]}' is not supported for "
                            f"{wtype.replace('-', '_')}",
                        )
            elif wp.get("maximumCount") is None:
                raise ArmError(
                    400,
                    "InvalidWorkloadProfile",
                    f"Workload profile '{wp.get('name')}' of type '{wtype}' needs maximumCount.",
                )
            if low in GPU_PROFILE_REGIONS and loc not in GPU_PROFILE_REGIONS[low]:
                quota = GPU_QUOTAS[low]
                raise ArmError(
                    400,
                    "RegionDoesNotSupportWorkloadProfile",
                    f"The workload profile type '{wtype}' is not supported in region '{loc}': the "
                    f"subscription has no '{quota}' quota for Azure Container Apps in this region, and "
                    f"the region offers no capacity for it. Regions with it: "
                    f"{', '.join(sorted(GPU_PROFILE_REGIONS[low]))}.",
                )
        if old is not None:
            _check_profile_update(name, old["body"]["properties"].get("workloadProfiles") or [], profiles)
        logs = copy.deepcopy(pin.get("appLogsConfiguration") or {})
        la = logs.get("logAnalyticsConfiguration")
        if logs.get("destination") == "log-analytics":
            cid, key = (la or {}).get("customerId"), (la or {}).get("sharedKey")
            ws = next(
                (r for r in mgr.res.values() if r["type"] == Workspaces.type and r["private"]["customerId"] == cid),
                None,
            )
            if ws is None or key not in ws["private"]["keys"].values():
                raise ArmError(
                    400,
                    "InvalidRequestParameterWithDetails",
                    f"The Log Analytics workspace customerId or sharedKey is not valid (customerId '{cid}').",
                )
            la.pop("sharedKey", None)
        private = (
            old["private"]
            if old
            else {
                "domain": f"{_rand(6, string.ascii_lowercase)}-{_rand(8)}.{loc}.azurecontainerapps.io",
                "verification": hashlib.sha256(os.urandom(16)).hexdigest().upper(),
                "created": now_iso(),
            }
        )
        private["sharedKey"] = (
            (pin.get("appLogsConfiguration") or {}).get("logAnalyticsConfiguration", {}).get("sharedKey")
        )
        props = {
            "provisioningState": "Succeeded",
            "daprAIInstrumentationKey": None,
            "defaultDomain": private["domain"],
            "staticIp": "127.0.0.1",
            "appLogsConfiguration": logs or None,
            "zoneRedundant": bool(pin.get("zoneRedundant", False)),
            "customDomainConfiguration": {"customDomainVerificationId": private["verification"]},
            "workloadProfiles": profiles or None,
            "eventStreamEndpoint": f"{mgr.s.url}{rid}/eventstream",
            "infrastructureResourceGroup": f"ME_{name}_{g['name']}_{loc}",
            "peerAuthentication": {"mtls": {"enabled": False}},
            "peerTrafficConfiguration": {"encryption": {"enabled": False}},
            "publicNetworkAccess": pin.get("publicNetworkAccess", "Enabled"),
        }
        props = {k: v for k, v in props.items() if v is not None}
        out = self.common(rid, name, body, loc)
        out["properties"] = props
        out["systemData"] = {"createdAt": private["created"], "lastModifiedAt": now_iso()}
        return {"id": rid, "body": out, "private": private}

    def request_shape(self, mgr, rec):
        b = self.view(mgr, rec)
        p = b["properties"]
        props = {
            k: copy.deepcopy(p[k]) for k in ("workloadProfiles", "appLogsConfiguration", "zoneRedundant") if k in p
        }
        la = props.get("appLogsConfiguration", {}).get("logAnalyticsConfiguration")
        if la is not None and rec["private"].get("sharedKey"):
            la["sharedKey"] = rec["private"]["sharedKey"]
        return {"location": b["location"], "tags": b["tags"], "properties": props}

    def action(self, mgr, rec, name, req):
        if name.lower() == "workloadprofilestates" and req.method == "GET":
            return json_response(200, {"value": []})
        return super().action(mgr, rec, name, req)


def _check_profile_update(env_name, before, after):
    """What an update of an existing environment may do to its workload profiles.

    - A Consumption-only (v1) environment has no workload profiles and gets none: it is a separate
      environment type, with no GPUs (learn.microsoft.com/azure/container-apps/environment-type-consumption-only).
    - GPU-enabled dedicated profiles can only be added when the environment is created; serverless
      (consumption) GPU and other profiles can be added later
      (learn.microsoft.com/azure/container-apps/workload-profiles-overview, "Profile types" note;
      learn.microsoft.com/azure/container-apps/workload-profiles-manage, "Add profiles").
    Serverless GPUs only in the regions that offer them: checked by put() for every profile
    (learn.microsoft.com/azure/container-apps/gpu-serverless-overview, "Supported regions")."""
    if not before and after:
        raise ArmError(
            400,
            "ManagedEnvironmentTypeCannotBeChanged",
            f"The managed environment '{env_name}' is a Consumption-only environment: workload profiles "
            "cannot be added to it (create a workload profiles environment instead).",
        )
    had = {str(wp.get("workloadProfileType", "")).lower() for wp in before}
    for wp in after:
        low = str(wp.get("workloadProfileType", "")).lower()
        if low in GPU_QUOTAS and low not in SERVERLESS and low not in had:
            raise ArmError(
                400,
                "WorkloadProfileCannotBeAdded",
                f"The workload profile '{wp.get('name')}' of type '{wp.get('workloadProfileType')}' cannot be "
                f"added to the existing managed environment '{env_name}': GPU-enabled dedicated workload "
                "profiles can only be added when the environment is created.",
            )


class EnvStorages(Kind):
    type = "Microsoft.App/managedEnvironments/storages"
    api_versions = ManagedEnvironments.api_versions
    tracked = False

    def put(self, mgr, ident, rid, body, old, g):
        pin = body.get("properties") or {}
        af = pin.get("azureFile")
        if not isinstance(af, dict):
            raise ArmError(
                400,
                "InvalidRequestContent",
                "Only azureFile storages are supported by the stand-in (properties.azureFile is missing).",
            )
        for k in ("accountName", "shareName", "accessMode"):
            if not af.get(k):
                raise ArmError(400, "InvalidRequestContent", f"properties.azureFile.{k} is required.")
        if af.get("accessMode") not in ("ReadOnly", "ReadWrite"):
            raise ArmError(
                400, "InvalidRequestContent", f"accessMode must be ReadOnly or ReadWrite, not '{af.get('accessMode')}'."
            )
        private = {"accountKey": af.get("accountKey") or (old or {}).get("private", {}).get("accountKey")}
        shown = {k: af[k] for k in ("accountName", "shareName", "accessMode")}
        out = {"id": rid, "name": ident.names[-1], "type": self.type, "properties": {"azureFile": shown}}
        return {"id": rid, "body": out, "private": private}

    def request_shape(self, mgr, rec):
        b = copy.deepcopy(rec["body"])
        b["properties"]["azureFile"]["accountKey"] = rec["private"].get("accountKey")
        return {"properties": b["properties"]}


def _template_hash(template):
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()


def _check_name_environment_profile(mgr, name, props, env_keys, name_code, kind_label):
    """The checks a container app and a job share, in the order the service reports them: the name, then the
    managed environment (its id under the first of the two env_keys that is set), then the workload profile in it.
    Returns the environment's record. Errors as the service answers
    (learn.microsoft.com/rest/api/resource-manager/containerapps/container-apps/create-or-update,
    learn.microsoft.com/rest/api/resource-manager/containerapps/jobs/create-or-update)."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", name) or "--" in name:
        raise ArmError(
            400,
            name_code,
            f"Invalid {kind_label} name '{name}'. A name must consist of lower case alphanumeric "
            "characters or '-', start with an alphabetic character, and end with an alphanumeric "
            "character and cannot have '--'. The length must not be more than 32 characters.",
        )
    env_id = props.get(env_keys[0]) or props.get(env_keys[1])
    env = mgr.get_record(env_id) if env_id else None
    if env is None or env["type"] != ManagedEnvironments.type:
        raise ArmError(400, "ManagedEnvironmentNotFound", f"Managed environment '{env_id}' was not found.")
    wp_name = props.get("workloadProfileName")
    profiles = env["body"]["properties"].get("workloadProfiles") or []
    if wp_name and not any(wp.get("name") == wp_name for wp in profiles):
        raise ArmError(
            400,
            "ContainerAppInvalidWorkloadProfileName",
            f"Workload profile '{wp_name}' is not found in managed environment '{env['body']['name']}'.",
        )
    return env


class ContainerApps(Kind):
    type = "Microsoft.App/containerApps"
    api_versions = ManagedEnvironments.api_versions

    # Validates in the order the service reports errors, then stores: splitting it would scatter that order.
    def put(self, mgr, ident, rid, body, old, g):  # pylint: disable=too-many-locals,too-many-branches,too-many-statements
        name = ident.names[0]
        pin = copy.deepcopy(body.get("properties") or {})
        env = _check_name_environment_profile(
            mgr, name, pin, ("managedEnvironmentId", "environmentId"), "ContainerAppInvalidName", "ContainerApp"
        )
        loc = self.location(body, g)
        wp_name = pin.get("workloadProfileName")
        config = pin.get("configuration") or {}
        template = pin.get("template") or {}
        containers = template.get("containers") or []
        if not containers:
            raise ArmError(
                400,
                "InvalidParameterValueInContainerTemplate",
                "The container app template must have at least one container.",
            )
        # secrets: values kept privately, GET shows names only
        old_secrets = (old or {}).get("private", {}).get("secrets", {})
        secrets = {}
        for s in config.get("secrets") or []:
            sname = s.get("name")
            if not sname or not re.fullmatch(r"[a-z0-9][a-z0-9-.]*[a-z0-9]?", sname):
                raise ArmError(400, "ContainerAppSecretInvalid", f"Invalid secret name '{sname}'.")
            if "value" in s and s["value"] is not None:
                secrets[sname] = s["value"]
            elif sname in old_secrets:
                secrets[sname] = old_secrets[sname]
            elif s.get("keyVaultUrl"):
                raise ArmError(
                    400,
                    "ContainerAppSecretKeyVaultNotSupported",
                    "Key Vault secret references are not supported by the stand-in.",
                )
            else:
                raise ArmError(400, "ContainerAppSecretInvalid", f"Secret '{sname}' has no value.")
        for c in containers:
            bad = azure_rules.probe_errors(c.get("probes") or [])
            if bad:
                # health-probes.md, "Restrictions" (runtime/azure_rules.py)
                raise ArmError(
                    400,
                    "ContainerAppInvalidProbe",
                    f"Container '{c.get('name')}': " + "; ".join(bad) + ".",
                )
        for c in containers:
            for e in c.get("env") or []:
                if e.get("secretRef") and e["secretRef"] not in secrets:
                    raise ArmError(
                        400,
                        "ContainerAppSecretRefNotFound",
                        f"SecretRef '{e['secretRef']}' defined for container '{c.get('name')}' not found.",
                    )
        vol_names = set()
        for v in template.get("volumes") or []:
            vol_names.add(v.get("name"))
            if (v.get("storageType") or "EmptyDir") == "AzureFile":
                sid = f"{env['id']}/storages/{v.get('storageName')}"
                if mgr.get_record(sid) is None:
                    raise ArmError(
                        400,
                        "ContainerAppVolumeStorageNotFound",
                        f"Storage '{v.get('storageName')}' of volume '{v.get('name')}' is not found in "
                        f"managed environment '{env['body']['name']}'.",
                    )
        for c in containers:
            for vm in c.get("volumeMounts") or []:
                if vm.get("volumeName") not in vol_names:
                    raise ArmError(
                        400,
                        "InvalidVolumeMount",
                        f"Volume mount '{vm.get('volumeName')}' of container '{c.get('name')}' refers to "
                        "no volume of the template.",
                    )
        private = copy.deepcopy(old["private"]) if old else {"revisions": [], "created": now_iso()}
        private["secrets"] = secrets
        thash = _template_hash(template)
        revs = private["revisions"]
        if not revs or revs[-1]["hash"] != thash:
            suffix = template.get("revisionSuffix") or _rand(7)
            rev_name = f"{name}--{suffix}"
            if any(r["name"] == rev_name for r in revs):
                raise ArmError(
                    400,
                    "RevisionSuffixAlreadyExists",
                    f"Revision with suffix '{suffix}' already exists for container app '{name}'.",
                )
            revs.append({"name": rev_name, "hash": thash, "created": now_iso(), "template": copy.deepcopy(template)})
        ingress = config.get("ingress")
        if ingress is not None:
            ingress = copy.deepcopy(ingress)
            ingress.setdefault("external", False)
            ingress.setdefault("transport", "Auto")
            ingress.setdefault("allowInsecure", False)
            ingress.setdefault("traffic", [{"weight": 100, "latestRevision": True}])
            ingress["fqdn"] = private.get("fqdn") or "pending"
            config["ingress"] = ingress
        config["secrets"] = [{"name": s} for s in secrets]
        config.setdefault("activeRevisionsMode", "Single")
        config.setdefault("maxInactiveRevisions", 100)
        template.setdefault("scale", {"minReplicas": 0, "maxReplicas": 10})
        out = self.common(rid, name, body, loc)
        if "identity" in body:
            out["identity"] = _identity_view(mgr, body["identity"])
        out["systemData"] = {"createdAt": private["created"], "lastModifiedAt": now_iso()}
        out["properties"] = {
            "provisioningState": "Succeeded",
            "runningStatus": "Running",
            "managedEnvironmentId": env["id"],
            "environmentId": env["id"],
            "workloadProfileName": wp_name,
            "outboundIpAddresses": ["127.0.0.1"],
            "latestRevisionName": revs[-1]["name"],
            "latestRevisionFqdn": "",
            "customDomainVerificationId": env["private"]["verification"],
            "configuration": config,
            "template": template,
            "eventStreamEndpoint": f"{mgr.s.url}{rid}/eventstream",
        }
        if not wp_name:
            out["properties"].pop("workloadProfileName")
        return {"id": rid, "body": out, "private": private}

    def after_put(self, mgr, rec, old):
        self._apply(mgr, rec)

    def resume(self, mgr, rec):
        self._apply(mgr, rec)

    def _apply(self, mgr, rec):
        volumes = {}
        env_id = rec["body"]["properties"]["managedEnvironmentId"]
        tmpl = rec["body"]["properties"]["template"]
        vols = {v.get("name"): v for v in tmpl.get("volumes") or []}
        for c in tmpl.get("containers") or []:
            for vm in c.get("volumeMounts") or []:
                v = vols.get(vm.get("volumeName")) or {}
                if (v.get("storageType") or "EmptyDir") != "AzureFile":
                    continue
                st = mgr.get_record(f"{env_id}/storages/{v.get('storageName')}")
                if st is None:
                    continue
                af = st["body"]["properties"]["azureFile"]
                key = st["private"].get("accountKey")
                if key is not None and key not in [
                    k["value"]
                    for k in (mgr.storage_account(af["accountName"]) or {"private": {"keys": []}})["private"]["keys"]
                ]:
                    log.warning("storage %s has a wrong account key: the mount fails", st["id"])
                    continue
                folder = mgr.share_folder(af["accountName"], af["shareName"])
                if folder is not None:
                    volumes[vm["mountPath"]] = folder
        result = mgr.s.runtime.apply(
            rec["id"].lower(), copy.deepcopy(rec["body"]), volumes, dict(rec["private"]["secrets"])
        )
        fqdn = result["fqdn"]
        with mgr.lock:
            rec["private"]["fqdn"] = fqdn
            ing = rec["body"]["properties"]["configuration"].get("ingress")
            if ing is not None:
                ing["fqdn"] = fqdn
                rec["body"]["properties"]["latestRevisionFqdn"] = fqdn
            mgr.save()

    def status(self, mgr, rec):
        try:
            return mgr.s.runtime.status(rec["id"].lower()) or {}
        except Exception:  # pylint: disable=broad-exception-caught  # a runtime bug reads as not running
            log.exception("runtime.status failed")
            return {"running": False, "ready": False, "restarts": 0}

    def view(self, mgr, rec):
        b = copy.deepcopy(rec["body"])
        st = self.status(mgr, rec)
        p = b["properties"]
        revs = rec["private"]["revisions"]
        if st.get("ready"):
            p["latestReadyRevisionName"] = revs[-1]["name"]
            rec["private"]["ready_revision"] = revs[-1]["name"]
        elif rec["private"].get("ready_revision"):
            p["latestReadyRevisionName"] = rec["private"]["ready_revision"]
        return b

    def request_shape(self, mgr, rec):
        b = copy.deepcopy(rec["body"])
        p = b["properties"]
        p["configuration"]["secrets"] = [{"name": k, "value": v} for k, v in rec["private"]["secrets"].items()]
        p["configuration"].get("ingress", {}).pop("fqdn", None)
        return {
            "location": b["location"],
            "tags": b.get("tags"),
            "properties": {
                k: p[k] for k in ("managedEnvironmentId", "workloadProfileName", "configuration", "template") if k in p
            },
        }

    def action(self, mgr, rec, name, req):
        if name.lower() == "listsecrets" and req.method == "POST":
            return json_response(
                200, {"value": [{"name": k, "value": v} for k, v in rec["private"]["secrets"].items()]}
            )
        if name.lower() == "revisions" and req.method == "GET":
            return json_response(
                200, {"value": [Revisions.revision_view(mgr, rec, r) for r in rec["private"]["revisions"]]}
            )
        if name.lower() in ("start", "stop") and req.method == "POST":
            (mgr.s.runtime.restart if name.lower() == "start" else mgr.s.runtime.remove)(rec["id"].lower())
            return Response(200, {}, b"")
        if name.lower() == "getauthtoken" and req.method == "POST":
            return json_response(
                200,
                {"properties": {"token": mgr.s.entra.issue(mgr.s.url + "/", mgr.s.tenant_id), "expires": now_iso()}},
            )
        return super().action(mgr, rec, name, req)

    def delete(self, mgr, rec):
        try:
            mgr.s.runtime.remove(rec["id"].lower())
        except Exception:  # pylint: disable=broad-except  # a failed stop must not keep ARM's record alive
            log.exception("runtime.remove failed")


class Revisions(Kind):
    type = "Microsoft.App/containerApps/revisions"
    api_versions = ManagedEnvironments.api_versions
    tracked = False

    @staticmethod
    def revision_view(mgr, app_rec, r):
        revs = app_rec["private"]["revisions"]
        latest = r is revs[-1] or r["name"] == revs[-1]["name"]
        st = ContainerApps().status(mgr, app_rec) if latest else {}
        if latest:
            # runtime/azure_rules.py: a cold (scaled-to-zero) or starting revision is not Failed
            # (https://learn.microsoft.com/azure/container-apps/revisions#running-status)
            state = st.get("state") or azure_rules.SCALED_TO_ZERO
            running = state
            health = {azure_rules.RUNNING: "Healthy", azure_rules.FAILED: "Unhealthy"}.get(state, "None")
            replicas = len(st.get("replicas") or [])
            if not replicas and (st.get("running") or (state == azure_rules.FAILED and st.get("pid"))):
                replicas = 1
        else:
            running, health, replicas = "Stopped", "None", 0
        fqdn = app_rec["private"].get("fqdn", "")
        app_id = app_rec["id"]
        return {
            "id": f"{app_id}/revisions/{r['name']}",
            "name": r["name"],
            "type": Revisions.type,
            "properties": {
                "createdTime": r["created"],
                "lastActiveTime": now_iso() if latest else r["created"],
                "fqdn": fqdn,
                "template": copy.deepcopy(r["template"]),
                "active": latest,
                "replicas": replicas,
                "trafficWeight": 100 if latest else 0,
                "healthState": health,
                "provisioningState": "Provisioned",
                "runningState": running,
            },
        }

    def _find(self, mgr, ident, rid):
        app_id = rid.rsplit("/revisions/", 1)[0]
        app = mgr.get_record(app_id)
        if app is None:
            return None, None
        for r in app["private"]["revisions"]:
            if r["name"].lower() == ident.names[-1].lower():
                return app, r
        return app, None

    def children(self, mgr, parent_rec, child_type):
        return [self.revision_view(mgr, parent_rec, r) for r in parent_rec["private"]["revisions"]]

    def implicit(self, mgr, ident, rid):
        app, r = self._find(mgr, ident, rid)
        if r is None:
            return None
        return {"id": rid, "type": self.type, "body": None, "private": {"app": app, "rev": r}}

    def view(self, mgr, rec):
        return self.revision_view(mgr, rec["private"]["app"], rec["private"]["rev"])

    def put(self, mgr, ident, rid, body, old, g):
        raise ArmError(405, "MethodNotAllowed", "Revisions are created by updating the container app.")

    def action(self, mgr, rec, name, req):
        app, r = rec["private"]["app"], rec["private"]["rev"]
        latest = app["private"]["revisions"][-1]["name"] == r["name"]
        if name.lower() in ("restart", "activate") and req.method == "POST":
            if not latest:
                raise ArmError(
                    400,
                    "BadRequest",
                    f"Revision '{r['name']}' is not active; only the active revision can be restarted.",
                )
            mgr.s.runtime.restart(app["id"].lower())
            # ContainerAppsRevisions_RestartRevision: 200 "Container App revision was restarted", no
            # schema (azure-rest-api-specs Microsoft.App ContainerAppsRevisions.json, 2025-07-01 and
            # 2026-01-01); azure-cli's ContainerAppClient.restart_revision returns r.json() of it, so
            # the body is JSON: an empty object, which `az containerapp revision restart` prints.
            return json_response(200, {})
        if name.lower() == "deactivate" and req.method == "POST":
            if latest:
                mgr.s.runtime.remove(app["id"].lower())
            return Response(200, {}, b"")
        return super().action(mgr, rec, name, req)


def _replica_states(mgr, app_rec):
    """What the runtime tells of the latest revision's replicas, one dict each in the shape of
    `Runtime.status()` (running, ready, pid, restarts, pulling; optional name, created): the runtime's scale
    rule lists each of its replicas in status()["replicas"] (runtime/container_runtime.py)."""
    st = ContainerApps().status(mgr, app_rec)
    if not st.get("running") and not st.get("ready"):
        return []
    many = st.get("replicas")
    if not many:
        return [st]
    return [
        {
            **r,
            "created": datetime.fromtimestamp(r["created"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if isinstance(r.get("created"), (int, float))
            else r.get("created"),
        }
        for r in many
    ]


def replica_views(mgr, app_rec, rev):
    """The Replica resources of a revision (ContainerAppsRevisionReplicas_ListReplicas / GetReplica,
    azure-rest-api-specs Microsoft.App ContainerAppsRevisions.json, definitions Replica and
    ReplicaContainer): runningState Running | NotRunning | Unknown, each container's runningState
    Running | Terminated | Waiting. Only the active (latest) revision has replicas; each is named
    `{revision}-{n}` (a live app's look like `{revision}-{hash}-{suffix}`; clients take the name from
    this list: azure-cli's `_set_ssh_defaults` uses `replicas[0]["name"]`)."""
    revs = app_rec["private"]["revisions"]
    if rev["name"] != revs[-1]["name"]:
        return []
    app_id = app_rec["id"]
    cname = (rev["template"].get("containers") or [{}])[0].get("name", "main")
    base = f"{app_id}/revisions/{rev['name']}"
    out = []
    for i, st in enumerate(_replica_states(mgr, app_rec)):
        name = st.get("name") or f"{rev['name']}-{i}"
        waiting = st.get("pulling") or not st.get("pid")
        out.append(
            {
                "id": f"{base}/replicas/{name}",
                "name": name,
                "type": Replicas.type,
                "properties": {
                    "createdTime": st.get("created") or rev["created"],
                    "runningState": "Running" if st.get("ready") else "NotRunning",
                    "containers": [
                        {
                            "name": cname,
                            "containerId": str(st.get("pid") or ""),
                            "ready": bool(st.get("ready")),
                            "started": bool(st.get("pid")),
                            "restartCount": int(st.get("restarts") or 0),
                            "runningState": "Waiting" if waiting else "Running",
                            # the console log stream of this container (runtime/logstream.py), the
                            # path az builds from the app's eventStreamEndpoint
                            "logStreamEndpoint": (
                                f"{mgr.s.url}/subscriptions/{mgr.s.subscription_id}/resourceGroups/"
                                f"{app_id.split('/')[4]}/containerApps/{app_rec['body']['name']}/revisions/"
                                f"{rev['name']}/replicas/{name}/containers/{cname}/logstream"
                            ),
                        }
                    ],
                    "initContainers": [],
                },
            }
        )
    return out


class Replicas(Kind):
    """Microsoft.App/containerApps/revisions/replicas: read-only, listed and shown from the runtime."""

    type = "Microsoft.App/containerApps/revisions/replicas"
    api_versions = ManagedEnvironments.api_versions
    tracked = False

    def children(self, mgr, parent_rec, child_type):
        return replica_views(mgr, parent_rec["private"]["app"], parent_rec["private"]["rev"])

    def implicit(self, mgr, ident, rid):
        app = mgr.get_record(rid.rsplit("/revisions/", 1)[0])
        rev_name = ident.names[-2].lower()
        r = next(
            (
                x
                for x in (app or {"private": {"revisions": []}})["private"]["revisions"]
                if x["name"].lower() == rev_name
            ),
            None,
        )
        if r is None:
            return None
        for v in replica_views(mgr, app, r):
            if v["name"].lower() == ident.names[-1].lower():
                return {"id": v["id"], "type": self.type, "body": v, "private": {}}
        return None

    def put(self, mgr, ident, rid, body, old, g):
        raise ArmError(405, "MethodNotAllowed", "Replicas are created by the revision's scale rules.")


class Jobs(Kind):
    """Container Apps jobs, as AI Toolkit's fine-tuning deploys one: stored and shown, never run
    (nothing here starts an execution). Rules: the environment must exist and hold the named
    workload profile, as for a container app
    (learn.microsoft.com/rest/api/resource-manager/containerapps/jobs/create-or-update)."""

    type = "Microsoft.App/jobs"
    api_versions = ManagedEnvironments.api_versions

    def put(self, mgr, ident, rid, body, old, g):
        name = ident.names[0]
        pin = copy.deepcopy(body.get("properties") or {})
        env = _check_name_environment_profile(
            mgr, name, pin, ("environmentId", "managedEnvironmentId"), "ContainerAppJobInvalidName", "Container App Job"
        )
        loc = self.location(body, g)
        wp_name = pin.get("workloadProfileName")
        config = pin.get("configuration") or {}
        if config.get("triggerType") not in ("Manual", "Schedule", "Event"):
            raise ArmError(
                400, "InvalidRequestContent", "properties.configuration.triggerType must be Manual, Schedule or Event."
            )
        config.pop("secrets", None)  # values are never shown; the stand-in keeps none for jobs
        out = self.common(rid, name, body, loc)
        out["properties"] = {
            "provisioningState": "Succeeded",
            "environmentId": env["id"],
            "workloadProfileName": wp_name,
            "configuration": config,
            "template": pin.get("template") or {},
        }
        return {"id": rid, "body": out, "private": {}}


def image_pull_error(mgr, app):
    """Why the app's image cannot be pulled from a registry of the stand-in, or None.
    A registry entry with an identity pulls with that managed identity, which needs AcrPull on
    the registry; no admin user, no password
    (https://learn.microsoft.com/azure/container-apps/managed-identity-image-pull). The message
    reads as Azure's failed pull (UNAUTHORIZED / MANIFEST_UNKNOWN,
    https://learn.microsoft.com/azure/container-registry/container-registry-troubleshoot-access)."""
    props = app.get("properties") or {}
    registries = {
        (r.get("server") or "").lower(): r for r in (props.get("configuration") or {}).get("registries") or []
    }
    for c in (props.get("template") or {}).get("containers") or []:
        image = str(c.get("image") or "")
        server = image.split("/", 1)[0].lower()
        registry = registry_of_server(mgr, server)
        if registry is None:
            continue
        head = f'Failed to pull image "{image}": '
        entry = registries.get(server)
        if entry is None or not entry.get("identity"):
            return (
                head + "UNAUTHORIZED: authentication required (no registries entry with an identity for " + server + ")"
            )
        identity = entry["identity"]
        assigned = (app.get("identity") or {}).get("userAssignedIdentities") or {}
        if identity.lower() != "system" and identity.lower() not in {k.lower() for k in assigned}:
            return head + f"the identity {identity} is not assigned to the container app"
        principal = principal_of(mgr, identity)
        if principal is None or not holds_role(mgr, principal, ACR_PULL_ROLE_ID, registry["id"]):
            return head + f"UNAUTHORIZED: the identity {identity} has no AcrPull role on the registry {server}"
        if not has_image(mgr, image):
            return head + 'MANIFEST_UNKNOWN: manifest tagged by "' + image.rsplit(":", 1)[-1] + '" is not found'
    return None


def pull_refusal(mgr, app_id):
    """Why the container app's image pull is refused now (image_pull_error), or None: the
    runtime's pull_gate (server.py)."""
    rec = mgr.get_record(app_id)
    return image_pull_error(mgr, rec["body"]) if rec is not None else None


def _identity_view(mgr, identity):
    """The app's managed identity as Azure returns it: each user-assigned identity with its
    principalId and clientId (ManagedServiceIdentity, azure-rest-api-specs common-types)."""
    out = copy.deepcopy(identity) if isinstance(identity, dict) else identity
    assigned = (out or {}).get("userAssignedIdentities") if isinstance(out, dict) else None
    for identity_id in list(assigned or {}):
        rec = mgr.get_record(identity_id)
        if rec is not None:
            assigned[identity_id] = {
                "principalId": rec["private"]["principalId"],
                "clientId": rec["private"]["clientId"],
            }
    return out
