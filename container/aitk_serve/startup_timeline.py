"""Every start measured: one console line per phase of a start, with the time since the launcher
began and the wall-clock time, so `az aitk inference status` can show where a start spent its time
from the events themselves (core/monitor/startup_timeline.py parses these lines).

    aitk_serve: start: weights loaded after 23.41 s at 2026-12-07T23:04:58.123Z: 7620000000 bytes in
    10.10 s = 754.5 MB/s, load format runai_streamer (concurrency 16), from /mount/model-cache/m

The launcher writes the first marks itself (`launcher started`, `discovery and fit done`) and
hands the start time to vLLM in STARTED_AT_ENV. vLLM's phases are read from vLLM 0.32's own log
records in every process of the server (API server, engine core, workers), as `install()`'s
record factory sees them made. The messages it reads (vLLM 0.32 source):
- `Starting to load model %s...` (v1/worker/gpu_model_runner.py, cpu_model_runner.py): engine started
- `Loading weights took %.2f seconds` (model_loader/default_loader.py), `Model loading took %s GiB
  memory and %.6f seconds` (v1/worker/gpu_model_runner.py), and the streamer's `[RunAI Streamer]
  Overall time to stream … : %ss, …` (runai_model_streamer 0.17 safetensors_streamer.py):
  weights loaded
- `torch.compile took %.2f s in total` (compilation/monitor.py): torch.compile done
- `%s KV cache size: %s tokens, …` (v1/core/kv_cache_utils.py): kv cache allocated
- `Graph capturing finished in %.0f secs, took %.2f GiB` (v1/worker/gpu_model_runner.py): graphs captured
- `init engine (profile, create kv cache, warmup model) took %.2f s` (v1/engine/core.py): engine ready
- uvicorn's `Application startup complete.`: ready (the server answers /health from here on)
- uvicorn's access log, the first 2xx answer to anything but a probe: first request answered
Each mark is written once per process; a line vLLM does not write (a CPU start has no graph
capture) is simply absent. Stdlib only: this module is imported before vLLM in every process.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import IO, Any

from .env_names import STARTED_AT_ENV, WEIGHTS_ENV

PREFIX = "aitk_serve: start: "

LAUNCHER_STARTED = "launcher started"
PLANNED = "discovery and fit done"
ENGINE_STARTED = "engine started"
WEIGHTS_LOADED = "weights loaded"
COMPILED = "torch.compile done"
KV_CACHE = "kv cache allocated"
GRAPHS = "graphs captured"
ENGINE_READY = "engine ready"
READY = "ready"
FIRST_REQUEST = "first request answered"

_NUMBER = r"(\d+(?:\.\d+)?)"
# (pattern on the record's message, mark, detail from the match)
_VLLM_RULES: list[tuple[re.Pattern[str], str, Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^Starting to load model "), ENGINE_STARTED, lambda m: "vLLM begins loading the model"),
    (re.compile(r"^Loading weights took " + _NUMBER + " seconds"), WEIGHTS_LOADED, lambda m: m.group(1)),
    (
        re.compile(r"^Model loading took \S+ GiB memory and " + _NUMBER + " seconds"),
        WEIGHTS_LOADED,
        lambda m: m.group(1),
    ),
    (
        re.compile(r"^\[RunAI Streamer\] Overall time to stream .*: " + _NUMBER + "s,"),
        WEIGHTS_LOADED,
        lambda m: m.group(1),
    ),
    (
        re.compile(r"torch\.compile (?:took|takes) " + _NUMBER + " s in total"),
        COMPILED,
        lambda m: f"torch.compile {m.group(1)} s",
    ),
    (re.compile(r"KV cache size: ([\d,]+) tokens"), KV_CACHE, lambda m: f"{m.group(1)} tokens"),
    (
        re.compile(r"^Graph capturing finished in (\d+) secs, took (\S+) GiB"),
        GRAPHS,
        lambda m: f"graph capture {m.group(1)} s, {m.group(2)} GiB",
    ),
    (
        re.compile(r"^init engine \(profile, create kv cache, warmup model\) took " + _NUMBER),
        ENGINE_READY,
        lambda m: f"vLLM's init engine (profile, KV cache, warm-up) {m.group(1)} s",
    ),
]
_PROBE_PATHS = ("/health", "/ping", "/metrics", "/load", "/version")


def utc_stamp(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds, as the system log writes its TimeStamp."""
    return (
        datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"
    )


def phase_line(mark: str, started_at: float, now: float, detail: str = "") -> str:
    line = f"{PREFIX}{mark} after {max(0.0, now - started_at):.2f} s at {utc_stamp(now)}"
    return f"{line}: {detail}" if detail else line


def weights_detail(seconds: float, info: Mapping[str, Any]) -> str:
    """`N bytes in S s = R MB/s, load format F (concurrency C), from SRC` with what is known."""
    parts = []
    size = info.get("bytes")
    if isinstance(size, int) and size > 0:
        rate = f" = {size / seconds / 1e6:.1f} MB/s" if seconds > 0 else ""
        parts.append(f"{size} bytes in {seconds:.2f} s{rate}")
    else:
        parts.append(f"in {seconds:.2f} s")
    fmt = info.get("format") or "auto"
    conc = info.get("concurrency")
    parts.append(f"load format {fmt}" + (f" (concurrency {conc})" if conc else ""))
    if info.get("source"):
        parts.append(f"from {info['source']}")
    return ", ".join(parts)


def checkpoint_bytes(folder: str) -> int:
    """The bytes vLLM reads for a safetensors checkpoint (0 when there is none to count)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    total = 0
    for name in names:
        if name.endswith(".safetensors"):
            try:
                total += os.path.getsize(os.path.join(folder, name))
            except OSError:
                pass
    return total


class PhaseWatcher:
    """Reads vLLM's, the streamer's and uvicorn's log records as they are made and writes a phase
    line for each mark, once per process. It is the logging module's record factory (wrapping the
    one before it): vLLM re-applies its logging config in every engine and worker process
    (`configure_logging`, a dictConfig that replaces the `vllm` logger's handlers), but keeps the
    factory, wrapping it in its own (vllm/logger.py, `_VllmLogRecordFactory`)."""

    def __init__(
        self, env: Mapping[str, str], factory: Callable[..., logging.LogRecord], stream: IO[str] | None = None
    ) -> None:
        try:
            self.started_at = float(env.get(STARTED_AT_ENV) or "")
        except ValueError:
            self.started_at = time.time()
        try:
            weights = json.loads(env.get(WEIGHTS_ENV) or "{}")
        except ValueError:
            weights = {}
        self.weights: dict[str, Any] = weights if isinstance(weights, dict) else {}
        self.factory = factory
        self.stream = stream
        self.seen: set[str] = set()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.factory(*args, **kwargs)
        if record.name.startswith(("vllm", "runai_model_streamer", "uvicorn")):
            try:
                self.observe(record)
            except Exception:  # pylint: disable=broad-exception-caught  # never break a log call
                pass
        return record

    def write(self, mark: str, detail: str = "") -> None:
        if mark in self.seen:
            return
        self.seen.add(mark)
        out = self.stream or sys.stderr
        try:
            out.write(phase_line(mark, self.started_at, time.time(), detail) + "\n")
            out.flush()
        except (OSError, ValueError):  # a closed console never stops the server
            pass

    def observe(self, record: logging.LogRecord) -> None:
        if record.name.startswith("uvicorn"):
            self.observe_uvicorn(record)
            return
        message = record.getMessage()
        for pattern, mark, detail in _VLLM_RULES:
            if mark in self.seen:
                continue
            found = pattern.search(message)
            if found is None:
                continue
            if mark == WEIGHTS_LOADED:
                self.write(mark, weights_detail(float(found.group(1)), self.weights))
            else:
                self.write(mark, detail(found))
            return

    def observe_uvicorn(self, record: logging.LogRecord) -> None:
        """Ready (uvicorn's "Application startup complete.") and the first answered request."""
        if READY not in self.seen and str(record.msg).startswith("Application startup complete"):
            self.write(READY, "the server answers requests")
        elif FIRST_REQUEST not in self.seen and record.name == "uvicorn.access":
            args = record.args if isinstance(record.args, tuple) else ()
            # uvicorn: '%s - "%s %s HTTP/%s" %d' % (client, method, path, http_version, status)
            if len(args) == 5 and isinstance(args[4], int) and 200 <= args[4] < 300:
                path = str(args[2]).split("?", 1)[0]
                if path not in _PROBE_PATHS:
                    self.write(FIRST_REQUEST, f"{args[1]} {path} {args[4]}")


_installed: list[PhaseWatcher] = []


def install(env: Mapping[str, str] | None = None) -> PhaseWatcher | None:
    """Watch this process's vLLM, streamer and uvicorn log records (idempotent). Runs at import of
    the server module, so vLLM's spawned engine and worker processes (which re-import it as
    `__mp_main__`) watch theirs too; a no-op without STARTED_AT_ENV (not started by the launcher)."""
    if _installed:
        return _installed[0]
    env = os.environ if env is None else env
    if STARTED_AT_ENV not in env:
        return None
    watcher = PhaseWatcher(env, logging.getLogRecordFactory())
    logging.setLogRecordFactory(watcher)
    _installed.append(watcher)
    return watcher


def weights_info(command: list[str], model: str) -> dict[str, Any]:
    """What the weights mark reports: bytes of the local checkpoint, vLLM's load format and the
    streamer's concurrency as the command sets them, and where the weights come from."""
    from .vllm_args import flag_value  # pylint: disable=import-outside-toplevel  # no cycle at import

    info: dict[str, Any] = {"source": model, "format": flag_value(command, "--load-format") or "auto"}
    if os.path.isdir(model):
        info["bytes"] = checkpoint_bytes(model)
    try:
        extra = json.loads(flag_value(command, "--model-loader-extra-config") or "{}")
    except ValueError:
        extra = {}
    if isinstance(extra, dict) and extra.get("concurrency"):
        info["concurrency"] = extra["concurrency"]
    return info


def launcher_mark(
    mark: str, started_at: float, detail: str = "", when: float | None = None, stream: IO[str] | None = None
) -> None:
    """A mark the launcher writes itself (before vLLM runs); `when` defaults to now."""
    out = stream or sys.stderr
    out.write(phase_line(mark, started_at, time.time() if when is None else when, detail) + "\n")
    out.flush()
