"""The deploy manifest: what deploy last knew about each file it keeps on the share, so that a
deploy with nothing changed needs only the folder listings, not one metadata request per file.

For each file the manifest records its size, the sha256 deploy wrote into the file's metadata and
the file's ETag as the service returned it together with that metadata (Set File Metadata's or
Get File Properties' response). The folder listing returns each file's ETag (List Directories and
Files with include=etag, x-ms-version 2020-04-08 or later:
https://learn.microsoft.com/rest/api/storageservices/list-directories-and-files), and the service
gives a file a new ETag whenever it or its metadata is written
(https://learn.microsoft.com/rest/api/storageservices/get-file-properties, "ETag"). So a recorded
hash is trusted only while the listed ETag and size are the recorded ones; any other file (written
by anything since, listed without an ETag, or not in the manifest) falls back to its metadata, as
without a manifest. A torn, truncated or foreign manifest reads as empty. Nothing here makes a
file look complete that its own metadata would not: the manifest only repeats what the metadata
said for that exact version of the file.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from aitk_serve import layout

from .sync_plan import RemoteFile

MANIFEST_PATH = layout.AITK_DIR + "/deploy-manifest.json"  # outside the synced folders: never planned
FORMAT = "aitk-deploy-manifest/1"
# About 100,000 entries: a manifest larger than this is not one deploy wrote, and reads as none
# (deploy then checks each file's metadata) rather than being held in memory whole.
MAX_BYTES = 16 * 1024 * 1024


class Listed(NamedTuple):
    """A file as a folder listing (or its properties) shows it."""

    path: str
    size: int
    etag: str | None


class Entry(NamedTuple):
    size: int
    sha256: str
    etag: str


Manifest = dict[str, Entry]


def parse(data: bytes | str | None) -> Manifest:
    """The manifest's entries; {} for anything that is not a whole manifest of this format."""
    if not data:
        return {}
    try:
        doc = json.loads(data)
    except ValueError:
        return {}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("files"), dict):
        return {}
    out: Manifest = {}
    for path, e in doc["files"].items():
        if not isinstance(e, dict):
            continue
        size, sha, etag = e.get("size"), e.get("sha256"), e.get("etag")
        if isinstance(size, int) and isinstance(sha, str) and sha and isinstance(etag, str) and etag:
            out[path] = Entry(size, sha, etag)
    return out


def dumps(manifest: Mapping[str, Entry]) -> bytes:
    files = {p: {"size": e.size, "sha256": e.sha256, "etag": e.etag} for p, e in sorted(manifest.items())}
    return json.dumps({"format": FORMAT, "files": files}, indent=1).encode()


def vouched(listed: Iterable[Listed], manifest: Mapping[str, Entry]) -> tuple[dict[str, RemoteFile], list[Listed]]:
    """({path: RemoteFile with the recorded sha256} for each listed file whose ETag and size are the
    recorded ones, [the other listed files: their metadata decides])."""
    known: dict[str, RemoteFile] = {}
    unknown: list[Listed] = []
    folded = {p.casefold(): e for p, e in manifest.items()}  # Azure Files names are case-insensitive
    for f in listed:
        e = folded.get(f.path.casefold())
        if e is not None and f.etag and f.etag == e.etag and f.size == e.size:
            known[f.path] = RemoteFile(f.path, f.size, e.sha256)
        else:
            unknown.append(f)
    return known, unknown


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r.strip("/") or path.startswith(r.strip("/") + "/") for r in roots)


def updated(
    manifest: Mapping[str, Entry],
    roots: Sequence[str],
    remote: Mapping[str, RemoteFile],
    *,
    etags: Mapping[str, str],
    uploaded: Mapping[str, tuple[int, str, str | None]],
    deleted: Iterable[str] = (),
) -> Manifest:
    """The manifest after a sync of `roots`: entries outside them kept as they were; under them,
    each file of `remote` (as listed before the sync, its ETag in `etags`) whose sha256 is known and
    that was neither deleted nor written now, and each file uploaded now ({path: (size, sha256,
    the ETag Set File Metadata returned)}). Files of unknown hash or ETag are left out (their
    metadata decides next time). Names are compared case-insensitively, as Azure Files does."""
    out = {p: e for p, e in manifest.items() if not _under(p, roots)}
    written = {p.casefold() for p in uploaded} | {p.casefold() for p in deleted}
    for path, r in remote.items():
        etag = etags.get(path)
        if r.sha256 and etag and path.casefold() not in written:
            out[path] = Entry(r.size, r.sha256, etag)
    for path, (size, sha, etag) in uploaded.items():
        if etag:
            out[path] = Entry(size, sha, etag)
        else:
            out.pop(path, None)
    return out
