"""A container app's ingress: TLS on 127.0.0.1:<port> with a leaf of the stand-in CA, proxying HTTP/1.1
to a ready replica's private port (the one answering the fewest requests; replicas still starting get
none), responses streamed chunk by chunk; the first request to an app scaled to zero starts a replica
and waits for it (ACA's activation). Each request counts for the app's HTTP scale rule (replica.py).
https://learn.microsoft.com/azure/container-apps/ingress-overview"""

import http.client
import socket
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..http import read_body
from . import azure_rules
from .replica import AppReplica

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

    def _proxy(self):
        app: AppReplica = self.server.app
        app.request_began()
        try:
            self._proxy_within_timeout(app)
        finally:
            app.request_ended()

    # One request under the ingress's idle timeout (azure_rules.INGRESS_IDLE_TIMEOUT_S): every read,
    # from the client or the replica, may wait that long for its next byte and no longer, so a
    # stream that keeps sending runs as long as it sends, and a silent one ends.
    def _proxy_within_timeout(self, app: AppReplica):  # pylint: disable=too-many-statements,too-many-branches
        idle = app.rt.seconds(azure_rules.INGRESS_IDLE_TIMEOUT_S)
        self.connection.settimeout(idle)
        try:
            body = self._read_body()
        except TimeoutError:
            self.close_connection = True  # pylint: disable=attribute-defined-outside-init
            return
        # Waiting for a replica (a scale from zero) sends nothing either way: it gets the same limit.
        replica, why = app.upstream(idle)
        if replica is None:
            if why == "timeout":
                self._plain(504, azure_rules.INGRESS_TIMEOUT_BODY)
            else:
                self._plain(503, "no healthy upstream")
            return
        try:
            self._forward(replica.private_port, body, idle)
        finally:
            app.release(replica)

    def _forward(self, port: int, body: bytes, idle: float):  # pylint: disable=too-many-statements,too-many-branches
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
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=idle)
            conn.request(self.command, self.path, body=body or None, headers=headers)
            r = conn.getresponse()
        except TimeoutError:
            # The replica has the request but sent no byte of an answer within the idle timeout.
            self._plain(504, azure_rules.INGRESS_IDLE_BODY)
            return
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
            # Idle past the timeout mid-answer (the headers are out, so no 504 can follow), or cut by
            # the replica: the client sees the stream broken (the handler's own flag).
            self.close_connection = True  # pylint: disable=attribute-defined-outside-init
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy


class Ingress(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog (5) refuses connections of a 32-way load test; ACA's
    # ingress (Envoy) takes concurrent connections up to the app's scale rule.
    request_queue_size = 128

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
