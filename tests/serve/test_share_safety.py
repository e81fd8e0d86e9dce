"""What lands on the share never reaches vLLM unchecked (issue 21), without a server: verified
snapshots, re-checks of loaded adapters, the one cached walk of models/, cut-short and non-finite
safetensors, control characters in names, the closed adapter routes, bounded request heads."""

import asyncio
import json
import os
import socket
import struct
import threading
import time

import numpy as np
import pytest
from aitk_serve import LaunchError, api_server, resolver, resolver_middleware, snapshot
from aitk_serve.adapters import check_finite_safetensors, inspect_adapter, read_safetensors_header
from aitk_serve.resolver import Settings, ShareAdapters
from safetensors.numpy import save_file

from serve.conftest import left_out, refused, run_launcher
from serve.fakes import write_adapter, write_model


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def share(tmp_path):
    mount = tmp_path / "mount"
    write_model(mount / "model-cache" / "o" / "tiny-llama")
    write_adapter(mount / "aitk" / "adapters" / "pushed")
    write_adapter(mount / "models" / "run-a" / "adapter")
    return mount


def catalog(mount, root, clock=None):
    settings = Settings(
        mount=str(mount),
        served_model_name="tiny-llama",
        model=str(mount / "model-cache" / "o" / "tiny-llama"),
        model_is_local=True,
        max_lora_rank=8,
        snapshot_root=str(root) if root else "",
    )
    return ShareAdapters(settings, clock=clock or Clock())


# --- verified snapshots ------------------------------------------------------------------------


def test_a_snapshot_is_a_private_copy_named_by_content(share, tmp_path):
    root = snapshot.make_root(str(tmp_path))
    assert os.stat(root).st_mode & 0o077 == 0
    source = share / "aitk" / "adapters" / "pushed"
    first = snapshot.take(str(source), root)
    assert sorted(os.listdir(first)) == ["adapter_config.json", "adapter_model.safetensors"]
    assert snapshot.take(str(source), root) == first  # the same content, the same copy
    (source / "adapter_config.json").write_text(json.dumps({"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}))
    second = snapshot.take(str(source), root)
    assert second != first and os.path.isfile(os.path.join(first, "adapter_config.json"))
    assert [n for n in os.listdir(root) if n.startswith(".")] == []  # no work folder left


def test_the_catalogue_hands_vllm_the_checked_copy_and_names_the_share_in_messages(share, tmp_path):
    (tmp_path / "local").mkdir()
    root = snapshot.make_root(str(tmp_path / "local"))
    cat = catalog(share, root)
    info = cat.lookup("pushed")
    assert info.path.startswith(root) and info.source == str(share / "aitk" / "adapters" / "pushed")
    # The share's copy is rewritten: what vLLM was handed does not change.
    weights = share / "aitk" / "adapters" / "pushed" / "adapter_model.safetensors"
    before = open(os.path.join(info.path, "adapter_model.safetensors"), "rb").read()
    weights.write_bytes(weights.read_bytes()[:-10])
    assert open(os.path.join(info.path, "adapter_model.safetensors"), "rb").read() == before
    with pytest.raises(resolver.Refused) as e:
        cat.lookup("pushed")
    assert str(weights) in e.value.reason and "cut short" in e.value.reason and root not in e.value.reason


def test_a_loaded_adapter_is_rechecked_at_most_every_interval_and_swapped_only_when_it_passes(share, tmp_path):
    clock = Clock()
    cat = catalog(share, snapshot.make_root(str(tmp_path)), clock)
    loaded = cat.lookup("pushed").path
    folder = share / "aitk" / "adapters" / "pushed"
    assert cat.recheck("pushed", loaded) is None  # unchanged
    write_adapter(folder, rank=16)  # re-uploaded with a rank above the server's 8
    assert not cat.due("pushed") and cat.recheck("pushed", loaded) is None  # not yet due
    clock.now += resolver.RECHECK_INTERVAL
    assert cat.due("pushed") and cat.recheck("pushed", loaded) is None  # refused: the old one serves
    write_adapter(folder, rank=4, targets=("q_proj", "k_proj"))  # a valid new version
    clock.now += resolver.RECHECK_INTERVAL
    new = cat.recheck("pushed", loaded)
    assert new is not None and new.rank == 4 and new.path != loaded and new.modules == ["k_proj", "q_proj"]
    assert cat.recheck("unknown", loaded) is None


def test_the_middleware_points_a_changed_name_at_the_new_copy(share, tmp_path):
    from collections import defaultdict

    from vllm.lora.request import LoRARequest
    from vllm.utils.counter import AtomicCounter

    clock = Clock()
    cat = catalog(share, snapshot.make_root(str(tmp_path)), clock)
    old = cat.lookup("pushed")
    models = type("Models", (), {})()
    models.lora_requests = {"pushed": LoRARequest("pushed", 1, old.path, base_model_name="tiny-llama")}
    models.lora_id_counter = AtomicCounter(1)
    models.lora_resolver_lock = defaultdict(asyncio.Lock)
    write_adapter(share / "aitk" / "adapters" / "pushed", rank=4)
    clock.now += resolver.RECHECK_INTERVAL
    asyncio.run(resolver_middleware.swap_if_changed(models, cat, "pushed"))
    now = models.lora_requests["pushed"]
    assert now.lora_path != old.path and now.lora_int_id == 2 and now.base_model_name == "tiny-llama"


# --- one walk of models/, cached ---------------------------------------------------------------


def test_symlink_loops_are_walked_once_and_the_walk_is_shared(share, monkeypatch):
    models = share / "models"
    for n in range(8):
        (models / f"loop{n}").mkdir()
        for m in range(4):
            os.symlink(models, models / f"loop{n}" / f"back{m}")
    clock = Clock()
    cat = catalog(share, None, clock)
    walks = []
    real = resolver.finetuned_adapters
    monkeypatch.setattr(resolver, "finetuned_adapters", lambda root: walks.append(root) or real(root))
    for _ in range(5):
        assert pytest.raises(resolver.Refused, cat.lookup, "nope").value.status == 404
    assert [a.name for a in cat.available()] == ["pushed", "run-a"]
    assert len(walks) == 1  # one walk for every request until it is WALK_TTL old
    clock.now += resolver.WALK_TTL
    cat.lookup("run-a")
    assert len(walks) == 2
    assert real(str(models)) == {"run-a": [str(models / "run-a" / "adapter")]}  # each real folder once


def test_a_name_that_cannot_be_a_folder_needs_no_walk(share, monkeypatch):
    cat = catalog(share, None)
    monkeypatch.setattr(resolver, "finetuned_adapters", lambda root: pytest.fail("walked"))
    assert pytest.raises(resolver.Refused, cat.lookup, "a/b").value.status == 404
    assert pytest.raises(resolver.Refused, cat.lookup, "x\x1b[2Jy").value.status == 404


# --- cut-short and non-finite safetensors ------------------------------------------------------


def test_a_cut_short_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file({"a": np.ones((4, 4), np.float32), "b": np.ones((2,), np.float16)}, str(path))
    read_safetensors_header(str(path))
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])
    with pytest.raises(LaunchError, match="is cut short"):
        read_safetensors_header(str(path))
    path.write_bytes(whole + b"\0")
    with pytest.raises(LaunchError, match="1 bytes after the last tensor"):
        read_safetensors_header(str(path))


def header_file(path, header, data=b""):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


@pytest.mark.parametrize(
    "header,size,message",
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, 4, "needs 8 bytes but its data_offsets span 4"),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, 8, "leaves bytes 0-4 unowned"),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
            },
            8,
            "overlaps",
        ),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": "x"}}, 4, r"not \[begin, end\]"),
        ({"a": {"dtype": "F32", "shape": [1]}}, 4, r"not \[begin, end\]"),
    ],
)
def test_header_offsets_must_cover_the_data_exactly(tmp_path, header, size, message):
    path = header_file(tmp_path / "w.safetensors", header, b"\0" * size)
    with pytest.raises(LaunchError, match=message):
        read_safetensors_header(str(path))


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(tmp_path, dtype, bad):
    path = tmp_path / "w.safetensors"
    t = np.zeros((3, 3), dtype)
    save_file({"ok": np.ones((2,), dtype), "t": t}, str(path))
    check_finite_safetensors(str(path))
    t[1, 2] = bad
    save_file({"ok": np.ones((2,), dtype), "t": t}, str(path))
    with pytest.raises(LaunchError, match="tensor 't' holds infinite or NaN values"):
        check_finite_safetensors(str(path))


def test_non_finite_bfloat16_and_bin_weights_are_refused(tmp_path):
    import torch
    from safetensors.torch import save_file as save_torch

    t = torch.zeros(4, dtype=torch.bfloat16)
    save_torch({"t": t}, str(tmp_path / "ok.safetensors"))
    check_finite_safetensors(str(tmp_path / "ok.safetensors"))
    t[0] = float("nan")
    save_torch({"t": t}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(LaunchError, match="infinite or NaN"):
        check_finite_safetensors(str(tmp_path / "bad.safetensors"))
    write_model(tmp_path / "m")
    adapter = write_adapter(tmp_path / "a")
    from safetensors.torch import load_file

    tensors = load_file(str(adapter / "adapter_model.safetensors"))
    next(iter(tensors.values()))[0, 0] = float("inf")
    (adapter / "adapter_model.safetensors").unlink()
    torch.save(tensors, str(adapter / "adapter_model.bin"))
    with pytest.raises(LaunchError, match="holds infinite or NaN values"):
        inspect_adapter("a", str(adapter))


def test_a_nan_adapter_on_the_share_is_left_out_at_start(share):
    from safetensors.torch import load_file
    from safetensors.torch import save_file as save_torch

    weights = share / "models" / "run-a" / "adapter" / "adapter_model.safetensors"
    tensors = load_file(str(weights))
    for v in tensors.values():
        v.fill_(float("nan"))
    save_torch(tensors, str(weights))
    left_out(run_launcher(["--check"], share), "run-a", "infinite or NaN values")


# --- control characters in names ---------------------------------------------------------------


def test_names_with_control_characters_are_refused_wherever_they_come_from(share, tmp_path):
    bad = "evil\x1b]0;pwned\x07"
    write_adapter(share / "aitk" / "adapters" / bad)
    plan = left_out(run_launcher(["--check"], share), bad, "holds control or non-printing characters")
    assert {a["name"] for a in plan["adapters"]} == {"pushed", "run-a"}
    assert "\x1b" not in json.dumps(plan["notes"], ensure_ascii=False)
    cfg = tmp_path / "serve.json"
    cfg.write_text(json.dumps({"adapters": {bad: str(share / "aitk" / "adapters" / "pushed")}}))
    left_out(run_launcher(["--check", "--config", str(cfg)], share), bad, "control or non-printing")
    refused(
        run_launcher(["--check", "--adapter", f"{bad}={share / 'aitk' / 'adapters' / 'pushed'}"], share),
        "holds control or non-printing characters",
    )
    refused(run_launcher(["--check", "--served-model-name", "a\x1b[31mb"], share), "served model name")


# --- request heads bounded on a real socket ----------------------------------------------------


@pytest.fixture
def uvicorn_server():
    """uvicorn (httptools, as in vLLM's image) with the launcher's head bounds and a 1 s head
    timeout, serving a trivial app on an ephemeral port."""
    import uvicorn

    api_server.install_head_bounds({api_server.HEAD_TIMEOUT_ENV: "1"})

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http="httptools", log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield sock.getsockname()[1], config
    server.should_exit = True
    thread.join(30)


def exchange(port, data, timeout=60):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except ConnectionResetError:
            pass
        return got


def test_request_heads_are_bounded_in_size_and_time(uvicorn_server):
    port, config = uvicorn_server
    assert getattr(config.http_protocol_class, "aitk_bounded", False)
    ok = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200") and ok.endswith(b"ok")
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (api_server.MAX_HEAD_BYTES + 1) + b"\r\n\r\n"
    assert exchange(port, big).startswith(b"HTTP/1.1 431 ")
    started = time.monotonic()
    assert exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a").startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started >= 0.9
    assert exchange(port, b"").startswith(b"HTTP/1.1 408 ")  # a connection that sends nothing
    # Keep-alive: a second request on the same connection is bounded the same way, and a body
    # larger than the head limit is not a head.
    body = b"x" * (2 * api_server.MAX_HEAD_BYTES)
    two = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )  # fmt: skip
    assert exchange(port, two).count(b"HTTP/1.1 200") == 2


# --- the checks deploy can run before uploading ------------------------------------------------


def test_deploys_check_refuses_what_the_server_would_leave_out(share, tmp_path):
    from aitk_serve import cli
    from aitk_serve.adapters import model_info

    from serve.fakes import LLAMA, PHI3, lora_tensors, model_tensors

    headers = {k: {"dtype": "F32", "shape": list(s)} for k, s in model_tensors(LLAMA).items()}
    base = model_info("model-cache/o/tiny-llama", dict(LLAMA), headers, "the share's model-cache/o/tiny-llama")
    good = write_adapter(tmp_path / "good")
    infos = cli.check_for_deploy({"good": str(good)}, base, "model-cache/o/tiny-llama", "tiny-llama")
    assert [(i.name, i.rank) for i in infos] == [("good", 8)]
    other = write_adapter(tmp_path / "phi3", lora_tensors(PHI3, ("qkv_proj",), 8), targets=("qkv_proj",))
    with pytest.raises(LaunchError, match="'qkv_proj', which is not a module of this model"):
        cli.check_for_deploy({"good": str(good), "phi3": str(other)}, base, None, "tiny-llama")
    notjson = write_adapter(tmp_path / "notjson")
    (notjson / "adapter_config.json").write_text("{oops")
    with pytest.raises(LaunchError, match="is not valid JSON"):
        cli.check_for_deploy({"x": str(notjson)}, None, None, "tiny-llama")
    with pytest.raises(LaunchError, match="control or non-printing"):
        cli.check_for_deploy({"a\x1b[2J": str(good)}, base, None, "tiny-llama")
    with pytest.raises(LaunchError, match="hidden_size 256"):
        model_info("m", dict(LLAMA, hidden_size=256), headers, "m/config.json")


# --- vLLM's runtime load route, confined -------------------------------------------------------


def test_the_runtime_load_takes_only_a_names_folder_on_the_share_and_hands_over_the_copy(share, tmp_path):
    (tmp_path / "local").mkdir()
    root = snapshot.make_root(str(tmp_path / "local"))
    cat = catalog(share, root)

    def load(body):
        return resolver_middleware.confined_load(json.dumps(body).encode(), cat)

    status, request = load({"lora_name": "pushed", "lora_path": "aitk/adapters/pushed", "load_inplace": True})
    assert status == 200 and request["lora_path"].startswith(root) and request["load_inplace"] is True
    status, request = load({"lora_name": "pushed", "lora_path": str(share / "aitk" / "adapters" / "pushed")})
    assert status == 200
    for body, want, says in [
        ({"lora_name": "pushed", "lora_path": "/etc"}, 400, "loads from its folder on the share"),
        ({"lora_name": "pushed", "lora_path": "models/run-a/adapter"}, 400, "loads from its folder on the share"),
        ({"lora_name": "etc", "lora_path": "/etc"}, 404, "does not exist"),
        ({"lora_name": "../x", "lora_path": "/etc"}, 404, "one folder name"),
        ({"lora_path": "/etc"}, 400, "lora_name and lora_path"),
    ]:
        status, answer = load(body)
        assert status == want and says in answer["error"]["message"], (body, answer)
    assert resolver_middleware.confined_load(b"[", cat)[0] == 400
