"""`deploy --adapter NAME=PATH`: parse and check the specs."""

import re
from collections.abc import Iterable
from pathlib import Path

from aitk_serve import adapter_spec, layout

from ..errors import AdapterSpecError

# The name becomes a share folder (aitk/adapters/NAME) and the model name the server lists.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

__all__ = ["AdapterSpecError", "NAME_RE", "check_folder", "parse", "parse_all"]


def parse(spec: str) -> tuple[str, str]:
    """ "NAME=PATH" → (name, path). No check of the folder (see check_folder)."""
    pair = adapter_spec.split(spec)
    if pair is None:
        raise AdapterSpecError(
            f"--adapter {spec!r} is not NAME=PATH",
            recommendation="Give a name and a local adapter folder, e.g. --adapter my-adapter=./models/run1/adapter",
        )
    name, path = pair
    if not NAME_RE.match(name):
        raise AdapterSpecError(
            f"--adapter name {name!r} is not valid: use letters, digits, '.', '_' and '-' "
            "(up to 64, starting with a letter or digit)"
        )
    return name, path


def parse_all(specs: Iterable[str] | None, base_dir: str | Path = ".") -> dict[str, Path]:
    """Parse every spec and check its folder; names must be unique."""
    result: dict[str, Path] = {}
    folded: dict[str, str] = {}
    for spec in specs or []:
        name, path = parse(spec)
        if name in result:
            raise AdapterSpecError(f"--adapter name {name!r} is given twice")
        other = folded.setdefault(name.casefold(), name)
        if other != name:
            raise AdapterSpecError(
                f"--adapter names {other!r} and {name!r} differ only in case: on the share (Azure Files is "
                "case-insensitive) both would be the folder " + layout.adapter_dir(other),
                recommendation="Give the adapters names that differ in more than case.",
            )
        result[name] = check_folder(name, Path(base_dir) / Path(path).expanduser())
    return result


def check_folder(name: str, folder: str | Path) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise AdapterSpecError(f"--adapter {name}: {folder} is not a folder")
    if not (folder / layout.ADAPTER_CONFIG_FILE).is_file():
        raise AdapterSpecError(
            f"--adapter {name}: {folder} has no {layout.ADAPTER_CONFIG_FILE} (not a peft adapter)",
            recommendation="Point at the folder that holds adapter_config.json and adapter_model.safetensors.",
        )
    if not any((folder / w).is_file() for w in layout.ADAPTER_WEIGHT_FILES):
        raise AdapterSpecError(f"--adapter {name}: {folder} has no {' or '.join(layout.ADAPTER_WEIGHT_FILES)}")
    return folder.resolve()
