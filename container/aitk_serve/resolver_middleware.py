"""ASGI middleware that vLLM loads with `--middleware aitk_serve.resolver_middleware.ShareAdapterMiddleware`,
and the registration of the share's LoRA resolver (aitk_serve.resolver) in the same process.

Where the resolver must live (vLLM 0.32): only the API server consults resolvers
(OpenAIServingModels.resolve_lora, vllm/entrypoints/openai/models/serving.py), and it copies
LoRAResolverRegistry's resolvers once, when init_app_state builds it. build_and_serve
(vllm/entrypoints/launchers/api_server/entry.py) calls build_app, which imports every
`--middleware` module (vllm/entrypoints/serve/middleware/register.py), just before
init_app_state: so registering at this module's import puts the resolver in every API-server
process with no pip-installed `vllm.general_plugins` entry point (those run in every process;
the engine never asks a resolver). Should a later vLLM build the models first, the middleware
adds the resolver to app.state.openai_serving_models itself on the first request.

The middleware sits inside KeyGateMiddleware (the launcher passes it first; vLLM adds
middleware in order, so the last added runs first), so nothing here runs without the API key. It:
- answers a request whose `model` vLLM would not know (neither the base nor a loaded adapter)
  and the share cannot serve with our one-line reason (404 not found, 400 refused), where vLLM
  would say only "does not exist" or "was found but could not be loaded";
- adds to GET /v1/models an entry for every adapter on the share that would load, and marks
  every entry with "loaded": true or false (an extra field; the OpenAI shape is kept).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import resolver

if TYPE_CHECKING:  # vLLM's own types: names for the annotations only
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
    from vllm.entrypoints.openai.models.serving import OpenAIServingModels
    from vllm.lora.resolver import LoRAResolver

    from .adapters import AdapterInfo

MODELS_PATH = "/v1/models"
# Bodies up to this size are read to find `model`; larger ones (images inline) pass untouched
# and a name the share cannot serve gets vLLM's own message.
MAX_INSPECTED_BODY = 4 * 1024 * 1024
# Closed routes (is_closed): vLLM's (vllm/entrypoints/serve/lora/api_router.py) and SageMaker's
# (model_hosting_container_standards/sagemaker/lora/routes.py).
CLOSED_ROUTES = ("/adapters",)
CLOSED_PREFIXES = ("/adapters/",)
LOAD_PATH = "/v1/load_lora_adapter"  # vLLM's runtime load: confined and checked (_load)
CLOSED_STATUS = 404
CLOSED_BODY = {
    "error": {
        "message": "adapters are not loaded or unloaded through this route on this server: upload one "
        "with `az aitk inference deploy --adapter NAME=PATH` and request it by name (see GET /v1/models)",
        "type": "NotFoundError",
        "param": None,
        "code": CLOSED_STATUS,
    }
}

resolver.register()


def route(scope: Scope) -> str:
    path = scope["path"]
    root = scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


def is_json(scope: Scope) -> bool:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


def requested_model(body: bytes) -> str | None:
    """The request's `model` when it is a non-empty string, else None."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    name = data.get("model") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def serving_models(scope: Scope) -> OpenAIServingModels | None:
    """vLLM's OpenAIServingModels of this app (None before the app state exists)."""
    state = getattr(scope.get("app"), "state", None)
    return getattr(state, "openai_serving_models", None)


def attach(models: OpenAIServingModels, share_resolver: LoRAResolver) -> None:
    """Make sure vLLM's models consult the share's resolver (see the module's docstring)."""
    resolvers = getattr(models, "lora_resolvers", None)
    if isinstance(resolvers, list) and share_resolver not in resolvers:
        resolvers.append(share_resolver)


def known_to_vllm(models: OpenAIServingModels, name: str) -> bool:
    return bool(models.is_base_model(name) or name in models.lora_requests)


async def read_body(receive: Receive, limit: int = MAX_INSPECTED_BODY) -> tuple[bytes, bool, bool]:
    """(body read so far, complete?, disconnected?): reads up to `limit` bytes of the body."""
    chunks: list = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True, True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True, False
        if size > limit:
            return b"".join(chunks), False, False


def replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A receive that yields the bytes already read, then the rest of the original stream."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return again


async def send_json(send: Send, status: int, payload: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def with_share_adapters(listing: dict, available: Iterable[AdapterInfo], base_name: str) -> dict:
    """vLLM's /v1/models listing plus the adapters on the share that are not loaded."""
    cards = [c for c in listing.get("data", []) if isinstance(c, dict)]
    for card in cards:
        card["loaded"] = True
    listed = {c.get("id") for c in cards}
    base = next((c for c in cards if c.get("id") == base_name), cards[0] if cards else {})
    for info in available:
        if info.name in listed:
            continue
        listing["data"].append(
            {
                "id": info.name,
                "object": "model",
                "created": int(time.time()),
                "owned_by": base.get("owned_by", "vllm"),
                "root": info.path,
                "parent": base.get("id", base_name),
                "max_model_len": None,
                "permission": base.get("permission", []),
                "loaded": False,
            }
        )
    return listing


def load_refusal(reason: str) -> dict:
    return {"error": {"message": reason, "type": "BadRequestError", "param": "lora_path", "code": 400}}


def confined_load(body: bytes, catalog: resolver.ShareAdapters) -> tuple[int, dict]:
    """(200, the load request with lora_path set to the checked copy) or (status, error body)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    name = data.get("lora_name") if isinstance(data, dict) else None
    wanted = data.get("lora_path") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(name, str) or not isinstance(wanted, str):
        return 400, load_refusal("the body must be JSON with lora_name and lora_path")
    try:
        info = catalog.lookup(name)
    except resolver.Refused as refused:
        return refused.status, refused.error_body()
    folder = info.source or info.path
    if os.path.realpath(os.path.join(catalog.settings.mount, wanted)) != os.path.realpath(folder):
        return 400, load_refusal(f"adapter {name!r} loads from its folder on the share ({folder}), not from {wanted!r}")
    return 200, dict(data, lora_path=info.path)


def is_closed(path: str) -> bool:
    """SageMaker's adapter routes (on, as vLLM's runtime load is, because resolvers need
    VLLM_ALLOW_RUNTIME_LORA_UPDATING): they load any container path under any name. Closed;
    vLLM's own load route goes through the share's confinement and checks (_load)."""
    return path in CLOSED_ROUTES or any(path.startswith(p) for p in CLOSED_PREFIXES)


async def swap_if_changed(models: OpenAIServingModels, catalog: resolver.ShareAdapters, name: str) -> None:
    """Point a loaded adapter's name at the new version of its folder on the share, once that
    version passed the checks on its own snapshot; requests already running keep the old one."""
    from vllm.lora.request import LoRARequest

    current = models.lora_requests.get(name)
    if current is None:
        return
    info = await asyncio.to_thread(catalog.recheck, name, current.lora_path)
    if info is None:
        return
    async with models.lora_resolver_lock[name]:
        current = models.lora_requests.get(name)
        if current is None or current.lora_path == info.path:
            return
        models.lora_requests[name] = LoRARequest(
            lora_name=name,
            lora_int_id=models.lora_id_counter.inc(1),  # a new id: vLLM loads it as a new adapter
            lora_path=info.path,
            base_model_name=current.base_model_name,
        )
    resolver.log(
        f"adapter {name!r} changed on the share: new requests use the new version "
        f"(rank {info.rank}, checked copy {info.path})"
    )


class ShareAdapterMiddleware:  # pylint: disable=too-few-public-methods  # an ASGI app
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(  # pylint: disable=too-many-return-statements  # one return per route it answers
        self, scope: Scope, receive: Receive, send: Send
    ) -> None:
        catalog = resolver.current_catalog() if scope["type"] == "http" else None
        models = serving_models(scope)
        if catalog is None or models is None:
            return await self.app(scope, receive, send)
        attach(models, resolver.register())
        method = scope.get("method", "GET")
        path = route(scope)
        if is_closed(path):
            return await send_json(send, CLOSED_STATUS, CLOSED_BODY)
        if method == "POST" and path == LOAD_PATH:
            return await self._load(scope, receive, send, catalog)
        if method == "GET" and path == MODELS_PATH:
            return await self._models(scope, receive, send, catalog)
        if method == "POST" and is_json(scope):
            return await self._named(scope, receive, send, catalog, models)
        return await self.app(scope, receive, send)

    async def _named(
        self, scope: Scope, receive: Receive, send: Send, catalog: resolver.ShareAdapters, models: OpenAIServingModels
    ) -> None:
        """A JSON POST: answer a `model` vLLM does not know and the share cannot serve with our
        reason; point a loaded adapter whose share folder changed at its checked new version."""
        body, complete, gone = await read_body(receive)
        if gone:
            return None
        name = requested_model(body) if complete and len(body) <= MAX_INSPECTED_BODY else None
        if name is not None and not known_to_vllm(models, name):
            try:
                await asyncio.to_thread(catalog.lookup, name)
            except resolver.Refused as refused:
                return await send_json(send, refused.status, refused.error_body())
        elif name is not None and name in models.lora_requests and catalog.due(name):
            await swap_if_changed(models, catalog, name)
        return await self.app(scope, replay(body, complete, receive), send)

    async def _load(self, scope: Scope, receive: Receive, send: Send, catalog: resolver.ShareAdapters) -> None:
        """vLLM's runtime load, confined: the adapter must be the share's folder for its name
        (deploy's hot-load sends `aitk/adapters/NAME`), passes the same checks as on-demand
        loading, and vLLM is handed the checked copy. Anything else is refused in one line."""
        body, complete, gone = await read_body(receive)
        if gone:
            return None
        status, answer = await asyncio.to_thread(confined_load, body if complete else b"", catalog)
        if status != 200:
            return await send_json(send, status, answer)
        checked = json.dumps(answer).encode()
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        scope = dict(scope, headers=[*headers, (b"content-length", str(len(checked)).encode())])
        return await self.app(scope, replay(checked, True, receive), send)

    async def _models(self, scope: Scope, receive: Receive, send: Send, catalog: resolver.ShareAdapters) -> None:
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        try:
            listing = json.loads(body) if start.get("status") == 200 else None
        except ValueError:
            listing = None
        if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
            await send(start)
            return await send({"type": "http.response.body", "body": body})
        available = await asyncio.to_thread(catalog.available)
        listing = with_share_adapters(listing, available, catalog.settings.served_model_name)
        kept = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"content-type")]
        return await send_json(send, 200, listing, kept)
