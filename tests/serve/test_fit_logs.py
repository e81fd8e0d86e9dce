"""The planner against the published vLLM start-up logs (benchmarks/data/vllm_startup_logs.json):
the GPU totals it budgets from, its safety margin, the KV cache it expects (never more than vLLM
had, at least 85 % of it) and the profile it picks for the logged models."""

import json
import math
from pathlib import Path

import pytest
from aitk_serve import fit, gpus

from aitk_testkit.real_models import MODELS, write_sparse_model

ROOT = Path(__file__).resolve().parents[2]
ROWS = json.loads((ROOT / "benchmarks" / "data" / "vllm_startup_logs.json").read_text())["rows"]
GPU_ROWS = [r for r in ROWS if r["gpu"] != "CPU"]
GIB = 1024**3


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("logged-models")
    return {r["model"]: str(write_sparse_model(root / r["model"], *MODELS[r["model"]])) for r in GPU_ROWS}


def planned(row, folders):
    config, _ = MODELS[row["model"]]
    return fit.logged_run_kv_pool(
        config,
        fit.read_headers_from_dir(folders[row["model"]]),
        gpu=gpus.GPUS[row["gpu"]],
        utilization=row["utilization"],
        dtype=row["dtype"],
        batch=(row["batched_tokens"], row["seqs"]),
    )


def test_every_row_names_its_source_and_the_table_covers_both_gpu_classes():
    assert all(r["source"] and r["vllm"] for r in ROWS)
    assert {r["gpu"] for r in ROWS} == {"T4", "A100", "CPU"}


@pytest.mark.parametrize("row", GPU_ROWS, ids=lambda r: f"{r['model']}-{r['gpu']}")
def test_the_budget_starts_from_cudas_total_not_nvidia_smis(row):
    """vLLM's logged total (2 decimals) for the class; nvidia-smi's is larger (15,360 / 81,920 MiB)."""
    total = gpus.GPUS[row["gpu"]].memory_bytes
    assert total / GIB == pytest.approx(row["cuda_total_gib"], abs=0.005)
    assert total < {"T4": 15_360, "A100": 81_920}[row["gpu"]] * 1024**2


@pytest.mark.parametrize("row", GPU_ROWS, ids=lambda r: f"{r['model']}-{r['gpu']}")
def test_the_planned_kv_cache_is_never_more_than_logged_and_at_least_85_percent(row, folders):
    p = planned(row, folders)
    assert p.weight_bytes / GIB == pytest.approx(row["weights_gib"], rel=0.01)  # weights are exact
    assert p.activation_bytes / GIB >= row["activation_gib"]  # the activation model covers the peak
    assert p.runtime_reserve_bytes / GIB >= row["non_torch_gib"]
    ratio = p.kv_pool_bytes / GIB / row["kv_cache_gib"]
    assert 0.85 <= ratio <= 1.0, ratio


@pytest.mark.parametrize("row", GPU_ROWS, ids=lambda r: f"{r['model']}-{r['gpu']}")
def test_the_margin_is_two_percent_of_the_budget_and_the_range_brackets_it(row, folders):
    p = planned(row, folders)
    budget = math.ceil(round(row["cuda_total_gib"] * GIB) * row["utilization"])
    assert p.budget_bytes == budget and p.margin_bytes == math.ceil(budget * 0.02)
    low, high = p.expected_context()
    assert low <= high  # the top is the same plan without the margin and the reserve


def test_the_cpu_row_is_vllm_0_32s_own_auto_fit_to_the_token():
    (row,) = [r for r in ROWS if r["gpu"] == "CPU"]
    assert fit.cpu_context(row["config"], row["kv_space_bytes"], row["dtype"]) == (row["kv_tokens"],) * 2


def test_the_profile_choice_for_the_logged_models(folders):
    """The 3B model a T4 served with 58,192 tokens of KV cache gets the T4; the 8B model, whose
    weights alone (14.96 GiB) exceed a T4's budget, gets the A100."""
    for model, want in (
        ("Llama-3.2-3B-Instruct", "Consumption-GPU-NC8as-T4"),
        ("Meta-Llama-3-8B", "Consumption-GPU-NC24-A100"),
    ):
        config, _ = MODELS[model]
        profile, p = fit.smallest_fitting_profile(
            config, fit.read_headers_from_dir(folders[model]), [], min_context=4096
        )
        assert profile.name == want and p.fits
