"""Fine-tuning's job running in a Container Apps environment of ANOTHER resource group, through the real az
against the stand-in: provision does not serve from it (the template reads the environment in the app's own
group), says so in one warning line naming that group and the parameter that names an environment, makes its
own environment in the app's group, leaves fine-tuning's untouched; delete keeps fine-tuning's."""

import json

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.scenario import FAKE_PARAMETERS, LOCATION

RG = "aitk-ft-envelsewhere"
ENV_RG = "aitk-ft-envelsewhere-env"
JOB = "aiacajobelse"
ENV = "aienvelsew"
PROFILES = [
    {"name": "Consumption", "workloadProfileType": "Consumption"},
    {"name": "T4", "workloadProfileType": "Consumption-GPU-NC8as-T4"},
]


def _template(resources):
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": resources,
    }


def _deploy(az_cloud, tmp_path, group, name, resources):
    template = tmp_path / f"{name}.json"
    template.write_text(json.dumps(_template(resources)))
    _ok(az_cloud("deployment", "group", "create", "-g", group, "-n", name, "--template-file", str(template)))


def test_fine_tunings_environment_in_another_group_is_named_not_reused_and_kept(
    az_cloud, standin, fake_finetuning, provision_fake, tmp_path
):
    ws, _share = fake_finetuning("envelsewhere", RG, "aitkftelse01", job_name=JOB)
    _ok(az_cloud("group", "create", "-n", ENV_RG, "-l", LOCATION))
    env_id = (
        f"/subscriptions/{standin.subscription_id}/resourceGroups/{ENV_RG}/providers/"
        f"Microsoft.App/managedEnvironments/{ENV}"
    )
    environment = {
        "type": "Microsoft.App/managedEnvironments",
        "apiVersion": "2024-03-01",
        "name": ENV,
        "location": LOCATION,
        "properties": {"workloadProfiles": PROFILES},
    }
    _deploy(az_cloud, tmp_path, ENV_RG, "finetuning-env", [environment])
    job = {
        "type": "Microsoft.App/jobs",
        "apiVersion": "2024-03-01",
        "name": JOB,
        "location": LOCATION,
        "properties": {
            "environmentId": env_id,
            "workloadProfileName": "Consumption",
            "configuration": {"triggerType": "Manual", "replicaTimeout": 600},
            "template": {"containers": [{"name": "job", "image": "docker.io/library/python:3.12"}]},
        },
    }
    _deploy(az_cloud, tmp_path, RG, "finetuning-job", [job])

    def env_record():
        return _ok(az_cloud("resource", "show", "--ids", env_id, "-o", "json"))

    before = env_record()

    run = provision_fake(ws, RG, "--gpu-profile", "T4", "--min-replicas", "1", "--yes", *FAKE_PARAMETERS)
    stderr = run["provision"].stderr
    said = [line for line in stderr.splitlines() if f"'{ENV}'" in line and "not" in line]
    assert len(said) == 1, stderr
    line = said[0]
    assert line.startswith("WARNING:"), line
    assert f"resource group '{ENV_RG}'" in line and JOB in line, line
    assert "--parameters acaEnvironmentName=" in line, line
    reuses = [line for line in stderr.splitlines() if line.startswith("WARNING: Reuses:")]
    assert len(reuses) == 1 and ENV not in reuses[0] and "Container Apps environment" not in reuses[0], stderr

    # the app runs in an environment of its own group; fine-tuning's got no profile, no app
    app = _ok(az_cloud("resource", "show", "--ids", run["app_id"], "-o", "json"))
    app_env = app["properties"]["managedEnvironmentId"].lower()
    assert app_env.startswith(f"/subscriptions/{standin.subscription_id}/resourcegroups/{RG}/".lower()), app_env
    assert app_env != env_id.lower()
    assert env_record()["properties"]["workloadProfiles"] == before["properties"]["workloadProfiles"]
    assert standin.runtime.status(run["app_id"]).get("ready")  # it runs there

    _ok(az_cloud("aitk", "inference", "delete", "--yes", "-o", "json", cwd=ws))
    assert env_record()["id"].lower() == env_id.lower()  # fine-tuning's environment and its job stay
    jobs = _ok(az_cloud("resource", "list", "-g", RG, "--resource-type", "Microsoft.App/jobs", "-o", "json"))
    assert [j["name"] for j in jobs] == [JOB]
