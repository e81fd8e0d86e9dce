"""vLLM's OpenAI server, accepting every API key the launcher passes in the environment:
`python -m aitk_serve.api_server ARGS` = `python -m vllm.entrypoints.openai.api_server ARGS`, with
`args.api_key` set to the keys in VLLM_API_KEY and SECONDARY_API_KEY_ENV when ARGS give no --api-key.

Why: vLLM's own check accepts several keys (`--api-key` is nargs="+", and
vllm/entrypoints/serve/middleware/register.py hands the list to its AuthenticationMiddleware), but
its environment variable holds one, and a key on the command line would show in `ps`. During a key
rotation both the primary and the secondary key must work, so the launcher passes both in the
environment and `install()` puts them into the parsed arguments before vLLM builds its app. vLLM
logs `api_key` redacted (vllm/entrypoints/serve/utils/api_utils.py, redact_sensitive_args).
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aitk_serve import startup_timeline

from .env_names import ARG_API_KEYS_ENV, HEAD_TIMEOUT_ENV, SECONDARY_API_KEY_ENV, VLLM_API_KEY_ENV

if TYPE_CHECKING:
    from argparse import Namespace

VLLM_SERVER_MODULE = "vllm.entrypoints.openai.api_server"


def _arg_keys(env: Mapping[str, str]) -> list[str]:
    try:
        keys = json.loads(env.get(ARG_API_KEYS_ENV) or "[]")
    except ValueError:
        return []
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []


def keys_from_env(env: Mapping[str, str]) -> list[str]:
    """The keys the launcher passed: those of an --api-key argument, else primary then secondary;
    empty values are no key."""
    keys = _arg_keys(env) or [env.get(VLLM_API_KEY_ENV) or "", env.get(SECONDARY_API_KEY_ENV) or ""]
    return [k for i, k in enumerate(keys) if k and k not in keys[:i]]


def with_env_keys(validate: Callable[[Namespace], Any], env: Mapping[str, str]) -> Callable[[Namespace], Any]:
    """vLLM's validate_parsed_serve_args, first filling `args.api_key` from `env` (an --api-key
    in the arguments wins, as it does over VLLM_API_KEY in vLLM itself)."""

    def validate_parsed_serve_args(args: Namespace) -> Any:
        if not getattr(args, "api_key", None):
            args.api_key = keys_from_env(env) or None
        return validate(args)

    validate_parsed_serve_args.aitk_keys = True  # type: ignore[attr-defined]
    return validate_parsed_serve_args


def install(env: Mapping[str, str] | None = None) -> None:
    """Hook the keys into vLLM's argument check, which its server's main() imports when it runs
    (vllm/entrypoints/launchers/api_server/entry.py). Idempotent."""
    from vllm.entrypoints.launchers import cli_args

    if getattr(cli_args.validate_parsed_serve_args, "aitk_keys", False):
        return
    hooked = with_env_keys(cli_args.validate_parsed_serve_args, os.environ if env is None else env)
    setattr(cli_args, "validate_parsed_serve_args", hooked)  # noqa: B010  (mypy: a function replaced)


# Bounds on a request's head (request line and headers) before any route or key check runs: its
# size, and the time a client may take to send it. uvicorn's httptools protocol (what it picks when
# httptools is installed, as in vLLM's image) has neither: a 32 MiB header was accepted and an
# unfinished one kept open forever. Azure Container Apps' ingress (Envoy) passes at most 60 KiB of
# request headers, so 64 KiB refuses no request that reaches the replica through it.
MAX_HEAD_BYTES = 64 * 1024
DEFAULT_HEAD_TIMEOUT = 30.0


def head_timeout(env: Mapping[str, str]) -> float:
    try:
        value = float(env.get(HEAD_TIMEOUT_ENV) or DEFAULT_HEAD_TIMEOUT)
    except ValueError:
        return DEFAULT_HEAD_TIMEOUT
    return value if 0 < value < 3600 else DEFAULT_HEAD_TIMEOUT


def _refusal(status: int, reason: str) -> bytes:
    body = reason.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


def bounded_head(protocol: type, max_bytes: int = MAX_HEAD_BYTES, timeout: float = DEFAULT_HEAD_TIMEOUT) -> type:
    """uvicorn's httptools protocol class, closing a connection whose request head passes
    `max_bytes` (431) or is not complete `timeout` seconds after its first byte, or after the
    connection opened (408). Between requests uvicorn's keep-alive timeout applies as before."""

    class BoundedHead(protocol):
        aitk_bounded = True
        _head_bytes = 0  # bytes of the current head received so far
        _head_tail = b""  # its last 3 bytes (a blank line may span two reads)
        _in_head = True
        _head_timer: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._head_timer = self.loop.call_later(timeout, self._head_timed_out)

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                # The head ends at the first blank line; look for it no further than the limit.
                window = self._head_tail + data[: max_bytes - self._head_bytes + 4]
                if window.find(b"\r\n\r\n") < 0:
                    self._head_bytes += len(data)
                    if self._head_bytes > max_bytes:
                        return self._refuse(431, "Request Header Fields Too Large")
                    self._head_tail = window[-3:]
                if self._head_timer is None:
                    self._head_timer = self.loop.call_later(timeout, self._head_timed_out)
            return super().data_received(data)

        def on_headers_complete(self) -> None:
            self._in_head, self._head_bytes, self._head_tail = False, 0, b""
            self._stop_head_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head, self._head_bytes, self._head_tail = True, 0, b""  # the next request's head

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._in_head:
                self._refuse(408, "Request Timeout")

        def _refuse(self, status: int, reason: str) -> None:
            self._stop_head_timer()
            if not self.transport.is_closing():
                self.transport.write(_refusal(status, reason))
                self.transport.close()

    BoundedHead.__name__ = BoundedHead.__qualname__ = f"BoundedHead{protocol.__name__}"
    return BoundedHead


def install_head_bounds(env: Mapping[str, str] | None = None) -> None:
    """Make every uvicorn server of this process bound request heads: vLLM builds its
    uvicorn.Config in serve_http (vllm/entrypoints/launchers/launcher.py) and sets h11's
    limits on it; load() picks the protocol class, which is then replaced by bounded_head's. h11
    (uvicorn's other protocol) bounds the size itself (h11_max_incomplete_event_size)."""
    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    if getattr(uvicorn.Config.load, "aitk_bounded", False):
        return
    original = uvicorn.Config.load
    timeout = head_timeout(os.environ if env is None else env)

    def load(self: Any) -> None:
        original(self)
        cls = self.http_protocol_class
        if isinstance(cls, type) and issubclass(cls, HttpToolsProtocol) and not getattr(cls, "aitk_bounded", False):
            self.http_protocol_class = bounded_head(cls, MAX_HEAD_BYTES, timeout)
        self.h11_max_incomplete_event_size = min(self.h11_max_incomplete_event_size or MAX_HEAD_BYTES, MAX_HEAD_BYTES)

    load.aitk_bounded = True  # type: ignore[attr-defined]
    setattr(uvicorn.Config, "load", load)  # noqa: B010


def run() -> None:
    install()
    install_head_bounds()
    sys.argv[0] = VLLM_SERVER_MODULE
    runpy.run_module(VLLM_SERVER_MODULE, run_name="__main__", alter_sys=False)


# In the server's process and in vLLM's spawned engine and worker processes (they import the main
# module as __mp_main__): one console line per start-up phase. A no-op in the launcher's process.
startup_timeline.install()

if __name__ == "__main__":
    run()
