"""A stand-in for the launcher in CLI and end-to-end tests: the OpenAI-style endpoints deploy and
endpoint use, in the stdlib, copied to the share (scenario.FAKE_SERVER) and started by the stand-in as
the container app's command. Not vLLM: the real serving path is covered by tests/serve and tests/e2e."""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MOUNT = os.environ.get("AITK_MOUNT", "/mount")
# Like the launcher: the primary key and the secondary one (for rotation) both work.
KEYS = {k for k in (os.environ.get("AITK_API_KEY", ""), os.environ.get("AITK_API_KEY_SECONDARY", "")) if k}
LOADED = set()


def _started_with():
    """What the launcher reports at /aitk/serving (container/aitk_serve/serving_state.py), read the
    way it reads them when it starts: the release `aitk/launcher/current` names and the SHA-256 of
    aitk/inference/serve.json (None for either when it is not there)."""
    import hashlib

    def read(rel):
        try:
            with open(os.path.join(MOUNT, rel), "rb") as f:
                return f.read()
        except OSError:
            return None

    current, serve = read("aitk/launcher/current"), read("aitk/inference/serve.json")
    return {
        "release": current.decode("ascii", "replace").strip() if current else None,
        "serveConfigSha256": hashlib.sha256(serve).hexdigest() if serve is not None else None,
    }


STARTED_WITH = _started_with()
# What vLLM's /metrics counts (the same Prometheus names), so load tests can check their numbers.
COUNTERS = {"vllm:prompt_tokens_total": 0, "vllm:generation_tokens_total": 0, "vllm:request_success_total": 0}
COUNTER_LOCK = threading.Lock()
# Seconds between streamed chat tokens (slow enough to interrupt a long reply in tests).
TOKEN_DELAY = float(os.environ.get("AITK_FAKE_TOKEN_DELAY", "0.05"))
# Seconds between streamed completion tokens (what bench sends): a load test of many requests stays short.
COMPLETION_TOKEN_DELAY = float(os.environ.get("AITK_FAKE_COMPLETION_TOKEN_DELAY", "0.005"))


def max_model_len():
    """The context length this server claims, as vLLM's /v1/models gives it: the number in the
    share's fake_max_model_len file (a test writes it), else 4096."""
    try:
        with open(os.path.join(MOUNT, "fake_max_model_len"), encoding="utf-8") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 4096


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


def prompt_tokens(body):
    """Whitespace words of the prompt or the messages: this server's "tokens"."""
    if "messages" in body:
        return sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
    return len(str(body.get("prompt", "")).split())


def completion_tokens(body):
    """A completion's tokens: `max_tokens` numbered words (16 by default), as with vLLM's ignore_eos."""
    return [f" w{i}" for i in range(int(body.get("max_tokens") or 16))]


def count(body, n_out):
    with COUNTER_LOCK:
        COUNTERS["vllm:prompt_tokens_total"] += prompt_tokens(body)
        COUNTERS["vllm:generation_tokens_total"] += n_out
        COUNTERS["vllm:request_success_total"] += 1


def usage(body, n_out):
    n_in = prompt_tokens(body)
    return {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}


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

    def unknown_model(self, body):
        if body.get("model") in models():
            return False
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
        return True

    def too_long(self, body):
        """vLLM's 400 for a request whose prompt and max_tokens exceed the context."""
        need = prompt_tokens(body) + int(body.get("max_tokens") or 16)
        if need <= max_model_len():
            return False
        message = (
            f"This model's maximum context length is {max_model_len()} tokens. However, you requested "
            f"{need} tokens. Please reduce the length of the input messages or completion."
        )
        self.send(400, {"error": {"message": message, "type": "BadRequestError", "code": 400}})
        return True

    def completion(self, body):
        if self.unknown_model(body) or self.too_long(body):
            return None
        tokens = completion_tokens(body)
        if not body.get("stream"):
            count(body, len(tokens))
            return self.send(
                200,
                {
                    "object": "text_completion",
                    "model": body["model"],
                    "choices": [{"index": 0, "text": "".join(tokens), "finish_reason": "length"}],
                    "usage": usage(body, len(tokens)),
                },
            )
        self.start_stream()

        def event(text, finish=None):
            chunk = {"object": "text_completion", "model": body["model"]}
            chunk["choices"] = [{"index": 0, "text": text, "finish_reason": finish}]
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()

        try:
            for t in tokens:
                time.sleep(COMPLETION_TOKEN_DELAY)
                event(t)
            if (body.get("stream_options") or {}).get("include_usage"):
                chunk = {"object": "text_completion", "model": body["model"], "choices": []}
                chunk["usage"] = usage(body, len(tokens))
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            count(body, len(tokens))
        except (BrokenPipeError, ConnectionResetError):
            print("completion stream: client went away", flush=True)
        return None

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        # BaseHTTPRequestHandler's own flag (handle() sets it per request), hence outside __init__.
        self.close_connection = True  # pylint: disable=attribute-defined-outside-init

    def chat(self, body):
        if self.unknown_model(body):
            return None
        tokens = chat_tokens(body)
        if not body.get("stream"):
            count(body, len(tokens))
            return self.send(
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
                    "usage": usage(body, len(tokens)),
                },
            )
        self.start_stream()

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
            count(body, len(tokens))
        except (BrokenPipeError, ConnectionResetError):
            print("chat stream: client went away", flush=True)
        return None

    def authorized(self):
        return not KEYS or self.headers.get("Authorization") in {f"Bearer {k}" for k in KEYS}

    def do_GET(self):
        if self.path == "/health":
            return self.send(200, {})
        if self.path == "/metrics":
            with COUNTER_LOCK:
                text = "".join(f'{k}{{model_name="fake-base"}} {float(v)}\n' for k, v in COUNTERS.items())
            data = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        if self.path == "/aitk/serving":
            if not self.authorized():
                return self.send(401, {"error": "bad key"})
            return self.send(200, STARTED_WITH)
        if self.path == "/v1/models":
            if not self.authorized():
                return self.send(401, {"error": "bad key"})
            cards = [{"id": m, "object": "model", "max_model_len": max_model_len()} for m in models()]
            return self.send(200, {"object": "list", "data": cards})
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
        if self.path == "/v1/completions":
            return self.completion(body)
        if self.path == "/tokenize":  # vLLM's: the prompt's token count and the context
            return self.send(200, {"count": prompt_tokens(body), "max_model_len": max_model_len(), "tokens": []})
        if self.path == "/v1/unload_lora_adapter":
            LOADED.discard(body.get("lora_name"))
            return self.send(200, {})
        return self.send(404, {})


if __name__ == "__main__":
    port = int(os.environ.get("AITK_PORT") or os.environ.get("PORT") or (sys.argv[1] if len(sys.argv) > 1 else 8000))
    ThreadingHTTPServer.request_queue_size = 128  # bench's 32 concurrent connections (default: 5)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"fake server: serving {', '.join(models())} on port {port}", flush=True)
    server.serve_forever()
