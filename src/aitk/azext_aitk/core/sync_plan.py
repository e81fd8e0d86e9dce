"""What `deploy` uploads, skips and deletes on the share: a pure comparison.

Local files are scanned (size + sha256); remote files come from the share's listing with the
size and sha256 that deploy stored as file metadata when it uploaded them. A file is skipped when
both match, uploaded otherwise. Nothing outside `layout.OWNED_PREFIXES` is ever in a plan, and
deletions happen only with `delete=True`, only under the folders this sync covers.
"""

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from aitk_serve import layout

from .errors import SyncError

__all__ = [
    "LocalFile",
    "Plan",
    "RemoteFile",
    "SyncError",
    "metadata_for",
    "parent_dirs",
    "plan",
    "remote_from_metadata",
    "scan_local",
    "sha256_file",
    "share_join",
    "with_hashes",
]

# Metadata keys on the share's files (Azure Files metadata names are C# identifiers).
META_SHA256 = "aitksha256"
META_SIZE = "aitksize"


class LocalFile(NamedTuple):
    path: str  # share-relative
    source: str  # the local file
    size: int
    sha256: str | None


class RemoteFile(NamedTuple):
    path: str
    size: int
    sha256: str | None  # None when unknown


class Plan(NamedTuple):
    upload: list[LocalFile]
    skip: list[LocalFile]
    delete: list[RemoteFile]


EXCLUDED_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints", ".pytest_cache"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
_CHUNK = 4 * 1024 * 1024


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(_CHUNK)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def share_join(*parts: str) -> str:
    return str(PurePosixPath(*[p.strip("/") for p in parts if p and p.strip("/")]))


def scan_local(folder: str | Path, share_prefix: str) -> dict[str, LocalFile]:
    """Every file under `folder` → {share path: LocalFile}; skips caches and byte code."""
    folder = Path(folder)
    if not layout.is_owned(share_prefix):
        raise SyncError(
            f"refusing to write {share_prefix!r}: deploy only writes under " + ", ".join(layout.OWNED_PREFIXES)
        )
    files: dict[str, LocalFile] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_DIRS)
        for name in sorted(filenames):
            if name.endswith(EXCLUDED_SUFFIXES):
                continue
            source = Path(dirpath) / name
            if not source.is_file():
                continue
            rel = source.relative_to(folder).as_posix()
            path = share_join(share_prefix, rel)
            files[path] = LocalFile(path, str(source), source.stat().st_size, None)
    return files


def with_hashes(
    local_files: Mapping[str, LocalFile], hasher: Callable[[str], str] = sha256_file
) -> dict[str, LocalFile]:
    return {p: f._replace(sha256=f.sha256 or hasher(f.source)) for p, f in local_files.items()}


def remote_from_metadata(path: str, size: int | str, metadata: Mapping[str, str] | None) -> RemoteFile:
    """A RemoteFile from a share file's size and metadata (what deploy wrote earlier)."""
    metadata = {str(k).lower(): v for k, v in (metadata or {}).items()}
    sha = metadata.get(META_SHA256)
    meta_size = metadata.get(META_SIZE)
    if meta_size is not None and str(meta_size) != str(size):
        sha = None  # written by something else since: the stored hash is stale
    return RemoteFile(path, int(size), sha)


def metadata_for(local_file: LocalFile) -> dict[str, str | None]:
    return {META_SHA256: local_file.sha256, META_SIZE: str(local_file.size)}


def _under(path: str, root: str) -> bool:
    path, root = path.strip("/"), root.strip("/")
    return path == root or path.startswith(root + "/")


def plan(
    local: Mapping[str, LocalFile], remote: Mapping[str, RemoteFile], roots: Sequence[str], delete: bool = False
) -> Plan:
    """local: {path: LocalFile} (with sha256); remote: {path: RemoteFile} under `roots`.
    roots: the share folders this sync covers (each under an owned prefix)."""
    for root in roots:
        if not layout.is_owned(root):
            raise SyncError(f"refusing to sync {root!r}: not under " + ", ".join(layout.OWNED_PREFIXES))
    upload: list[LocalFile] = []
    skip: list[LocalFile] = []
    remove: list[RemoteFile] = []
    for path in sorted(local):
        f = local[path]
        if not layout.is_owned(path) or not any(_under(path, r) for r in roots):
            raise SyncError(f"refusing to write {path!r}: not under the folders this sync covers")
        r = remote.get(path)
        if r is not None and r.size == f.size and r.sha256 and r.sha256 == f.sha256:
            skip.append(f)
        else:
            upload.append(f)
    if delete:
        for path in sorted(remote):
            if path in local:
                continue
            if layout.is_owned(path) and any(_under(path, r) for r in roots):
                remove.append(remote[path])
    return Plan(upload, skip, remove)


def parent_dirs(paths: Iterable[str]) -> list[str]:
    """Every folder the uploads need, parents first."""
    dirs: set[str] = set()
    for path in paths:
        parts = PurePosixPath(path).parts[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs, key=lambda d: (d.count("/"), d))
