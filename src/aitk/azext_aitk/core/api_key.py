"""The endpoint's API keys: made once, kept only as the container app's secrets. Two keys, both
accepted by the server (docs/contracts.md), so one can be rotated while clients use the other."""

import secrets
from collections.abc import Iterable
from typing import Any

from aitk_serve.env_names import DEFAULT_SECONDARY_API_KEY_ENV

SECRET_NAME = "api-key"  # the container app secret of the primary key (docs/contracts.md)
SECONDARY_SECRET_NAME = "api-key-secondary"
PRIMARY, SECONDARY = "primary", "secondary"
SECRET_NAMES = {PRIMARY: SECRET_NAME, SECONDARY: SECONDARY_SECRET_NAME}
# The container's variable that carries the secondary key (the template's env).
SECONDARY_ENV = DEFAULT_SECONDARY_API_KEY_ENV
KEY_BYTES = 32


def generate() -> str:
    return "aitk-" + secrets.token_urlsafe(KEY_BYTES)


def _pairs(secret_list: Iterable[Any] | None) -> list[tuple[Any, Any]]:
    """(name, value) of each secret of a listSecrets result (objects or dicts)."""
    out = []
    for s in secret_list or []:
        name = s.get("name") if isinstance(s, dict) else getattr(s, "name", None)
        value = s.get("value") if isinstance(s, dict) else getattr(s, "value", None)
        out.append((name, value))
    return out


def from_secrets(secret_list: Iterable[Any] | None, name: str = SECRET_NAME) -> str | None:
    """The key in the secret `name` (default the primary) of a container app's listSecrets result."""
    for n, value in _pairs(secret_list):
        if n == name and value:
            return str(value)
    return None


def keys_from_secrets(secret_list: Iterable[Any] | None) -> dict[str, str | None]:
    """{"primary": key, "secondary": key}; None for a key the app has no secret for."""
    listed = list(secret_list or [])
    return {which: from_secrets(listed, name) for which, name in SECRET_NAMES.items()}


def rotated_secrets(secret_list: Iterable[Any] | None, which: str, new_key: str) -> list[dict[str, str]]:
    """Every secret of the app with its value (ACA replaces the list on an update), the one of
    key `which` set to `new_key` (added when the app lacks it)."""
    target = SECRET_NAMES[which]
    out = [{"name": str(n), "value": new_key if n == target else str(v)} for n, v in _pairs(secret_list) if n]
    if not any(s["name"] == target for s in out):
        out.append({"name": target, "value": new_key})
    return out


def mask(key: str | None) -> str:
    return (key[:5] + "…" + key[-2:]) if key and len(key) > 10 else "***"
