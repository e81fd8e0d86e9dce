"""The chat page and API-key middleware, mounted the way vLLM mounts it (its own
init_entrypoints_middleware with --middleware), on a small app with vLLM-like routes: in process
(TestClient) and over real HTTP and websockets (uvicorn on a free port)."""

import logging
import threading
import time
import urllib.request
from argparse import Namespace

import pytest
from aitk_serve.middleware import OPEN_ROUTES, api_tokens, is_cors_preflight, needs_key
from aitk_serve.vllm_args import MIDDLEWARE
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter, make_asgi_app
from starlette.routing import Mount

from serve.conftest import free_port

KEY = "mw-key-1234"
ROUTES = [
    ("GET", "/v1/models"),
    ("POST", "/invocations"),
    ("POST", "/adapters"),
    ("POST", "/tokenize"),
    ("GET", "/version"),
    ("GET", "/health"),
    ("GET", "/ping"),
    ("POST", "/ping"),
]
METRIC = "aitk_test_requests"  # what /metrics would leak (vLLM: model and adapter names)


def build_app(api_key=None, keys=None):
    """keys: several keys, as aitk_serve.api_server passes them (else the one api_key)."""
    from vllm.entrypoints.serve.middleware.register import init_entrypoints_middleware

    app = FastAPI()
    for method, path in ROUTES:
        app.add_api_route(path, lambda: {"ok": True}, methods=[method])
    # vLLM mounts prometheus' ASGI app at /metrics: it answers every method, OPTIONS included.
    registry = CollectorRegistry()
    Counter(METRIC, "requests", registry=registry).inc()
    app.router.routes.append(Mount("/metrics", make_asgi_app(registry=registry)))

    async def echo(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    # One websocket outside vLLM's guarded prefixes, one inside (like /v1/realtime).
    app.add_api_websocket_route("/ws", echo)
    app.add_api_websocket_route("/v1/realtime", echo)
    args = Namespace(
        allowed_origins=["*"],
        allow_credentials=False,
        allowed_methods=["*"],
        allowed_headers=["*"],
        api_key=keys or ([api_key] if api_key else None),
        enable_request_id_headers=False,
        middleware=[MIDDLEWARE],
    )
    app.state.args = args
    init_entrypoints_middleware(args, app, ())
    return app


def make_app(api_key=None):
    return TestClient(build_app(api_key))


@pytest.fixture(scope="module")
def guarded():
    return make_app(KEY)


class LiveServer:
    """The app under uvicorn in a thread: real sockets, real HTTP parsing."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)

    def request(self, method, path, headers=None):
        req = urllib.request.Request(self.url + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def live():
    with LiveServer(build_app(KEY)) as server:
        yield server


def test_the_page_is_served_at_the_root_without_a_key(guarded):
    r = guarded.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<title>aitk chat</title>" in r.text and 'id="api-key"' in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert KEY not in r.text
    assert guarded.head("/").status_code == 200


@pytest.mark.parametrize("method,path", [*ROUTES, ("GET", "/metrics")])
def test_everything_but_the_page_and_probes_needs_the_key(guarded, method, path):
    bare = guarded.request(method, path)
    good = guarded.request(method, path, headers={"Authorization": f"Bearer {KEY}"})
    wrong = guarded.request(method, path, headers={"Authorization": f"Bearer {KEY}x"})
    assert good.status_code == 200
    if method in OPEN_ROUTES.get(path, ()):
        assert bare.status_code == 200 and wrong.status_code == 200
    else:
        assert bare.status_code == 401 and wrong.status_code == 401
        assert bare.json() == {"error": "Unauthorized"}


def test_cors_preflight_passes(guarded):
    r = guarded.options("/invocations", headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 200


def test_without_a_key_everything_is_open():
    open_app = make_app(None)
    for method, path in ROUTES:
        assert open_app.request(method, path).status_code == 200
    assert open_app.get("/").status_code == 200
    with open_app.websocket_connect("/ws") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"


def test_key_sources_follow_vllm():
    assert api_tokens(Namespace(api_key=["a", "b"]), {"VLLM_API_KEY": "c"}) == ["a", "b"]
    assert api_tokens(Namespace(api_key=None), {"VLLM_API_KEY": "c"}) == ["c"]
    assert api_tokens(None, {}) == []
    assert not needs_key("/health", "GET") and needs_key("/load", "GET")
    preflight = {b"origin": b"http://x", b"access-control-request-method": b"GET"}
    assert not needs_key("/v1/models", "OPTIONS", preflight)


# --- open routes are open by path AND method ----------------------------------------------------

OPEN = [
    ("GET", "/"),
    ("HEAD", "/"),
    ("GET", "/chat"),
    ("HEAD", "/chat"),
    ("GET", "/favicon.ico"),
    ("HEAD", "/favicon.ico"),
    ("GET", "/health"),
    ("GET", "/ping"),
    ("POST", "/ping"),
]
CLOSED = [
    ("OPTIONS", "/metrics"),
    ("OPTIONS", "/v1/models"),
    ("OPTIONS", "/"),
    ("OPTIONS", "/health"),
    ("POST", "/"),
    ("DELETE", "/chat"),
    ("POST", "/health"),
    ("HEAD", "/health"),
    ("PUT", "/ping"),
    ("POST", "/favicon.ico"),
    ("GET", "/metrics"),
    ("GET", "/metrics/"),
    ("PATCH", "/invocations"),
]


@pytest.mark.parametrize("method,path", OPEN)
def test_open_routes_need_no_key_over_http(live, method, path):
    status, _ = live.request(method, path)
    assert status != 401  # /favicon.ico has no route here: 404, but not refused


@pytest.mark.parametrize("method,path", CLOSED)
def test_every_other_method_and_path_needs_the_key_over_http(live, method, path):
    status, body = live.request(method, path)
    assert status == 401 and METRIC not in body
    status, body = live.request(method, path, {"Authorization": f"Bearer {KEY}"})
    assert status != 401


def test_options_on_metrics_does_not_leak_them(live):
    status, body = live.request("OPTIONS", "/metrics")
    assert (status, METRIC in body) == (401, False)
    status, body = live.request("GET", "/metrics", {"Authorization": f"Bearer {KEY}"})
    assert status == 200 and METRIC in body  # the route is real: only the key stood in the way


@pytest.mark.parametrize("headers", [{"Origin": "http://x"}, {"Access-Control-Request-Method": "GET"}])
def test_half_a_preflight_is_not_a_preflight(live, headers):
    status, body = live.request("OPTIONS", "/metrics", headers)
    assert status == 401 and METRIC not in body


def test_a_real_preflight_passes_and_reaches_no_route(live):
    status, body = live.request("OPTIONS", "/metrics", {"Origin": "http://x", "Access-Control-Request-Method": "GET"})
    assert status == 200 and METRIC not in body  # vLLM's CORS middleware answered it
    assert is_cors_preflight("OPTIONS", {b"origin": b"x", b"access-control-request-method": b"GET"})
    assert not is_cors_preflight("GET", {b"origin": b"x", b"access-control-request-method": b"GET"})


# --- websockets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ws", "/v1/realtime"])
def test_a_websocket_without_the_key_is_refused_without_a_traceback(live, path, caplog):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = live.url.replace("http", "ws") + path
    caplog.set_level(logging.DEBUG)
    for headers in ({}, {"Authorization": f"Bearer {KEY}x"}):
        with pytest.raises(InvalidStatus) as refused, connect(url, additional_headers=headers, open_timeout=30):
            pass
        assert refused.value.response.status_code == 403
    with connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}, open_timeout=30) as ws:
        ws.send("hi")
        assert ws.recv(timeout=30) == "hi"
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "Traceback" not in logged and "Exception in ASGI application" not in logged
    assert not any(r.exc_info for r in caplog.records)
