"""The template against docs/contracts.md "Template", docs/serving.md "Probes", docs/design.md
"Workspace files", and the parameter names the extension passes (src/aitk/azext_aitk)."""

import json
import re

import pytest

from template import _arm

ROOT = _arm.ROOT
OUTPUTS = [
    "SUBSCRIPTION_ID",
    "RESOURCE_GROUP_NAME",
    "STORAGE_ACCOUNT_NAME",
    "FILE_SHARE_NAME",
    "ACA_APP_NAME",
    "ACA_APP_ENDPOINT",
]
NAMES = [
    "storageAccountName",
    "fileShareName",
    "acaEnvironmentName",
    "acaEnvironmentStorageName",
    "acaAppName",
    "acaLogAnalyticsName",
]
EXTENSION_PARAMETERS = {  # what core/provision/provision_plan.py and gpu_profiles.py put, and their ARM types
    "location": "string",
    "apiKey": "securestring",
    "apiKeySecondary": "securestring",
    "image": "string",
    "workloadProfileName": "string",
    "workloadProfileType": "string",
    "cpu": "string",
    "memory": "string",
    "minReplicas": "int",
    "maximumInstanceCount": "int",
    "storageAccountExists": "bool",
    "fileShareExists": "bool",
    "acaEnvironmentExists": "bool",
    "acaLogAnalyticsExists": "bool",
    "defaultCommands": "array",
    "workloadProfileDedicated": "bool",
    # the HTTP scale rule's value (core/provision/scale_rule.py)
    "scaleConcurrentRequests": "int",
    # provision --image-registry (core/provision/image_registry.py)
    "imageFromRegistry": "bool",
    "imageRegistryName": "string",
    "imageRegistryServer": "string",
    "imageRegistryResourceGroup": "string",
}
TEMPLATE_ONLY_PARAMETERS = {"cooldownPeriod": "int"}  # a user sets it in inference.parameters.json


def test_parameters_and_types(template):
    params = template["parameters"]
    for name, ptype in {**EXTENSION_PARAMETERS, **TEMPLATE_ONLY_PARAMETERS}.items():
        assert params[name]["type"] == ptype, name
    for name in NAMES:
        assert params[name]["type"] == "string", name
    assert set(params) == set(EXTENSION_PARAMETERS) | set(TEMPLATE_ONLY_PARAMETERS) | set(NAMES)


def test_defaults(template):
    p = {n: s.get("defaultValue") for n, s in template["parameters"].items()}
    assert p["location"] == "[resourceGroup().location]"
    assert p["defaultCommands"] == ["python3", "-m", "aitk_serve"]
    assert (p["maximumInstanceCount"], p["minReplicas"]) == (1, 0)
    assert p["cooldownPeriod"] == 1800  # docs/serving.md "Cold starts": cost vs waiting
    assert p["image"] == "vllm/vllm-openai:v0.32.0"
    assert (p["workloadProfileName"], p["workloadProfileType"]) == ("gpu", "Consumption-GPU-NC8as-T4")
    assert (p["cpu"], p["memory"]) == ("8.0", "56Gi")
    for name in (
        "storageAccountExists",
        "fileShareExists",
        "acaEnvironmentExists",
        "acaLogAnalyticsExists",
        "workloadProfileDedicated",
    ):
        assert p[name] is False
    assert "defaultValue" not in template["parameters"]["apiKey"]
    assert "defaultValue" not in template["parameters"]["apiKeySecondary"]
    suffix = "substring(uniqueString(resourceGroup().id), 0, 5)"
    assert p["storageAccountName"] == f"[format('aitkinfer{{0}}', {suffix})]"
    for name in ("acaEnvironmentName", "acaAppName", "acaLogAnalyticsName"):
        assert suffix in p[name], name


def test_default_names_are_valid():
    """Default names with a worst-case 5-char uniqueString suffix fit Azure's naming rules."""
    suffix = "0a1b2"
    assert re.fullmatch(r"[a-z0-9]{3,24}", "aitkinfer" + suffix)
    assert re.fullmatch(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", "aitk-infer-" + suffix)  # container app
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]", "aitk-inference")  # share


def test_extension_profiles_fit(template):
    from azext_aitk.core import gpu_profiles

    for profile in gpu_profiles.PROFILES.values():
        for name, value in gpu_profiles.template_parameters(profile).items():
            ptype = template["parameters"][name]["type"]
            assert ptype == {"workloadProfileDedicated": "bool"}.get(name, "string"), name
            assert isinstance(value, bool if ptype == "bool" else str), name
        float(profile.cpu)  # json(parameters('cpu')) must give a number


def test_outputs_exact(template):
    outputs = template["outputs"]
    assert list(outputs) == OUTPUTS
    assert all(o["type"] == "string" for o in outputs.values())
    assert outputs["ACA_APP_ENDPOINT"]["value"] == (
        "[format('https://{0}', reference(resourceId('Microsoft.App/containerApps', "
        "parameters('acaAppName')), '2025-07-01').configuration.ingress.fqdn)]"
    )
    assert outputs["SUBSCRIPTION_ID"]["value"] == "[subscription().subscriptionId]"
    assert outputs["RESOURCE_GROUP_NAME"]["value"] == "[resourceGroup().name]"


def test_container(resources):
    app = resources["Microsoft.App/containerApps"]["properties"]
    (container,) = app["template"]["containers"]
    assert container["command"] == "[parameters('defaultCommands')]"
    assert container["image"] == "[parameters('image')]"
    env = {e["name"]: e for e in container["env"]}
    assert env["AITK_API_KEY"] == {"name": "AITK_API_KEY", "secretRef": "api-key"}
    assert env["AITK_MOUNT"]["value"] == "/mount"
    assert env["PYTHONPATH"]["value"] == "/mount/aitk/launcher"
    assert container["resources"] == {"cpu": "[json(parameters('cpu'))]", "memory": "[parameters('memory')]"}
    assert container["volumeMounts"] == [{"volumeName": "share", "mountPath": "/mount"}]
    assert app["template"]["volumes"] == [
        {"name": "share", "storageType": "AzureFile", "storageName": "[parameters('acaEnvironmentStorageName')]"}
    ]
    assert app["configuration"]["ingress"]["targetPort"] == 8000
    assert app["workloadProfileName"] == "[parameters('workloadProfileName')]"
    scale = app["template"]["scale"]
    assert scale["minReplicas"] == "[parameters('minReplicas')]"
    assert scale["maxReplicas"] == "[parameters('maximumInstanceCount')]"
    assert scale["cooldownPeriod"] == "[parameters('cooldownPeriod')]"
    # what one replica carries, as provision derives it (docs/serving.md "Scale-out")
    assert [r["http"]["metadata"]["concurrentRequests"] for r in scale["rules"]] == [
        "[string(parameters('scaleConcurrentRequests'))]"
    ]
    # caches on the share survive cold starts
    assert env["VLLM_CACHE_ROOT"]["value"] == "/mount/aitk/cache/vllm"
    assert env["HF_HOME"]["value"] == "/mount/aitk/cache/huggingface"


def _serving_probe_table():
    text = (ROOT / "docs" / "serving.md").read_text(encoding="utf-8")
    section = text.split("## Probes", 1)[1]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0] in ("startup", "liveness", "readiness"):
            rows[cells[0].capitalize()] = tuple(int(c) for c in cells[1:5])
    assert len(rows) == 3, "docs/serving.md's probe table changed shape"
    return rows


def test_probes_match_serving_doc(resources):
    (container,) = resources["Microsoft.App/containerApps"]["properties"]["template"]["containers"]
    want = _serving_probe_table()
    got = {}
    for probe in container["probes"]:
        assert probe["httpGet"] == {"path": "/health", "port": 8000}
        got[probe["type"]] = (
            probe["initialDelaySeconds"],
            probe["periodSeconds"],
            probe["timeoutSeconds"],
            probe["failureThreshold"],
        )
    assert got == want
    startup = got["Startup"]
    assert startup[0] + startup[3] * startup[1] >= 900, "start-up budget for a large model"
    assert startup[1] <= 10, "a ready server takes traffic within 10 s"
    # within the limits Azure (and the stand-in) enforce on each field
    from azure_standin.runtime import azure_rules  # pylint: disable=import-outside-toplevel

    assert azure_rules.probe_errors(container["probes"]) == []


def test_reuse_conditions(resources):
    """Each *Exists parameter turns its resource off; the rest always deploy (idempotent PUTs)."""
    want = {
        "Microsoft.Storage/storageAccounts": "storageAccountExists",
        "Microsoft.Storage/storageAccounts/fileServices/shares": "fileShareExists",
        "Microsoft.OperationalInsights/workspaces": "acaLogAnalyticsExists",
        "Microsoft.App/managedEnvironments": "acaEnvironmentExists",
    }
    pull = {"Microsoft.ManagedIdentity/userAssignedIdentities", "Microsoft.Resources/deployments"}
    for rtype, r in resources.items():
        if rtype in want:
            assert r["condition"] == f"[not(parameters('{want[rtype]}'))]"
        elif rtype in pull:  # only when the image comes from the user's registry
            assert r["condition"] == "[parameters('imageFromRegistry')]"
        else:
            assert "condition" not in r


def test_reads_work_for_existing_resources(template):
    """Reads of the reusable resources go through resourceId(), never a template-internal name, so
    they work whether the resource was deployed here or already existed."""
    text = json.dumps(template)
    assert (
        "listKeys(resourceId('Microsoft.Storage/storageAccounts', parameters('storageAccountName')), '2025-06-01').keys[0].value"
        in text
    )
    assert (
        "reference(resourceId('Microsoft.OperationalInsights/workspaces', parameters('acaLogAnalyticsName')), '2025-02-01').customerId"
        in text
    )
    assert (
        "listKeys(resourceId('Microsoft.OperationalInsights/workspaces', parameters('acaLogAnalyticsName')), '2025-02-01').primarySharedKey"
        in text
    )


def test_workload_profiles(template, resources):
    env = resources["Microsoft.App/managedEnvironments"]["properties"]
    assert env["workloadProfiles"] == (
        "[if(parameters('workloadProfileDedicated'), "
        "variables('workloadProfilesDedicated'), "
        "variables('workloadProfilesServerless'))]"
    )
    v = template["variables"]
    consumption = {"name": "Consumption", "workloadProfileType": "Consumption"}
    gpu = {"name": "[parameters('workloadProfileName')]", "workloadProfileType": "[parameters('workloadProfileType')]"}
    assert v["workloadProfilesServerless"] == [consumption, gpu]
    assert v["workloadProfilesDedicated"] == [
        consumption,
        dict(gpu, minimumCount="[parameters('minReplicas')]", maximumCount="[parameters('maximumInstanceCount')]"),
    ]
    assert env["appLogsConfiguration"]["destination"] == "log-analytics"


def test_storage_and_share(resources):
    sa = resources["Microsoft.Storage/storageAccounts"]
    assert (sa["kind"], sa["sku"]["name"]) == ("StorageV2", "Standard_LRS")
    assert sa["properties"]["largeFileSharesState"] == "Enabled"
    share = resources["Microsoft.Storage/storageAccounts/fileServices/shares"]
    assert share["properties"]["shareQuota"] == 1024
    la = resources["Microsoft.OperationalInsights/workspaces"]["properties"]
    assert la == {"sku": {"name": "PerGB2018"}, "retentionInDays": 30}
    storage = resources["Microsoft.App/managedEnvironments/storages"]["properties"]["azureFile"]
    assert storage["accessMode"] == "ReadWrite"
    assert storage["shareName"] == "[parameters('fileShareName')]"


def test_parameters_file_names(template):
    params = _arm.parameters_file()["parameters"]
    assert set(params) <= set(template["parameters"])
    for name in NAMES:
        assert params[name] == {"value": None}, name
    assert params["defaultCommands"]["value"] == template["parameters"]["defaultCommands"]["defaultValue"]
    assert isinstance(params["maximumInstanceCount"]["value"], int)
    assert "apiKey" not in params and "apiKeySecondary" not in params


@pytest.mark.parametrize("name", ["inference.bicep", "inference.json", "inference.parameters.json"])
def test_shipped_files_exist(name):
    assert (_arm.TEMPLATES / name).is_file()


def test_image_pull_from_registry(template, resources):
    """provision --image-registry: the app pulls with a user-assigned identity that holds AcrPull
    (built-in role 7f951dda-4ed3-4680-a7ca-43fe172d538d,
    https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/containers#acrpull)
    on the registry itself, no admin user or password; the app waits for the role assignment, so
    its first pull is authorized (https://learn.microsoft.com/azure/container-apps/managed-identity-image-pull)."""
    p = {n: s.get("defaultValue") for n, s in template["parameters"].items()}
    assert (p["imageFromRegistry"], p["imageRegistryName"], p["imageRegistryServer"]) == (False, "", "")
    v = template["variables"]
    assert v["acrPullRoleId"] == "7f951dda-4ed3-4680-a7ca-43fe172d538d"
    identity_id = "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('pullIdentityName'))]"
    assert v["appIdentityPull"] == {"type": "UserAssigned", "userAssignedIdentities": {identity_id: {}}}
    assert v["registriesPull"] == [{"server": "[parameters('imageRegistryServer')]", "identity": identity_id}]
    assert (v["appIdentityNone"], v["registriesNone"]) == ({"type": "None"}, [])
    # the role assignment: a module deployed in the registry's resource group (this one by default,
    # another of the subscription with imageRegistryResourceGroup), as a role assignment is deployed
    # at its scope (https://learn.microsoft.com/azure/role-based-access-control/role-assignments-template#scope)
    assert p["imageRegistryResourceGroup"] == ""
    assert v["imageRegistryGroup"] == (
        "[if(empty(parameters('imageRegistryResourceGroup')), resourceGroup().name, "
        "parameters('imageRegistryResourceGroup'))]"
    )
    module = resources["Microsoft.Resources/deployments"]
    assert module["resourceGroup"] == "[variables('imageRegistryGroup')]"
    assert module["properties"]["expressionEvaluationOptions"] == {"scope": "inner"}
    passed = module["properties"]["parameters"]
    registry_id = "resourceId(variables('imageRegistryGroup'), 'Microsoft.ContainerRegistry/registries', "
    # the same GUID as before the module for a registry of this group (a re-provision keeps its assignment)
    assert passed["roleAssignmentName"]["value"].startswith(f"[guid({registry_id}parameters('imageRegistryName'))")
    assert "acrPullRoleId" in passed["roleDefinitionId"]["value"]
    assert identity_id[1:-1] in passed["principalId"]["value"]
    (role,) = module["properties"]["template"]["resources"]
    assert role["type"] == "Microsoft.Authorization/roleAssignments"
    assert role["scope"] == "[format('Microsoft.ContainerRegistry/registries/{0}', parameters('registryName'))]"
    assert role["properties"]["principalType"] == "ServicePrincipal"
    app = resources["Microsoft.App/containerApps"]
    cond = "parameters('imageFromRegistry')"
    assert app["identity"] == f"[if({cond}, variables('appIdentityPull'), variables('appIdentityNone'))]"
    assert app["properties"]["configuration"]["registries"] == (
        f"[if({cond}, variables('registriesPull'), variables('registriesNone'))]"
    )
    assert any("'Microsoft.Resources/deployments', format('aitk-acr-pull-" in d for d in app["dependsOn"])
    text = json.dumps(template)
    assert "adminUserEnabled" not in text and "passwordSecretRef" not in text
