"""`deploy --adapter NAME=PATH` when the workspace's serve.json lists adapters.

A serve.json with an `adapters` mapping turns the launcher's discovery off, so an adapter pushed
with --adapter would be served after the hot-load only until the next restart (and a restart
would wait for it in vain). Deploy therefore adds every pushed adapter to the serve.json it
uploads (the share's copy) as `NAME: aitk/adapters/NAME`; the workspace's file stays as the user
wrote it (deploy never edits it), and deploy says what it added.
"""

from collections.abc import Iterable
from typing import Any

from aitk_serve import layout, serve_config

from ..errors import AdapterSpecError
from ..workspace import json_bytes


def added(serve: Any, names: Iterable[str], serve_file: str) -> dict[str, str]:
    """{NAME: share path} of the pushed adapters the uploaded serve.json must add ({} when it
    leaves adapters to discovery, or lists them all already). A NAME serve.json maps to another
    folder is refused: which one would be served is not clear."""
    adapters = serve.get(serve_config.ADAPTERS) if isinstance(serve, dict) else None
    if not isinstance(adapters, dict):
        return {}
    out: dict[str, str] = {}
    for name in sorted(names):
        want = layout.adapter_dir(name)
        have = adapters.get(name)
        if have is None:
            out[name] = want
        elif str(have).strip().strip("/") != want:
            raise AdapterSpecError(
                f"--adapter {name}: {serve_file} already maps {name!r} to {have!r}, not to the pushed folder {want}",
                recommendation=f'Push it under another name, or set "{name}": "{want}" in {serve_file}.',
            )
    return out


def merged_text(serve: dict[str, Any], extra: dict[str, str]) -> bytes:
    """The serve.json to upload: the user's, with `extra` added to its adapters."""
    merged = dict(serve)
    merged[serve_config.ADAPTERS] = {**serve[serve_config.ADAPTERS], **extra}
    return json_bytes(merged)
