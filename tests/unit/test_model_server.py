"""wait_ready against a real local HTTP server that becomes ready after a few polls."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azext_aitk.azure import model_server


class _State:
    polls = 0
    models = ["base"]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            _State.polls += 1
            return self._send(200 if _State.polls >= 3 else 503, {})
        if self.path == "/v1/models":
            if self.headers.get("Authorization") != "Bearer k":
                return self._send(401, {"error": "no"})
            return self._send(200, {"data": [{"id": m} for m in _State.models]})
        self._send(404, {})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/v1/load_lora_adapter":
            _State.models.append(body["lora_name"])
            assert body["lora_path"].startswith("aitk/adapters/")
            return self._send(200, {})
        self._send(404, {})


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _State.polls, _State.models = 0, ["base"]
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


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
