"""Whatever lands on the share, the server keeps serving (issue 21, items 0-3 and 9), each attack
run the way the review found it: the real launcher and vLLM (CPU, float32) on one share.

- 0: an adapter on the share that fails the checks (config not JSON) is left out at start with
  one line; the base model and the other adapter serve.
- 1: vLLM evicts an adapter (--max-loras 1, --max-cpu-loras 1), its folder on the share is then
  rewritten (a larger rank; a cut-short upload) and the name requested again: vLLM reloads the
  verified snapshot, never the share, so the engine lives (it used to die: EngineDeadError); a
  valid re-upload becomes the new version for new requests.
- 2: an adapter with NaN weights is refused in one line, and base-model answers stay right.
- 3: vLLM's runtime load route loads only the share's folder for a name, checked, as a snapshot;
  SageMaker's adapter routes are closed.
- 9: request heads are bounded in size and time, on a real socket.
"""

import json
import shutil
import socket
import time

import pytest

from aitk_testkit.tiny_models import make_adapter, reference_generate
from serve.conftest import Server
from serve.test_server import MAX_TOKENS, completion, prompt_ids

pytestmark = pytest.mark.slow

HEAD_TIMEOUT = 4  # seconds (AITK_SERVE_HEAD_TIMEOUT, shortened for the test)


@pytest.fixture(scope="module")
def other(tiny, tmp_path_factory):
    """A second rank-8 adapter (the server's --max-lora-rank is 8, sized for "good")."""
    return make_adapter(
        tiny["llama"], tmp_path_factory.mktemp("other") / "v8", rank=8, targets=["v_proj", "o_proj"], seed=31
    )


@pytest.fixture(scope="module")
def server(tiny, tmp_path_factory):
    mount = tmp_path_factory.mktemp("mount-changes")
    shutil.copytree(tiny["llama"], mount / "model-cache" / "tiny-org" / "tiny-llama")
    adapters = mount / "aitk" / "adapters"
    shutil.copytree(tiny["llama-q"], adapters / "good")
    shutil.copytree(tiny["llama-q"], adapters / "broken")
    (adapters / "broken" / "adapter_config.json").write_text("{not json")
    log = tmp_path_factory.mktemp("logs") / "changes.log"
    args = ["--", "--dtype", "float32", "--max-model-len", "256", "--max-loras", "1", "--max-cpu-loras", "1"]
    s = Server(mount, args, log, env={"AITK_SERVE_HEAD_TIMEOUT": HEAD_TIMEOUT})
    try:
        yield s.wait_ready()
    finally:
        s.stop()


def tokens(server, model, ids):
    status, body = completion(server, model, ids)
    assert status == 200, (model, body, server.tail())
    return body["choices"][0]["token_ids"]


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def replace_folder(src, dst):
    """A complete re-upload under the same name: the folder's files rewritten in place."""
    for f in dst.iterdir():
        f.unlink()
    for f in src.iterdir():
        shutil.copy(f, dst / f.name)


def test_a_broken_adapter_on_the_share_is_left_out_and_the_rest_serves(server, tiny):
    lines = [line for line in server.logs().splitlines() if "'broken' is left out" in line]
    assert len(lines) == 1 and "is not valid JSON" in lines[0], server.tail()
    ids = prompt_ids(tiny["llama"])[0]
    assert tokens(server, "good", ids) == reference_generate(tiny["llama"], ids, MAX_TOKENS, tiny["llama-q"])
    status, body = completion(server, "broken", ids)
    assert status == 400 and "is not valid JSON" in body["error"]["message"]


def test_an_evicted_adapter_changed_on_the_share_never_kills_the_engine(server, tiny, other):
    mount, ids = server.mount, prompt_ids(tiny["llama"])[0]
    adapters = mount / "aitk" / "adapters"
    want_q = reference_generate(tiny["llama"], ids, MAX_TOKENS, tiny["llama-q"])
    want_v = reference_generate(tiny["llama"], ids, MAX_TOKENS, other)
    assert want_v != want_q
    assert tokens(server, "good", ids) == want_q
    shutil.copytree(other, adapters / "fresh")
    assert tokens(server, "fresh", ids) == want_v  # evicts "good" (one slot, one CPU slot)

    # "good" re-uploaded with rank 16 (above the server's --max-lora-rank 8), then requested.
    replace_folder(tiny["llama-mlp16"], adapters / "good")
    assert tokens(server, "good", ids) == want_q  # the checked copy, not the share's new files
    # The new version is checked (a request at least RECHECK_INTERVAL after the last comparison
    # compares again), refused, and the loaded one keeps serving.
    assert wait_for(lambda: tokens(server, "good", ids) == want_q and "'good' has LoRA rank 16" in server.logs())
    assert server.logs().count("'good' has LoRA rank 16") == 1  # refused once, not per request

    # "fresh" evicted again, then cut short on the share (an upload in progress).
    weights = adapters / "fresh" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert tokens(server, "fresh", ids) == want_v
    assert wait_for(lambda: tokens(server, "fresh", ids) == want_v and "is cut short" in server.logs())

    # A complete, valid re-upload of "fresh" becomes the new version for new requests.
    replace_folder(tiny["llama-q"], adapters / "fresh")
    assert wait_for(lambda: tokens(server, "fresh", ids) == want_q), server.tail()
    assert "adapter 'fresh' changed on the share: new requests use the new version" in server.logs()

    assert server.proc.poll() is None and "EngineDeadError" not in server.logs()
    assert server.api("GET", "/health", key=None)[0] == 200
    assert tokens(server, "tiny-llama", ids) == reference_generate(tiny["llama"], ids, MAX_TOKENS)


def test_a_nan_adapter_is_refused_and_base_answers_stay_right(server, tiny):
    from safetensors.torch import load_file, save_file

    adapters = server.mount / "aitk" / "adapters"
    shutil.copytree(tiny["llama-q"], adapters / "diverged")
    weights = adapters / "diverged" / "adapter_model.safetensors"
    tensors = load_file(str(weights))
    for key in tensors:
        if "lora_B" in key:
            tensors[key][:] = float("nan")
    save_file(tensors, str(weights))
    ids = prompt_ids(tiny["llama"])[0]
    status, body = completion(server, "diverged", ids)
    message = body["error"]["message"]
    assert status == 400 and "infinite or NaN values" in message and "\n" not in message
    assert tokens(server, "tiny-llama", ids) == reference_generate(tiny["llama"], ids, MAX_TOKENS)


@pytest.mark.parametrize(
    "method,path,body",
    [("POST", "/adapters", {"name": "etc", "src": "/etc"}), ("DELETE", "/adapters/good", None)],
)
def test_sagemakers_adapter_routes_are_closed(server, tiny, method, path, body):
    assert server.api(method, path, body, key=None)[0] == 401
    status, answer = server.api(method, path, body)
    assert status == 404 and "deploy --adapter" in answer["error"]["message"]
    assert tokens(server, "good", prompt_ids(tiny["llama"])[0])  # still loaded, still served


@pytest.mark.parametrize(
    "body,status,message",
    [
        ({"lora_name": "confined", "lora_path": "/etc"}, 400, "loads from its folder on the share"),
        ({"lora_name": "etc", "lora_path": "/etc"}, 404, "model 'etc' does not exist"),
        ({"lora_name": "confined", "lora_path": "aitk/adapters/broken"}, 400, "loads from its folder on the share"),
        ({"lora_name": "broken", "lora_path": "aitk/adapters/broken"}, 400, "is not valid JSON"),
        ({"lora_name": "x\u001b[2J", "lora_path": "/tmp"}, 404, "printable characters"),
    ],
)
def test_the_runtime_load_route_is_confined_and_checked(server, tiny, other, body, status, message):
    """The review's attack: any container path, under any name, answered whether it exists."""
    shutil.copytree(other, server.mount / "aitk" / "adapters" / "confined", dirs_exist_ok=True)
    got, answer = server.api("POST", "/v1/load_lora_adapter", body)
    assert got == status and message in answer["error"]["message"], answer
    assert tokens(server, "good", prompt_ids(tiny["llama"])[0])


def test_deploys_hot_load_loads_the_checked_copy(server, tiny, other):
    shutil.copytree(other, server.mount / "aitk" / "adapters" / "hot")
    status, body = server.api("POST", "/v1/load_lora_adapter", {"lora_name": "hot", "lora_path": "aitk/adapters/hot"})
    assert status == 200, body
    status, listing = server.api("GET", "/v1/models")
    card = next(m for m in listing["data"] if m["id"] == "hot")
    assert card["loaded"] and "aitk-adapters-" in card["root"]  # the snapshot, not the share folder
    ids = prompt_ids(tiny["llama"])[0]
    assert tokens(server, "hot", ids) == reference_generate(tiny["llama"], ids, MAX_TOKENS, other)


def raw_exchange(server, head, pause_after=None, read_timeout=60):
    """Send `head` on a fresh socket (then wait, sending nothing more) and return what comes back
    until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout) as sock:
        try:
            sock.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return got


def test_an_oversized_request_head_is_refused_before_any_key_check(server):
    head = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    assert raw_exchange(server, head).startswith(b"HTTP/1.1 431 ")
    unfinished = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (256 * 1024)
    assert raw_exchange(server, unfinished).startswith(b"HTTP/1.1 431 ")


def test_an_unfinished_request_head_is_closed_after_the_timeout(server):
    started = time.monotonic()
    got = raw_exchange(server, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert got.startswith(b"HTTP/1.1 408 ") and time.monotonic() - started >= HEAD_TIMEOUT - 0.5
    # A whole, normal request on a new connection is unaffected.
    head = f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.key}\r\nConnection: close\r\n\r\n"
    got = raw_exchange(server, head.encode())
    assert got.startswith(b"HTTP/1.1 200 ") and b'"good"' in got
    assert json.loads(got.split(b"\r\n\r\n", 1)[1])["object"] == "list"
