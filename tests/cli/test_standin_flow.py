"""provision / deploy / endpoint with the real az against the local Azure stand-in.

One workspace for the module, in the order a user goes: fine-tuning left a storage account and
share (made here with az's own `deployment group create`), provision reuses them, deploy pushes
the launcher, the inference folder and an adapter, endpoint shows it. The container app runs
aitk_testkit/fake_server.py (from the share) instead of vLLM: the full serving path is the e2e
tests' job."""

import json

import pytest

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.az_harness import one_error
from aitk_testkit.scenario import FAKE_PARAMETERS
from aitk_testkit.tiny_models import TINY_LLAMA_CONFIG, write_lora

RG = "aitk-cli"
LOCATION = "eastus"
FT_STORAGE = "aitkclift01"
FT_SHARE = "finetuning"


@pytest.fixture(scope="module")
def flow(fake_finetuning):
    """A fine-tuning workspace: RG, storage + share (fine-tuning's template), the fake server on
    the share, infra/finetuning.config.json."""
    ws, share = fake_finetuning("flow", RG, FT_STORAGE, FT_SHARE, job_name="job")
    adapter = write_lora(ws / "adapters" / "run1")
    return {"ws": ws, "share": share, "adapter": adapter}


def test_init(az_cloud, flow):
    _ok(az_cloud("aitk", "inference", "init", cwd=flow["ws"]))


def test_missing_resource_group_is_one_clear_error(az_cloud, flow):
    proc = az_cloud("aitk", "inference", "provision", "-g", "no-such-group", cwd=flow["ws"])
    assert proc.returncode != 0
    assert "resource group 'no-such-group' does not exist" in proc.stderr
    assert "az group create" in proc.stderr and "Traceback" not in proc.stderr


def test_what_if_deploys_nothing(az_cloud, flow):
    proc = az_cloud("aitk", "inference", "provision", "--what-if", *FAKE_PARAMETERS, cwd=flow["ws"])
    _ok(proc, parse=False)
    assert "Microsoft.App/containerApps" in proc.stdout and "Resource changes:" in proc.stdout
    assert not (flow["ws"] / "infra" / "inference.config.json").exists()


def test_provision_writes_the_config(az_cloud, flow):
    result = _ok(
        az_cloud(
            "aitk",
            "inference",
            "provision",
            *FAKE_PARAMETERS,
            "-o",
            "json",
            cwd=flow["ws"],
        )
    )
    cfg = json.loads((flow["ws"] / "infra" / "inference.config.json").read_text())
    assert cfg["RESOURCE_GROUP_NAME"] == RG
    assert cfg["STORAGE_ACCOUNT_NAME"] == FT_STORAGE and cfg["FILE_SHARE_NAME"] == FT_SHARE
    assert cfg["ACA_APP_ENDPOINT"].startswith("https://")
    assert result["ACA_APP_NAME"] == cfg["ACA_APP_NAME"]
    assert "apiKey" not in result and "key" not in json.dumps(result).lower()


def test_reprovision_keeps_the_key_and_config(az_cloud, flow):
    key1 = _ok(az_cloud("aitk", "inference", "endpoint", "--show-key", cwd=flow["ws"]))["apiKey"]
    cfg1 = (flow["ws"] / "infra" / "inference.config.json").read_text()
    _ok(az_cloud("aitk", "inference", "provision", *FAKE_PARAMETERS, cwd=flow["ws"]))
    key2 = _ok(az_cloud("aitk", "inference", "endpoint", "--show-key", cwd=flow["ws"]))["apiKey"]
    assert key1 == key2 and key1
    assert (flow["ws"] / "infra" / "inference.config.json").read_text() == cfg1


def test_deploy_uploads_then_only_changes(az_cloud, flow):
    share = flow["share"]
    first = _ok(
        az_cloud(
            "aitk", "inference", "deploy", "--adapter", f"run1={flow['adapter']}", "--timeout", "120", cwd=flow["ws"]
        )
    )
    assert first["uploaded"] > 3 and first["ready"] and "run1" in first["models"]
    release = (share / "aitk" / "launcher" / "current").read_text().strip()
    assert (share / "aitk" / "launcher" / "releases" / release / "aitk_serve" / "layout.py").is_file()
    assert (share / "aitk" / "inference" / "serve.json").is_file()
    weights = "adapter_model.safetensors"
    assert (share / "aitk" / "adapters" / "run1" / weights).read_bytes() == (flow["adapter"] / weights).read_bytes()
    again = _ok(
        az_cloud(
            "aitk", "inference", "deploy", "--adapter", f"run1={flow['adapter']}", "--timeout", "120", cwd=flow["ws"]
        )
    )
    assert again["uploaded"] == 0 and again["action"] == "none"
    config = json.loads((flow["adapter"] / "adapter_config.json").read_text())
    (flow["adapter"] / "adapter_config.json").write_text(json.dumps(dict(config, r=16, lora_alpha=32)))
    third = _ok(
        az_cloud(
            "aitk", "inference", "deploy", "--adapter", f"run1={flow['adapter']}", "--timeout", "120", cwd=flow["ws"]
        )
    )
    assert third["uploaded"] == 1 and third["action"] in ("hot-load", "restart")
    assert json.loads((share / "aitk" / "adapters" / "run1" / "adapter_config.json").read_text())["r"] == 16
    assert json.loads((share / "model-cache" / "org" / "m" / "config.json").read_text()) == TINY_LLAMA_CONFIG


def _share_state(share):
    return {
        str(f.relative_to(share)): (f.stat().st_size, f.stat().st_mtime_ns) for f in share.rglob("*") if f.is_file()
    }


def _bad_adapters(folder):
    """Adapters the launcher would leave out, each with what its refusal must say."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    weights = "adapter_model.safetensors"
    notjson = write_lora(folder / "notjson")
    (notjson / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8,')
    phi3 = dict(TINY_LLAMA_CONFIG, model_type="phi3", architectures=["Phi3ForCausalLM"])
    other = write_lora(folder / "phi3", config=phi3, targets=("qkv_proj",))
    wider = write_lora(folder / "wider", config=dict(TINY_LLAMA_CONFIG, hidden_size=256))
    nan = write_lora(folder / "nan")
    tensors = load_file(str(nan / weights))
    first = sorted(tensors)[0]
    tensors[first][0, 0] = np.nan
    save_file(tensors, str(nan / weights))
    cut = write_lora(folder / "cut")
    (cut / weights).write_bytes((cut / weights).read_bytes()[:-100])
    return {
        "notjson": (notjson, "is not valid JSON"),
        "phi3": (other, "'qkv_proj', which is not a module of this model"),
        "wider": (wider, "trained for a different base model"),
        "nan": (nan, "holds infinite or NaN values"),
        "cut": (cut, "is cut short"),
    }


def test_deploy_refuses_an_adapter_the_server_would_leave_out_before_uploading(az_cloud, flow, tmp_path):
    """Issue 21, item 0: each adapter is checked by the launcher's own code against the base model on
    the share (its config.json) before anything is uploaded: one line naming it and why, exit
    non-zero, the share untouched."""
    share = flow["share"]
    for name, (folder, reason) in _bad_adapters(tmp_path).items():
        before = _share_state(share)
        proc = az_cloud("aitk", "inference", "deploy", "--adapter", f"{name}={folder}", "--no-wait", cwd=flow["ws"])
        line = one_error(proc, f"adapter {name!r}", reason, in_line=True)
        assert "Nothing was uploaded" in proc.stderr, line
        assert _share_state(share) == before, name
        assert not (share / "aitk" / "adapters" / name).exists()
    # With the good one beside a bad one, still nothing goes up.
    before = _share_state(share)
    bad, _ = _bad_adapters(tmp_path / "again")["wider"]
    proc = az_cloud(
        "aitk", "inference", "deploy", "--adapter", f"run1={flow['adapter']}", "--adapter", f"wider={bad}",
        "--no-wait", cwd=flow["ws"],
    )  # fmt: skip
    one_error(proc, "adapter 'wider'", "model-cache/org/m", in_line=True)
    assert _share_state(share) == before


def test_deploy_delete_prunes_only_its_folders(az_cloud, flow):
    share = flow["share"]
    (share / "aitk" / "inference" / "stale.txt").write_text("old")
    (share / "aitk" / "notes.txt").write_text("mine")
    proc = az_cloud("aitk", "inference", "deploy", "--delete", "--no-wait", cwd=flow["ws"])
    assert _ok(proc) is None  # az prints nothing for --no-wait
    assert "0 file(s) to upload" in proc.stderr and "1 to delete" in proc.stderr
    assert not (share / "aitk" / "inference" / "stale.txt").exists()
    assert (share / "aitk" / "notes.txt").exists() and (share / "fake_server.py").exists()


def test_endpoint(az_cloud, flow):
    shown = _ok(az_cloud("aitk", "inference", "endpoint", cwd=flow["ws"]))
    assert shown["url"].startswith("https://") and "apiKey" not in shown
    assert "fake-base" in shown["models"] and shown["state"] == "Running"
    table = az_cloud("aitk", "inference", "endpoint", "-o", "table", cwd=flow["ws"])
    assert table.returncode == 0 and "Url" in table.stdout and shown["url"] in table.stdout


def _error(proc):
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def test_region_without_the_gpu_profile_is_refused_before_deploying(az_cloud, tmp_path):
    # West Europe offers the serverless T4, not the A100 (the stand-in's region table, as Microsoft
    # Learn lists them): refused before anything is deployed, naming the regions that offer it. The
    # quota error of a region that offers the profile stays separate (tests/unit/test_arm_errors.py).
    _ok(az_cloud("group", "create", "-n", "aitk-cli-weu", "-l", "westeurope", "-o", "json"))
    err = _error(
        az_cloud(
            "aitk",
            "inference",
            "provision",
            "-g",
            "aitk-cli-weu",
            "--gpu-profile",
            "A100",
            "--workspace",
            str(tmp_path),
        )
    )
    first = next(line for line in err.splitlines() if line.startswith("ERROR:"))
    assert "westeurope does not offer the Consumption-GPU-NC24-A100 workload profile (A100)" in first
    assert "regions that do: australiaeast," in first and "westeurope" not in first.split("regions that do:")[1]
    assert "{" not in first and "quota" not in first
    assert _ok(az_cloud("deployment", "group", "list", "-g", "aitk-cli-weu", "-o", "json")) == []
    assert not (tmp_path / "infra" / "inference.config.json").exists()


def test_unregistered_provider_says_how_to_register(az_cloud, standin, tmp_path):
    _ok(az_cloud("group", "create", "-n", "aitk-cli-noprov", "-l", "westus3", "-o", "json"))
    standin.unregister_provider("Microsoft.App")
    try:
        err = _error(az_cloud("aitk", "inference", "provision", "-g", "aitk-cli-noprov", "--workspace", str(tmp_path)))
    finally:
        standin.register_provider("Microsoft.App")
    assert "not registered for the Microsoft.App resource provider" in err
    assert "az provider register -n Microsoft.App" in err
