"""AI Toolkit's own inference files, recognised by what they hold, and what `init` makes of them.

Every workspace the AI Toolkit for VS Code created holds its inference files
(microsoft/windows-ai-studio-templates, configs/<model>/infra/...): a Bicep template that runs a
Gradio app on port 7860 from a pytorch image, started by `/bin/bash -c` with the parameters'
`defaultCommands` joined into one shell line, no API key, and an `ACA_APP_ENDPOINT` output that
is the bare ingress FQDN. Deployed as they are by aitk, they give no OpenAI endpoint (and the
shell lines, run by aitk's template as an argv, start nothing). So they are recognised by their
content, whatever they are named after, and `init` migrates them:

- the template is replaced by aitk's (the original kept beside it, outside inference/);
- the parameters file keeps every value the user set (names, maximumInstanceCount, location)
  and loses the shell-line start command (aitk's default starts the launcher); a set
  `resourceSuffix`, which aitk's template does not take, is written out into the names it made;
- the config file keeps its values, its endpoint written as a URL (`https://<fqdn>`), without the
  Gradio start command (`COMMANDS`).

Plain Python: decisions and file contents only.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import workspace as ws_mod
from ..errors import WorkspaceError

# What sets AI Toolkit's inference.bicep apart from any template aitk ships or a user writes for
# aitk: its start command is shell lines joined for `/bin/bash -c`, its server listens on 7860
# (Gradio's port), and its default names follow the AI Toolkit scheme. Three of these mark it.
_BICEP_MARKS = (
    re.compile(r"join\(\s*defaultCommands\s*,"),
    re.compile(r"\b7860\b"),
    re.compile(r"'/bin/bash'"),
    re.compile(r"acaapp\$\{resourceSuffix\}"),  # 'aiacaapp${...}', or 'waisacaapp${...}' in older configs
    re.compile(r"pytorch/pytorch:|huggingface/transformers-"),
)
_BICEP_MARKS_NEEDED = 3

# aitk's `defaultCommands` is an argv: its first word is a program ("python3", "/bin/bash"), never
# a string with blanks in it. AI Toolkit's are shell lines ("cd /mount", "pip install ...") that
# its template joins for `/bin/bash -c`; any list that starts with one, or runs its Gradio app, is.
_GRADIO_APP = re.compile(r"gradio_chat\.py")

# The names AI Toolkit's inference.bicep derives from `resourceSuffix` (configs since Llama 3 /
# Phi-3). Older configs (phi-2, mistral-7b, zephyr-7b-beta) used 'wais...' prefixes: the prefixes
# are read from the template itself (name_prefixes), these are the fallback.
ORIGINAL_NAME_PREFIXES = {
    "storageAccountName": "aistorage",
    "fileShareName": "aifileshare",
    "acaEnvironmentName": "aienv",
    "acaEnvironmentStorageName": "aienvstorage",
    "acaAppName": "aiacaapp",
    "acaLogAnalyticsName": "ailog",
}
# `param storageAccountName string = 'aistorage${resourceSuffix}'`: a name's default, as a prefix.
_NAME_DEFAULT = re.compile(r"^\s*param\s+(\w+)\s+string\s*=\s*'([A-Za-z0-9-]*)\$\{resourceSuffix\}'\s*$", re.M)
# The key of AI Toolkit's inference.config.json that holds the Gradio app's start command.
CONFIG_COMMANDS = "COMMANDS"


def is_original_bicep(text: str) -> bool:
    """True for AI Toolkit's inference.bicep (any config, any version), by its content."""
    if "aitk_serve" in text:  # aitk's own template (shipped or edited) starts the launcher
        return False
    return sum(1 for mark in _BICEP_MARKS if mark.search(text)) >= _BICEP_MARKS_NEEDED


def name_prefixes(bicep_text: str | None) -> dict[str, str]:
    """{parameter: prefix} of the names an original inference.bicep derives from resourceSuffix,
    read from its text; ORIGINAL_NAME_PREFIXES for any it does not say (or without a text)."""
    found = dict(_NAME_DEFAULT.findall(bicep_text or ""))
    return {name: found.get(name, prefix) for name, prefix in ORIGINAL_NAME_PREFIXES.items()}


def is_shell_command(commands: Any) -> bool:
    """True when a start command is AI Toolkit's list of shell lines, not an argv."""
    if not isinstance(commands, list) or not commands or not all(isinstance(c, str) for c in commands):
        return False
    return len(commands[0].strip().split()) > 1 or any(_GRADIO_APP.search(c) for c in commands)


def _parameters_of(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        return None
    inner = data.get("parameters", data)
    return inner if isinstance(inner, dict) else None


def is_original_parameters(data: Any) -> bool:
    """True for AI Toolkit's inference.parameters.json: its defaultCommands are shell lines."""
    params = _parameters_of(data)
    entry = (params or {}).get("defaultCommands")
    return isinstance(entry, dict) and is_shell_command(entry.get("value"))


def has_bare_endpoint(data: Mapping[str, Any]) -> bool:
    endpoint = data.get(ws_mod.ACA_APP_ENDPOINT)
    return isinstance(endpoint, str) and bool(endpoint.strip()) and "://" not in endpoint


def is_original_inference_config(data: Any, beside_original_template: bool = False) -> bool:
    """True for AI Toolkit's inference.config.json: it carries the Gradio app's COMMANDS, or (older
    configs, whose template outputs no COMMANDS) the bare ingress FQDN its provisioning wrote as
    ACA_APP_ENDPOINT, beside the AI Toolkit template that provisioning ran. aitk always writes a
    URL, but a user may edit it to a bare host: beside aitk's template (or none) that is aitk's
    config, and the commands read it as the app's address."""
    if not isinstance(data, dict):
        return False
    return is_shell_command(data.get(CONFIG_COMMANDS)) or (beside_original_template and has_bare_endpoint(data))


def provisioned_app_name(data: Any) -> str | None:
    """The container app AI Toolkit's provisioning made, as its inference.config.json names it."""
    name = data.get(ws_mod.ACA_APP_NAME) if isinstance(data, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() else None


@dataclass(frozen=True)
class Original:
    """One of AI Toolkit's original files found in a workspace."""

    file: str  # relative to the workspace root
    what: str  # what makes it AI Toolkit's, for the user


def _read_json(path: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None  # unreadable files are reported by the command that reads them


def find_originals(ws: ws_mod.Workspace) -> list[Original]:
    """AI Toolkit's original inference files in the workspace, in the order init migrates them."""
    found = []
    original_template = False
    if ws.bicep_file.is_file():
        try:  # recognised by its marks: a stray non-UTF-8 byte (a comment) does not hide them
            text = ws.bicep_file.read_text(encoding="utf-8-sig", errors="replace")
        except OSError:
            text = ""
        original_template = is_original_bicep(text)
        if original_template:
            found.append(Original(ws_mod.BICEP_FILE, "AI Toolkit's Gradio template (port 7860, no API key)"))
    if ws.parameters_file.is_file() and is_original_parameters(_read_json(ws.parameters_file)):
        found.append(Original(ws_mod.PARAMETERS_FILE, "AI Toolkit's parameters (a Gradio shell start command)"))
    if ws.inference_config_file.is_file() and is_original_inference_config(
        _read_json(ws.inference_config_file), original_template
    ):
        found.append(Original(ws_mod.INFERENCE_CONFIG_FILE, "AI Toolkit's inference config (a Gradio app's)"))
    return found


def unmigrated_message(found: Sequence[Original]) -> tuple[str, str]:
    """(message, recommendation) for a command that meets unmigrated files."""
    files = ", ".join(f"{o.file} ({o.what})" for o in found)
    return (
        f"this workspace holds AI Toolkit's original inference files, which aitk does not deploy: {files}",
        "Run `az aitk inference init` to migrate them (your values are kept, the originals backed up), "
        "then `az aitk inference provision`.",
    )


def migrate_parameters(
    data: Mapping[str, Any], prefixes: Mapping[str, str] | None = None, provisioned_app: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """(aitk's parameters file, [what changed]) from AI Toolkit's one: every value the user set is
    kept; the shell-line start command goes; a set resourceSuffix becomes the names it made (with
    `prefixes`, name_prefixes of the original template, when known); the app AI Toolkit already
    provisioned (`provisioned_app`, from its inference.config.json) becomes acaAppName when unset,
    so provision turns that app into aitk's server instead of leaving it running beside a new one."""
    out = json.loads(json.dumps(data))  # a deep copy of plain JSON
    params = _parameters_of(out)
    if params is None:
        return out, []
    changes = []
    app_entry = params.get("acaAppName")
    if provisioned_app and (app_entry is None or (isinstance(app_entry, dict) and app_entry.get("value") is None)):
        params["acaAppName"] = {"value": provisioned_app}
        changes.append(
            f"set acaAppName to '{provisioned_app}', the app AI Toolkit provisioned (aitk's server replaces it)"
        )
    if "defaultCommands" in params:
        del params["defaultCommands"]
        changes.append("dropped the Gradio start command (defaultCommands; aitk's default starts the server)")
    suffix_entry = params.pop("resourceSuffix", None)
    suffix = suffix_entry.get("value") if isinstance(suffix_entry, dict) else None
    if isinstance(suffix, str) and suffix.strip():
        for name, prefix in (prefixes or ORIGINAL_NAME_PREFIXES).items():
            entry = params.get(name)
            if entry is None or (isinstance(entry, dict) and entry.get("value") is None):
                params[name] = {"value": prefix + suffix.strip()}
        changes.append(f"wrote resourceSuffix '{suffix.strip()}' out into the resource names it made")
    elif suffix_entry is not None:
        changes.append("dropped resourceSuffix (unset; aitk's template does not take it)")
    kept = sorted(n for n, e in params.items() if isinstance(e, dict) and e.get("value") is not None)
    changes.append("kept " + (", ".join(kept) if kept else "no set values (all defaults)"))
    return out, changes


def migrate_inference_config(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(aitk's inference config, [what changed]) from AI Toolkit's one: values kept, the endpoint
    as a URL, the Gradio start command gone."""
    out = dict(data)
    changes = []
    if CONFIG_COMMANDS in out:
        del out[CONFIG_COMMANDS]
        changes.append(f"dropped the Gradio start command ({CONFIG_COMMANDS})")
    if has_bare_endpoint(out):
        out[ws_mod.ACA_APP_ENDPOINT] = "https://" + out[ws_mod.ACA_APP_ENDPOINT].strip().rstrip("/")
        changes.append(f"wrote {ws_mod.ACA_APP_ENDPOINT} as a URL ({out[ws_mod.ACA_APP_ENDPOINT]})")
    changes.append("kept its values")
    return out, changes


def check_migrated(ws: ws_mod.Workspace) -> None:
    """Raise when the workspace still holds AI Toolkit's original inference files: no command
    deploys or talks to what they describe (a Gradio app) as if it were aitk's."""
    found = find_originals(ws)
    if found:
        message, recommendation = unmigrated_message(found)
        raise WorkspaceError(message, recommendation, kind="invalid")


def migrated_workspace(root: str | None) -> ws_mod.Workspace:
    """The workspace folder (the current one when None), checked by check_migrated."""
    ws = ws_mod.open_workspace(root)
    check_migrated(ws)
    return ws
