"""`provision --image-registry NAME --image-streaming` with the real az against the stand-in: a new
registry is created Premium (artifact streaming is Premium only) after its daily cost is shown and
confirmed; --what-if shows the tier, the cost and the streaming step; an existing registry below
Premium, or --image-streaming without a registry, is one line before anything is created; after
`az acr update --sku Premium` (the fix the line names) the registry is reused."""

import json
import time

import pytest

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.az_harness import one_error
from aitk_testkit.scenario import FAKE_PARAMETERS as FAKE

RG = "aitk-acr-stream"
FT_STORAGE = "aitkstreamft01"
NEW = "aitkstreamnew01"
BASIC = "aitkstreambasic1"
PINNED = "vllm/vllm-openai:v0.32.0"


def _record(standin, name, group=RG):
    return standin.arm.get_record(
        f"/subscriptions/{standin.subscription_id}/resourceGroups/{group}/providers/"
        f"Microsoft.ContainerRegistry/registries/{name}"
    )


def _types(az_cloud):
    return sorted(r["type"] for r in _ok(az_cloud("resource", "list", "-g", RG, "-o", "json")))


@pytest.fixture(scope="module")
def stream_ws(az_cloud, fake_finetuning):
    ws, _ = fake_finetuning("acrstream", RG, FT_STORAGE, placeholder_model=False, job_name="job")
    _ok(az_cloud("aitk", "inference", "init", cwd=ws))
    return ws


def test_streaming_without_a_registry_is_one_line(az_cloud, stream_ws):
    line = one_error(az_cloud("aitk", "inference", "provision", "--image-streaming", *FAKE, cwd=stream_ws))
    assert "--image-streaming" in line and "needs --image-registry NAME" in line, line
    assert _types(az_cloud) == ["Microsoft.Storage/storageAccounts"]


def test_what_if_shows_a_premium_registry_its_cost_and_the_streaming_step(az_cloud, stream_ws):
    proc = az_cloud(
        "aitk",
        "inference",
        "provision",
        "--image-registry",
        NEW,
        "--image-streaming",
        "--what-if",
        *FAKE,
        cwd=stream_ws,
    )
    _ok(proc, parse=False)
    err = proc.stderr
    assert f"Container registry {NEW}: new, Premium tier, in resource group '{RG}' (eastus); $1.667/day" in err, err
    assert "Artifact streaming (linux/amd64 images only)" in err, err
    assert f"generates a streaming artifact for {PINNED}" in err and "converts new imports to vllm/vllm-openai" in err
    assert _types(az_cloud) == ["Microsoft.Storage/storageAccounts"]


def test_the_daily_cost_is_asked_before_anything_is_created(az_cloud, stream_ws):
    """No terminal and no --yes: the Premium registry's cost is the refusal, nothing is created."""
    proc = az_cloud(
        "aitk", "inference", "provision", "--image-registry", NEW, "--image-streaming", *FAKE, cwd=stream_ws
    )
    line = one_error(proc)
    assert f"Container registry {NEW} (Premium tier, for artifact streaming) costs $1.667/day" in line, line
    assert "Basic: $0.167/day" in line and "No terminal to ask" in line, line
    assert _types(az_cloud) == ["Microsoft.Storage/storageAccounts"]


def test_an_existing_basic_registry_is_refused_then_reused_once_premium(az_cloud, standin, stream_ws):
    _ok(az_cloud("acr", "create", "-n", BASIC, "-g", RG, "--sku", "Basic", "-o", "json"))
    before = _types(az_cloud)
    proc = az_cloud(
        "aitk", "inference", "provision", "--image-registry", BASIC, "--image-streaming", *FAKE, cwd=stream_ws
    )
    line = one_error(proc, f"az acr update -n {BASIC} --sku Premium")  # the fix, on the line after
    assert f"container registry {BASIC} is Basic tier: artifact streaming (--image-streaming) needs the Premium" in line
    assert _types(az_cloud) == before and not (stream_ws / "infra" / "inference.config.json").exists()
    # ACR itself refuses streaming below Premium (the stand-in plays it): az's own command, on an imported image
    _ok(az_cloud("acr", "import", "-n", BASIC, "--source", f"docker.io/{PINNED}", "-t", PINNED), parse=False)
    refused = az_cloud("acr", "artifact-streaming", "create", "-n", BASIC, "--image", PINNED)
    assert refused.returncode != 0 and "only available in the Premium service tier" in refused.stderr, (
        refused.stderr + str(standin.requests_log[-12:])
    )
    # the fix the line names, with the real az (Registries_Update)
    _ok(az_cloud("acr", "update", "-n", BASIC, "--sku", "Premium", "-o", "json"))
    assert _record(standin, BASIC)["body"]["sku"]["name"] == "Premium"
    proc = az_cloud(
        "aitk",
        "inference",
        "provision",
        "--image-registry",
        BASIC,
        "--image-streaming",
        "--what-if",
        *FAKE,
        cwd=stream_ws,
    )
    _ok(proc, parse=False)
    assert f"Container registry {BASIC}: reused ({BASIC}.azurecr.standin.local" in proc.stderr, proc.stderr
    assert "'), Premium tier" in proc.stderr and "costs $1.667/day" not in proc.stderr, proc.stderr


def test_provision_creates_the_registry_premium_and_starts_streaming(az_cloud, standin, stream_ws):
    proc = az_cloud(
        "aitk",
        "inference",
        "provision",
        "--image-registry",
        NEW,
        "--image-streaming",
        "--yes",
        *FAKE,
        "-o",
        "json",
        cwd=stream_ws,
    )
    out = _ok(proc)
    rec = _record(standin, NEW)
    assert rec["body"]["sku"] == {"name": "Premium", "tier": "Premium"}, rec["body"]["sku"]
    assert rec["private"]["imports"] == [{"source": f"docker.io/{PINNED}", "targets": [PINNED]}]
    assert "costs $1.667/day" in proc.stderr, proc.stderr  # shown with --yes too
    registry = out["imageRegistry"]
    assert registry["sku"] == "Premium" and registry["created"] is True
    operation = registry["streaming"]["operation"]
    assert registry["streaming"]["status"] == "Running" and operation, registry
    assert f"{NEW} is generating the streaming artifact of {PINNED} (operation {operation}" in proc.stderr
    # what ACR holds now, read with az's own commands (the registry's data plane)
    setting = _ok(az_cloud("acr", "artifact-streaming", "show", "-n", NEW, "--repository", "vllm/vllm-openai"))
    assert setting["convertPushedImages"] is True, setting
    deadline, shown = time.monotonic() + 60, {}
    while time.monotonic() < deadline:
        shown = _ok(az_cloud("acr", "artifact-streaming", "operation", "show", "-n", NEW, "--image", PINNED))
        if shown["status"] not in ("NotStarted", "Running"):
            break
        time.sleep(1)
    assert (shown["id"], shown["status"]) == (operation, "Succeeded"), shown
    # a re-run asks for nothing more: the streaming artifact is there
    again = az_cloud(
        "aitk",
        "inference",
        "provision",
        "--image-registry",
        NEW,
        "--image-streaming",
        "--yes",
        *FAKE,
        "-o",
        "json",
        cwd=stream_ws,
    )
    assert _ok(again)["imageRegistry"]["streaming"]["status"] == "Succeeded"
    assert f"{PINNED} in {NEW} has its streaming artifact" in again.stderr, again.stderr
    assert json.loads((stream_ws / "infra" / "inference.config.json").read_text())["ACA_APP_NAME"]
