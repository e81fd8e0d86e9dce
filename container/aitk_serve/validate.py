"""Typed reads of the JSON the launcher inspects: config.json, adapter_config.json, safetensors
headers, the weight index and serve.json.

These files come from the share, so any value may have any type, and the JSON may be nested
deeper than Python's recursion limit. Every function here returns what it promises or raises
LaunchError with one line naming the file (`where`) and the key: the launcher never passes an
unchecked value on to arithmetic, and never shows a traceback for a bad file.
"""

import json
import math
import reprlib
from collections.abc import Callable
from typing import Any

from . import LaunchError

_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxstring, _SHOWN.maxother = 2, 4, 4, 40, 40


def shown(value: Any) -> str:
    """A short, one-line picture of a value from a file, for an error message."""
    return _SHOWN.repr(value).replace("\n", " ")


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{error.__class__.__name__}: {text}" if text else error.__class__.__name__


def parse_json(raw: bytes | str, where: str, object_pairs_hook: Callable[[list], Any] | None = None) -> Any:
    """json.loads, with every failure (bad syntax, bad encoding, nesting too deep) one line."""
    try:
        return json.loads(raw, object_pairs_hook=object_pairs_hook)
    except RecursionError:
        raise LaunchError(f"{where} is not valid JSON (nested too deeply to read)") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise LaunchError(f"{where} is not valid JSON ({' '.join(str(e).split())})") from None


def load_json(path: str, what: str, object_pairs_hook: Callable[[list], Any] | None = None) -> dict:
    """The JSON object in file `path` (`what` names the file in messages: "model config")."""
    where = f"{what} {path}"
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise LaunchError(f"cannot read {where}: {e.strerror}") from None
    data = parse_json(raw, where, object_pairs_hook)
    if not isinstance(data, dict):
        raise LaunchError(f"{where} is not a JSON object")
    return data


def _label(key: str, label: str | None) -> str:
    return label or f'"{key}"'


def integer(
    obj: dict, key: str, where: str, *, minimum: int = 1, required: bool = False, label: str | None = None
) -> int | None:
    """obj[key] as an int >= minimum; None when absent or null (unless required)."""
    value = obj.get(key)
    kind = "positive integer" if minimum == 1 else f"integer >= {minimum}"
    if value is None:
        if required:
            raise LaunchError(f"{where} has no {kind} {_label(key, label)}")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LaunchError(f"{where} has no {kind} {_label(key, label)} (got {shown(value)})")
    return value


def number(obj: dict, key: str, where: str, *, required: bool = False, label: str | None = None) -> float | None:
    """obj[key] as a finite number (int or float, not a bool); None when absent or null."""
    value = obj.get(key)
    if value is None:
        if required:
            raise LaunchError(f"{where} has no number {_label(key, label)}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LaunchError(f"{where}: {_label(key, label)} is not a finite number (got {shown(value)})")
    return value


def string(obj: dict, key: str, where: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise LaunchError(f'{where} has no string "{key}"')
        return None
    if not isinstance(value, str):
        raise LaunchError(f'{where}: "{key}" is not a string (got {shown(value)})')
    return value


def strings(obj: dict, key: str, where: str, *, required: bool = False) -> list[str] | None:
    """obj[key] as a list of strings (a single string counts as one); None when absent/null."""
    value = obj.get(key)
    if value is None or (required and value in ("", [])):
        if required:
            raise LaunchError(f'{where} has no "{key}" (a name or a list of names)')
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LaunchError(f'{where}: "{key}" is not a string or a list of strings (got {shown(value)})')
    return value


def mapping(obj: dict, key: str, where: str) -> dict:
    """obj[key] as a JSON object; {} when absent or null."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LaunchError(f'{where}: "{key}" is not a JSON object (got {shown(value)})')
    return value


def shape(value: Any, where: str) -> list[int]:
    """A tensor shape: a list of non-negative ints."""
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value):
        raise LaunchError(f"{where}: shape {shown(value)} is not a list of non-negative integers")
    return value
