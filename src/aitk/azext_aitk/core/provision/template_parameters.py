"""Template parameters: the ARM parameters file, az's `--parameters` forms, and their merge.

Plain Python. Values are kept as ARM parameter entries ({"value": v} or a Key Vault
{"reference": …}), so the merged result is what a deployment's `parameters` property takes.

`--parameters` accepts what `az deployment group create --parameters` accepts:
  @file / a file path     an ARM parameters file ({"parameters": {...}}) or a bare {name: {"value": v}}
  a JSON object literal    the same shapes, inline
  name=value               typed by the template: int, bool (true/false), array/object as JSON,
                           strings as they are
Later sources win over earlier ones; the parameters file comes first.
"""

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ParameterError, WorkspaceError
from ..workspace import FINETUNING_DEFAULTS, load_json, parse_json_text

Entry = dict[str, Any]  # {"value": v} or {"reference": …}
Entries = dict[str, Entry]

__all__ = [
    "ParameterError",
    "bicep_parameter_types",
    "check_names",
    "check_values",
    "load_parameters_file",
    "merge",
    "parse_parameter_args",
    "resolve_defaults",
    "template_parameter_limits",
    "template_parameter_types",
    "values",
]

_STRING_TYPES = ("string", "securestring")
_JSON_TYPES = ("array", "object", "secureobject")


def template_parameter_types(template: Mapping[str, Any]) -> dict[str, str]:
    """{name: lower-case type} from an ARM template object."""
    params = template.get("parameters") or {}
    return {name: str((spec or {}).get("type", "string")).lower() for name, spec in params.items()}


_BICEP_PARAM = re.compile(r"^\s*param\s+([A-Za-z_][A-Za-z0-9_]*)\s+([A-Za-z_][A-Za-z0-9_]*)", re.M)


def bicep_parameter_types(text: str) -> dict[str, str]:
    """{name: lower-case type} from Bicep source (`param name type …` lines; @secure() strings
    count as strings, which is how they are passed)."""
    return {m.group(1): m.group(2).lower() for m in _BICEP_PARAM.finditer(text)}


def _is_entry(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) >= 1
        and set(value) <= {"value", "reference", "metadata"}
        and ("value" in value or "reference" in value)
    )


def _entries_from_object(obj: Any, source: str | Path) -> Entries:
    """{"parameters": {...}} or {...} → {name: entry}."""
    if not isinstance(obj, dict):
        raise ParameterError(f"{source}: parameters must be a JSON object")
    if "parameters" in obj and not isinstance(obj["parameters"], dict):
        raise ParameterError(
            f'{source}: "parameters" must be a JSON object of {{name: {{"value": …}}}}, '
            f"not {_json_kind(obj['parameters'])}",
            recommendation='Write it as "parameters": {"maximumInstanceCount": {"value": 1}}, one entry per '
            "template parameter.",
        )
    if isinstance(obj.get("parameters"), dict) and (
        "$schema" in obj or "contentVersion" in obj or set(obj) <= {"parameters"}
    ):
        obj = obj["parameters"]
    entries: Entries = {}
    for name, entry in obj.items():
        if name in ("$schema", "contentVersion"):
            continue
        entries[name] = {k: v for k, v in entry.items() if k != "metadata"} if _is_entry(entry) else {"value": entry}
    return entries


def load_parameters_file(path: str | Path) -> Entries:
    """An ARM parameters file → {name: entry}. Malformed JSON names file and line."""
    try:
        data = load_json(path, "parameters file")
    except WorkspaceError as e:
        raise ParameterError(str(e), e.recommendation) from None
    return _entries_from_object(data, path)


def _parse_key_value(name: str, raw: str, types: Mapping[str, str]) -> Entry:
    ptype = types[name]
    if ptype in _STRING_TYPES:
        return {"value": raw}
    if ptype == "int":
        try:
            return {"value": int(raw.strip())}
        except ValueError:
            raise ParameterError(f"parameter '{name}' is an int; '{raw}' is not a whole number") from None
    if ptype == "bool":
        low = raw.strip().lower()
        if low not in ("true", "false"):
            raise ParameterError(f"parameter '{name}' is a bool; give true or false, not '{raw}'")
        return {"value": low == "true"}
    if ptype in _JSON_TYPES:
        try:
            value = json.loads(raw)
        except ValueError as e:
            raise ParameterError(
                f"parameter '{name}' is {'an' if ptype[0] in 'ao' else 'a'} {ptype}; '{raw}' is not valid JSON ({e})",
                recommendation=f'Quote it for your shell, e.g. {name}=\'["a", "b"]\'.' if ptype == "array" else None,
            ) from None
        if value is not None and ptype == "array" and not isinstance(value, list):
            raise ParameterError(f"parameter '{name}' is an array; '{raw}' is not a JSON array")
        if value is not None and ptype != "array" and not isinstance(value, dict):
            raise ParameterError(f"parameter '{name}' is an object; '{raw}' is not a JSON object")
        return {"value": value}
    return {"value": raw}


def parse_parameter_args(items: Iterable[Any] | None, types: Mapping[str, str], cwd: str | None = None) -> Entries:
    """az's `--parameters` values (a flat list, or a list of lists) → {name: entry}, in order."""
    flat: list[Any] = []
    for item in items or []:
        flat.extend(item if isinstance(item, (list, tuple)) else [item])
    result: Entries = {}
    for item in flat:
        item = str(item)
        stripped = item.strip()
        if not stripped:
            continue
        if stripped.startswith("@"):
            path = os.path.join(cwd or ".", os.path.expanduser(stripped[1:]))
            if not os.path.isfile(path):
                raise ParameterError(f"parameters file {stripped[1:]} does not exist")
            entries = load_parameters_file(path)
        elif stripped.startswith("{"):
            try:
                obj = parse_json_text(stripped, "--parameters", "the JSON value")
            except WorkspaceError as e:
                raise ParameterError(str(e)) from None
            entries = _entries_from_object(obj, "--parameters")
        elif "=" not in stripped and os.path.isfile(os.path.join(cwd or ".", stripped)):
            entries = load_parameters_file(os.path.join(cwd or ".", stripped))
        elif "=" in item:
            name, raw = item.split("=", 1)
            name = name.strip()
            check_names([name], types)
            entries = {name: _parse_key_value(name, raw, types)}
        else:
            raise ParameterError(
                f"cannot parse parameter '{item}'", recommendation="Use name=value, @file.json, or a JSON object."
            )
        check_names(entries, types)
        result.update(entries)
    return result


def _json_kind(value: Any) -> str:
    """How JSON names the kind of `value`, with an article ("a list", "the string \"two\"")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    if isinstance(value, list):
        return "a list"
    return "an object"


# What each ARM parameter type accepts as a JSON value (ARM's types:
# https://learn.microsoft.com/azure/azure-resource-manager/templates/data-types).
_ACCEPTS = {
    "string": lambda v: isinstance(v, str),
    "securestring": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "secureobject": lambda v: isinstance(v, dict),
}
_TYPE_WORDS = {
    "string": "a string",
    "securestring": "a string",
    "int": "a whole number (int)",
    "bool": "true or false (bool)",
    "array": "a JSON list (array)",
    "object": "a JSON object",
    "secureobject": "a JSON object",
}


def template_parameter_limits(template: Mapping[str, Any]) -> dict[str, tuple[int | None, int | None]]:
    """{name: (minValue, maxValue)} of the ARM template's int parameters that declare either."""
    limits: dict[str, tuple[int | None, int | None]] = {}
    for name, spec in (template.get("parameters") or {}).items():
        if isinstance(spec, dict) and ("minValue" in spec or "maxValue" in spec):
            limits[name] = (spec.get("minValue"), spec.get("maxValue"))
    return limits


def check_values(
    entries: Mapping[str, Entry],
    types: Mapping[str, str],
    source: str,
    limits: Mapping[str, tuple[int | None, int | None]] | None = None,
) -> None:
    """Each plain value against its template parameter's type (and minValue/maxValue), before
    anything reaches Resource Manager. A null value means the default; Key Vault references
    are ARM's to resolve. ParameterError names the source, the parameter and the type."""
    for name, entry in entries.items():
        if name not in types or "value" not in entry or entry["value"] is None:
            continue
        value, ptype = entry["value"], types[name]
        accepts = _ACCEPTS.get(ptype)
        if accepts is not None and not accepts(value):
            example = {"int": "2", "bool": "true", "array": '["a"]'}.get(ptype)
            raise ParameterError(
                f"{source}: parameter '{name}' must be {_TYPE_WORDS[ptype]}, not {_json_kind(value)}",
                recommendation=f"Fix '{name}' in {source}"
                + (f', e.g. {json.dumps(name)}: {{"value": {example}}}.' if example else "."),
            )
        low, high = (limits or {}).get(name, (None, None))
        if isinstance(value, int) and not isinstance(value, bool):
            if (low is not None and value < low) or (high is not None and value > high):
                bounds = (
                    f"at least {low}" if high is None else f"{low}-{high}" if low is not None else f"at most {high}"
                )
                raise ParameterError(
                    f"{source}: parameter '{name}' is {value}; the template allows {bounds}",
                    recommendation=f"Fix '{name}' in {source}.",
                )


def check_names(names: Iterable[str], types: Mapping[str, str]) -> None:
    unknown = sorted(n for n in names if n not in types)
    if unknown:
        raise ParameterError(
            f"unknown template parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"valid names: {', '.join(sorted(types))}",
            recommendation="Check the spelling (names are case-sensitive), or add the parameter "
            "to infra/provision/inference.bicep.",
        )


def merge(*sources: Entries | None) -> Entries:
    """Later sources win; each is {name: entry}."""
    merged: Entries = {}
    for source in sources:
        for name, entry in (source or {}).items():
            merged[name] = entry
    return merged


def resolve_defaults(entries: Entries, finetuning_config: Mapping[str, Any] | None) -> Entries:
    """A null value means the default: the fine-tuning resource of the same role when
    infra/finetuning.config.json names one, else the template's own default (the entry is
    dropped so the template's defaultValue applies)."""
    resolved: Entries = {}
    for name, entry in entries.items():
        if "value" in entry and entry["value"] is None:
            key = FINETUNING_DEFAULTS.get(name)
            fallback = (finetuning_config or {}).get(key) if key else None
            if isinstance(fallback, str) and fallback.strip():
                resolved[name] = {"value": fallback.strip()}
            continue
        resolved[name] = entry
    for name, key in FINETUNING_DEFAULTS.items():
        if name not in entries:
            fallback = (finetuning_config or {}).get(key)
            if isinstance(fallback, str) and fallback.strip():
                resolved[name] = {"value": fallback.strip()}
    return resolved


def values(entries: Mapping[str, Entry]) -> dict[str, Any]:
    """{name: value} for the entries that carry a plain value."""
    return {n: e["value"] for n, e in entries.items() if "value" in e}
