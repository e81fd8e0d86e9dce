"""Writing into the workspace: find out it cannot be done before anything costly runs, and say so
in one line naming the path (never az's "unexpected error" traceback)."""

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..errors import WorkspaceError


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def cannot_write(path: str | Path, error: OSError) -> WorkspaceError:
    reason = error.strerror or type(error).__name__
    where = error.filename or path
    return WorkspaceError(
        f"cannot write {path}: {reason} ({where})" if str(where) != str(path) else f"cannot write {path}: {reason}",
        recommendation="Make the workspace folder writable (or run from a copy you can write to), then run "
        "the command again.",
        path=str(path),
    )


def check_writable(path: str | Path) -> None:
    """Raise WorkspaceError when `path` (a file to be written) could not be written: its folder
    cannot be made, or holds no new file, or the file itself is read-only. Tries it for real (a
    temporary file), since permission bits do not tell (root, ACLs, read-only mounts)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "it is a folder", str(path))
        base = _nearest_existing(path.parent)
        if not base.is_dir():
            raise NotADirectoryError(20, "not a folder", str(base))
        fd, tmp = tempfile.mkstemp(prefix=".aitk-write-check.", dir=str(base))
        os.close(fd)
        os.unlink(tmp)
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "the file is read-only", str(path))
    except OSError as e:
        raise cannot_write(path, e) from None


def not_written(path: str | Path, error: OSError, values: Mapping[str, str]) -> WorkspaceError:
    """The error for a config that could not be written after the resources were made: it
    carries the values, so nothing is lost."""
    err = cannot_write(path, error)
    err.recommendation = (
        f"The deployment succeeded; write these values to {path} yourself (or fix the folder and run the command "
        f"again, which changes nothing in Azure): {json.dumps(dict(values), separators=(', ', ': '))}"
    )
    return err
