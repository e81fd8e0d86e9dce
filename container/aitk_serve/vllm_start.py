"""Start vLLM's server as a child, pass its output through, and read back the context it chose.

vLLM 0.32 fixes the context at start-up from its own memory profiling (`--max-model-len auto`);
the launcher stays the parent so that it can
- log what vLLM chose beside the planner's expectation (every real start checks the planner);
- restart vLLM once, with vLLM's own estimate, when a length the user set does not fit the KV
  cache vLLM measured, and otherwise stop with one line: never a crash loop for memory.

cli.main execs `python -m aitk_serve.vllm_start` with the start in AITK_SERVE_START (JSON: the
command, the user's length, the expectation), so that the supervising process's command line is
free of anything the user typed (an --api-key after `--` included; what `ps` shows).

The lines read are vLLM 0.32's own (vllm/v1/core/kv_cache_utils.py: _auto_fit_max_model_len logs
"Auto-fit max_model_len: ...", _check_enough_kv_cache_memory raises "... the estimated maximum
model length is N ...").
"""

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import BinaryIO

from .env_names import START_ENV
from .vllm_args import MAX_MODEL_LEN_FLAG, with_flag

AUTO_FIT = re.compile(
    r"Auto-fit max_model_len: (?:reduced from (?P<model>\d+) to (?P<chosen>\d+)"
    r"|full model context length (?P<full>\d+) fits)"
)
ESTIMATE = re.compile(r"the estimated maximum model length is (\d+)")
# vLLM's refusals for memory: a length that does not fit, auto-fit with no room for one token,
# no memory left for any cache block (kv_cache_utils.py)
MEMORY_REFUSALS = (
    "KV cache is needed, which is larger than the available KV cache memory",
    "Cannot auto-fit max_model_len",
    "No available memory for the cache blocks",
)
# vLLM allocates the cache in blocks of 16 tokens (vllm/config/cache.py, block_size on GPU and
# CPU): an estimate rounded down to a block boundary still fits, in the same blocks.
ROUND_TO = 16
# Signals the launcher passes on to vLLM: the container runtime signals PID 1, the launcher. vLLM
# shares its process group, so a signal to the group reaches it twice; vLLM 0.32's API server
# ignores a second one once shutdown has started (vllm/entrypoints/launchers/launcher.py,
# signal_handler).
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
REFUSED = 2  # the launcher's exit status for a start it refuses (as LaunchError)
MODULE = "aitk_serve.vllm_start"


@dataclass
class Attempt:
    """What one vLLM run ended with, as its log told it."""

    returncode: int
    chosen: int | None = None  # the context vLLM's auto-fit chose
    estimate: int | None = None  # vLLM's own estimate after a refused length
    memory: bool = False  # refused for memory


def round_down(tokens: int) -> int:
    return tokens // ROUND_TO * ROUND_TO if tokens >= ROUND_TO else tokens


def read_line(line: str, attempt: Attempt) -> int | None:
    """Record what `line` says in `attempt`; the context chosen, when this line names it."""
    fit = AUTO_FIT.search(line)
    if fit:
        attempt.chosen = int(fit.group("chosen") or fit.group("full"))
        return attempt.chosen
    estimate = ESTIMATE.search(line)
    if estimate:
        attempt.estimate = int(estimate.group(1))
    if any(refusal in line for refusal in MEMORY_REFUSALS):
        attempt.memory = True
    return None


def run_once(
    command: Sequence[str], env: Mapping[str, str], on_chosen: Callable[[int], None], out: BinaryIO | None = None
) -> Attempt:
    """Run vLLM to its end, its output passed through to ours line by line, signals forwarded."""
    sink = out or sys.stdout.buffer
    attempt = Attempt(returncode=0)
    with subprocess.Popen(list(command), env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:

        def forward(signum: int, _frame: FrameType | None) -> None:
            if proc.poll() is None:
                proc.send_signal(signum)

        previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                sink.write(raw)
                sink.flush()
                chosen = read_line(raw.decode("utf-8", "replace"), attempt)
                if chosen is not None:
                    on_chosen(chosen)
            attempt.returncode = proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if attempt.returncode < 0:  # killed by a signal: report it the way a shell does
        attempt.returncode = 128 - attempt.returncode
    return attempt


def run(
    command: Sequence[str],
    env: Mapping[str, str],
    log: Callable[[str], None],
    user_max_model_len: int | None = None,
    expected: str = "",
) -> int:
    """Serve until vLLM exits; its exit status, or REFUSED after a start refused for memory.
    `expected`: the planner's expected context, logged beside what vLLM chose."""
    beside = f"; the planner expected {expected}" if expected else ""

    def chosen(tokens: int) -> None:
        log(f"context: vLLM chose --max-model-len {tokens:,} from its own memory profiling{beside}")

    first = run_once(command, env, chosen)
    if first.returncode == 0 or not first.memory:
        return first.returncode
    if user_max_model_len is None or not first.estimate:
        log(
            "error: the model does not fit the memory vLLM measured, not even at the shortest context; "
            "serve a smaller or quantized model, raise --gpu-memory-utilization, or use a larger GPU profile"
        )
        return REFUSED
    retry = round_down(first.estimate)
    log(
        f"--max-model-len {user_max_model_len:,} does not fit the KV cache vLLM measured; restarting vLLM "
        f"once with its own estimate, --max-model-len {retry:,}"
    )
    second = run_once(with_flag(command, MAX_MODEL_LEN_FLAG, str(retry)), env, chosen)
    if second.returncode == 0 or not second.memory:
        return second.returncode
    log(
        f"error: vLLM cannot fit --max-model-len {user_max_model_len:,} (yours) nor {retry:,} (its own "
        f"estimate) in memory; leave --max-model-len out to let vLLM choose, or pass a smaller one"
    )
    return REFUSED


def log_line(msg: str) -> None:
    """The launcher's log line (cli.log's format: the supervisor runs without cli)."""
    print(f"aitk_serve: {msg}", file=sys.stderr, flush=True)


def exec_args(command: Sequence[str], user_max_model_len: int | None, expected: str) -> tuple[list[str], str]:
    """(argv, START_ENV value) that make this module run `command` (cli.main execs them)."""
    start = {"command": list(command), "user_max_model_len": user_max_model_len, "expected": expected}
    return [sys.executable, "-m", MODULE], json.dumps(start)


def main() -> int:
    start = json.loads(os.environ.pop(START_ENV))
    return run(start["command"], dict(os.environ), log_line, start["user_max_model_len"], start["expected"])


if __name__ == "__main__":
    sys.exit(main())
