"""Updates of Microsoft.App resources as asynchronous operations (arm/operations.py): a PATCH answers
202 with Azure-AsyncOperation and Location; for a short window the resource still shows its old
state; the operation then ends Succeeded (the update shows) or Failed (an environment is left
UpgradeFailed). Over raw REST, and with azure-cli's own containerapp client, which follows them."""

import json
import time

from standin.test_arm_rest import deploy

APP_API = "2025-07-01"
T4 = {"name": "gpu-t4", "workloadProfileType": "Consumption-GPU-NC8as-T4"}


def wait_operation(arm, accepted, timeout=60):
    """GET the Azure-AsyncOperation URL of a 202 until it is no longer InProgress; its last body."""
    url = accepted.headers["Azure-AsyncOperation"]
    deadline = time.monotonic() + timeout
    while True:
        body = arm.s.get(url).json()
        if body["status"] != "InProgress":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def _environment(arm, rg, name):
    """A workload-profiles environment with only the Consumption profile."""
    arm.azure.create_resource_group(rg, "eastus")
    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.App/managedEnvironments",
                "apiVersion": APP_API,
                "name": name,
                "location": "eastus",
                "properties": {"workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"}]},
            }
        ],
    }
    d, states = deploy(arm, rg, "env", template, {})
    assert states[-1] == "Succeeded", d
    return f"{arm.rg(rg)}/providers/Microsoft.App/managedEnvironments/{name}"


def _profiles(arm, env_id):
    return [p["name"] for p in arm.get(env_id, APP_API).json()["properties"]["workloadProfiles"]]


def test_a_patch_is_an_operation_and_the_resource_shows_its_old_state_meanwhile(arm):
    env_id = _environment(arm, "rg-lro", "lroenv")
    consumption = {"name": "Consumption", "workloadProfileType": "Consumption"}
    r = arm.patch(env_id, APP_API, json={"properties": {"workloadProfiles": [consumption, T4]}})
    assert r.status_code == 202 and r.text == "", r.text
    status_url = r.headers["Azure-AsyncOperation"]
    assert "/providers/Microsoft.App/locations/eastus/managedEnvironmentOperationStatuses/" in status_url
    assert r.headers["Location"] == status_url and r.headers["Retry-After"] == "1"

    # Meanwhile the environment shows what it was: a client that polls its provisioningState stops here.
    env = arm.get(env_id, APP_API).json()
    assert env["properties"]["provisioningState"] == "Succeeded" and _profiles(arm, env_id) == ["Consumption"]
    running = arm.s.get(status_url)
    assert running.status_code == 200 and running.json()["status"] == "InProgress", running.text
    assert running.headers["Retry-After"] == "1"

    done = wait_operation(arm, r)
    assert done["status"] == "Succeeded" and "endTime" in done and "error" not in done
    assert _profiles(arm, env_id) == ["Consumption", "gpu-t4"]


def test_a_failed_update_ends_failed_and_leaves_the_environment_upgrade_failed(arm):
    env_id = _environment(arm, "rg-lro-fail", "lrofailenv")
    arm.azure.fail_next_update(
        "Microsoft.App/managedEnvironments", "ManagedEnvironmentCapacityHeavyUsageError", "no capacity"
    )
    consumption = {"name": "Consumption", "workloadProfileType": "Consumption"}
    r = arm.patch(env_id, APP_API, json={"properties": {"workloadProfiles": [consumption, T4]}})
    assert r.status_code == 202
    assert arm.get(env_id, APP_API).json()["properties"]["provisioningState"] == "Succeeded"  # not yet
    done = wait_operation(arm, r)
    assert done["status"] == "Failed"
    assert done["error"] == {"code": "ManagedEnvironmentCapacityHeavyUsageError", "message": "no capacity"}
    env = arm.get(env_id, APP_API).json()
    assert env["properties"]["provisioningState"] == "UpgradeFailed" and _profiles(arm, env_id) == ["Consumption"]
    # a later update that works leaves it Succeeded again
    r = arm.patch(env_id, APP_API, json={"properties": {"workloadProfiles": [consumption, T4]}})
    assert wait_operation(arm, r)["status"] == "Succeeded"
    assert arm.get(env_id, APP_API).json()["properties"]["provisioningState"] == "Succeeded"


def test_a_bad_update_is_refused_at_once_not_accepted(arm):
    env_id = _environment(arm, "rg-lro-bad", "lrobadenv")
    bad = {"name": "x", "workloadProfileType": "NoSuchType"}
    r = arm.patch(env_id, APP_API, json={"properties": {"workloadProfiles": [bad]}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "WorkloadProfileInvalidType"
    assert "Azure-AsyncOperation" not in r.headers


def test_az_containerapp_env_workload_profile_add_follows_the_operation(arm, az_signed_in):
    """`az containerapp env workload-profile add` as a user types it: az's ManagedEnvironmentClient
    follows the Location; when az returns, the profile is there (no early exit on the old state)."""
    _environment(arm, "rg-lro-az", "lroazenv")
    az_signed_in.ok(
        "containerapp", "env", "workload-profile", "add", "-g", "rg-lro-az", "-n", "lroazenv",
        "--workload-profile-name", "gpu-t4", "--workload-profile-type", "Consumption-GPU-NC8as-T4",
    )  # fmt: skip
    env_id = f"{arm.rg('rg-lro-az')}/providers/Microsoft.App/managedEnvironments/lroazenv"
    assert _profiles(arm, env_id) == ["Consumption", "gpu-t4"]
    polled = [p for m, p, s in arm.azure.requests_log if m == "GET" and "managedEnvironmentOperationStatuses" in p]
    assert polled, "az did not follow the operation"

    # and a failure reaches the user as az reports it, the operation's error in it
    arm.azure.fail_next_update("Microsoft.App/managedEnvironments", "WorkloadProfileUpdateFailed", "it broke")
    proc = az_signed_in(
        "containerapp", "env", "workload-profile", "add", "-g", "rg-lro-az", "-n", "lroazenv",
        "--workload-profile-name", "gpu-a100", "--workload-profile-type", "Consumption-GPU-NC24-A100",
    )  # fmt: skip
    assert proc.returncode != 0 and "it broke" in proc.stderr, proc.stderr
    env = arm.get(env_id, APP_API).json()
    assert env["properties"]["provisioningState"] == "UpgradeFailed", json.dumps(env)[:300]
