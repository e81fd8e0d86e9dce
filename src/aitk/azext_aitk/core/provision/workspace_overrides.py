"""What a workspace changes about the container aitk ships: a start command or image set by its
parameters file, or an edited infra/provision/inference.bicep (issue 21, item 7).

The container runs with both API keys in its environment, so a workspace someone else wrote can
run any command with them. Provision shows such changes and deploys them only with the user's
yes (or --yes). What the user types (--image, --parameters) is their own choice and not asked
about; only what the workspace's files bring is. Pure: the operation hands the values in.
"""

import json
from collections.abc import Mapping
from typing import Any

from .template_parameters import Entries, values

COMMAND, IMAGE = "defaultCommands", "image"


def _shown(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def lines(
    file_entries: Entries,
    file_source: str,
    shipped: Mapping[str, Any],
    edited_template: str | None,
) -> list[str]:
    """One line per change, [] when the workspace runs what aitk ships.

    file_entries: the workspace's parameters file (not --parameters); shipped: {COMMAND: the
    shipped start command, IMAGE: the shipped image}; edited_template: the workspace's template
    when it differs from the shipped one, else None."""
    found = values(file_entries)
    out = []
    for name, what in ((COMMAND, "start command"), (IMAGE, "image")):
        value = found.get(name)
        if value is not None and value != shipped.get(name):
            out.append(
                f"{file_source} sets the container's {what} ({name}) to {_shown(value)}, "
                f"not aitk's {_shown(shipped.get(name))}"
            )
    if edited_template:
        out.append(f"{edited_template} differs from the template aitk ships: it is deployed as it is")
    if out:
        out.append("The container runs with the endpoint's API keys in its environment.")
    return out
