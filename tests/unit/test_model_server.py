"""wait_ready against a real local HTTP server that becomes ready after a few polls."""

import json

import pytest
from azext_aitk.azure import model_server

from aitk_testkit.local_http import JsonHandler, base_url, serving


class _State:
    polls = 0
    models = ["base"]


class _Handler(JsonHandler):
    def do_GET(self):
        if self.path == "/health":
            _State.polls += 1
            return self.send_json(200 if _State.polls >= 3 else 503, {})
        if self.path == "/v1/models":
            if self.headers.get("Authorization") != "Bearer k":
                return self.send_json(401, {"error": "no"})
            return self.send_json(200, {"data": [{"id": m} for m in _State.models]})
        self.send_json(404, {})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/v1/load_lora_adapter":
            _State.models.append(body["lora_name"])
            assert body["lora_path"].startswith("aitk/adapters/")
            return self.send_json(200, {})
        self.send_json(404, {})


@pytest.fixture
def server():
    _State.polls, _State.models = 0, ["base"]
    with serving(_Handler) as srv:
        yield base_url(srv)


def test_wait_ready_until_health_and_models(server):
    ticks = []
    models = model_server.wait_ready(server, "k", [], timeout=10, interval=0.01, tick=ticks.append)
    assert models == ["base"] and len(ticks) == 2


def test_wait_ready_times_out_with_the_last_state(server):
    with pytest.raises(model_server.ServerError, match="waiting for lora1"):
        model_server.wait_ready(server, "k", ["lora1"], timeout=0.3, interval=0.05)


def test_load_adapter_then_listed(server):
    ok, _ = model_server.load_adapter(server, "k", "lora1", "aitk/adapters/lora1")
    assert ok and "lora1" in model_server.list_models(server, "k")
    with pytest.raises(model_server.ServerError, match="401"):
        model_server.list_models(server, "wrong")
