"""A stand-in for the launcher in CLI tests: the OpenAI-style endpoints deploy and endpoint use,
in the stdlib, started by the stand-in as the container app's command. Not vLLM: the real
serving path is covered by tests/serve and tests/e2e."""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MOUNT = os.environ.get("AITK_MOUNT", "/mount")
KEY = os.environ.get("AITK_API_KEY", "")
LOADED = set()


def models():
    names = ["fake-base"]
    adapters = os.path.join(MOUNT, "aitk", "adapters")
    if os.path.isdir(adapters):
        names += sorted(os.listdir(adapters))
    return names + sorted(LOADED - set(names))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        return not KEY or self.headers.get("Authorization") == f"Bearer {KEY}"

    def do_GET(self):
        if self.path == "/health":
            return self.send(200, {})
        if self.path == "/v1/models":
            if not self.authorized():
                return self.send(401, {"error": "bad key"})
            return self.send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in models()]})
        return self.send(404, {})

    def do_POST(self):
        if not self.authorized():
            return self.send(401, {"error": "bad key"})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path == "/v1/load_lora_adapter":
            path = body.get("lora_path", "")
            if not os.path.isdir(os.path.join(MOUNT, path)):
                return self.send(400, {"error": f"no adapter at {path}"})
            LOADED.add(body["lora_name"])
            return self.send(200, {})
        if self.path == "/v1/unload_lora_adapter":
            LOADED.discard(body.get("lora_name"))
            return self.send(200, {})
        return self.send(404, {})


if __name__ == "__main__":
    port = int(os.environ.get("AITK_PORT") or os.environ.get("PORT") or (sys.argv[1] if len(sys.argv) > 1 else 8000))
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
