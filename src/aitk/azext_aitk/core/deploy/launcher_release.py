"""The launcher's files on the share as a release (docs/contracts.md, "One launcher"): the package
under `aitk/launcher/releases/<id>/aitk_serve/`, then `aitk/launcher/current` naming <id>, then
the stable entry `aitk/launcher/aitk_serve/__init__.py` (container/aitk_serve/share_entry.py).

Deploy uploads the release first and those two last, in that order, so a deploy cut short (a
name Azure Files rejects, a lost connection, Ctrl-C) leaves `current` naming the previous complete
release: the running server and the next replica to start keep working.
"""

import hashlib
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from aitk_serve import layout

from .sync_plan import LocalFile, from_bytes, share_join

ENTRY_MODULE = "share_entry.py"  # in the launcher package: the file uploaded as the entry
ID_LENGTH = 16  # hex digits of the release id
# Uploaded after everything else, in this order.
FINAL_FILES = (layout.LAUNCHER_CURRENT_FILE, layout.LAUNCHER_ENTRY_FILE)


def release_id(package: Mapping[str, LocalFile]) -> str:
    """A hash of the package's relative paths and contents (LocalFiles with sha256)."""
    h = hashlib.sha256()
    for rel in sorted(package):
        h.update(f"{rel}\0{package[rel].sha256}\n".encode())
    return h.hexdigest()[:ID_LENGTH]


class Release(NamedTuple):
    release: str
    files: dict[str, LocalFile]  # {share path: LocalFile}: the package, `current` and the entry


def files(package: Mapping[str, LocalFile]) -> Release:
    """package: {path relative to the aitk_serve folder: LocalFile with sha256} (scan_tree)."""
    release = release_id(package)
    folder = layout.launcher_release_dir(release)
    out = {share_join(folder, rel): f._replace(path=share_join(folder, rel)) for rel, f in package.items()}
    out[layout.LAUNCHER_CURRENT_FILE] = from_bytes(layout.LAUNCHER_CURRENT_FILE, release.encode("ascii") + b"\n")
    entry = package[ENTRY_MODULE]
    out[layout.LAUNCHER_ENTRY_FILE] = entry._replace(path=layout.LAUNCHER_ENTRY_FILE)
    return Release(release, out)


def upload_order(uploads: Iterable[LocalFile]) -> tuple[list[LocalFile], list[LocalFile]]:
    """(what may go up in parallel, what goes up after it, one at a time, in this order)."""
    uploads = list(uploads)
    final = {f.path: f for f in uploads if f.path in FINAL_FILES}
    return [f for f in uploads if f.path not in final], [final[p] for p in FINAL_FILES if p in final]
