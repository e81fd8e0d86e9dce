"""A TCP proxy on loopback that plays the network between a reader and Blob storage (issue 18,
`bench_cold_start.py --weights` part (c)): each request waits a fixed latency before it reaches the
server, and each connection's answers are paced at a fixed bandwidth.

What it models, honestly: TLS passes through untouched (the reader verifies Azurite's certificate
end to end), so the proxy cannot see HTTP; it takes the first bytes a client sends after the server
last spoke (or on a fresh connection) as a new request and holds them `latency_s` (HTTP/1.1 without
pipelining, which the Azure C++ SDK's libcurl transport and azure-core's requests both use: one
request, then its whole answer), and it paces what the server sends on each connection at
`bytes_per_s` (a token bucket per connection, 64 KiB slices). The TLS handshake's own round trips get
the latency once per connection, as they would. Not modelled: an account-wide throughput cap (Blob's
is far above what one host reads here), TCP slow start, loss.
"""

from __future__ import annotations

import socket
import threading
import time

CHUNK = 64 * 1024


class ThrottledProxy:
    def __init__(self, target_port: int, latency_s: float, bytes_per_s: float, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.latency_s, self.bytes_per_s = latency_s, bytes_per_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> ThrottledProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
            state = {"server_spoke": True}  # a fresh connection: its first bytes are a request
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, src: socket.socket, dst: socket.socket, state: dict) -> None:
        try:
            while data := src.recv(CHUNK):
                if state["server_spoke"]:
                    state["server_spoke"] = False
                    with self.lock:
                        self.requests += 1
                    time.sleep(self.latency_s)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(dst, src)

    def _down(self, src: socket.socket, dst: socket.socket, state: dict) -> None:
        due = time.monotonic()
        try:
            while data := src.recv(CHUNK):
                state["server_spoke"] = True
                now = time.monotonic()
                due = max(due, now) + len(data) / self.bytes_per_s
                dst.sendall(data)
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
        except OSError:
            pass
        finally:
            _close(dst, src)


def _close(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
