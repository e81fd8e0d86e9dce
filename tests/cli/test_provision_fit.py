"""provision fits the GPU profile to the base model and checks the region before deploying,
through the real az against the local Azure stand-in: refusals are one line, exit non-zero and
leave the resource group as it was (asserted through the stand-in's ARM: no deployment but
fine-tuning's, no resource but its storage account)."""

import shlex

import pytest

from aitk_testkit import real_models as rm
from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.az_harness import one_error
from aitk_testkit.scenario import seed_finetuning_storage

RG = "aitk-fit"
FT_STORAGE = "aitkfitft01"
FT_SHARE = "finetuning"
MODEL_DIR = "model-cache/meta-llama/Meta-Llama-3-8B"


@pytest.fixture(scope="module")
def fit_ws(az_cloud, standin, tmp_path_factory):
    """Fine-tuning's group, storage account and share in eastus, with a sparse Llama-3-8B
    (real headers, no data) under model-cache/ on the share, and the workspace naming them."""
    ws = tmp_path_factory.mktemp("fit") / "workspace"
    share = seed_finetuning_storage(standin, az_cloud, ws, RG, FT_STORAGE, FT_SHARE, job_name="job")
    config, shards = rm.MODELS["Meta-Llama-3-8B"]
    rm.write_sparse_model(share / MODEL_DIR, config, shards)
    return ws


def _nothing_created(az_cloud):
    deployments = _ok(az_cloud("deployment", "group", "list", "-g", RG, "-o", "json"))
    assert [d["name"] for d in deployments] == ["finetuning"]
    resources = _ok(az_cloud("resource", "list", "-g", RG, "-o", "json"))
    assert [r["type"] for r in resources] == ["Microsoft.Storage/storageAccounts"]


def test_explicit_profile_the_model_cannot_fit_is_refused_with_the_one_that_fits(az_cloud, fit_ws):
    line = one_error(az_cloud("aitk", "inference", "provision", "--gpu-profile", "T4", cwd=fit_ws))
    assert f"the share's {MODEL_DIR} does not fit T4 (--gpu-profile)" in line
    assert "the profile that would fit: A100 (Consumption-GPU-NC24-A100, 8,192 tokens of context, $" in line
    assert "/hour list price as of" in line
    _nothing_created(az_cloud)


def test_unknown_location_is_refused_as_arm_refuses_it(az_cloud, fit_ws):
    line = one_error(az_cloud("aitk", "inference", "provision", "-l", "marsnorth", cwd=fit_ws))
    assert "location 'marsnorth' is not a region where Azure Container Apps can run" in line
    assert "regions with Consumption-GPU-NC24-A100: australiaeast, brazilsouth" in line
    _nothing_created(az_cloud)


def test_region_without_the_profile_is_refused_listing_the_regions_that_offer_it(az_cloud, fit_ws):
    line = one_error(az_cloud("aitk", "inference", "provision", "-l", "eastus2", cwd=fit_ws))
    assert line == (
        "ERROR: eastus2 does not offer the Consumption-GPU-NC24-A100 workload profile (A100); regions that do: "
        "australiaeast, brazilsouth, canadacentral, eastus, italynorth, swedencentral, westus, westus3"
    )
    _nothing_created(az_cloud)


def test_what_if_prints_the_plan_from_the_share_headers(az_cloud, fit_ws):
    proc = az_cloud("aitk", "inference", "provision", "--what-if", cwd=fit_ws)
    _ok(proc, parse=False)
    assert "GPU profile A100 (Consumption-GPU-NC24-A100, chosen by the fit; $" in proc.stderr
    assert (
        "dtype bfloat16 (checkpoint bfloat16); context 8,192 tokens, the model's whole (vLLM fixes the exact "
        "value at start)" in proc.stderr
    )
    # CUDA's A100 total (79.22 GiB) x 0.92
    assert "GPU memory per GPU: 72.88 GiB budget = weights 14.96" in proc.stderr
    assert "Resource changes:" in proc.stdout
    _nothing_created(az_cloud)


def test_unknown_resource_group_location_is_refused_as_arm_does(az_cloud):
    proc = az_cloud("group", "create", "-n", "aitk-fit-mars", "-l", "marsnorth")
    assert proc.returncode != 0 and "LocationNotAvailableForResourceGroup" in proc.stderr


def test_help_example_for_a_local_model_runs_as_pasted(az_cloud, tmp_path):
    """The --model example of `provision --help`, pasted in a folder that has the model."""
    out = az_cloud("aitk", "inference", "provision", "--help").stdout
    example = next(line.strip() for line in out.splitlines() if "--model ./Phi-3-mini-4k-instruct" in line)
    config, shards = rm.MODELS["Phi-3-mini-4k-instruct"]
    rm.write_sparse_model(tmp_path / "Phi-3-mini-4k-instruct", config, shards)
    _ok(az_cloud("group", "create", "-n", "my-rg", "-l", "westus3", "-o", "json"))
    proc = az_cloud(*shlex.split(example)[1:], cwd=tmp_path)
    _ok(proc, parse=False)
    assert "GPU profile T4 (Consumption-GPU-NC8as-T4, chosen by the fit;" in proc.stderr
    assert "dtype float16 (checkpoint bfloat16); context 4,096 tokens" in proc.stderr


@pytest.mark.parametrize(
    "change, says",
    [
        ({"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True}}, "'bitsandbytes'"),
        ({"num_hidden_layers": -32}, 'positive integer "num_hidden_layers" (got -32)'),
    ],
)
def test_a_local_model_vllm_cannot_load_is_refused_before_anything(az_cloud, fit_ws, tmp_path, change, says):
    """provision --model with a checkpoint the launcher would refuse at start-up: one line, from
    the same checks, and nothing deployed."""
    config, shards = rm.MODELS["Meta-Llama-3-8B"]
    model = tmp_path / "model"
    rm.write_sparse_model(model, {**config, **change}, shards)
    line = one_error(az_cloud("aitk", "inference", "provision", "--model", str(model), "--what-if", cwd=fit_ws))
    assert says in line
    _nothing_created(az_cloud)
