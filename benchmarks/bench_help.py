#!/usr/bin/env python
"""How much `az aitk … --help` costs over `az version -o none`, measured side by side.

Both run with the same az (the venv's azure-cli), the same private config folder, and aitk
installed from the wheel into a private extension folder. Runs are interleaved (baseline, then
each help command, repeated) so machine noise hits both alike; medians are compared.
The budget (issue #3): at most 100 ms over the baseline. Exits 1 when a median is over it.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aitk_testkit.az_harness import AZ, Az, az_env, current_wheel

BUDGET_MS = 100.0
BASELINE = ["version", "-o", "none"]
COMMANDS = [
    ["aitk", "inference", "--help"],
    ["aitk", "inference", "provision", "--help"],
    ["aitk", "inference", "endpoint", "--help"],
]


def timed(args, env):
    start = time.perf_counter()
    proc = subprocess.run([AZ, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = (time.perf_counter() - start) * 1000.0
    if proc.returncode != 0:
        raise SystemExit(f"az {' '.join(args)} failed: {proc.stderr.strip()[:500]}")
    return took


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aitk-bench-") as tmp:
        tmp = Path(tmp)
        env = az_env(tmp / "az")
        Az(env).add_extension(current_wheel(tmp / "build"))
        for c in [BASELINE, *COMMANDS]:  # warm-up: command index, .pyc files
            timed(c, env)
            timed(c, env)
        samples = {" ".join(c): [] for c in [BASELINE, *COMMANDS]}
        for _ in range(args.repeat):
            for c in [BASELINE, *COMMANDS]:
                samples[" ".join(c)].append(timed(c, env))
    base = statistics.median(samples[" ".join(BASELINE)])
    rows, worst = [], 0.0
    print(f"baseline  az {' '.join(BASELINE)}: median {base:.0f} ms over {args.repeat} runs")
    for c in COMMANDS:
        med = statistics.median(samples[" ".join(c)])
        diff = med - base
        worst = max(worst, diff)
        rows.append(
            {
                "command": "az " + " ".join(c),
                "median_ms": round(med, 1),
                "baseline_ms": round(base, 1),
                "diff_ms": round(diff, 1),
                "ratio": round(med / base, 3),
            }
        )
        print(
            f"az {' '.join(c):40s} median {med:6.0f} ms  ratio {med / base:5.2f}  "
            f"diff {diff:+6.0f} ms (budget +{BUDGET_MS:.0f} ms)"
        )
    print(
        json.dumps(
            {"benchmark": "help_latency", "results": rows, "budget_ms": BUDGET_MS, "within_budget": worst <= BUDGET_MS}
        )
    )
    return 0 if worst <= BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
