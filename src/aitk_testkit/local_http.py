"""Local HTTP servers for tests and benchmarks: a handler that logs nothing and answers JSON, and a
server on a free port of 127.0.0.1 serving from a daemon thread.

    class Handler(JsonHandler):
        def do_GET(self):
            self.send_json(200, {"ok": True})

    with serving(Handler) as server:
        urllib.request.urlopen(base_url(server) + "/")
"""

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output clean and answers with JSON bodies."""

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin  # the base class's name
        pass

    def send_json(self, code: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """A ThreadingHTTPServer on a free port of 127.0.0.1, serving until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def base_url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"
