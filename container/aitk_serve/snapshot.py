"""Verified snapshots of adapters: vLLM loads exactly the bytes the launcher checked.

vLLM reads an adapter's files again whenever it loads it into a LoRA slot: at the first request,
and again after evicting it from its caches (--max-loras, --max-cpu-loras). Read from the share,
a folder rewritten in between (a `deploy --adapter` re-upload in progress, a larger rank, a
fine-tuning re-run into the same folder) reaches vLLM unchecked, inside the engine loop, where a
load error kills the engine (EngineDeadError) and with it the server. So before any check the
launcher copies the files vLLM reads (adapter_config.json and the weights) from the share into a
private local folder named by a hash of their content, checks the copy, and hands vLLM the copy:
a snapshot never changes, so every reload reads what was checked. A changed folder on the share
is a new content hash, so a new snapshot, checked again before vLLM sees it (resolver.py).

Stdlib only; runs in the launcher before exec and in the server process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import Any

from . import LaunchError
from .adapters import AdapterInfo, inspect_adapter
from .layout import ADAPTER_CONFIG_FILE, ADAPTER_WEIGHT_FILES

SNAPSHOT_FILES = (ADAPTER_CONFIG_FILE, *ADAPTER_WEIGHT_FILES)  # what vLLM 0.32 reads of an adapter
_CHUNK = 1 << 20


def make_root(parent: str | None = None) -> str:
    """A new private folder (mode 0700) for this server's snapshots."""
    return tempfile.mkdtemp(prefix="aitk-adapters-", dir=parent)


def take(source: str, root: str) -> str:
    """Copy the adapter files of folder `source` into `root`/<content hash>/ and return that
    folder. The same content gives the same folder (taken once). A source without the files is
    returned as it is: the checks then say what is missing, and nothing is copied."""
    present = [n for n in SNAPSHOT_FILES if os.path.isfile(os.path.join(source, n))]
    if ADAPTER_CONFIG_FILE not in present or len(present) < 2:
        return source
    work = tempfile.mkdtemp(prefix=".taking-", dir=root)
    try:
        digest = hashlib.sha256()
        for name in present:
            digest.update(name.encode() + b"\0")
            try:
                with open(os.path.join(source, name), "rb") as src, open(os.path.join(work, name), "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        dst.write(chunk)
            except OSError as e:
                raise LaunchError(f"cannot copy {os.path.join(source, name)}: {e.strerror}") from None
            digest.update(b"\0")
        final = os.path.join(root, digest.hexdigest()[:32])
        if os.path.isdir(final):
            return final
        for name in present:
            os.chmod(os.path.join(work, name), 0o400)
        try:
            os.rename(work, final)
        except OSError:
            if not os.path.isdir(final):  # else another thread took the same content first
                raise
        return final
    finally:
        if os.path.isdir(work):
            shutil.rmtree(work, ignore_errors=True)


def in_messages(error: LaunchError, snapshot: str, source: str) -> LaunchError:
    """The error with the snapshot's path replaced by the share folder it was taken from."""
    if snapshot == source:
        return error
    return LaunchError(str(error).replace(snapshot, source))


def checked(name: str, source: str, root: str | None, **inspect: Any) -> AdapterInfo:
    """adapters.inspect_adapter on a snapshot of `source` taken into `root` (on `source` itself
    when root is None: --check starts nothing and copies nothing). The AdapterInfo's path is
    what vLLM must load, its source the folder it came from; messages name the source."""
    path = take(source, root) if root is not None else source
    try:
        info = inspect_adapter(name, path, **inspect)
    except LaunchError as e:
        raise in_messages(e, path, source) from None
    info.source = source
    info.warnings = [w.replace(path, source) for w in info.warnings]
    return info
