"""What `deploy` uploads, skips and deletes on the share: a pure comparison.

Local files are scanned (size + sha256); remote files come from the share's listing with the
size and sha256 that deploy stored as file metadata when it uploaded them. A file is skipped when
both match, uploaded otherwise. Nothing outside `layout.OWNED_PREFIXES` is ever in a plan, and
deletions happen only with `delete=True`, only under the folders this sync covers.
"""

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from aitk_serve import layout

from ..errors import SyncError

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
    "scan_tree",
    "sha256_file",
    "share_join",
    "with_hashes",
]

# Metadata keys on the share's files (Azure Files metadata names are C# identifiers).
META_SHA256 = "aitksha256"
META_SIZE = "aitksize"


class LocalFile(NamedTuple):
    path: str  # share-relative
    source: str  # the local file ("" when `data` holds the bytes)
    size: int
    sha256: str | None
    data: bytes | None = None  # small generated files (the launcher's `current`)
    stamp: tuple[int, ...] | None = None  # (size, mtime_ns, ctime_ns, inode) before hashing


def file_stamp(path: str | Path) -> tuple[int, ...]:
    """What changes when a file is written or replaced: size, mtime, ctime, inode."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def from_bytes(path: str, data: bytes) -> LocalFile:
    """A generated file of `data` at share path `path`."""
    return LocalFile(path, "", len(data), hashlib.sha256(data).hexdigest(), data)


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


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def scan_tree(folder: str | Path, warn: Callable[[str], None] | None = None) -> dict[str, LocalFile]:
    """Every regular file under `folder` → {relative POSIX path: LocalFile}; skips caches and
    byte code. Links are followed only to what lies inside `folder` (SyncError naming a link to
    anything outside: its target would be uploaded, or a folder silently dropped); a broken link,
    a link loop, a FIFO, socket or device is skipped with a `warn` line naming it."""
    root = os.path.realpath(folder)
    files: dict[str, LocalFile] = {}

    def skip(message: str) -> None:
        if warn is not None:
            warn(message)

    def walk(real_dir: str, shown_dir: Path, rel_dir: str, ancestors: frozenset[str]) -> None:
        with os.scandir(real_dir) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            shown = shown_dir / entry.name
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            target = os.path.join(real_dir, entry.name)
            if entry.is_symlink():
                target = os.path.realpath(target)
                if not os.path.exists(target):
                    skip(f"Skipping {shown}: a broken link")
                    continue
                if not _inside(target, root):
                    raise SyncError(
                        f"{shown} is a link to {target}, outside {folder}: deploy uploads only what lies inside "
                        "the folder",
                        "Copy the file into the folder instead of linking it, or remove the link.",
                    )
            try:
                mode = os.stat(target).st_mode
            except OSError as e:
                skip(f"Skipping {shown}: {e.strerror}")
                continue
            if stat.S_ISDIR(mode):
                if entry.name in EXCLUDED_DIRS:
                    continue
                real = os.path.realpath(target)
                if real in ancestors:
                    skip(f"Skipping {shown}: a link to a folder that contains it")
                    continue
                walk(real, shown, rel, ancestors | {real})
            elif stat.S_ISREG(mode):
                if not entry.name.endswith(EXCLUDED_SUFFIXES):
                    files[rel] = LocalFile(rel, target, os.stat(target).st_size, None)
            else:
                skip(f"Skipping {shown}: not a regular file (a FIFO, socket or device)")

    walk(root, Path(folder), "", frozenset({root}))
    return files


def scan_local(
    folder: str | Path, share_prefix: str, warn: Callable[[str], None] | None = None
) -> dict[str, LocalFile]:
    """scan_tree(folder) under `share_prefix` → {share path: LocalFile}."""
    if not layout.is_owned(share_prefix):
        raise SyncError(
            f"refusing to write {share_prefix!r}: deploy only writes under " + ", ".join(layout.OWNED_PREFIXES)
        )
    out: dict[str, LocalFile] = {}
    for rel, f in scan_tree(folder, warn).items():
        path = share_join(share_prefix, rel)
        out[path] = f._replace(path=path)
    return out


def with_hashes(
    local_files: Mapping[str, LocalFile], hasher: Callable[[str], str] = sha256_file
) -> dict[str, LocalFile]:
    """Each file's sha256, with its stamp taken before hashing (file_share.upload compares it after
    the upload, so a file written meanwhile is never recorded with a stale hash)."""

    def hashed(f: LocalFile) -> LocalFile:
        if f.sha256:
            return f
        stamp = file_stamp(f.source)
        return f._replace(sha256=hasher(f.source), stamp=stamp, size=stamp[0])

    return {p: hashed(f) for p, f in local_files.items()}


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
    check_case_collisions(local)
    # Azure Files is case-insensitive: a remote `run1/x` is the file a local `Run1/x` writes.
    remote_folded = {p.casefold(): r for p, r in remote.items()}
    local_folded = {p.casefold() for p in local}
    for path in sorted(local):
        f = local[path]
        if not layout.is_owned(path) or not any(_under(path, r) for r in roots):
            raise SyncError(f"refusing to write {path!r}: not under the folders this sync covers")
        r = remote.get(path) or remote_folded.get(path.casefold())
        if r is not None and r.size == f.size and r.sha256 and r.sha256 == f.sha256:
            skip.append(f)
        else:
            upload.append(f)
    if delete:
        for path in sorted(remote):
            if path in local or path.casefold() in local_folded:
                continue
            if layout.is_owned(path) and any(_under(path, r) for r in roots):
                remove.append(remote[path])
    return Plan(upload, skip, remove)


def check_case_collisions(local: Mapping[str, LocalFile]) -> None:
    """Refuse two local files whose share paths (or folders) differ only in case: Azure Files
    names are case-insensitive (core/deploy/share_names.py cites the rules), so one would overwrite the
    other."""
    seen: dict[str, tuple[str, str]] = {}  # folded folder or file path -> (its spelling, a file under it)
    for path in sorted(local):
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            spelled, first = seen.setdefault(prefix.casefold(), (prefix, path))
            if spelled != prefix:
                raise SyncError(
                    f"{local[first].source or first} and {local[path].source or path} would share the path "
                    f"{prefix} on the share (Azure Files names are case-insensitive: {spelled} and {prefix} are one)",
                    "Rename one of them (adapter names must differ in more than case), then deploy again.",
                )


def parent_dirs(paths: Iterable[str]) -> list[str]:
    """Every folder the uploads need, parents first."""
    dirs: set[str] = set()
    for path in paths:
        parts = PurePosixPath(path).parts[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs, key=lambda d: (d.count("/"), d))
