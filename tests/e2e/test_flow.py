"""The whole flow a user runs, with the real az, the extension from the wheel, the real launcher
and vLLM on CPU behind the local Azure stand-in. Tests in this module share one 'Azure' and run
in order: provision and deploy first, then what a user does next."""

import json

import pytest
import requests

from aitk_testkit.scenario import DEMO_ADAPTER, DEMO_MODEL, DEMO_MODEL_DIR, RESOURCE_GROUP, openai_client

pytestmark = pytest.mark.slow


def file_writes(azure, since, share_path_part):
    """Data-plane file creations (PUT on a path without a comp= query) logged since index `since`."""
    out = []
    for method, path, status in azure.requests_log[since:]:
        if (
            method == "PUT"
            and share_path_part in path
            and "comp=" not in path
            and "restype=" not in path
            and status < 300
        ):
            out.append(path.split("?")[0])
    return out


def greedy(world, endpoint, model, prompt="hello azure", max_tokens=8):
    reply = openai_client(endpoint, world.azure.ca_bundle).completions.create(
        model=model, prompt=prompt, max_tokens=max_tokens, temperature=0
    )
    return reply.choices[0].text


@pytest.fixture(scope="module")
def served(world):
    """init + provision + deploy, as a user types them; returns `endpoint --show-key`."""
    az, ws = world.az, world.workspace
    az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
    az.run("aitk", "inference", "provision", "-g", RESOURCE_GROUP, "-o", "none", cwd=ws)
    az.run("aitk", "inference", "deploy", "-o", "none", cwd=ws)
    return az.json("aitk", "inference", "endpoint", "--show-key", cwd=ws)


def test_provision_writes_the_config_and_deploy_serves_base_and_adapter(world, served):
    config = json.loads((world.workspace / "infra" / "inference.config.json").read_text())
    assert set(config) >= {
        "SUBSCRIPTION_ID",
        "RESOURCE_GROUP_NAME",
        "STORAGE_ACCOUNT_NAME",
        "FILE_SHARE_NAME",
        "ACA_APP_NAME",
        "ACA_APP_ENDPOINT",
    }
    # Fine-tuning's storage and share are reused, not duplicated.
    assert config["STORAGE_ACCOUNT_NAME"] == "aitkftdemo01"
    assert config["FILE_SHARE_NAME"] == "finetuning"
    assert config["ACA_APP_ENDPOINT"].startswith("https://")
    assert served["url"].rstrip("/") == config["ACA_APP_ENDPOINT"].rstrip("/")
    assert {DEMO_MODEL, DEMO_ADAPTER} <= set(served["models"])
    # The key is a secret: nowhere in the workspace's files.
    for path in world.workspace.rglob("*"):
        if path.is_file():
            assert served["apiKey"] not in path.read_text(errors="ignore"), path
    base, tuned = greedy(world, served, DEMO_MODEL), greedy(world, served, DEMO_ADAPTER)
    assert base and tuned and base != tuned
    # Without the key the API refuses.
    r = requests.get(served["url"] + "/v1/models", timeout=30, verify=world.azure.ca_bundle)
    assert r.status_code == 401


def test_endpoint_without_show_key_hides_the_key(world, served):
    proc = world.az.run("aitk", "inference", "endpoint", "-o", "json", cwd=world.workspace, capture=True)
    assert served["apiKey"] not in proc.stdout + proc.stderr
    assert "apiKey" not in json.loads(proc.stdout)


def test_reprovision_changes_nothing(world, served):
    config_file = world.workspace / "infra" / "inference.config.json"
    before_config = config_file.read_bytes()
    app = world.az.json("containerapp", "show", "-g", RESOURCE_GROUP, "-n", json.loads(before_config)["ACA_APP_NAME"])
    world.az.run("aitk", "inference", "provision", "-g", RESOURCE_GROUP, "-o", "none", cwd=world.workspace)
    after = world.az.json("containerapp", "show", "-g", RESOURCE_GROUP, "-n", json.loads(before_config)["ACA_APP_NAME"])
    assert config_file.read_bytes() == before_config
    assert after["properties"]["latestRevisionName"] == app["properties"]["latestRevisionName"]
    # The same key still works: re-provision kept the secret.
    assert greedy(world, served, DEMO_MODEL)


def test_deploy_after_editing_one_file_uploads_only_that_file(world, served):
    notes = world.workspace / "inference" / "NOTES.md"
    notes.write_text("first\n")
    world.az.run("aitk", "inference", "deploy", "--no-wait", "-o", "none", cwd=world.workspace)
    notes.write_text("second, longer\n")
    mark = len(world.azure.requests_log)
    world.az.run("aitk", "inference", "deploy", "-o", "none", cwd=world.workspace)
    writes = file_writes(world.azure, mark, "/aitk/")
    manifest = [w for w in writes if w.endswith("/aitk/deploy-manifest.json")]  # deploy's, now naming the new version
    files = [w for w in writes if w not in manifest]
    assert files and all(w.endswith("/aitk/inference/NOTES.md") for w in files), writes
    assert len(manifest) == 1, writes
    assert (world.share / "aitk" / "inference" / "NOTES.md").read_text() == "second, longer\n"


def test_deploy_of_a_new_adapter_serves_it(world, served, tmp_path):
    from aitk_testkit.tiny_models import make_adapter

    adapter = make_adapter(world.share / DEMO_MODEL_DIR, tmp_path / "fresh", rank=8, seed=7)
    world.az.run("aitk", "inference", "deploy", "--adapter", f"fresh={adapter}", "-o", "none", cwd=world.workspace)
    endpoint = world.az.json("aitk", "inference", "endpoint", "--show-key", cwd=world.workspace)
    assert "fresh" in endpoint["models"]
    assert greedy(world, endpoint, "fresh") != greedy(world, endpoint, DEMO_MODEL)


def test_nothing_outside_the_owned_prefixes_was_touched(world, served):
    # Fine-tuning's files are still there, byte for byte as seeded.
    assert (world.share / DEMO_MODEL_DIR / "config.json").is_file()
    assert (world.share / "models" / "demo-run" / "adapter" / "adapter_config.json").is_file()
