"""ASGI middleware that vLLM loads with `--middleware aitk_serve.middleware.KeyGateMiddleware`.

vLLM 0.32 adds it with `app.add_middleware(cls)` after its own (vllm/entrypoints/serve/
middleware/register.py), so it is the outermost layer and sees every request first. It:
- serves the chat page (static/chat.html) at `/`; the page asks for the API key itself;
- when an API key is set, requires it on every request except the page and the health probes
  (OPEN_ROUTES, by path AND method) and real CORS preflights. vLLM's own check covers only /v1,
  /v2, /inference and /cohere and skips every OPTIONS request, which leaves e.g. SageMaker's
  /invocations (inference), /adapters (adapter loading), /tokenize and /metrics open, and
  `OPTIONS /metrics` answered by the metrics app itself;
- checks the key on websocket requests too (vLLM's check answers them with an HTTP response,
  which fails with a traceback per attempt): a websocket without the key is closed.
docs/serving.md ("Open without a key") lists the open routes and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from . import serving_state
from .api_server import keys_from_env

if TYPE_CHECKING:  # vLLM's own dependencies: names for the annotations only
    from argparse import Namespace

    from starlette.types import ASGIApp, Receive, Scope, Send

# path -> methods that need no key: the page (it asks for the key itself) and the probes Azure
# Container Apps sends without credentials. Everything else needs the key, for every method.
OPEN_ROUTES = {
    "/": frozenset({"GET", "HEAD"}),
    "/chat": frozenset({"GET", "HEAD"}),
    "/favicon.ico": frozenset({"GET", "HEAD"}),
    "/health": frozenset({"GET"}),
    "/ping": frozenset({"GET", "POST"}),  # vLLM's SageMaker-style probe answers both
}
PAGE_PATHS = ("/", "/chat")
# RFC 6455 / websocket close code for "policy violation": the client may not connect.
WS_POLICY_VIOLATION = 1008
_PAGE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static", "chat.html")
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        b"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def api_tokens(args: Namespace | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """The keys vLLM itself accepts: --api-key (which aitk_serve.api_server fills from the
    environment), else the primary and secondary keys in the environment."""
    env = os.environ if env is None else env
    keys = list(getattr(args, "api_key", None) or []) or keys_from_env(env)
    return [k for k in keys if k]


def authorized(headers: Mapping[bytes, bytes], token_digests: Iterable[bytes]) -> bool:
    """Bearer token check in constant time, as vLLM's AuthenticationMiddleware does."""
    value = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, param = value.partition(" ")
    if scheme.lower() != "bearer" or not param:
        return False
    got = _digest(param)
    ok = False
    for want in token_digests:
        ok |= secrets.compare_digest(got, want)
    return ok


def is_cors_preflight(method: str, headers: Mapping[bytes, bytes]) -> bool:
    """A browser's CORS preflight: OPTIONS with both Origin and Access-Control-Request-Method
    (https://fetch.spec.whatwg.org/#cors-preflight-fetch). Browsers never send credentials on
    it, so it must pass for the page-less API to work cross-origin; vLLM's CORS middleware
    answers it without reaching any route."""
    return method == "OPTIONS" and b"origin" in headers and b"access-control-request-method" in headers


def needs_key(path: str, method: str, headers: Mapping[bytes, bytes] | None = None) -> bool:
    """True unless (path, method) is an open route or the request is a real CORS preflight."""
    if method in OPEN_ROUTES.get(path, ()):
        return False
    return not is_cors_preflight(method, headers or {})


def _route_path(scope: Scope) -> str:
    path = scope["path"]
    root = scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


class KeyGateMiddleware:  # pylint: disable=too-few-public-methods  # ASGI: one __call__ by protocol
    """The API key gate in front of every route vLLM serves (and the chat page at `/`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._digests: list[bytes] | None = None

    def _token_digests(self, scope: Scope) -> list[bytes]:
        if self._digests is None:
            app = scope.get("app")
            args = getattr(getattr(app, "state", None), "args", None)
            self._digests = [_digest(t) for t in api_tokens(args)]
        return self._digests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            return await self._websocket(scope, receive, send)
        if scope["type"] != "http":  # lifespan
            return await self.app(scope, receive, send)
        path = _route_path(scope)
        method = scope.get("method", "GET")
        if path in PAGE_PATHS and method in ("GET", "HEAD"):
            return await self._page(send, head=method == "HEAD")
        digests = self._token_digests(scope)
        headers = _headers(scope)
        if digests and needs_key(path, method, headers) and not authorized(headers, digests):
            body = json.dumps({"error": "Unauthorized"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b"Bearer"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if path == serving_state.ROUTE and method == "GET":  # what this server runs (deploy asks)
            body = serving_state.answer(os.environ)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        return await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """No websocket route is open: without the key the handshake is refused (HTTP 403 to
        the client, per the ASGI spec for a close before accept), before any route runs."""
        digests = self._token_digests(scope)
        if digests and not authorized(_headers(scope), digests):
            message = await receive()  # websocket.connect, the first message of the scope
            if message.get("type") == "websocket.connect":
                await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
            return None
        return await self.app(scope, receive, send)

    async def _page(self, send: Send, head: bool = False) -> None:
        with open(_PAGE_FILE, "rb") as f:
            body = f.read()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    *_SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if head else body})
