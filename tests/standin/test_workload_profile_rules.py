"""AI Toolkit's fine-tuning resources (the ARM JSON equivalent of its finetuning.bicep) deploy on
the stand-in, and updates of an existing environment's workload profiles follow Azure's documented
rules (azure_standin/providers/app.py, _check_profile_update)."""

import json

from aitk_testkit.scenario import FINETUNING_TEMPLATE
from azure_standin.uniquestring import unique_string
from standin.test_arm_rest import deploy
from standin.test_async_operations import wait_operation

APP_API = "2025-07-01"


def _env(arm, rg, name):
    return arm.get(f"{arm.rg(rg)}/providers/Microsoft.App/managedEnvironments/{name}", APP_API)


def _patch_profiles(arm, rg, name, profiles):
    return arm.patch(
        f"{arm.rg(rg)}/providers/Microsoft.App/managedEnvironments/{name}",
        APP_API,
        json={"properties": {"workloadProfiles": profiles}},
    )


def test_the_original_finetuning_template_deploys_its_names_and_profiles(arm):
    arm.azure.create_resource_group("rg-ft-orig", "eastus")
    d, states = deploy(arm, "rg-ft-orig", "finetuning", json.loads(FINETUNING_TEMPLATE.read_text()), {})
    assert states[-1] == "Succeeded", d
    rg_id = f"/subscriptions/{arm.azure.subscription_id}/resourceGroups/rg-ft-orig"
    suffix = unique_string(rg_id)[:5]
    outputs = {k: v["value"] for k, v in d["properties"]["outputs"].items()}
    assert outputs["STORAGE_ACCOUNT_NAME"] == f"aistorage{suffix}"
    assert outputs["FILE_SHARE_NAME"] == f"aifileshare{suffix}"
    assert outputs["ACA_JOB_NAME"] == f"aiacajob{suffix}"
    env = _env(arm, "rg-ft-orig", f"aienv{suffix}").json()
    assert [(p["name"], p["workloadProfileType"]) for p in env["properties"]["workloadProfiles"]] == [
        ("Consumption", "Consumption"),
        ("GPU", "NC24-A100"),
    ]
    job = arm.get(f"{arm.rg('rg-ft-orig')}/providers/Microsoft.App/jobs/aiacajob{suffix}", APP_API).json()
    assert job["properties"]["environmentId"].lower() == env["id"].lower()
    assert job["properties"]["workloadProfileName"] == "GPU"
    assert job["properties"]["template"]["containers"][0]["command"][:2] == ["/bin/bash", "-c"]
    logs = arm.get(
        f"{arm.rg('rg-ft-orig')}/providers/Microsoft.OperationalInsights/workspaces/ailog{suffix}", "2022-10-01"
    ).json()
    la = env["properties"]["appLogsConfiguration"]["logAnalyticsConfiguration"]
    assert la["customerId"] == logs["properties"]["customerId"] and "sharedKey" not in la
    storages = arm.get(f"{env['id']}/storages", APP_API).json()["value"]
    assert [s["name"] for s in storages] == [f"aienvstorage{suffix}"]

    # A serverless GPU profile can be added to it later; a dedicated GPU one cannot.
    have = env["properties"]["workloadProfiles"]
    t4 = {"name": "gpu-t4", "workloadProfileType": "Consumption-GPU-NC8as-T4"}
    r = _patch_profiles(arm, "rg-ft-orig", f"aienv{suffix}", [*have, t4])
    assert r.status_code == 202, r.text  # an asynchronous operation (test_async_operations.py)
    assert wait_operation(arm, r)["status"] == "Succeeded"
    assert t4 in _env(arm, "rg-ft-orig", f"aienv{suffix}").json()["properties"]["workloadProfiles"]
    nc48 = {"name": "big", "workloadProfileType": "NC48-A100", "minimumCount": 0, "maximumCount": 1}
    r = _patch_profiles(arm, "rg-ft-orig", f"aienv{suffix}", [*have, t4, nc48])
    assert r.status_code == 400 and r.json()["error"]["code"] == "WorkloadProfileCannotBeAdded"
    assert "only be added when the environment is created" in r.json()["error"]["message"]
    names = [p["name"] for p in _env(arm, "rg-ft-orig", f"aienv{suffix}").json()["properties"]["workloadProfiles"]]
    assert names == ["Consumption", "GPU", "gpu-t4"]


def test_a_consumption_only_environment_takes_no_workload_profiles(arm):
    arm.azure.create_resource_group("rg-v1", "eastus")
    r = arm.put(
        f"{arm.rg('rg-v1')}/providers/Microsoft.App/managedEnvironments/v1env",
        APP_API,
        json={"location": "eastus", "properties": {}},
    )
    assert r.status_code in (200, 201), r.text
    r = _patch_profiles(arm, "rg-v1", "v1env", [{"name": "gpu", "workloadProfileType": "Consumption-GPU-NC8as-T4"}])
    assert r.status_code == 400 and r.json()["error"]["code"] == "ManagedEnvironmentTypeCannotBeChanged"
    assert "workloadProfiles" not in _env(arm, "rg-v1", "v1env").json()["properties"]


def test_a_serverless_gpu_profile_needs_a_region_that_offers_it(arm):
    arm.azure.create_resource_group("rg-noregion", "northeurope")
    r = arm.put(
        f"{arm.rg('rg-noregion')}/providers/Microsoft.App/managedEnvironments/cpuenv",
        APP_API,
        json={
            "location": "northeurope",
            "properties": {"workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"}]},
        },
    )
    assert r.status_code in (200, 201), r.text
    r = _patch_profiles(
        arm,
        "rg-noregion",
        "cpuenv",
        [
            {"name": "Consumption", "workloadProfileType": "Consumption"},
            {"name": "gpu", "workloadProfileType": "Consumption-GPU-NC8as-T4"},
        ],
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "RegionDoesNotSupportWorkloadProfile"
