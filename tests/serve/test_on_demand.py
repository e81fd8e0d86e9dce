"""Adapters resolved on demand, on every replica: two real vLLM servers (CPU, float32) started by
the launcher on ONE share, as two replicas of a container app would be. Adapters copied to the
share after both started are served by name on the first request, on either replica, with the
tokens transformers + peft give; a missing or broken name gets our one-line reason."""

import shutil
import time

import pytest

from aitk_testkit.tiny_models import reference_generate
from serve.conftest import Server
from serve.test_server import MAX_TOKENS, completion, prompt_ids

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replicas(tiny, tmp_path_factory):
    """Two launcher processes on one share that holds only the base model at start."""
    mount = tmp_path_factory.mktemp("mount-replicas")
    shutil.copytree(tiny["llama"], mount / "model-cache" / "tiny-org" / "tiny-llama")
    logs = tmp_path_factory.mktemp("logs")
    args = ["--", "--dtype", "float32", "--max-model-len", "256"]
    servers = [Server(mount, args, logs / f"replica-{n}.log") for n in (1, 2)]
    try:
        yield [s.wait_ready() for s in servers]  # both start at once; wait for each
    finally:
        for s in servers:
            s.stop()


def loaded_flags(server):
    status, body = server.api("GET", "/v1/models")
    assert status == 200, body
    return {m["id"]: m["loaded"] for m in body["data"]}


def test_adapters_uploaded_after_start_are_served_on_every_replica(replicas, tiny):
    one, two = replicas
    mount = one.mount
    assert loaded_flags(one) == loaded_flags(two) == {"tiny-llama": True}
    # After start: one uploaded by deploy, one left by a fine-tuning run, two broken ones.
    shutil.copytree(tiny["llama-mlp16"], mount / "aitk" / "adapters" / "fresh")
    shutil.copytree(tiny["llama-q"], mount / "models" / "run-late" / "adapter")
    shutil.copytree(tiny["llama-all64"], mount / "aitk" / "adapters" / "wide")  # rank 64 > 16
    shutil.copytree(tiny["llama-q"], mount / "aitk" / "adapters" / "noweights")
    (mount / "aitk" / "adapters" / "noweights" / "adapter_model.safetensors").unlink()

    available = {"tiny-llama": True, "fresh": False, "run-late": False}
    # The walk of models/ is cached for a few seconds (resolver.ShareAdapters), so a fine-tuning
    # run's new folder is listed once that passes: wait for it, with a generous ceiling.
    deadline = time.monotonic() + 120
    while loaded_flags(one) != available or loaded_flags(two) != available:
        assert time.monotonic() < deadline, (loaded_flags(one), loaded_flags(two))
        time.sleep(0.5)

    ids = prompt_ids(tiny["llama"])[0]
    want = {
        name: reference_generate(tiny["llama"], ids, MAX_TOKENS, tiny[source])
        for name, source in (("fresh", "llama-mlp16"), ("run-late", "llama-q"))
    }
    base = reference_generate(tiny["llama"], ids, MAX_TOKENS)
    assert any(w != base for w in want.values())  # an adapter changes the answer
    for server in (one, two):
        for name in ("fresh", "run-late"):
            status, body = completion(server, name, ids)
            assert status == 200, (server.url, name, body)
            assert body["model"] == name and body["choices"][0]["token_ids"] == want[name]
    assert loaded_flags(one) == loaded_flags(two) == {"tiny-llama": True, "fresh": True, "run-late": True}

    status, body = completion(two, "missing", ids)
    assert status == 404 and "aitk/adapters/missing/" in body["error"]["message"]
    status, body = completion(one, "wide", ids)
    message = body["error"]["message"]
    assert status == 400 and "rank 64" in message and "--max-lora-rank 16" in message
    assert '"--max-lora-rank", "64"' in message and "\n" not in message
    status, body = completion(two, "noweights", ids)
    assert status == 400 and "no adapter weights" in body["error"]["message"]
    assert "refused on-demand adapter: adapter 'wide'" in one.logs()
