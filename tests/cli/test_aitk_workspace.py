"""An AI Toolkit workspace with the real az against the stand-in: fine-tuning's resources deployed
from the JSON equivalent of AI Toolkit's finetuning.bicep, the workspace's original inference
files (tests/fixtures/aitk_workspaces) refused until `init` migrates them, then provision serves
from fine-tuning's environment and Log Analytics, and delete keeps them. The app runs
aitk_testkit/fake_server.py (the full serving path with vLLM: tests/e2e/test_aitk_workspace.py)."""

import json
import shlex
import shutil
from pathlib import Path

import pytest

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.az_harness import one_error
from aitk_testkit.scenario import FAKE_PARAMETERS, FAKE_SERVER, FINETUNING_TEMPLATE

RG = "aitk-toolkit-ws"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "aitk_workspaces" / "Phi-3-mini-4k-instruct-finetuned"


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


def _deployments(az_cloud):
    return sorted(d["name"] for d in _ok(az_cloud("deployment", "group", "list", "-g", RG, "-o", "json")))


def _env(az_cloud, name):
    return _ok(
        az_cloud("resource", "show", "-g", RG, "-n", name, "--resource-type", "Microsoft.App/managedEnvironments")
    )


@pytest.fixture(scope="module")
def toolkit(az_cloud, standin, tmp_path_factory):
    """AI Toolkit's fine-tuning deployed (its template's own names), the workspace as the AI
    Toolkit left it after fine-tuning, the share with the fake server."""
    ws = tmp_path_factory.mktemp("toolkit") / "workspace"
    shutil.copytree(FIXTURE, ws)
    _ok(az_cloud("group", "create", "-n", RG, "-l", "eastus", "-o", "json"))
    d = _ok(
        az_cloud(
            "deployment", "group", "create", "-g", RG, "-n", "finetuning", "--template-file", str(FINETUNING_TEMPLATE)
        )
    )
    out = {k: v["value"] for k, v in d["properties"]["outputs"].items()}
    ft = json.loads((ws / "infra" / "finetuning.config.json").read_text())
    ft.update(
        {k: out[k] for k in ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME")}
    )
    ft["ACA_JOB_NAME"] = out["ACA_JOB_NAME"]
    (ws / "infra" / "finetuning.config.json").write_text(json.dumps(ft, indent=2))
    share = Path(standin.share_dir(out["STORAGE_ACCOUNT_NAME"], out["FILE_SHARE_NAME"]))
    shutil.copy2(FAKE_SERVER, share / "fake_server.py")
    suffix = out["ACA_JOB_NAME"][len("aiacajob") :]
    return {"ws": ws, "out": out, "env": f"aienv{suffix}", "logs": f"ailog{suffix}"}


def test_unmigrated_files_are_refused_before_anything_is_deployed(az_cloud, toolkit):
    ws = toolkit["ws"]
    before = _snapshot(ws)
    for command in (["provision", *FAKE_PARAMETERS], ["deploy"], ["endpoint"]):
        line = one_error(az_cloud("aitk", "inference", *command, cwd=ws))
        assert "AI Toolkit's original inference files" in line and "inference.bicep" in line
    assert _deployments(az_cloud) == ["finetuning"]
    assert _snapshot(ws) == before


def test_init_migrates_one_line_per_file(az_cloud, toolkit):
    proc = az_cloud("aitk", "inference", "init", "-o", "json", cwd=toolkit["ws"])
    results = {r["file"]: r for r in _ok(proc)}
    migrated = {f for f, r in results.items() if r["action"] == "migrated"}
    assert migrated == {
        "infra/provision/inference.bicep",
        "infra/provision/inference.parameters.json",
        "infra/inference.config.json",
    }
    lines = [line.removeprefix("WARNING: ") for line in proc.stderr.strip().splitlines() if "in preview" not in line]
    # one line per file, then what to run next (provision: fine-tuning's config names the group)
    assert len([line for line in lines if line.startswith("Migrated ")]) == 3
    assert lines[: len(results)] == [line for line in lines if not line.startswith(("Next:", "  "))]
    assert lines[len(results)] == "Next:" and lines[-1].endswith("az aitk inference provision")
    params = json.loads((toolkit["ws"] / "infra" / "provision" / "inference.parameters.json").read_text())
    assert "defaultCommands" not in params["parameters"]
    assert params["parameters"]["maximumInstanceCount"] == {"value": 2}


def test_what_if_names_the_reused_resources(az_cloud, toolkit):
    proc = az_cloud(
        "aitk",
        "inference",
        "provision",
        "--what-if",
        *FAKE_PARAMETERS,
        cwd=toolkit["ws"],
    )
    _ok(proc, parse=False)
    reuses = next(line for line in proc.stderr.splitlines() if line.startswith("WARNING: Reuses: "))
    assert f"Container Apps environment {toolkit['env']} (fine-tuning's" in reuses
    assert f"Log Analytics workspace {toolkit['logs']}" in reuses
    assert toolkit["out"]["STORAGE_ACCOUNT_NAME"] in reuses
    assert f"to the environment {toolkit['env']}" in proc.stderr
    assert [p["name"] for p in _env(az_cloud, toolkit["env"])["properties"]["workloadProfiles"]] == [
        "Consumption",
        "GPU",
    ]
    assert _deployments(az_cloud) == ["finetuning"]


def test_the_help_example_for_fine_tunings_profile_runs_as_pasted(az_cloud, toolkit):
    proc = az_cloud("aitk", "inference", "provision", "--help")
    assert proc.returncode == 0, proc.stderr
    helptext = proc.stdout
    example = next(line.strip() for line in helptext.splitlines() if "--gpu-profile NC24-A100 --what-if" in line)
    args = shlex.split(example)
    assert args[0] == "az"
    proc = az_cloud(*args[1:], cwd=toolkit["ws"])
    _ok(proc, parse=False)
    assert f"Container Apps environment {toolkit['env']} (fine-tuning's" in proc.stderr
    assert "Adds the workload profile" not in proc.stderr  # it runs on the profile fine-tuning made
    assert _deployments(az_cloud) == ["finetuning"]


def test_a_profile_that_cannot_be_added_is_refused(az_cloud, toolkit):
    before = _snapshot(toolkit["ws"])
    line = one_error(
        az_cloud(
            "aitk",
            "inference",
            "provision",
            "--gpu-profile",
            "NC48-A100",
            *FAKE_PARAMETERS,
            cwd=toolkit["ws"],
        )
    )
    assert toolkit["env"] in line and "only be added when an environment is created" in line
    assert _deployments(az_cloud) == ["finetuning"] and _snapshot(toolkit["ws"]) == before


def test_a_profile_whose_addition_fails_after_azure_accepted_it_is_refused(az_cloud, standin, toolkit):
    """The PATCH is accepted (202) and its operation then fails: provision follows the operation
    (azure/lro.py), so it says Azure's reason in one line instead of going on or waiting it out."""
    before = _snapshot(toolkit["ws"])
    standin.fail_next_update(
        "Microsoft.App/managedEnvironments", "ManagedEnvironmentCapacityHeavyUsageError", "No capacity right now."
    )
    line = one_error(az_cloud("aitk", "inference", "provision", *FAKE_PARAMETERS, cwd=toolkit["ws"]))
    assert toolkit["env"] in line and "No capacity right now." in line, line
    assert _env(az_cloud, toolkit["env"])["properties"]["provisioningState"] == "UpgradeFailed"
    assert _deployments(az_cloud) == ["finetuning"] and _snapshot(toolkit["ws"]) == before


def test_provision_serves_from_fine_tunings_environment(az_cloud, standin, toolkit):
    _ok(az_cloud("aitk", "inference", "provision", *FAKE_PARAMETERS, cwd=toolkit["ws"]))
    # it followed the profile's addition to its end (the operation), not the environment's old state
    assert any("managedEnvironmentOperationStatuses" in path for method, path, _ in standin.requests_log)
    cfg = json.loads((toolkit["ws"] / "infra" / "inference.config.json").read_text())
    assert cfg["ACA_APP_ENDPOINT"].startswith("https://")
    assert cfg["STORAGE_ACCOUNT_NAME"] == toolkit["out"]["STORAGE_ACCOUNT_NAME"]
    app = _ok(
        az_cloud(
            "resource", "show", "-g", RG, "-n", cfg["ACA_APP_NAME"], "--resource-type", "Microsoft.App/containerApps"
        )
    )
    assert app["properties"]["managedEnvironmentId"].endswith("/" + toolkit["env"])
    env = _env(az_cloud, toolkit["env"])
    profiles = {p["name"]: p["workloadProfileType"] for p in env["properties"]["workloadProfiles"]}
    assert profiles == {"Consumption": "Consumption", "GPU": "NC24-A100", "gpu-t4": "Consumption-GPU-NC8as-T4"}
    assert app["properties"]["workloadProfileName"] == "gpu-t4"
    kinds = {r["type"] for r in _ok(az_cloud("resource", "list", "-g", RG, "-o", "json"))}
    names = {r["name"] for r in _ok(az_cloud("resource", "list", "-g", RG, "-o", "json"))}
    assert sum(1 for n in names if n.startswith("aitk-env-") or n.startswith("aitk-logs-")) == 0, names
    assert "Microsoft.App/jobs" in kinds


def test_delete_keeps_what_fine_tuning_uses(az_cloud, toolkit):
    result = _ok(az_cloud("aitk", "inference", "delete", "--yes", "-o", "json", cwd=toolkit["ws"]))
    assert len(result["deleted"]) == 1 and "/containerApps/" in result["deleted"][0]
    kept = " ".join(result["kept"])
    assert toolkit["env"] in kept and toolkit["logs"] in kept and toolkit["out"]["STORAGE_ACCOUNT_NAME"] in kept
    assert _env(az_cloud, toolkit["env"])["name"] == toolkit["env"]
