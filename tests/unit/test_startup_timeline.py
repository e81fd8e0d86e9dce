"""Every start measured (issue 18): the launcher's phase lines from vLLM's own log records
(aitk_serve/startup_timeline.py) and the timeline `status` and `logs --timeline` build from them and
the system log's events (core/monitor/startup_timeline.py). The real launcher and vLLM write these
lines in tests/serve/test_startup_timeline.py and tests/e2e/test_start_timeline.py."""

import io
import json
import logging

from aitk_serve import startup_timeline as launcher_side
from azext_aitk.core.monitor import startup_timeline

EPOCH = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def watcher(**weights):
    env = {launcher_side.STARTED_AT_ENV: repr(EPOCH), launcher_side.WEIGHTS_ENV: json.dumps(weights)}
    out = io.StringIO()
    return launcher_side.PhaseWatcher(env, logging.LogRecord, stream=out), out


def record(name, msg, *args):
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args or None, None)


# vLLM 0.32's own messages, as its source formats them (the module docstring names each file)
VLLM_RECORDS = [
    ("vllm.v1.worker.cpu_model_runner", "Starting to load model %s...", "/mount/model-cache/m"),
    ("vllm.model_executor.model_loader.default_loader", "Loading weights took %.2f seconds", 10.1),
    (
        "vllm.v1.core.kv_cache_utils",
        "%s KV cache size: %s tokens, Maximum concurrency for %s tokens per request: %.2fx",
        "GPU",
        "1,048,576",
        "4,096",
        256.0,
    ),
    ("vllm.v1.worker.gpu_model_runner", "Graph capturing finished in %.0f secs, took %.2f GiB", 12.0, 0.54),
    ("vllm.v1.engine.core", "init engine (profile, create kv cache, warmup model) took %.2f s", 41.5),
]


def test_each_vllm_message_writes_its_mark_once_with_the_weights_numbers():
    w, out = watcher(bytes=7_620_000_000, format="runai_streamer", concurrency=16, source="/mount/model-cache/m")
    for name, msg, *args in VLLM_RECORDS + VLLM_RECORDS:  # twice: still one line per mark
        w.observe(record(name, msg, *args))
    lines = out.getvalue().splitlines()
    marks = [startup_timeline.parse_line(line)["mark"] for line in lines]
    assert marks == ["engine started", "weights loaded", "kv cache allocated", "graphs captured", "engine ready"]
    weights = startup_timeline.weights(startup_timeline.parse_line(lines[1])["detail"])
    assert weights == {
        "bytes": 7_620_000_000,
        "seconds": 10.1,
        "mbPerSecond": 754.5,
        "loadFormat": "runai_streamer",
        "concurrency": 16,
        "source": "/mount/model-cache/m",
    }


def test_the_streamer_and_the_gpu_runner_report_weights_too():
    for name, msg, args in [
        (
            "runai_model_streamer.safetensors_streamer.safetensors_streamer",
            "[RunAI Streamer] Overall time to stream 1.8 GiB of all files to cpu: 2.5s, 737 MiB/s",
            (),
        ),
        ("vllm.v1.worker.gpu_model_runner", "Model loading took %s GiB memory and %.6f seconds", ("14.96", 2.5)),
    ]:
        w, out = watcher(format="auto")
        w.observe(record(name, msg, *args))
        (line,) = out.getvalue().splitlines()
        parsed = startup_timeline.parse_line(line)
        assert parsed["mark"] == "weights loaded"
        assert startup_timeline.weights(parsed["detail"]) == {"seconds": 2.5, "loadFormat": "auto"}


def test_ready_and_the_first_answered_request_not_a_probe():
    w, out = watcher()
    w.observe(record("uvicorn.error", "Application startup complete."))
    access = '%s - "%s %s HTTP/%s" %d'
    w.observe(record("uvicorn.access", access, "10.0.0.1:5000", "GET", "/health", "1.1", 200))
    w.observe(record("uvicorn.access", access, "10.0.0.1:5000", "POST", "/v1/completions", "1.1", 401))
    w.observe(record("uvicorn.access", access, "10.0.0.1:5000", "POST", "/v1/completions", "1.1", 200))
    w.observe(record("uvicorn.access", access, "10.0.0.1:5000", "POST", "/v1/chat/completions", "1.1", 200))
    marks = [startup_timeline.parse_line(x) for x in out.getvalue().splitlines()]
    assert [(m["mark"], m["detail"]) for m in marks] == [
        ("ready", "the server answers requests"),
        ("first request answered", "POST /v1/completions 200"),
    ]


def test_the_watcher_is_the_record_factory_and_passes_records_through():
    w, out = watcher()
    made = w(
        "vllm.v1.engine.core",
        logging.INFO,
        __file__,
        1,
        "init engine (profile, create kv cache, warmup model) took %.2f s",
        (3.0,),
        None,
    )
    assert made.getMessage().endswith("took 3.00 s")
    assert "engine ready" in out.getvalue()
    assert w("other", logging.INFO, __file__, 1, "Starting to load model x...", None, None).name == "other"
    assert out.getvalue().count("\n") == 1  # other loggers are not read


def test_install_is_a_no_op_outside_a_launched_server():
    assert launcher_side.install({}) is None


def stamp(seconds):
    return launcher_side.utc_stamp(EPOCH + seconds)


def line(mark, seconds, detail=""):
    return launcher_side.phase_line(mark, EPOCH + 5.0, EPOCH + seconds, detail)


EVENTS = [
    {"TimeStamp": stamp(0.0), "Reason": "AssigningReplica", "Msg": "Replica 'r1' has been scheduled to run on a node."},
    {"TimeStamp": stamp(0.5), "Reason": "PullingImage", "Msg": 'Pulling image "vllm/vllm-openai:v0.32.0"'},
    {"TimeStamp": stamp(4.0), "Reason": "ImagePulled", "Msg": "Successfully pulled image in 3.5s"},
    {"TimeStamp": stamp(4.2), "Reason": "ContainerStarted", "Msg": "Started container 'main'"},
]
CONSOLE = [
    "aitk_serve: base model 'm' from /mount/model-cache/m",
    line("launcher started", 5.0, "aitk_serve 0.1.0, pid 7"),
    line("discovery and fit done", 5.4, "0 adapter(s)"),
    "(APIServer pid=7) INFO 01-15 08:00:06 [api_utils.py:286] non-default args: {}",
    line("engine started", 15.0, "vLLM begins loading the model"),
    # written by another process a moment before the engine's line: the timeline sorts by time
    line("kv cache allocated", 27.0, "1,048,576 tokens"),
    line(
        "weights loaded",
        25.1,
        "7620000000 bytes in 10.10 s = 754.5 MB/s, load format runai_streamer (concurrency 16), from /mount/m",
    ),
    line("engine ready", 60.0, "vLLM's init engine (profile, KV cache, warm-up) 35.0 s"),
    line("ready", 61.5, "the server answers requests"),
    'INFO:     10.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK',
    line("first request answered", 63.0, "POST /v1/chat/completions 200"),
]


def test_the_timeline_from_scheduling_to_ready_adds_up():
    start = startup_timeline.timeline(EVENTS, CONSOLE)
    names = [p["phase"] for p in start["phases"]]
    assert names == [
        "scheduling",
        "image pull",
        "container start",
        "discovery and fit",
        "engine start",
        "weights",
        "kv cache",
        "compile, graphs and warm-up",
        "server start",
    ]
    assert start["from"] == "replica scheduled"
    assert start["startedAt"] == stamp(0.0)
    assert start["secondsToReady"] == 61.5
    assert abs(sum(p["seconds"] for p in start["phases"]) - start["secondsToReady"]) < 0.01
    assert start["secondsToFirstRequest"] == 63.0
    weights = next(p for p in start["phases"] if p["phase"] == "weights")
    assert weights["seconds"] == 10.1 and weights["loadSeconds"] == 10.1  # the phase; vLLM's own number
    assert weights["bytes"] == 7_620_000_000 and weights["loadFormat"] == "runai_streamer"
    text = "\n".join(startup_timeline.text_lines(start))
    assert "weights" in text and "7.62 GB" in text and "= ready after" in text and "61.50 s" in text


def test_only_the_last_start_counts_and_its_own_scheduling():
    earlier_events = [dict(e, TimeStamp=launcher_side.utc_stamp(EPOCH - 600 + i)) for i, e in enumerate(EVENTS)]
    earlier_console = [launcher_side.phase_line("launcher started", EPOCH - 590, EPOCH - 590)]
    start = startup_timeline.timeline(earlier_events + EVENTS, earlier_console + CONSOLE)
    assert start["startedAt"] == stamp(0.0) and start["secondsToReady"] == 61.5


def test_a_start_in_progress_and_a_console_without_phase_lines():
    start = startup_timeline.timeline(EVENTS, CONSOLE[:5])
    assert start["secondsToReady"] is None and "not ready" in start["note"]
    assert [p["phase"] for p in start["phases"]][-1] == "engine start"
    assert startup_timeline.timeline(EVENTS, ["hello"]) is None
    assert "No start-up timeline" in startup_timeline.text_lines(None)[0]


def test_without_system_events_the_timeline_starts_at_the_launcher():
    start = startup_timeline.timeline([], CONSOLE)
    assert start["from"] == "launcher started" and start["secondsToReady"] == 56.5
    assert start["phases"][0]["phase"] == "discovery and fit"


def test_a_prefixed_line_still_parses_and_bad_times_do_not():
    parsed = startup_timeline.parse_line("2027-01-15T08:00:05Z stdout F " + line("ready", 61.5))
    assert parsed["mark"] == "ready"
    assert startup_timeline.parse_line("aitk_serve: start: ready after 1.00 s at yesterday") is None


# -- the weights loader the launcher picks (aitk_serve/weights_loader.py) ------------------------


def _checkpoint(tmp_path, config=None):
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 16)
    return str(tmp_path), config or {"model_type": "llama"}


def test_a_safetensors_folder_is_streamed_with_the_chosen_concurrency(tmp_path):
    from aitk_serve import weights_loader

    model, config = _checkpoint(tmp_path)
    choice = weights_loader.choose(model, True, config, [], {}, installed=lambda: True)
    assert choice.args == ["--load-format", "runai_streamer", "--model-loader-extra-config", '{"concurrency": 16}']
    assert "Run:ai Model Streamer (runai_streamer, concurrency 16)" in choice.note
    tuned = weights_loader.choose(model, True, config, [], {"AITK_STREAMER_CONCURRENCY": "64"}, installed=lambda: True)
    assert json.loads(tuned.args[-1]) == {"concurrency": 64}
    bad = weights_loader.choose(model, True, config, [], {"AITK_STREAMER_CONCURRENCY": "0"}, installed=lambda: True)
    assert json.loads(bad.args[-1]) == {"concurrency": 16}


def test_the_default_loader_where_the_streamer_cannot_apply_one_line_each(tmp_path):
    from aitk_serve import weights_loader

    model, config = _checkpoint(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    quantized = {"model_type": "llama", "quantization_config": {"quant_method": "bitsandbytes"}}
    cases = [
        (
            weights_loader.choose(model, True, config, [], {}, installed=lambda: False),
            "runai_model_streamer is not installed",
        ),
        (weights_loader.choose(model, True, quantized, [], {}, installed=lambda: True), "bitsandbytes-quantized"),
        (weights_loader.choose(str(empty), True, config, [], {}, installed=lambda: True), "no .safetensors"),
        (weights_loader.choose("org/name", False, None, [], {}, installed=lambda: True), "is not a local folder"),
        (
            weights_loader.choose(model, True, config, ["--load_format=auto"], {}, installed=lambda: True),
            "--load-format in the vLLM arguments decides",
        ),
    ]
    for choice, why in cases:
        assert choice.args == [] and why in choice.note and "\n" not in choice.note, choice
