"""Foundry Toolkit (the AI Toolkit renamed at its 1.0 release) workspaces with the real az: `init` in
a Phi Silica LoRA workspace (tests/fixtures/aitk_workspaces/phi-silica-3.6-lora) says in one line
that vLLM cannot serve it and writes nothing; the newer fine-tuning config's LOG_ANALYTICS_NAME
names the Log Analytics workspace provision reuses (against the stand-in)."""

import json
import shutil
from pathlib import Path

import pytest

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.az_harness import one_error
from aitk_testkit.scenario import FAKE_PARAMETERS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aitk_workspaces"


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


def test_init_in_a_phi_silica_workspace_is_one_line_and_writes_nothing(az, tmp_path):
    ws = tmp_path / "phi-silica"
    shutil.copytree(FIXTURES / "phi-silica-3.6-lora", ws)
    before = _snapshot(ws)
    proc = az("aitk", "inference", "init", cwd=ws)
    line = one_error(proc, "Project Template", in_line=False)
    assert "microsoft/phi-silica-3.6 (Phi-3.6-mini-instruct)" in line and "vLLM cannot serve it" in line, line
    assert "Windows devices" in line and "lora.yaml" in line, line
    assert "Hugging Face models" in proc.stderr, proc.stderr  # what can be served
    assert _snapshot(ws) == before


def test_the_trainer_config_is_found_by_its_shape_not_its_name(az, tmp_path):
    """Another on-device model, its trainer config under the name the fine-tuning config's ARGS gives
    and no model_project.config: refused the same way; a Hugging Face model id in it is not."""
    ws = tmp_path / "aion"
    shutil.copytree(FIXTURES / "aion-instruct-1.1-lora", ws)
    config = ws / "infra" / "provision" / "finetuning.config.json"
    data = json.loads(config.read_text())
    config.write_text(json.dumps({**data, "ARGS": ["mount/<run_id>/my_run.yaml"]}))
    (ws / "my_run.yaml").write_text("finetune_dataset: mount/<run_id>/dataset\nmodel: Aion-1.1\nmodel_path: /model\n")
    before = _snapshot(ws)
    line = one_error(az("aitk", "inference", "init", cwd=ws))
    assert "fine-tunes Aion-1.1, a Windows on-device model" in line and "my_run.yaml" in line, line
    assert _snapshot(ws) == before
    (ws / "my_run.yaml").write_text(
        "finetune_dataset: mount/<run_id>/dataset\nmodel: microsoft/Phi-3-mini-4k-instruct\nmodel_path: /model\n"
    )
    _ok(az("aitk", "inference", "init", cwd=ws), parse=False)
    assert (ws / "infra" / "provision" / "inference.bicep").is_file()


RG = "aitk-foundry-logs"
LOGS = "ftlogs01"


@pytest.fixture(scope="module")
def newer_config_ws(az_cloud, standin, fake_finetuning):
    """Fine-tuning's storage and a Log Analytics workspace in RG (no environment), the workspace's
    fine-tuning config in the newer layout (beside finetuning.bicep) naming them, LOG_ANALYTICS_NAME too."""
    ws, _ = fake_finetuning("foundry", RG, "aitkfoundry01", job_name=None)
    old = ws / "infra" / "finetuning.config.json"
    data = json.loads(old.read_text())
    old.unlink()
    (ws / "infra" / "provision").mkdir(parents=True, exist_ok=True)
    newer = {**data, "LOG_ANALYTICS_NAME": LOGS, "COMMANDS": [], "ARGS": ["mount/<run_id>/lora.yaml"]}
    (ws / "infra" / "provision" / "finetuning.config.json").write_text(json.dumps(newer, indent=2))
    _ok(
        az_cloud(
            "resource",
            "create",
            "-g",
            RG,
            "-n",
            LOGS,
            "--resource-type",
            "Microsoft.OperationalInsights/workspaces",
            "-l",
            "eastus",
            "-p",
            json.dumps({"sku": {"name": "PerGB2018"}}),
            "-o",
            "json",
        )
    )
    _ok(az_cloud("aitk", "inference", "init", cwd=ws), parse=False)
    return ws


def test_log_analytics_name_names_the_workspace_provision_reuses(az_cloud, newer_config_ws):
    proc = az_cloud("aitk", "inference", "provision", "--what-if", *FAKE_PARAMETERS, cwd=newer_config_ws)
    _ok(proc, parse=False)
    reuses = next(line for line in proc.stderr.splitlines() if "Reuses:" in line)
    assert f"Log Analytics workspace {LOGS}" in reuses and "storage account aitkfoundry01" in reuses, proc.stderr
