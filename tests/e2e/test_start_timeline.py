"""Issue 18, every start measured: the real az, the real launcher and vLLM on CPU behind the local
stand-in (its image pull played at 10 GB / 2,000 MB/s = 5 s). After deploy, `status` shows the last
start as a timeline (`lastStart`) built from the system log's scheduling and pull events and the
launcher's phase lines: the phases add up to the total from scheduling to ready, and the first
answered request shows once one was answered; `logs --timeline` prints the same numbers."""

import json

import pytest

from aitk_testkit.scenario import DEMO_MODEL, RESOURCE_GROUP, openai_client, seed_finetuning_leftovers
from e2e.conftest import signed_in_world

pytestmark = pytest.mark.slow

PULL_MB_PER_S = 2000


@pytest.fixture(scope="module")
def timed_world(tmp_path_factory, aitk_wheel):
    yield from signed_in_world(
        tmp_path_factory, aitk_wheel, "e2e-timeline", seed_finetuning_leftovers, pull_mb_per_s=PULL_MB_PER_S
    )


def _status(az, ws):
    return json.loads(az.run("aitk", "inference", "status", "-o", "json", cwd=ws, capture=True).stdout)


def test_status_and_logs_show_the_last_start_phase_by_phase(timed_world):
    az, ws = timed_world.az, timed_world.workspace
    az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
    # float32 as tests/serve runs vLLM on CPU: its bfloat16 CPU path died with SIGILL on the first
    # completion on this host (AMX-capable Xeon; worker exit code -4), with or without this change
    serve_json = ws / "inference" / "serve.json"
    serve = json.loads(serve_json.read_text())
    serve["vllm_args"] = ["--dtype", "float32"]
    serve_json.write_text(json.dumps(serve))
    az.run("aitk", "inference", "provision", "-g", RESOURCE_GROUP, "-o", "none", cwd=ws)
    az.run("aitk", "inference", "deploy", "-o", "none", cwd=ws)

    start = _status(az, ws)["lastStart"]
    assert start["from"] == "replica scheduled", start
    names = [p["phase"] for p in start["phases"]]
    # a CPU start: no torch.compile or graph capture lines from vLLM, so no phase of their own
    for phase in (
        "scheduling",
        "image pull",
        "container start",
        "discovery and fit",
        "engine start",
        "weights",
        "kv cache",
        "compile, graphs and warm-up",
        "server start",
    ):
        assert phase in names, (phase, names)
    assert (
        names.index("image pull") < names.index("engine start") < names.index("weights") < names.index("server start")
    )
    pull = next(p for p in start["phases"] if p["phase"] == "image pull")
    assert pull["seconds"] >= 4.5, pull  # the stand-in's 5 s pull, from its own events
    weights = next(p for p in start["phases"] if p["phase"] == "weights")
    model_bytes = sum(f.stat().st_size for f in (timed_world.share / "model-cache").rglob("*.safetensors"))
    assert weights["bytes"] == model_bytes and weights["loadFormat"] and weights["source"].endswith(DEMO_MODEL)
    assert abs(sum(p["seconds"] for p in start["phases"]) - start["secondsToReady"]) < 0.05, start
    assert start["secondsToReady"] > pull["seconds"]

    endpoint = az.json("aitk", "inference", "endpoint", "--show-key", cwd=ws)
    client = openai_client(endpoint, timed_world.azure.ca_bundle)
    assert client.completions.create(model=DEMO_MODEL, prompt="hello", max_tokens=2, temperature=0).choices
    after = _status(az, ws)["lastStart"]
    assert after["startedAt"] == start["startedAt"] and after["secondsToReady"] == start["secondsToReady"]
    assert after["secondsToFirstRequest"] > after["secondsToReady"], after

    text = az.run("aitk", "inference", "logs", "--timeline", cwd=ws, capture=True).stdout
    assert text.startswith("Last start, from replica scheduled at " + start["startedAt"]), text
    assert f"{start['secondsToReady']:8.2f} s" in text and "first request answered after" in text, text
    assert "weights" in text and "load format" in text, text
