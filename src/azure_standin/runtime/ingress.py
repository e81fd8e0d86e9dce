"""A container app's ingress: TLS on 127.0.0.1:<port> with a leaf of the stand-in CA, proxying HTTP/1.1
to the replica's private port, responses streamed chunk by chunk; the first request to an app scaled to
zero starts a replica and waits for it (ACA's activation).
https://learn.microsoft.com/azure/container-apps/ingress-overview"""

import http.client
import socket
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..http import read_body
from .replica import ACTIVATION_TIMEOUT_S, AppReplica

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
}


class _IngressHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aitk-standin-ingress"
    sys_version = ""

    def log_message(self, *a):
        pass

    def _read_body(self) -> bytes:
        return read_body(self.rfile, self.headers)

    def _plain(self, status: int, text: str):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _upstream_headers(self, body):
        """The request's end-to-end headers, with the X-Forwarded-* an Envoy ingress adds."""
        headers = {}
        for k, v in self.headers.items():
            if k.lower() in HOP_BY_HOP or k.lower() in ("content-length", "host"):
                continue
            headers[k] = v
        headers["Host"] = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["X-Forwarded-Proto"] = "https"
        headers["X-Forwarded-Host"] = headers["Host"]
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        return headers

    def _proxy(self):
        app: AppReplica = self.server.app
        body = self._read_body()
        port = app.upstream_port()
        if port is None:
            self._plain(503, "no healthy upstream")
            return
        headers = self._upstream_headers(body)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ACTIVATION_TIMEOUT_S)
            conn.request(self.command, self.path, body=body or None, headers=headers)
            r = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            self._plain(502, f"upstream connect error: {e}")
            return
        try:
            self.send_response(r.status, r.reason)
            length = r.getheader("Content-Length")
            for k, v in r.getheaders():
                if k.lower() in HOP_BY_HOP or k.lower() in ("content-length", "server", "date"):
                    continue
                self.send_header(k, v)
            no_body = self.command == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200
            if no_body:
                if length is not None:
                    self.send_header("Content-Length", length)
                self.end_headers()
                return
            if length is not None:
                self.send_header("Content-Length", length)
                self.end_headers()
                while True:
                    data = r.read1(65536)
                    if not data:
                        break
                    self.wfile.write(data)
                    self.wfile.flush()
            else:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while True:
                    data = r.read1(65536)
                    if not data:
                        break
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except (OSError, http.client.HTTPException):
            # BaseHTTPRequestHandler's own flag (handle() sets it per request), hence outside __init__.
            self.close_connection = True  # pylint: disable=attribute-defined-outside-init
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy


class Ingress(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, app: AppReplica, ctx: ssl.SSLContext):
        self.app = app
        self.ctx = ctx
        super().__init__(("127.0.0.1", port), _IngressHandler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle stalls (SSE)
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (OSError, ssl.SSLError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass
