"""vLLM fixes the context at start, through the launcher, for real: vLLM 0.32 on CPU with a KV
cache made small (--kv-cache-memory-bytes 6 MiB) for a tiny model whose own maximum is 8,192
tokens. One token of its KV cache is 2 layers x 2 KV heads x 64 x (K, V) x 4 bytes = 2,048 bytes,
so 6 MiB hold 3,072 tokens; vLLM's CPU blocks are 128 tokens and one block is held back: 2,944
tokens fit one request."""

import pytest

from aitk_testkit.tiny_models import make_tiny_model
from serve.conftest import Server, refused, run_launcher

pytestmark = pytest.mark.slow

MODEL_MAX = 8192
KV_BYTES = 6 * 1024 * 1024
FITS = (KV_BYTES // 2048 - 128) // 128 * 128  # 2,944: whole 128-token blocks, less the held-back one
SMALL = ["--dtype", "float32", "--kv-cache-memory-bytes", str(KV_BYTES)]


@pytest.fixture(scope="module")
def long_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("long") / "tiny-8k", max_position_embeddings=MODEL_MAX)


def served_length(server):
    status, body = server.api("GET", "/v1/models")
    assert status == 200, body
    return body["data"][0]["max_model_len"]


def completes(server):
    status, body = server.api(
        "POST", "/v1/completions", {"model": "tiny-8k", "prompt": [1, 2, 3], "max_tokens": 4, "temperature": 0}
    )
    assert status == 200, body
    assert body["usage"]["completion_tokens"] == 4


def start(mount, model, extra, log):
    server = Server(mount, ["--model", str(model), "--served-model-name", "tiny-8k", "--", *extra], log)
    try:
        return server.wait_ready()
    except BaseException:
        server.stop()
        raise


def test_auto_fit_picks_a_shorter_context_than_the_models_and_serves(long_model, tmp_path):
    server = start(tmp_path, long_model, SMALL, tmp_path / "auto.log")
    try:
        assert served_length(server) == FITS < MODEL_MAX
        completes(server)
        logs = server.logs()
        assert '"--max-model-len", "auto"' in logs  # the command the launcher started
        assert (
            f"aitk_serve: context: vLLM chose --max-model-len {FITS:,} from its own memory profiling; "
            f"the planner expected {FITS:,} tokens" in logs
        )
    finally:
        server.stop()


def test_a_length_that_does_not_fit_is_retried_once_with_vllms_estimate_and_serves(long_model, tmp_path):
    server = start(tmp_path, long_model, [*SMALL, "--max-model-len", str(MODEL_MAX)], tmp_path / "retry.log")
    try:
        assert served_length(server) == FITS
        completes(server)
        logs = server.logs()
        assert f"the estimated maximum model length is {FITS}" in logs  # vLLM's own refusal, passed through
        ours = [line for line in logs.splitlines() if line.startswith("aitk_serve: --max-model-len")]
        assert ours == [
            f"aitk_serve: --max-model-len {MODEL_MAX:,} does not fit the KV cache vLLM measured; restarting "
            f"vLLM once with its own estimate, --max-model-len {FITS:,}"
        ]
    finally:
        server.stop()


def test_a_model_that_cannot_fit_is_one_line_and_exit_2_before_vllm_starts(long_model, tmp_path):
    """2 MiB hold 1,024 tokens: not the 2,048 of a useful context. Nothing of vLLM runs (one line)."""
    result = run_launcher(
        ["--model", str(long_model), "--", "--dtype", "float32", "--kv-cache-memory-bytes", "2M"], tmp_path
    )
    refused(result, "tiny-8k: the model does not fit the CPU KV cache space of 2,097,152 bytes")
    assert "at most 896 tokens fit" in result.stderr
