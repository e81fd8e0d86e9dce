"""Nested deployments (Microsoft.Resources/deployments in a template) as Resource Manager documents
them: a deployment of its own in the target resource group (`resourceGroup`), expressions evaluated
in the nested template (`inner`, with the parameters the parent passes) or in the parent (`outer`,
the default), its outputs read by the parent with reference(), dependsOn across; what the stand-in
does not play refused with one InvalidTemplate before anything is deployed.
https://learn.microsoft.com/azure/azure-resource-manager/templates/linked-templates#nested-template
https://learn.microsoft.com/azure/azure-resource-manager/templates/deploy-to-resource-group#deploy-to-multiple-resource-groups"""

import copy
import json

import pytest

from standin.conftest import INFERENCE_TEMPLATE
from standin.test_arm_rest import API_DEP, deploy

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities"
PARENT_RG, OTHER_RG = "rg-nest-parent", "rg-nest-other"


def _parent(scope="inner", group="[parameters('otherGroup')]", nested_extra=None):
    """A parent that creates identity `own-id` in its group after a nested deployment `grant` made
    `far-id` in `group`; the parent's outputs read the nested deployment's."""
    inner = {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {"idName": {"type": "string"}},
        "resources": [
            {"type": IDENTITY, "apiVersion": "2023-01-31", "name": "[parameters('idName')]", "location": "eastus"}
        ],
        "outputs": {
            "principalId": {
                "type": "string",
                "value": f"[reference(resourceId('{IDENTITY}', parameters('idName')), '2023-01-31').principalId]",
            },
            "group": {"type": "string", "value": "[resourceGroup().name]"},
        },
    }
    properties = {
        "mode": "Incremental",
        "expressionEvaluationOptions": {"scope": scope},
        "template": inner,
        "parameters": {"idName": {"value": "[parameters('farName')]"}},
    }
    if scope == "outer":  # the parent's parameters, resourceGroup() of the parent
        inner.pop("parameters")
        properties.pop("parameters")
        inner["resources"][0]["name"] = "[parameters('farName')]"
        # (no reference() to its own resources in an outer-scope nested template's outputs: they
        # resolve in the parent's group, linked-templates#expression-evaluation-scope-in-nested-templates)
        inner["outputs"]["principalId"]["value"] = "[parameters('farName')]"
    nested = {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "name": "grant",
        "resourceGroup": group,
        "properties": properties,
    }
    nested.update(nested_extra or {})
    nested_id = "[resourceId(parameters('otherGroup'), 'Microsoft.Resources/deployments', 'grant')]"
    return {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {"otherGroup": {"type": "string"}, "farName": {"type": "string"}},
        "resources": [
            nested,
            {
                "type": IDENTITY,
                "apiVersion": "2023-01-31",
                "name": "own-id",
                "location": "eastus",
                "tags": {"far": f"[reference({nested_id[1:-1]}, '2022-09-01').outputs.principalId.value]"},
                "dependsOn": [nested_id],
            },
        ],
        "outputs": {
            "farPrincipal": {
                "type": "string",
                "value": f"[reference({nested_id[1:-1]}, '2022-09-01').outputs.principalId.value]",
            },
            "nestedGroup": {"type": "string", "value": f"[reference({nested_id[1:-1]}).outputs.group.value]"},
        },
    }


@pytest.fixture(name="groups", scope="module")
def _groups(arm):
    arm.azure.create_resource_group(PARENT_RG, "eastus")
    arm.azure.create_resource_group(OTHER_RG, "westus")
    return arm


def _identity(arm, group, name):
    return arm.get(f"{arm.rg(group)}/providers/{IDENTITY}/{name}", "2023-01-31")


def test_inner_scope_deploys_into_the_other_group_and_the_parent_reads_its_outputs(groups):
    arm = groups
    d, states = deploy(arm, PARENT_RG, "nest-inner", _parent(), {"otherGroup": OTHER_RG, "farName": "far-inner"})
    assert states[-1] == "Succeeded", d
    far = _identity(arm, OTHER_RG, "far-inner")
    assert far.status_code == 200, far.text
    assert _identity(arm, PARENT_RG, "far-inner").status_code == 404
    outputs = d["properties"]["outputs"]
    assert outputs["farPrincipal"]["value"] == far.json()["properties"]["principalId"]
    assert outputs["nestedGroup"]["value"] == OTHER_RG  # inner: resourceGroup() is the nested target
    own = _identity(arm, PARENT_RG, "own-id").json()
    assert own["tags"]["far"] == far.json()["properties"]["principalId"]  # dependsOn: deployed after it
    # the nested deployment is a deployment of the other group, with its own operations and outputs
    nested = arm.get(f"{arm.rg(OTHER_RG)}/providers/Microsoft.Resources/deployments/grant", API_DEP).json()
    assert nested["properties"]["provisioningState"] == "Succeeded"
    assert nested["properties"]["outputs"]["group"]["value"] == OTHER_RG
    assert nested["properties"]["parameters"]["idName"]["value"] == "far-inner"
    ops = arm.get(f"{arm.rg(OTHER_RG)}/providers/Microsoft.Resources/deployments/grant/operations", API_DEP).json()
    assert [o["properties"]["targetResource"]["resourceName"] for o in ops["value"]] == ["far-inner"]
    parent_ops = arm.get(
        f"{arm.rg(PARENT_RG)}/providers/Microsoft.Resources/deployments/nest-inner/operations", API_DEP
    ).json()["value"]
    targets = [o["properties"]["targetResource"]["id"].lower() for o in parent_ops]
    assert targets[0] == f"{arm.rg(OTHER_RG)}/providers/Microsoft.Resources/deployments/grant".lower()


def test_outer_scope_uses_the_parents_parameters_and_resource_group(groups):
    arm = groups
    d, states = deploy(arm, PARENT_RG, "nest-outer", _parent("outer"), {"otherGroup": OTHER_RG, "farName": "far-outer"})
    assert states[-1] == "Succeeded", d
    # the resource goes to the nested deployment's group; its expressions are the parent's
    assert _identity(arm, OTHER_RG, "far-outer").status_code == 200
    assert d["properties"]["outputs"]["nestedGroup"]["value"] == PARENT_RG
    assert d["properties"]["outputs"]["farPrincipal"]["value"] == "far-outer"


def test_a_missing_target_group_fails_the_deployment_not_the_stand_in(groups):
    arm = groups
    d, states = deploy(arm, PARENT_RG, "nest-nogroup", _parent(), {"otherGroup": "rg-nest-absent", "farName": "x1"})
    assert states[-1] == "Failed"
    detail = d["properties"]["error"]["details"][0]
    assert detail["code"] == "ResourceGroupNotFound" and "rg-nest-absent" in detail["message"]
    ops = arm.get(
        f"{arm.rg(PARENT_RG)}/providers/Microsoft.Resources/deployments/nest-nogroup/operations", API_DEP
    ).json()["value"]
    assert [o["properties"]["targetResource"]["resourceName"] for o in ops] == ["grant"]  # own-id never started


@pytest.mark.parametrize(
    "edit,says",
    [
        ({"resourceGroup": "x", "subscriptionId": "11111111-1111-1111-1111-111111111111"}, "another subscription"),
        ({"properties": {"mode": "Incremental", "templateLink": {"uri": "https://example.com/t.json"}}}, "linked"),
        ({"properties": {"mode": "Complete", "template": {"resources": []}}}, "mode 'Complete'"),
        (
            {"properties": {"expressionEvaluationOptions": {"scope": "middle"}, "template": {"resources": []}}},
            "scope must be 'inner' or 'outer'",
        ),
        (
            {"properties": {"template": {"resources": []}, "parameters": {"a": {"value": 1}}}},
            "passed only with expressionEvaluationOptions scope 'inner'",
        ),
        (
            {
                "properties": {
                    "expressionEvaluationOptions": {"scope": "inner"},
                    "template": {"resources": [], "outputs": {"t": {"type": "string", "value": "[utcNow()]"}}},
                }
            },
            "utcNow",
        ),
        ({"copy": {"name": "c", "count": 2}}, "copy"),
    ],
)
def test_what_the_stand_in_does_not_play_is_refused_before_anything_is_deployed(groups, edit, says):
    arm = groups
    template = _parent(nested_extra=copy.deepcopy(edit))
    name = "nest-refused"
    body = {
        "properties": {
            "mode": "Incremental",
            "template": template,
            "parameters": {"otherGroup": {"value": OTHER_RG}, "farName": {"value": "never"}},
        }
    }
    r = arm.put(f"{arm.rg(PARENT_RG)}/providers/Microsoft.Resources/deployments/{name}", API_DEP, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "InvalidTemplate" and says in error["message"], error
    assert _identity(arm, OTHER_RG, "never").status_code == 404


def test_what_if_lists_the_nested_templates_resources_in_their_group(groups, az_signed_in):
    arm = groups
    template = _parent()

    path = arm.azure.state_dir / "nested-what-if.json"
    path.write_text(json.dumps(template))
    out = az_signed_in.json(
        "deployment",
        "group",
        "what-if",
        "-g",
        PARENT_RG,
        "-n",
        "nest-wi",
        "--template-file",
        str(path),
        "--parameters",
        f"otherGroup={OTHER_RG}",
        "farName=far-whatif",
        "--no-pretty-print",
    )
    changes = {c["resourceId"].lower(): c["changeType"] for c in out["changes"]}
    assert changes[f"{arm.rg(OTHER_RG)}/providers/{IDENTITY}/far-whatif".lower()] == "Create"
    assert not any("microsoft.resources/deployments" in k for k in changes)


def test_an_app_runs_in_an_environment_of_another_group_with_its_share_linked_by_a_nested_deployment(arm):
    """What serving from fine-tuning's environment in another resource group takes: the app's
    managedEnvironmentId is a full resource id, so it may name an environment of another group of
    the subscription (learn.microsoft.com/rest/api/resource-manager/containerapps/container-apps/create-or-update,
    `managedEnvironmentId`: "Resource ID of environment"); the environment's Azure Files storage is a
    child of the environment, so it is deployed in the environment's group by a nested deployment."""
    azure = arm.azure
    azure.create_resource_group("rg-env-home", "eastus")
    azure.create_resource_group("rg-env-user", "eastus")
    home, states = deploy(
        arm,
        "rg-env-home",
        "home",
        json.loads(INFERENCE_TEMPLATE.read_text()),
        {"apiKey": "k1", "apiKeySecondary": "k2", "defaultCommands": ["python3", "-c", "import time; time.sleep(30)"]},
    )
    assert states[-1] == "Succeeded", home["properties"].get("error")
    outputs = {k: v["value"] for k, v in home["properties"]["outputs"].items()}
    env_name = next(
        r["body"]["name"]
        for r in azure.arm.res.values()
        if r["type"] == "Microsoft.App/managedEnvironments" and r["rg"] == "rg-env-home"
    )
    storage = "Microsoft.App/managedEnvironments/storages"
    link = {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "name": "link-share",
        "resourceGroup": "rg-env-home",
        "properties": {
            "mode": "Incremental",
            "expressionEvaluationOptions": {"scope": "inner"},
            "parameters": {
                "env": {"value": env_name},
                "account": {"value": outputs["STORAGE_ACCOUNT_NAME"]},
                "key": {
                    "value": "[listKeys(resourceId('rg-env-home', 'Microsoft.Storage/storageAccounts', "
                    f"'{outputs['STORAGE_ACCOUNT_NAME']}'), '2025-06-01').keys[0].value]"
                },
                "share": {"value": outputs["FILE_SHARE_NAME"]},
            },
            "template": {
                "$schema": SCHEMA,
                "contentVersion": "1.0.0.0",
                "parameters": {
                    "env": {"type": "string"},
                    "account": {"type": "string"},
                    "key": {"type": "securestring"},
                    "share": {"type": "string"},
                },
                "resources": [
                    {
                        "type": storage,
                        "apiVersion": "2025-07-01",
                        "name": "[format('{0}/{1}', parameters('env'), 'user-share')]",
                        "properties": {
                            "azureFile": {
                                "accountName": "[parameters('account')]",
                                "accountKey": "[parameters('key')]",
                                "shareName": "[parameters('share')]",
                                "accessMode": "ReadWrite",
                            }
                        },
                    }
                ],
            },
        },
    }
    env_id = f"[resourceId('rg-env-home', 'Microsoft.App/managedEnvironments', '{env_name}')]"
    app = {
        "type": "Microsoft.App/containerApps",
        "apiVersion": "2025-07-01",
        "name": "user-app",
        "location": "eastus",
        "properties": {
            "managedEnvironmentId": env_id,
            "workloadProfileName": "gpu",
            "configuration": {"ingress": {"external": True, "targetPort": 8000}},
            "template": {
                "containers": [
                    {
                        "name": "c",
                        "image": "vllm/vllm-openai:v0.32.0",
                        "command": ["python3", "-c", "import time; time.sleep(30)"],
                        "resources": {"cpu": 8.0, "memory": "56Gi"},
                        "volumeMounts": [{"volumeName": "share", "mountPath": "/mount"}],
                    }
                ],
                "volumes": [{"name": "share", "storageType": "AzureFile", "storageName": "user-share"}],
                "scale": {"minReplicas": 0, "maxReplicas": 1},
            },
        },
        "dependsOn": ["[resourceId('rg-env-home', 'Microsoft.Resources/deployments', 'link-share')]"],
    }
    template = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [link, app]}
    d, states = deploy(arm, "rg-env-user", "user", template, {})
    assert states[-1] == "Succeeded", d["properties"].get("error")
    got = arm.get(f"{arm.rg('rg-env-user')}/providers/Microsoft.App/containerApps/user-app").json()
    home_env = f"{arm.rg('rg-env-home')}/providers/Microsoft.App/managedEnvironments/{env_name}"
    assert got["properties"]["managedEnvironmentId"].lower() == home_env.lower()
    linked = arm.get(f"{home_env}/storages/user-share")
    assert linked.status_code == 200 and "accountKey" not in linked.json()["properties"]["azureFile"]
    # the nested deployment's secure parameter is not shown (ARM never returns secure values)
    nested = arm.get(f"{arm.rg('rg-env-home')}/providers/Microsoft.Resources/deployments/link-share", API_DEP).json()
    assert nested["properties"]["parameters"]["key"] == {"type": "SecureString"}
    assert arm.delete(f"{arm.rg('rg-env-user')}/providers/Microsoft.App/containerApps/user-app").status_code in (
        200,
        202,
        204,
    )
