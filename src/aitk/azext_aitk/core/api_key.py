"""The endpoint's API key: made once, kept only as the container app's secret."""

import secrets
from collections.abc import Iterable
from typing import Any

SECRET_NAME = "api-key"  # the container app secret (docs/contracts.md)
KEY_BYTES = 32


def generate() -> str:
    return "aitk-" + secrets.token_urlsafe(KEY_BYTES)


def from_secrets(secret_list: Iterable[Any] | None) -> str | None:
    """The key from a container app's listSecrets result (objects or dicts with name/value)."""
    for s in secret_list or []:
        name = s.get("name") if isinstance(s, dict) else getattr(s, "name", None)
        value = s.get("value") if isinstance(s, dict) else getattr(s, "value", None)
        if name == SECRET_NAME and value:
            return value
    return None


def mask(key: str | None) -> str:
    return (key[:5] + "…" + key[-2:]) if key and len(key) > 10 else "***"
