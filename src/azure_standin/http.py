"""Request / Response values shared by the stand-in's server and its handlers (ARM, files)."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from requests.structures import CaseInsensitiveDict


@dataclass
class Request:
    method: str
    path: str  # percent-decoded path, no query
    query: dict[str, str]  # first value of each key, keys as sent
    headers: CaseInsensitiveDict
    body: bytes = b""
    raw_path: str = ""  # path + '?' + query exactly as on the request line

    def json(self):
        import json

        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""


def json_response(status: int, obj, headers: dict | None = None) -> Response:
    import json

    h = {"Content-Type": "application/json; charset=utf-8"}
    h.update(headers or {})
    body = b"" if obj is None else json.dumps(obj).encode()
    return Response(status, h, body)


def read_body(rfile, headers) -> bytes:
    """An HTTP/1.1 request body from `rfile`: chunked (trailers skipped) or Content-Length."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        out = bytearray()
        while True:
            line = rfile.readline(65537)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += rfile.read(size)
            rfile.readline(65537)  # the CRLF after the chunk
    n = int(headers.get("Content-Length") or 0)
    return rfile.read(n) if n else b""
