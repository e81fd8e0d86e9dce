"""Every error a user can hit before anything talks to Azure: one clear line and a hint."""

import json

import pytest

from aitk_testkit.az_harness import ROOT

TEMPLATES = ROOT / "src" / "aitk" / "azext_aitk" / "templates"


def _finetuning(ws):
    (ws / "infra").mkdir(exist_ok=True)
    (ws / "infra" / "finetuning.config.json").write_text(
        json.dumps(
            {
                "SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
                "RESOURCE_GROUP_NAME": "rg-ft",
                "STORAGE_ACCOUNT_NAME": "ftstore",
                "FILE_SHARE_NAME": "ftshare",
                "ACA_JOB_NAME": "job",
                "COMMANDS": [],
            }
        )
    )


def _error(proc):
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


@pytest.mark.parametrize("command", ["deploy", "endpoint"])
def test_no_config_says_run_provision_first(az, workspace, command):
    err = _error(az("aitk", "inference", command, cwd=workspace))
    assert "inference.config.json does not exist" in err
    assert "az aitk inference provision" in err


def test_malformed_config_names_file_and_line(az, workspace):
    (workspace / "infra").mkdir()
    (workspace / "infra" / "inference.config.json").write_text('{\n  "SUBSCRIPTION_ID": "x",\n  oops\n}\n')
    err = _error(az("aitk", "inference", "endpoint", "--workspace", str(workspace)))
    assert "inference.config.json:3:" in err


@pytest.mark.parametrize("spec, message", [("noequals", "is not NAME=PATH"), ("bad/name=./x", "is not valid")])
def test_bad_adapter_form(az, workspace, spec, message):
    err = _error(az("aitk", "inference", "deploy", "--adapter", spec, cwd=workspace))
    assert message in err


def test_replica_bounds(az, workspace):
    err = _error(
        az("aitk", "inference", "provision", "-g", "rg", "--min-replicas", "3", "--max-replicas", "1", cwd=workspace)
    )
    assert "--min-replicas (3) is more than --max-replicas (1)" in err


def test_unknown_gpu_profile(az, workspace):
    err = _error(az("aitk", "inference", "provision", "-g", "rg", "--gpu-profile", "H100", cwd=workspace))
    assert "T4" in err and "NC96-A100" in err


def test_unknown_parameter_name_lists_the_valid_ones(az, workspace):
    _finetuning(workspace)
    err = _error(az("aitk", "inference", "provision", "--parameters", "maxInstances=2", cwd=workspace))
    assert "unknown template parameter maxInstances" in err
    assert "maximumInstanceCount" in err and "storageAccountName" in err


def test_malformed_parameters_file_names_file_and_line(az, workspace):
    _finetuning(workspace)
    assert az("aitk", "inference", "init", cwd=workspace).returncode == 0
    params = workspace / "infra" / "provision" / "inference.parameters.json"
    params.write_text('{\n  "parameters": {\n    "location": {"value": "x"},,\n  }\n}\n')
    err = _error(az("aitk", "inference", "provision", cwd=workspace))
    assert "inference.parameters.json:3:" in err


def test_init_writes_missing_files_keeps_edits_and_force_backs_up(az, workspace):
    proc = az("aitk", "inference", "init", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert {r["action"] for r in json.loads(proc.stdout)} == {"created"}
    bicep = workspace / "infra" / "provision" / "inference.bicep"
    assert bicep.read_bytes() == (TEMPLATES / "inference.bicep").read_bytes()
    serve = json.loads((workspace / "inference" / "serve.json").read_text())
    assert serve["adapters"] is None
    bicep.write_text(bicep.read_text() + "\n// my edit\n")
    proc = az("aitk", "inference", "init", cwd=workspace)
    assert {r["file"]: r["action"] for r in json.loads(proc.stdout)}["infra/provision/inference.bicep"] == "kept"
    assert "my edit" in bicep.read_text()
    proc = az("aitk", "inference", "init", "--force", cwd=workspace)
    reset = {r["file"]: r for r in json.loads(proc.stdout)}["infra/provision/inference.bicep"]
    assert reset["action"] == "reset"
    assert "my edit" in (workspace / reset["backup"]).read_text()
    assert bicep.read_bytes() == (TEMPLATES / "inference.bicep").read_bytes()
