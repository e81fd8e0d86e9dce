"""A stand-in for the launcher in CLI and end-to-end tests: the OpenAI-style endpoints deploy and
endpoint use, in the stdlib, copied to the share (scenario.FAKE_SERVER) and started by the stand-in as
the container app's command. Not vLLM: the real serving path is covered by tests/serve and tests/e2e."""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MOUNT = os.environ.get("AITK_MOUNT", "/mount")
# Like the launcher: the primary key and the secondary one (for rotation) both work.
KEYS = {k for k in (os.environ.get("AITK_API_KEY", ""), os.environ.get("AITK_API_KEY_SECONDARY", "")) if k}
LOADED = set()
# Seconds between streamed chat tokens (slow enough to interrupt a long reply in tests).
TOKEN_DELAY = float(os.environ.get("AITK_FAKE_TOKEN_DELAY", "0.05"))


def chat_tokens(body):
    """A deterministic reply: echoes the last user message, says which turn it is and (with a
    system message) that it has one; "long" in the message asks for 300 numbered ticks."""
    msgs = body.get("messages") or []
    user = [m.get("content", "") for m in msgs if m.get("role") == "user"]
    last = user[-1] if user else ""
    if "long" in last.lower():
        tokens = [f"tick{i} " for i in range(1, 301)]
    else:
        tokens = (
            (["[sys] "] if any(m.get("role") == "system" for m in msgs) else [])
            + [f"echo({body.get('model')}) "]
            + [w + " " for w in last.split()]
            + [f"[turn {len(user)}]"]
        )
    if body.get("max_tokens"):
        tokens = tokens[: int(body["max_tokens"])]
    return tokens


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

    def chat(self, body):
        if body.get("model") not in models():
            self.send(
                404,
                {
                    "error": {
                        "message": f"The model `{body.get('model')}` does not exist.",
                        "type": "NotFoundError",
                        "code": 404,
                    }
                },
            )
            return
        tokens = chat_tokens(body)
        if not body.get("stream"):
            self.send(
                200,
                {
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(tokens)},
                            "finish_reason": "stop",
                        }
                    ],
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        # BaseHTTPRequestHandler's own flag (handle() sets it per request), hence outside __init__.
        self.close_connection = True  # pylint: disable=attribute-defined-outside-init

        def event(delta, finish=None):
            chunk = {
                "object": "chat.completion.chunk",
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()

        try:
            event({"role": "assistant", "content": ""})
            for t in tokens:
                time.sleep(TOKEN_DELAY)
                event({"content": t})
            event({}, "stop")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            print("chat stream: client went away", flush=True)

    def authorized(self):
        return not KEYS or self.headers.get("Authorization") in {f"Bearer {k}" for k in KEYS}

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
        if self.path == "/v1/chat/completions":
            return self.chat(body)
        if self.path == "/v1/unload_lora_adapter":
            LOADED.discard(body.get("lora_name"))
            return self.send(200, {})
        return self.send(404, {})


if __name__ == "__main__":
    port = int(os.environ.get("AITK_PORT") or os.environ.get("PORT") or (sys.argv[1] if len(sys.argv) > 1 else 8000))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"fake server: serving {', '.join(models())} on port {port}", flush=True)
    server.serve_forever()
