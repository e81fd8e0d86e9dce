#!/usr/bin/env python
"""Fit benchmark: the launcher's planner (aitk_serve.fit) against published vLLM start-up logs
(benchmarks/data/vllm_startup_logs.json: model, GPU, vLLM version, weights, KV cache, utilization,
each with its source). For each row the planner sizes the same model on its GPU class at the
logged utilization and profiling batch; the report is planner / logged for the weights and the KV
cache (targets: KV <= 1.0 everywhere, the planner never promises more than vLLM had, and >= 0.85),
and for the CPU row the context vLLM 0.32's auto-fit chose. Also the planning time from a model
folder (every shard's safetensors header read, then plan; target < 100 ms; headers only, the
weights are holes).

    PYTHONPATH=container .venv/bin/python benchmarks/bench_fit.py [--repeat 20] [--json PATH]

(`make bench` sets PYTHONPATH: the launcher is not installed in .venv.)
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aitk_serve import fit, gpus

from aitk_testkit.real_models import MODELS, write_sparse_model

LOGS = Path(__file__).parent / "data" / "vllm_startup_logs.json"
RATIO_LOW, RATIO_HIGH = 0.85, 1.0
TIME_BUDGET_MS = 100.0
GIB = gpus.GIB


def gpu_row(row, folders):
    """planner / logged for a GPU start-up log."""
    config, _ = MODELS[row["model"]]
    headers = fit.read_headers_from_dir(folders[row["model"]])
    p = fit.logged_run_kv_pool(
        config,
        headers,
        gpu=gpus.GPUS[row["gpu"]],
        utilization=row["utilization"],
        dtype=row["dtype"],
        batch=(row["batched_tokens"], row["seqs"]),
    )
    return {
        "model": row["model"],
        "gpu": row["gpu"],
        "vllm": row["vllm"],
        "weights": p.weight_bytes / GIB / row["weights_gib"],
        "kv_planned": p.kv_pool_bytes / GIB,
        "kv_logged": row["kv_cache_gib"],
        "ratio": p.kv_pool_bytes / GIB / row["kv_cache_gib"],
    }


def cpu_row(row):
    """planner / logged for vLLM 0.32's auto-fit on CPU (the context it chose)."""
    low, _ = fit.cpu_context(row["config"], row["kv_space_bytes"], row["dtype"])
    return {
        "model": row["model"].split(" ")[0],
        "gpu": row["gpu"],
        "vllm": row["vllm"],
        "weights": None,
        "kv_planned": low,
        "kv_logged": row["kv_tokens"],
        "ratio": low / row["kv_tokens"],
    }


def plan_times(folders, repeat):
    """Median and slowest ms to read the headers and plan, per model and GPU of the table."""
    times = []
    for name, (config, _) in MODELS.items():
        for gpu in gpus.GPUS.values():
            for _ in range(repeat):
                t0 = time.perf_counter()
                fit.plan(config, fit.read_headers_from_dir(folders[name]), gpu, [])
                times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20, help="timed plans per model and GPU")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    rows = json.loads(LOGS.read_text())["rows"]
    with tempfile.TemporaryDirectory() as tmp:
        folders = {
            name: str(write_sparse_model(Path(tmp) / name, config, shards)) for name, (config, shards) in MODELS.items()
        }
        results = [cpu_row(r) if r["gpu"] == "CPU" else gpu_row(r, folders) for r in rows]
        median_ms, max_ms = plan_times(folders, args.repeat)
    print(f"{'model':24} {'gpu':5} {'vLLM':26} {'weights':>8} {'KV planned':>11} {'KV logged':>10} {'ratio':>6}")
    for r in results:
        unit = "tok" if r["gpu"] == "CPU" else "GiB"
        weights = f"{r['weights']:.4f}" if r["weights"] is not None else "-"
        print(
            f"{r['model']:24} {r['gpu']:5} {r['vllm'][:26]:26} {weights:>8} "
            f"{r['kv_planned']:>7.2f} {unit} {r['kv_logged']:>6.2f} {unit} {r['ratio']:>6.3f}"
        )
    ratios = [r["ratio"] for r in results]
    ok = all(RATIO_LOW <= x <= RATIO_HIGH for x in ratios) and median_ms < TIME_BUDGET_MS
    print(
        f"KV planner/logged {min(ratios):.3f}-{max(ratios):.3f} (targets >= {RATIO_LOW} and <= {RATIO_HIGH}); "
        f"plan from headers: median {median_ms:.2f} ms, slowest {max_ms:.2f} ms (target median < "
        f"{TIME_BUDGET_MS:.0f} ms); {'PASS' if ok else 'FAIL'}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": results, "median_ms": median_ms, "max_ms": max_ms}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
