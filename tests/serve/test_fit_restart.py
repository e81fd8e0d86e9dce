"""The launcher's start of vLLM (aitk_serve.vllm_start) on scripted runs: a child process that
prints vLLM 0.32's own lines (vllm/v1/core/kv_cache_utils.py) and exits as vLLM does. The real
vLLM paths are tests/serve/test_fit_start.py; these cover the endings a CPU run cannot produce on
demand (vLLM's estimate refused too, no estimate at all, a failure that is not memory)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from aitk_serve import vllm_start
from aitk_serve.env_names import START_ENV

ROOT = Path(__file__).resolve().parents[2]

REFUSAL = (
    "ValueError: To serve at least one request with the model's max seq len ({asked}), (3.00 GiB KV cache "
    "is needed, which is larger than the available KV cache memory (1.00 GiB). Based on the available "
    "memory, the estimated maximum model length is {estimate}. Try increasing `gpu_memory_utilization`"
)


def script(tmp_path, body):
    """A stand-in for vLLM: prints what `body` prints for the --max-model-len it is given."""
    path = tmp_path / "fake_vllm.py"
    path.write_text(
        "import sys\n"
        "args = sys.argv[1:]\n"
        "length = args[len(args) - 1 - args[::-1].index('--max-model-len') + 1]\n" + body
    )
    return [sys.executable, str(path)]


def run(command, lines, **kw):
    return vllm_start.run(command, {}, lines.append, **kw)


def test_a_refused_length_is_retried_once_with_the_estimate_rounded_down(tmp_path, capfd):
    command = script(
        tmp_path,
        "if length == '5000':\n"
        f"    print({REFUSAL!r}.format(asked=5000, estimate=3001)); sys.exit(1)\n"
        "print('served at', length)\n",
    )
    lines = []
    assert run([*command, "--max-model-len", "5000"], lines, user_max_model_len=5000) == 0
    assert lines == [
        "--max-model-len 5,000 does not fit the KV cache vLLM measured; restarting vLLM once with its own "
        "estimate, --max-model-len 2,992"
    ]
    out = capfd.readouterr().out
    assert "the estimated maximum model length is 3001" in out and "served at 2992" in out  # passed through


def test_when_the_estimate_is_refused_too_one_line_names_both_and_the_fix(tmp_path):
    command = script(tmp_path, f"print({REFUSAL!r}.format(asked=length, estimate=1000)); sys.exit(1)\n")
    lines = []
    assert run([*command, "--max-model-len", "5000"], lines, user_max_model_len=5000) == vllm_start.REFUSED
    assert len(lines) == 2  # the restart, then the end: no third start
    assert lines[1] == (
        "error: vLLM cannot fit --max-model-len 5,000 (yours) nor 992 (its own estimate) in memory; leave "
        "--max-model-len out to let vLLM choose, or pass a smaller one"
    )


def test_auto_fit_that_cannot_fit_a_token_is_one_line_without_a_restart(tmp_path):
    command = script(
        tmp_path,
        "print('ValueError: Cannot auto-fit max_model_len: not enough GPU memory available to serve even a "
        "single token.'); sys.exit(1)\n",
    )
    lines = []
    assert run([*command, "--max-model-len", "auto"], lines) == vllm_start.REFUSED
    assert len(lines) == 1 and lines[0].startswith("error: the model does not fit the memory vLLM measured")


def test_a_failure_that_is_not_memory_keeps_vllms_status_and_no_restart(tmp_path):
    command = script(tmp_path, "print('RuntimeError: something else'); sys.exit(3)\n")
    lines = []
    assert run([*command, "--max-model-len", "5000"], lines, user_max_model_len=5000) == 3
    assert not lines


def test_the_context_vllm_chose_is_logged_beside_the_planners(tmp_path):
    command = script(
        tmp_path,
        "print('(EngineCore pid=1) INFO [kv_cache_utils.py:2477] Auto-fit max_model_len: reduced from 131072 "
        "to 14352 to fit in available KV cache memory (5.30 GiB GPU)')\n",
    )
    lines = []
    assert run([*command, "--max-model-len", "auto"], lines, expected="13,312-16,256 tokens") == 0
    assert lines == [
        "context: vLLM chose --max-model-len 14,352 from its own memory profiling; the planner expected "
        "13,312-16,256 tokens"
    ]


def test_vllms_whole_context_line_is_read_too():
    attempt = vllm_start.Attempt(returncode=0)
    line = "Auto-fit max_model_len: full model context length 4096 fits in available KV cache memory (9 GiB)"
    assert vllm_start.read_line(line, attempt) == 4096 and attempt.chosen == 4096


def test_the_supervisor_runs_from_the_environment_with_a_bare_command_line(tmp_path):
    """What cli.main execs: `python -m aitk_serve.vllm_start`, the start in AITK_SERVE_START."""
    command = script(
        tmp_path,
        "print('Auto-fit max_model_len: full model context length 4096 fits in available KV cache memory (1 GiB)')\n"
        "sys.exit(0)\n",
    )
    argv, start = vllm_start.exec_args([*command, "--max-model-len", "auto"], None, "the model's whole 4,096 tokens")
    assert argv[1:] == ["-m", "aitk_serve.vllm_start"] and json.loads(start)["user_max_model_len"] is None
    env = {**os.environ, START_ENV: start, "PYTHONPATH": str(ROOT / "container")}
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "Auto-fit max_model_len: full model context length 4096" in result.stdout
    assert result.stderr.strip() == (
        "aitk_serve: context: vLLM chose --max-model-len 4,096 from its own memory profiling; the planner "
        "expected the model's whole 4,096 tokens"
    )
