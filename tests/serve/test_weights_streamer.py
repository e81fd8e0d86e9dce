"""Issue 18, weights streamed in parallel: the launcher serves a safetensors checkpoint with vLLM's
`--load-format runai_streamer` when runai-model-streamer is installed (requirements/serve.txt), and
falls back to vLLM's default loader, in one line, when it is not. Both with the real vLLM on CPU,
on one share: the streamed server's tokens equal the default loader's, base and adapters, and each
start's phase line reports the load format it used."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from serve.conftest import Server

pytestmark = pytest.mark.slow

MAX_TOKENS = 12
PROMPTS = ["Hello, how are you", "The quick brown fox", "Azure Container Apps serves"]
# The launcher as an image without the streamer runs it: `import runai_model_streamer` fails there
# (a None in sys.modules is Python's own "not importable" marker, which find_spec honours too).
WITHOUT_STREAMER = (
    "-c",
    "import runpy, sys; sys.modules['runai_model_streamer'] = None; "
    "sys.argv[0] = 'aitk_serve'; runpy.run_module('aitk_serve', run_name='__main__', alter_sys=True)",
)


@pytest.fixture(scope="module")
def default_loader_server(llama_mount, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / "llama-default-loader.log"
    server = Server(llama_mount, ["--", "--dtype", "float32", "--max-model-len", "512"], log, launcher=WITHOUT_STREAMER)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def blob_server(llama_mount, blob_llama, tmp_path_factory):
    """The launcher with the base model in Blob (Azurite): `--model az://weights/tiny-llama`, read by
    the streamer with the managed identity; the adapters from the share, as discovery finds them."""
    log = tmp_path_factory.mktemp("logs") / "llama-blob.log"
    args = ["--model", blob_llama.uri, "--served-model-name", "tiny-llama", "--", "--dtype", "float32"]
    server = Server(llama_mount, [*args, "--max-model-len", "512"], log, env=blob_llama.env, wrap=blob_llama.wrap)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def tokens(server, model):
    def one(prompt):
        status, body = server.api(
            "POST",
            "/v1/completions",
            {
                "model": model,
                "prompt": prompt,
                "max_tokens": MAX_TOKENS,
                "temperature": 0,
                "ignore_eos": True,
                "return_token_ids": True,
            },
        )
        assert status == 200, body
        return body["choices"][0]["token_ids"]

    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        return list(pool.map(one, PROMPTS))


def test_the_streamer_loads_what_the_default_loader_loads_token_for_token(llama_server, default_loader_server):
    import importlib.util

    assert importlib.util.find_spec("runai_model_streamer"), "requirements/serve.txt installs runai-model-streamer"
    streamed = llama_server.logs()
    assert (
        "aitk_serve: weights: streamed in parallel by the Run:ai Model Streamer (runai_streamer, concurrency 16)"
        in streamed
    )
    assert "load format runai_streamer (concurrency 16), from " in streamed  # the weights phase line
    default = default_loader_server.logs()
    assert (
        "aitk_serve: weights: vLLM's default loader reads the weights (runai_model_streamer is not installed" in default
    )
    assert "load format auto, from " in default
    command_line = next(line for line in default.splitlines() if line.startswith("aitk_serve: start ["))
    assert "runai_streamer" not in command_line, command_line  # vLLM's command: its default loader
    for model in ("tiny-llama", "run-q", "run-all64"):
        assert tokens(llama_server, model) == tokens(default_loader_server, model), model


def test_weights_in_blob_read_by_the_streamer_give_the_default_loaders_tokens(
    blob_server, default_loader_server, blob_llama
):
    logs = blob_server.logs()
    assert "weights: streamed from Azure Blob by the Run:ai Model Streamer (runai_streamer, concurrency 16)" in logs
    assert f"in Blob {blob_llama.uri}, complete (checked before vLLM loads)" in logs
    assert "load format runai_streamer (concurrency 16), from " in logs  # the weights phase line
    assert "https://storage.azure.com" in blob_llama.identity.requests  # the managed identity's tokens
    for model in ("tiny-llama", "run-q", "run-all64"):
        assert tokens(blob_server, model) == tokens(default_loader_server, model), model
