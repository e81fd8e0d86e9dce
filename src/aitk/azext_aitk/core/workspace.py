"""The workspace folder: where aitk's files live, and reading/writing its JSON files.

Plain Python (no az, no HTTP): the az commands call it, the unit tests call it directly.
Names follow AI Toolkit's workspace template (docs/design.md "Workspace files").
"""

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aitk_serve import serve_config

from .errors import WorkspaceError

# Paths relative to the workspace root.
INFRA_DIR = "infra"
PROVISION_DIR = INFRA_DIR + "/provision"
BICEP_FILE = PROVISION_DIR + "/inference.bicep"
PARAMETERS_FILE = PROVISION_DIR + "/inference.parameters.json"
INFERENCE_CONFIG_FILE = INFRA_DIR + "/inference.config.json"
FINETUNING_CONFIG_FILE = INFRA_DIR + "/finetuning.config.json"
# Where newer AI Toolkit fine-tuning templates (finetuning_configs/<publisher>/<model>/<version>/<method>/)
# keep it: beside their finetuning.bicep. Read when FINETUNING_CONFIG_FILE is not there.
FINETUNING_CONFIG_FILE_BESIDE_BICEP = PROVISION_DIR + "/finetuning.config.json"
INFERENCE_DIR = "inference"  # synced to the share's aitk/inference/
SERVE_FILE = INFERENCE_DIR + "/serve.json"

# Keys of infra/inference.config.json (written by provision, read by every other command).
SUBSCRIPTION_ID = "SUBSCRIPTION_ID"
RESOURCE_GROUP_NAME = "RESOURCE_GROUP_NAME"
STORAGE_ACCOUNT_NAME = "STORAGE_ACCOUNT_NAME"
FILE_SHARE_NAME = "FILE_SHARE_NAME"
ACA_APP_NAME = "ACA_APP_NAME"
ACA_APP_ENDPOINT = "ACA_APP_ENDPOINT"
INFERENCE_CONFIG_KEYS = (
    SUBSCRIPTION_ID,
    RESOURCE_GROUP_NAME,
    STORAGE_ACCOUNT_NAME,
    FILE_SHARE_NAME,
    ACA_APP_NAME,
    ACA_APP_ENDPOINT,
)
# A config provision writes before its deployment starts and replaces when it succeeds: while
# PROVISION_STATE says "incomplete", `delete` removes what carries PROVISIONED_TAG in the group
# and every other command refuses it (a retry of provision finishes it).
PROVISION_STATE = "PROVISION_STATE"
PROVISION_INCOMPLETE = "incomplete"
PROVISION_LOCATION = "PROVISION_LOCATION"
PARTIAL_CONFIG_KEYS = (PROVISION_STATE, PROVISION_LOCATION)
# The tag templates/inference.bicep puts on every resource it creates.
PROVISIONED_TAG = ("aitkProvisioned", "inference")
# Keys of infra/finetuning.config.json (written by AI Toolkit's fine-tuning provisioning).
ACA_JOB_NAME = "ACA_JOB_NAME"
COMMANDS = "COMMANDS"
# Newer fine-tuning templates (finetuning_configs/..., their finetuning.bicep's output) also name the
# Log Analytics workspace fine-tuning's environment logs to.
LOG_ANALYTICS_NAME = "LOG_ANALYTICS_NAME"
FINETUNING_CONFIG_KEYS = (
    SUBSCRIPTION_ID,
    RESOURCE_GROUP_NAME,
    STORAGE_ACCOUNT_NAME,
    FILE_SHARE_NAME,
    ACA_JOB_NAME,
    COMMANDS,
)

# Template parameters whose null value means "the fine-tuning resource of the same role".
FINETUNING_DEFAULTS = {
    "storageAccountName": STORAGE_ACCOUNT_NAME,
    "fileShareName": FILE_SHARE_NAME,
    "acaLogAnalyticsName": LOG_ANALYTICS_NAME,
}

# What `init` writes into inference/serve.json (the schema is the launcher's).
DEFAULT_SERVE_CONFIG = serve_config.DEFAULT


@dataclass(frozen=True)
class InferenceConfig:
    """infra/inference.config.json, read once: where the endpoint's resources are."""

    subscription_id: str
    resource_group: str
    storage_account: str
    file_share: str
    app_name: str
    app_endpoint: str

    @classmethod
    def from_values(cls, values: dict[str, str]) -> "InferenceConfig":
        """From the validated keys of the file (validate_inference_config)."""
        return cls(
            subscription_id=values[SUBSCRIPTION_ID],
            resource_group=values[RESOURCE_GROUP_NAME],
            storage_account=values[STORAGE_ACCOUNT_NAME],
            file_share=values[FILE_SHARE_NAME],
            app_name=values[ACA_APP_NAME],
            app_endpoint=values[ACA_APP_ENDPOINT],
        )


def load_json(path: str | Path, what: str = "file") -> Any:
    """Parse a JSON file; a syntax error names the file, line and column."""
    path = Path(path)
    return parse_json_text(read_text(path, what), path, what)


def read_text(path: str | Path, what: str = "file") -> str:
    """A workspace text file (UTF-8, a BOM allowed, any line endings); a missing, unreadable or
    non-UTF-8 file is one WorkspaceError naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise WorkspaceError(f"{what} {path} does not exist", kind="missing", path=str(path)) from None
    except IsADirectoryError:
        raise WorkspaceError(f"{what} {path} is a folder, not a file", path=str(path)) from None
    except OSError as e:
        raise WorkspaceError(f"cannot read {what} {path}: {e.strerror}", path=str(path)) from None
    except UnicodeDecodeError as e:
        position = int(e.start)
        raise WorkspaceError(
            f"{what} {path} is not UTF-8 text (byte {position} is 0x{bytes(e.object)[position]:02x})",
            recommendation=f"Save {path.name} as UTF-8 (UTF-16 and legacy code pages are not read).",
            kind="malformed",
            path=str(path),
        ) from None


def open_workspace(root: str | None) -> "Workspace":
    """The workspace --workspace names (the current folder when None), refused in one line when
    the value cannot be one: blank, a file, or a path the system cannot look up (too long, a
    symlink loop). A folder that does not exist yet is fine: init creates it."""
    if root is None:
        return Workspace(".")
    if not root.strip():
        raise WorkspaceError(
            f"--workspace {root!r} is empty",
            recommendation="Give the workspace folder, or leave --workspace out to use the current one.",
        )
    try:
        is_file = Path(root).expanduser().exists() and not Path(root).expanduser().is_dir()
        ws = Workspace(root)
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop on resolve()
        reason = getattr(e, "strerror", None) or str(e)
        raise WorkspaceError(f"--workspace {root[:80]!r}{'...' if len(root) > 80 else ''}: {reason}") from None
    if is_file:
        raise WorkspaceError(
            f"--workspace {root} is a file, not a folder",
            recommendation="Give the folder that holds infra/ and inference/.",
        )
    return ws


def malformed_json_fix(path: str | Path, line: int) -> str:
    """What to do about a JSON syntax error at `line` of `path`: `init --force` only for a file it
    rewrites (the template, its parameters, serve.json); the configs fine-tuning and provision
    wrote are the user's record of their resources, which init never touches."""
    name = Path(str(path)).name
    fix = f"Fix line {line} of {path}"
    if name in {Path(f).name for f in (PARAMETERS_FILE, SERVE_FILE)}:
        return f"{fix}, or run `az aitk inference init --force` to reset it (the old file is kept as a backup)."
    if name == Path(FINETUNING_CONFIG_FILE).name:
        return (
            f"{fix}: AI Toolkit's fine-tuning wrote it (its subscription, resource group, storage account and "
            "share) and `init --force` does not touch it. Restore it from a copy, or move it aside to "
            "provision without fine-tuning's storage."
        )
    if name == Path(INFERENCE_CONFIG_FILE).name:
        return (
            f"{fix}: provision wrote it (the app it made) and `init --force` does not touch it. Restore it "
            "from a copy (`az containerapp list -o table` shows the app's name and group)."
        )
    return f"{fix}."


def parse_json_text(text: str, path: str | Path, what: str = "file") -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise WorkspaceError(
            f"{path}:{e.lineno}:{e.colno}: {what} is not valid JSON ({e.msg})",
            recommendation=malformed_json_fix(path, e.lineno),
            kind="malformed",
            path=str(path),
            line=e.lineno,
        ) from None


def _current_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _final_mode(dest: Path) -> int:
    """The mode a rewritten file keeps (its own), or a new one gets (0666 less the umask, as
    open() would give it; mkstemp's temporary file is 0600)."""
    try:
        return dest.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_current_umask()


def json_bytes(data: Any) -> bytes:
    """How aitk writes a workspace JSON file: indented by 2, ending in a newline."""
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of one."""
    write_bytes_atomic(Path(path), json_bytes(data))


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in `path`, or {} when there is no such file."""
    if not path.is_file():
        return {}
    data = load_json(path, what)
    if not isinstance(data, dict):
        raise WorkspaceError(f"{path}: {what} must be a JSON object", path=str(path))
    return data


class Workspace:
    """A workspace folder (the current directory unless --workspace says otherwise)."""

    def __init__(self, root: str | Path = ".") -> None:
        self.root = Path(root).expanduser().resolve()

    def path(self, rel: str) -> Path:
        return self.root / rel

    @property
    def bicep_file(self) -> Path:
        return self.path(BICEP_FILE)

    @property
    def parameters_file(self) -> Path:
        return self.path(PARAMETERS_FILE)

    @property
    def inference_config_file(self) -> Path:
        return self.path(INFERENCE_CONFIG_FILE)

    @property
    def finetuning_config_file(self) -> Path:
        """infra/finetuning.config.json, or the one beside finetuning.bicep when only that exists."""
        path = self.path(FINETUNING_CONFIG_FILE)
        beside = self.path(FINETUNING_CONFIG_FILE_BESIDE_BICEP)
        return beside if not path.exists() and beside.is_file() else path

    @property
    def inference_dir(self) -> Path:
        return self.path(INFERENCE_DIR)

    @property
    def serve_file(self) -> Path:
        return self.path(SERVE_FILE)

    def read_inference_config(self) -> dict[str, str]:
        """The config provision wrote; every key must be a non-empty string."""
        path = self.inference_config_file
        if not path.exists():
            raise WorkspaceError(
                f"{path} does not exist: this workspace has no inference endpoint yet",
                recommendation="Run `az aitk inference provision -g <resource-group>` first (or, if "
                "you provisioned by hand, write that file with the keys " + ", ".join(INFERENCE_CONFIG_KEYS) + ").",
                kind="missing",
                path=str(path),
            )
        data = load_json(path, "inference config")
        if is_incomplete(data):
            raise WorkspaceError(
                f"{path}: provision did not finish",
                recommendation="Run `az aitk inference provision` again, or `az aitk inference delete`.",
                kind="incomplete",
                path=str(path),
            )
        return validate_inference_config(data, path)

    def read_inference_config_any(self) -> dict[str, Any]:
        """infra/inference.config.json as it is, even one lacking keys, or {} when there is none
        (provision reads the group an earlier run used from it)."""
        return _read_json_object(self.inference_config_file, "inference config")

    def inference_config(self) -> InferenceConfig:
        """read_inference_config as a value."""
        return InferenceConfig.from_values(self.read_inference_config())

    def write_partial_inference_config(self, values: dict[str, str], location: str | None) -> bool:
        """Record, before the deployment starts, where provision is about to create resources
        (partial_config); False, writing nothing, when a complete config is there already (a
        rerun of a finished provision keeps it)."""
        old = self.read_inference_config_any()
        if is_complete(old):
            return False
        # AI Toolkit's own config before its first provision holds every key as null: not a
        # config of resources, so provision records where it is about to create them; keys the
        # user added by hand stay.
        kept = {k: v for k, v in old.items() if k not in INFERENCE_CONFIG_KEYS and k not in PARTIAL_CONFIG_KEYS}
        write_json_atomic(self.inference_config_file, {**kept, **partial_config(values, location)})
        return True

    def remove_partial_inference_config(self) -> bool:
        """Remove an incomplete config (after `delete` cleaned up); True when one was removed."""
        if not is_incomplete(self.read_inference_config_any()):
            return False
        self.inference_config_file.unlink()
        return True

    def write_inference_config(self, values: dict[str, str]) -> dict[str, Any]:
        data = {k: values[k] for k in INFERENCE_CONFIG_KEYS}
        # Keep keys a user added by hand.
        path = self.inference_config_file
        if path.is_file():
            try:
                old = json.loads(path.read_text(encoding="utf-8-sig"))
                if isinstance(old, dict):
                    kept = {k: v for k, v in old.items() if k not in data and k not in PARTIAL_CONFIG_KEYS}
                    data = {**kept, **data}
            except (OSError, ValueError):
                pass
        write_json_atomic(path, data)
        return data

    def read_finetuning_config(self) -> dict[str, Any]:
        """infra/finetuning.config.json as a dict, or {} when the workspace has none."""
        return _read_json_object(self.finetuning_config_file, "fine-tuning config")


def is_complete(data: Any) -> bool:
    """Whether an inference config names every resource (what a finished provision wrote)."""
    return (
        isinstance(data, dict)
        and not is_incomplete(data)
        and all(isinstance(data.get(k), str) and data[k].strip() for k in INFERENCE_CONFIG_KEYS)
    )


def is_incomplete(data: Any) -> bool:
    """Whether an inference config is the partial one of a provision that did not finish."""
    return isinstance(data, dict) and data.get(PROVISION_STATE) == PROVISION_INCOMPLETE


def partial_config(values: dict[str, str], location: str | None) -> dict[str, str]:
    """The incomplete config: the known keys of INFERENCE_CONFIG_KEYS (empty ones left out),
    the marker, and the location provision deploys to."""
    data = {k: values[k] for k in INFERENCE_CONFIG_KEYS if isinstance(values.get(k), str) and values[k]}
    data[PROVISION_STATE] = PROVISION_INCOMPLETE
    if location:
        data[PROVISION_LOCATION] = location
    return data


def has_provisioned_tag(resource: dict[str, Any]) -> bool:
    """Whether a resource (ARM JSON) was created by templates/inference.bicep."""
    name, value = PROVISIONED_TAG
    tags = resource.get("tags") or {}
    return isinstance(tags, dict) and any(k.lower() == name.lower() and v == value for k, v in tags.items())


def validate_inference_config(data: Any, path: str | Path) -> dict[str, str]:
    if not isinstance(data, dict):
        raise WorkspaceError(
            f"{path}: inference config must be a JSON object with the keys " + ", ".join(INFERENCE_CONFIG_KEYS),
            path=str(path),
        )
    missing = [k for k in INFERENCE_CONFIG_KEYS if not isinstance(data.get(k), str) or not data[k].strip()]
    if missing:
        raise WorkspaceError(
            f"{path}: missing or empty keys {', '.join(missing)}",
            recommendation="Run `az aitk inference provision` again to rewrite it, or fill in the keys.",
            path=str(path),
        )
    return {k: data[k].strip() for k in INFERENCE_CONFIG_KEYS}


def backup_path(path: str | Path, now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    candidate = Path(f"{path}.bak-{stamp}")
    n = 1
    while candidate.exists():
        candidate = Path(f"{path}.bak-{stamp}-{n}")
        n += 1
    return candidate


def install_file(dest: str | Path, content: bytes, force: bool = False) -> tuple[str, Path | None]:
    """Write `content` (bytes) to dest unless it exists. Returns (action, backup):
    "created", "unchanged" (same content), "kept" (a different file is there: the user's),
    or "reset" (with force: the old file moved to backup first)."""
    dest = Path(dest)
    if dest.exists():
        if dest.read_bytes() == content:
            return "unchanged", None
        if not force:
            return "kept", None
        backup = backup_path(dest)
        shutil.copy2(dest, backup)
        write_bytes_atomic(dest, content)
        return "reset", backup
    write_bytes_atomic(dest, content)
    return "created", None


def write_bytes_atomic(dest: Path, content: bytes) -> None:
    """Write through a temporary file in the same folder, then rename it over `dest`: a reader sees
    the old content or the new, never half of one; the file keeps its mode (a new one gets open()'s)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + dest.name + ".", suffix=".tmp", dir=str(dest.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _final_mode(dest))
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def same_text(a: str | bytes, b: str | bytes) -> bool:
    """Compare two template texts ignoring line-ending and trailing-whitespace differences."""

    def norm(t: str | bytes) -> str:
        if isinstance(t, bytes):
            t = t.decode("utf-8-sig", errors="replace")
        return "\n".join(line.rstrip() for line in t.replace("\r\n", "\n").strip().split("\n"))

    return norm(a) == norm(b)
