"""`az aitk inference init`: the workspace files, written only where missing; AI Toolkit's
original inference files (core/init/aitk_originals.py) migrated, each backed up beside itself."""

import shutil
from pathlib import Path
from typing import Any

from .. import workspace as ws_mod
from . import aitk_originals, shipped_templates
from .workspace_files import cannot_write


def planned_files(ws: ws_mod.Workspace) -> list[tuple[Path, bytes]]:
    """[(workspace path, content bytes)] in the order init writes them."""
    serve = ws_mod.json_bytes(ws_mod.DEFAULT_SERVE_CONFIG)
    return [
        (ws.bicep_file, shipped_templates.BICEP.read_bytes()),
        *(
            (ws.bicep_file.parent / module, (shipped_templates.TEMPLATES_DIR / module).read_bytes())
            for module in shipped_templates.MODULES
        ),
        (ws.parameters_file, shipped_templates.PARAMETERS.read_bytes()),
        (ws.serve_file, serve),
    ]


def _migrated_content(
    ws: ws_mod.Workspace, rel: str, prefixes: dict[str, str], provisioned_app: str | None
) -> tuple[bytes, list[str]]:
    """(new content, [what changed]) of one of AI Toolkit's original files; `prefixes`: the name
    prefixes of the original template (read before it is replaced); `provisioned_app`: the app
    its inference.config.json names (read before that is migrated)."""
    if rel == ws_mod.BICEP_FILE:
        return shipped_templates.BICEP.read_bytes(), [
            "AI Toolkit's Gradio template replaced by aitk's (vLLM's OpenAI server, API key, port 8000)"
        ]
    path = ws.path(rel)
    data = ws_mod.load_json(path, "AI Toolkit file")
    if rel == ws_mod.PARAMETERS_FILE:
        new, changes = aitk_originals.migrate_parameters(data, prefixes, provisioned_app)
    else:
        new, changes = aitk_originals.migrate_inference_config(data)
    return ws_mod.json_bytes(new), changes


def migrate_originals(ws: ws_mod.Workspace) -> list[dict[str, Any]]:
    """Migrate every original file found; each is backed up beside itself first (never under
    inference/, which deploy uploads)."""
    results = []
    found = aitk_originals.find_originals(ws)
    bicep = (
        ws.bicep_file.read_text(encoding="utf-8-sig", errors="replace")
        if any(o.file == ws_mod.BICEP_FILE for o in found)
        else None
    )
    prefixes = aitk_originals.name_prefixes(bicep)
    try:
        provisioned_app = aitk_originals.provisioned_app_name(ws.read_inference_config_any())
    except ws_mod.WorkspaceError:
        provisioned_app = None  # an unreadable config is reported by the command that needs it
    for original in found:
        dest = ws.path(original.file)
        content, changes = _migrated_content(ws, original.file, prefixes, provisioned_app)
        backup = ws_mod.backup_path(dest)
        try:
            shutil.copy2(dest, backup)
            ws_mod.write_bytes_atomic(dest, content)
        except OSError as e:
            raise cannot_write(dest, e) from None
        results.append(
            {
                "file": original.file,
                "action": "migrated",
                "backup": str(backup.relative_to(ws.root)),
                "changes": changes,
            }
        )
    return results


def init_workspace(ws: ws_mod.Workspace, force: bool = False) -> list[dict[str, Any]]:
    results = migrate_originals(ws)
    migrated = {r["file"] for r in results}
    for dest, content in planned_files(ws):
        rel = str(dest.relative_to(ws.root))
        if rel in migrated:
            continue
        try:
            action, backup = ws_mod.install_file(dest, content, force=force)
        except OSError as e:
            raise cannot_write(dest, e) from None
        entry: dict[str, Any] = {"file": rel, "action": action}
        if backup is not None:
            entry["backup"] = str(backup.relative_to(ws.root))
        results.append(entry)
    return results


def describe(result: dict[str, Any]) -> str:
    """One line for one file of init's result."""
    file, action = result["file"], result["action"]
    if action == "migrated":
        return f"Migrated {file}: " + "; ".join(result["changes"]) + f" (the original is kept as {result['backup']})"
    if action == "kept":
        return f"Kept {file} (it differs from the shipped one; --force resets it with a backup)"
    if action == "reset":
        return f"Reset {file} to the shipped one (the old one is kept as {result['backup']})"
    return f"{action.capitalize()} {file}"
