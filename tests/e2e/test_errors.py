"""Issue #4: every error of issue #3's list reaches the user as one clear line, through the real
az against the local Azure stand-in.

The extension's convention (src/aitk/azext_aitk/core/errors.py, core/provision/arm_errors.py, raised
through the group's _exception_handler.py): an `azure.cli.core.azclierror` class with a
recommendation, which az prints as ONE `ERROR: …` line followed by the hint line(s); exit code
non-zero; no traceback, no raw JSON. `one_clear_error` below asserts exactly that.

Where each error of #3's list is covered:
- no config file yet ("run provision first"): tests/cli/test_errors_offline.py
  (test_no_config_says_run_provision_first, deploy and endpoint)
- malformed JSON (file and line): tests/cli/test_errors_offline.py
  (test_malformed_config_names_file_and_line, test_malformed_parameters_file_names_file_and_line)
- unknown parameter name (lists the valid ones): tests/cli/test_errors_offline.py
  (test_unknown_parameter_name_lists_the_valid_ones)
- resource group missing: tests/cli/test_standin_flow.py (test_missing_resource_group_is_one_clear_error)
- region without GPU capacity/quota (names the quota): tests/cli/test_standin_flow.py
  (test_region_without_gpu_capacity_names_the_quota)
- Microsoft.App provider not registered: tests/cli/test_standin_flow.py
  (test_unregistered_provider_says_how_to_register)
- deployment failed (the failing resource and its message): here
- app not ready within the wait: here

The app runs a command, not vLLM (no serving is needed to fail), in this module's own stand-in
(fixture `fake_world`), resource group and workspace."""

import json

import pytest

from aitk_testkit.scenario import FAKE_COMMAND

pytestmark = pytest.mark.slow

RESOURCE_GROUP = "aitk-errors"
FT_STORAGE = "aitkfterrors01"
NEVER_HEALTHY = json.dumps(["python3", "-c", "import time; time.sleep(900)"])


def one_clear_error(proc):
    """The ERROR line: exactly one, last but for its hint, no traceback, no raw JSON."""
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr
    assert "Traceback" not in err and "Exception" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("ERROR:")]
    assert len(errors) == 1, err
    error, hint = lines[errors[0]], lines[errors[0] + 1 :]
    assert len(hint) <= 1, err  # the recommendation, on one line
    for line in [error] + hint:
        assert "{" not in line and '"code"' not in line, err
    return error, (hint[0] if hint else "")


def test_deployment_failed_names_the_resource_and_its_message(fake_world):
    az, ws = fake_world.az, fake_world.workspace
    az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
    # ARM validates the name only when it creates the app: the deployment fails there.
    proc = az.run(
        "aitk",
        "inference",
        "provision",
        "--parameters",
        "acaAppName=Bad--App",
        f"defaultCommands={FAKE_COMMAND}",
        cwd=ws,
        check=False,
        capture=True,
    )
    error, hint = one_clear_error(proc)
    assert "deployment failed at Microsoft.App/containerApps 'Bad--App'" in error, error
    assert "ContainerAppInvalidName" in error and "cannot have '--'" in error, error
    assert "az deployment operation group list" in hint, hint
    # What provision created before the app failed is on record (#13): a config marked incomplete,
    # and a tag on each resource, so `delete` can finish the job and nothing else uses it meanwhile.
    partial = json.loads((ws / "infra" / "inference.config.json").read_text())
    assert partial["PROVISION_STATE"] == "incomplete" and partial["RESOURCE_GROUP_NAME"] == RESOURCE_GROUP
    proc = az.run("aitk", "inference", "endpoint", cwd=ws, check=False, capture=True)
    error, hint = one_clear_error(proc)
    assert "provision did not finish" in error and "az aitk inference delete" in hint, (error, hint)

    def ours():
        listed = az.json("resource", "list", "-g", RESOURCE_GROUP)
        return sorted(r["type"] for r in listed if (r.get("tags") or {}).get("aitkProvisioned") == "inference")

    assert "Microsoft.App/managedEnvironments" in ours()
    az.run("aitk", "inference", "delete", "--yes", "-o", "none", cwd=ws)
    assert ours() == []
    assert not (ws / "infra" / "inference.config.json").exists()
    # Fine-tuning's storage carries no tag and stays.
    assert FT_STORAGE in [r["name"] for r in az.json("resource", "list", "-g", RESOURCE_GROUP)]


def test_app_not_ready_within_the_wait(fake_world):
    az, ws = fake_world.az, fake_world.workspace
    az.run(
        "aitk",
        "inference",
        "provision",
        "--parameters",
        f"defaultCommands={NEVER_HEALTHY}",
        "-o",
        "none",
        cwd=ws,
        capture=True,
    )
    proc = az.run("aitk", "inference", "deploy", "--timeout", "5", cwd=ws, check=False, capture=True)
    error, hint = one_clear_error(proc)
    cfg = json.loads((ws / "infra" / "inference.config.json").read_text())
    assert f"the endpoint {cfg['ACA_APP_ENDPOINT'].rstrip('/')} was not ready within 5 s" in error, error
    assert f"az containerapp logs show -n {cfg['ACA_APP_NAME']}" in hint and "--timeout" in hint, hint
