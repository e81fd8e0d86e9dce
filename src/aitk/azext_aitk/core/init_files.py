"""`az aitk inference init`: the workspace files, written only where missing."""

import json
from pathlib import Path

from . import shipped_templates
from . import workspace as ws_mod
from .workspace_files import cannot_write


def planned_files(ws: ws_mod.Workspace) -> list[tuple[Path, bytes]]:
    """[(workspace path, content bytes)] in the order init writes them."""
    serve = (json.dumps(ws_mod.DEFAULT_SERVE_CONFIG, indent=2) + "\n").encode()
    return [
        (ws.bicep_file, shipped_templates.BICEP.read_bytes()),
        (ws.parameters_file, shipped_templates.PARAMETERS.read_bytes()),
        (ws.path(ws_mod.SERVE_FILE), serve),
    ]


def init_workspace(ws: ws_mod.Workspace, force: bool = False) -> list[dict[str, str]]:
    results = []
    for dest, content in planned_files(ws):
        try:
            action, backup = ws_mod.install_file(dest, content, force=force)
        except OSError as e:
            raise cannot_write(dest, e) from None
        entry = {"file": str(dest.relative_to(ws.root)), "action": action}
        if backup is not None:
            entry["backup"] = str(backup.relative_to(ws.root))
        results.append(entry)
    return results
