"""An AI Toolkit workspace after remote fine-tuning, end to end with the real az, the extension
from the wheel, the real launcher and vLLM on CPU: fine-tuning's resources deployed from the JSON
equivalent of AI Toolkit's finetuning.bicep, its share as the job left it (base model, final
adapter, trainer checkpoints; tests/fixtures/aitk_workspaces/.../share-layout.json), the workspace's
original inference files. init -> provision -> deploy -> the OpenAI client gets tokens from the
final adapter, served from fine-tuning's environment and Log Analytics; no checkpoint is served."""

import json
import shutil
from pathlib import Path

import pytest

from aitk_testkit.scenario import FINETUNING_TEMPLATE, openai_client
from aitk_testkit.tiny_models import make_adapter, make_tiny_model
from e2e.conftest import signed_in_world

pytestmark = pytest.mark.slow

RG = "aitk-toolkit-e2e"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "aitk_workspaces" / "Phi-3-mini-4k-instruct-finetuned"
LAYOUT = json.loads((FIXTURE / "share-layout.json").read_text())


def seed_aitk_finetuning(azure, az, workspace):
    """What the AI Toolkit leaves after remote fine-tuning: its deployment, its workspace files
    (filled finetuning.config.json) and its share."""
    shutil.copytree(FIXTURE, workspace, dirs_exist_ok=True)
    az.run("group", "create", "-n", RG, "-l", "eastus", "-o", "none")
    d = az.json(
        "deployment", "group", "create", "-g", RG, "-n", "finetuning", "--template-file", str(FINETUNING_TEMPLATE)
    )
    out = {k: v["value"] for k, v in d["properties"]["outputs"].items()}
    ft_file = workspace / "infra" / "finetuning.config.json"
    ft = json.loads(ft_file.read_text())
    ft.update(
        {k: out[k] for k in ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME")}
    )
    ft["ACA_JOB_NAME"] = out["ACA_JOB_NAME"]
    ft_file.write_text(json.dumps(ft, indent=2))
    share = azure.share_dir(out["STORAGE_ACCOUNT_NAME"], out["FILE_SHARE_NAME"])
    base = share / LAYOUT["base_model"]
    make_tiny_model(base, arch="llama")
    make_adapter(base, share / LAYOUT["final_adapter"], rank=8)
    for i, checkpoint in enumerate(LAYOUT["checkpoints"]):
        make_adapter(base, share / checkpoint, rank=8, seed=100 + i)
    return share


@pytest.fixture(scope="module")
def toolkit_world(tmp_path_factory, aitk_wheel):
    yield from signed_in_world(tmp_path_factory, aitk_wheel, "e2e-toolkit", seed_aitk_finetuning)


def test_an_ai_toolkit_workspace_serves_its_final_adapter_from_fine_tunings_environment(toolkit_world):
    az, ws = toolkit_world.az, toolkit_world.workspace
    az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
    az.run("aitk", "inference", "provision", "-o", "none", cwd=ws)
    az.run("aitk", "inference", "deploy", "-o", "none", cwd=ws)
    endpoint = az.json("aitk", "inference", "endpoint", "--show-key", cwd=ws)
    final = "-".join(p for p in Path(LAYOUT["final_adapter"]).parts[1:-1])  # models/<a>/<b>/<c>/adapter -> a-b-c
    assert final in endpoint["models"]
    assert not [m for m in endpoint["models"] if "checkpoint" in m], endpoint["models"]
    reply = openai_client(endpoint, toolkit_world.azure.ca_bundle).completions.create(
        model=final, prompt="hello azure", max_tokens=8, temperature=0
    )
    assert reply.choices[0].text and reply.usage.completion_tokens > 0

    cfg = json.loads((ws / "infra" / "inference.config.json").read_text())
    ft = json.loads((ws / "infra" / "finetuning.config.json").read_text())
    assert cfg["STORAGE_ACCOUNT_NAME"] == ft["STORAGE_ACCOUNT_NAME"] and cfg["ACA_APP_ENDPOINT"].startswith("https://")
    job = az.json("resource", "show", "-g", RG, "-n", ft["ACA_JOB_NAME"], "--resource-type", "Microsoft.App/jobs")
    app = az.json(
        "resource", "show", "-g", RG, "-n", cfg["ACA_APP_NAME"], "--resource-type", "Microsoft.App/containerApps"
    )
    assert app["properties"]["managedEnvironmentId"].lower() == job["properties"]["environmentId"].lower()
    env = az.json("resource", "show", "--ids", job["properties"]["environmentId"])
    logs = az.json("resource", "list", "-g", RG, "--resource-type", "Microsoft.OperationalInsights/workspaces")
    assert [w["name"] for w in logs] == ["ailog" + ft["ACA_JOB_NAME"][len("aiacajob") :]]
    customer_id = env["properties"]["appLogsConfiguration"]["logAnalyticsConfiguration"]["customerId"]
    workspace = az.json("resource", "show", "--ids", logs[0]["id"])
    assert workspace["properties"]["customerId"] == customer_id
    envs = az.json("resource", "list", "-g", RG, "--resource-type", "Microsoft.App/managedEnvironments")
    assert len(envs) == 1
