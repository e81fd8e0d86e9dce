"""The chat page and API-key middleware, mounted the way vLLM mounts it (its own
init_entrypoints_middleware with --middleware), on a small app with vLLM-like routes."""
from argparse import Namespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aitk_serve.middleware import OPEN_PATHS, api_tokens, needs_key
from aitk_serve.vllm_args import MIDDLEWARE

KEY = "mw-key-1234"
ROUTES = [("GET", "/v1/models"), ("POST", "/invocations"), ("POST", "/adapters"),
          ("GET", "/metrics"), ("POST", "/tokenize"), ("GET", "/version"), ("GET", "/health"),
          ("GET", "/ping")]


def make_app(api_key=None):
    from vllm.entrypoints.serve.middleware.register import init_entrypoints_middleware
    app = FastAPI()
    for method, path in ROUTES:
        app.add_api_route(path, lambda: {"ok": True}, methods=[method])
    args = Namespace(allowed_origins=["*"], allow_credentials=False, allowed_methods=["*"],
                     allowed_headers=["*"], api_key=[api_key] if api_key else None,
                     enable_request_id_headers=False, middleware=[MIDDLEWARE])
    app.state.args = args
    init_entrypoints_middleware(args, app, ())
    return TestClient(app)


@pytest.fixture(scope="module")
def guarded():
    return make_app(KEY)


def test_the_page_is_served_at_the_root_without_a_key(guarded):
    r = guarded.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<title>aitk chat</title>" in r.text and 'id="api-key"' in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert KEY not in r.text
    assert guarded.head("/").status_code == 200


@pytest.mark.parametrize("method,path", ROUTES)
def test_everything_but_the_page_and_probes_needs_the_key(guarded, method, path):
    bare = guarded.request(method, path)
    good = guarded.request(method, path, headers={"Authorization": f"Bearer {KEY}"})
    wrong = guarded.request(method, path, headers={"Authorization": f"Bearer {KEY}x"})
    assert good.status_code == 200
    if path in OPEN_PATHS:
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


def test_key_sources_follow_vllm():
    assert api_tokens(Namespace(api_key=["a", "b"]), {"VLLM_API_KEY": "c"}) == ["a", "b"]
    assert api_tokens(Namespace(api_key=None), {"VLLM_API_KEY": "c"}) == ["c"]
    assert api_tokens(None, {}) == []
    assert not needs_key("/health", "GET") and needs_key("/load", "GET")
    assert not needs_key("/v1/models", "OPTIONS")
