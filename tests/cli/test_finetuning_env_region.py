"""Fine-tuning's Container Apps environment in a region without the GPU profile provision wants to
add to it, through the real az against the stand-in: Azure refuses the profile
(RegionDoesNotSupportWorkloadProfile, learn.microsoft.com/azure/container-apps/gpu-serverless-overview,
"Supported regions"), and provision says so in one line before anything is created or written."""

import json

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.scenario import FAKE_COMMAND, seed_finetuning_storage

RG = "aitk-ft-noregion"
JOB = "aiacajobnoreg"
ENV = "aienvnoreg"
ENV_REGION = "northeurope"  # no serverless GPU of any kind (the stand-in's region table)

# Fine-tuning's environment (a workload profiles environment, Consumption only) in North Europe and
# its job, whose environmentId is how provision finds the environment to reuse.
TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "resources": [
        {
            "type": "Microsoft.App/managedEnvironments",
            "apiVersion": "2024-03-01",
            "name": ENV,
            "location": ENV_REGION,
            "properties": {"workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"}]},
        },
        {
            "type": "Microsoft.App/jobs",
            "apiVersion": "2024-03-01",
            "name": JOB,
            "location": ENV_REGION,
            "properties": {
                "environmentId": f"[resourceId('Microsoft.App/managedEnvironments', '{ENV}')]",
                "workloadProfileName": "Consumption",
                "configuration": {"triggerType": "Manual", "replicaTimeout": 600},
                "template": {"containers": [{"name": "job", "image": "docker.io/library/python:3.12"}]},
            },
            "dependsOn": [f"[resourceId('Microsoft.App/managedEnvironments', '{ENV}')]"],
        },
    ],
}


def test_a_gpu_profile_the_region_of_fine_tunings_environment_lacks_is_refused_before_anything(
    az_cloud, standin, tmp_path
):
    ws = tmp_path / "workspace"
    seed_finetuning_storage(standin, az_cloud, ws, RG, "aitkftnoreg01", job_name=JOB)
    template = tmp_path / "finetuning-env.json"
    template.write_text(json.dumps(TEMPLATE))
    _ok(az_cloud("deployment", "group", "create", "-g", RG, "-n", "finetuning-env", "--template-file", str(template)))
    env_id = f"/subscriptions/{standin.subscription_id}/resourceGroups/{RG}/providers/Microsoft.App/managedEnvironments"

    def profiles():
        env = _ok(az_cloud("resource", "show", "--ids", f"{env_id}/{ENV}", "-o", "json"))
        return env["properties"]["workloadProfiles"]

    before_profiles = profiles()
    before_files = sorted(p.relative_to(ws) for p in ws.rglob("*"))

    proc = az_cloud(
        "aitk",
        "inference",
        "provision",
        "--gpu-profile",
        "T4",
        "--parameters",
        f"defaultCommands={FAKE_COMMAND}",
        cwd=ws,
    )
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, proc.stderr
    line = errors[0]
    assert f"cannot add the Consumption-GPU-NC8as-T4 workload profile to the Container Apps environment '{ENV}'" in line
    assert ENV_REGION in line, line
    assert "{" not in line, line  # Azure's message, not its JSON
    # the recommendation, on the line(s) after the error: what to do instead
    assert "acaEnvironmentName=" in proc.stderr.split(line, 1)[1], proc.stderr

    deployments = _ok(az_cloud("deployment", "group", "list", "-g", RG, "-o", "json"))
    assert sorted(d["name"] for d in deployments) == ["finetuning", "finetuning-env"]
    kinds = sorted(r["type"] for r in _ok(az_cloud("resource", "list", "-g", RG, "-o", "json")))
    assert kinds == ["Microsoft.App/jobs", "Microsoft.App/managedEnvironments", "Microsoft.Storage/storageAccounts"]
    assert profiles() == before_profiles
    assert sorted(p.relative_to(ws) for p in ws.rglob("*")) == before_files  # no config written
