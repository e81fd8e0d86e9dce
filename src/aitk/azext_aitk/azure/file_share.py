"""Carry out a sync plan on an Azure Files share (azure-storage-file-share), in parallel.

No az here: the caller passes a ShareClient (_client_factory.cf_share) and a progress callback.
"""

import hashlib
import io
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from aitk_serve import layout

from ..core.deploy import deploy_lock, sync_manifest, sync_plan
from .not_found import is_not_found

FILE_WORKERS = 8  # files at a time
RANGE_WORKERS = 4  # ranges at a time within a large file
LARGE_FILE = 16 * 1024 * 1024  # above this, a file goes up in parallel ranges


# List Directories and Files returns each file's ETag with include=etag (x-ms-version 2020-04-08+):
# https://learn.microsoft.com/rest/api/storageservices/list-directories-and-files
LIST_INCLUDE = ["timestamps", "Etag"]


def walk_listed(share, roots, workers=FILE_WORKERS):
    """([sync_manifest.Listed: path, size, ETag], [folder paths]) under each root folder of the
    share: one listing per folder, the folders of one depth listed in parallel; a folder that is not
    there (any more) is skipped."""

    def listing(folder):
        try:
            return folder, list(share.get_directory_client(folder).list_directories_and_files(include=LIST_INCLUDE))
        except Exception as e:  # pylint: disable=broad-except
            if is_not_found(e):
                return folder, None
            raise

    files, folders = [], []
    level = list(roots)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while level:
            deeper = []
            for folder, items in pool.map(listing, level):
                if items is None:
                    continue
                folders.append(folder)
                for item in items:
                    path = f"{folder}/{item['name']}"
                    if item.get("is_directory"):
                        deeper.append(path)
                    else:
                        files.append(sync_manifest.Listed(path, int(item.get("size") or 0), item.get("etag")))
            level = deeper
    return files, folders


def walk(share, roots):
    """([file paths], [folder paths]) under each root folder of the share (walk_listed)."""
    files, folders = walk_listed(share, roots)
    return [f.path for f in files], folders


def read_manifest(share):
    """The deploy manifest on the share (core/deploy/sync_manifest.py); {} when there is none, or when it
    is larger than sync_manifest.MAX_BYTES (its size is known from the first response, before the
    rest is read)."""
    try:
        download = share.get_file_client(sync_manifest.MANIFEST_PATH).download_file()
        if (download.size or 0) > sync_manifest.MAX_BYTES:
            return {}
        data = download.readall()
    except Exception as e:  # pylint: disable=broad-except
        if is_not_found(e):
            return {}
        raise
    return sync_manifest.parse(data)


def write_manifest(share, manifest):
    share.get_file_client(sync_manifest.MANIFEST_PATH).upload_file(sync_manifest.dumps(manifest))


def list_remote(share, roots, manifest=None, workers=FILE_WORKERS, verify=False):
    """({share path: RemoteFile}, {existing directories}, {share path: the ETag its RemoteFile's
    sha256 belongs to}) under each root: the folder listings, plus the metadata (one request each)
    of every file the manifest does not vouch for (core/deploy/sync_manifest.py). `verify`: every
    file is read and hashed instead (deploy --verify); one whose bytes do not hash to the sha256
    its metadata records counts as unknown, so it is uploaded again."""
    listed, folders = walk_listed(share, [root.strip("/") for root in roots])
    known, unknown = ({}, listed) if verify else sync_manifest.vouched(listed, manifest or {})
    etags = {f.path: f.etag for f in listed if f.path in known}

    def props(f):
        client = share.get_file_client(f.path)
        if verify:
            download = client.download_file()
            digest = hashlib.sha256()
            for chunk in download.chunks():
                digest.update(chunk)
            p = download.properties
            recorded = sync_plan.remote_from_metadata(f.path, p.size, p.metadata)
            actual = digest.hexdigest()
            return recorded._replace(sha256=recorded.sha256 if recorded.sha256 == actual else None), p.etag
        p = client.get_file_properties()
        return sync_plan.remote_from_metadata(f.path, p.size, p.metadata), p.etag

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for r, etag in pool.map(props, unknown):
            known[r.path] = r
            etags[r.path] = etag  # from the same response as the metadata: they belong together
    return known, set(folders), etags


def ensure_dirs(share, paths, existing):
    from azure.core.exceptions import ResourceExistsError

    for folder in sync_plan.parent_dirs(paths):
        if folder in existing:
            continue
        try:
            share.get_directory_client(folder).create_directory()
        except ResourceExistsError:
            pass
        existing.add(folder)


class Progress:  # pylint: disable=too-few-public-methods  # a counter handed to upload callbacks
    """Thread-safe byte counter that reports (done, total) to a callback."""

    def __init__(self, total, callback=None):
        self.total, self.done, self.callback = total, 0, callback
        self._lock = threading.Lock()
        self._per_file = {}

    def file_hook(self, path):
        def hook(current, _total):
            with self._lock:
                self.done += current - self._per_file.get(path, 0)
                self._per_file[path] = current
                done = self.done
            if self.callback:
                self.callback(done, self.total)

        return hook


class _HashingReader(io.RawIOBase):
    """A file read for upload that hashes the bytes as they go; a seek (parallel ranges) turns the
    hash off, and the stamp check alone decides."""

    def __init__(self, raw):
        super().__init__()
        self._raw, self._sha, self._pos, self.sequential = raw, hashlib.sha256(), 0, True

    def readable(self):
        return True

    def seekable(self):
        return self._raw.seekable()

    def tell(self):
        return self._raw.tell()

    def seek(self, offset, whence=io.SEEK_SET):
        pos = self._raw.seek(offset, whence)
        if pos != self._pos:
            self.sequential = False
        return pos

    def read(self, size=-1):
        block = self._raw.read(size)
        if self.sequential:
            self._sha.update(block)
            self._pos += len(block)
        return block

    def readinto(self, buffer):
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)

    def hexdigest(self):
        return self._sha.hexdigest() if self.sequential else None


def changed_while_uploading(f, reader):
    """Why the local file is not what was hashed (None when it is): its stamp (size, mtime,
    ctime, inode) moved, or the bytes sent hash differently."""
    if not f.source:
        return None
    try:
        stamp = sync_plan.file_stamp(f.source)
    except OSError as e:
        return f"it could not be read again ({e.strerror})"
    if f.stamp is not None and stamp != f.stamp:
        return "it was written while deploy read it"
    digest = reader.hexdigest() if reader is not None else None
    if digest is not None and digest != f.sha256:
        return "its bytes changed while deploy read it"
    return None


def upload(share, files, progress=None, workers=FILE_WORKERS):
    """Upload LocalFiles (with sha256) in parallel, {path: the file's ETag once its metadata is
    set}; size + sha256 go into the file's metadata
    only once all its bytes are written and the local file is still the one hashed: creating
    the file replaces any old metadata, so a file whose upload was cut short (a killed deploy) or
    torn (written locally while it went up) never looks complete, and the next deploy uploads it
    again. A torn file raises SyncError naming it."""

    def one(f):
        client = share.get_file_client(f.path)
        kwargs = {"length": f.size}
        if f.size > LARGE_FILE:
            kwargs["max_concurrency"] = RANGE_WORKERS
        if progress is not None:
            kwargs["progress_hook"] = progress.file_hook(f.path)
        reader = None
        if f.data is not None:
            client.upload_file(io.BytesIO(f.data), **kwargs)
        else:
            with open(f.source, "rb") as raw:
                reader = _HashingReader(raw)
                client.upload_file(reader, **kwargs)
        why = changed_while_uploading(f, reader)
        if why:
            raise sync_plan.SyncError(
                f"{f.source} changed during the upload ({why}); its copy on the share is incomplete and marked so",
                "Wait until whatever writes it (a fine-tuning run?) has finished, then deploy again: only the "
                "files that differ are uploaded.",
            )
        done = client.set_file_metadata(sync_plan.metadata_for(f))
        if progress is not None and f.size == 0:
            progress.file_hook(f.path)(0, 0)
        return f.path, (done or {}).get("etag")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, files))


def delete(share, remote_files):
    for r in remote_files:
        if not layout.is_owned(r.path):  # belt and braces: the plan never has these
            raise sync_plan.SyncError(f"refusing to delete {r.path!r}")
        try:
            share.get_file_client(r.path).delete_file()
        except Exception as e:  # pylint: disable=broad-except
            if not is_not_found(e):
                raise


# -- the base model, read by byte ranges (never downloaded) --------------------------------------
MODEL_SEARCH_DEPTH = 3  # model-cache/<org>/<model>/ as fine-tuning leaves it, one level of slack


def read_range(share, path, offset, length):
    """`length` bytes of a share file from `offset` (one ranged GET)."""
    return share.get_file_client(path).download_file(offset=offset, length=length).readall()


def _names(share, folder):
    """(files {name: size}, folders [name]) of a share folder; None when it does not exist."""
    try:
        items = list(share.get_directory_client(folder).list_directories_and_files())
    except Exception as e:  # pylint: disable=broad-except
        if is_not_found(e):
            return None
        raise
    files = {i["name"]: i.get("size") for i in items if not i.get("is_directory")}
    return files, sorted(i["name"] for i in items if i.get("is_directory"))


def read_model(share, folder):
    """(config.json as a dict, safetensors headers) of a model folder on the share, reading only
    config.json, the index and each shard's header; None when the folder has no config.json.
    aitk_serve.fit decides which files are the weights and parses the headers."""
    import json

    from aitk_serve import LaunchError, fit

    folder = folder.strip("/")
    listing = _names(share, folder)
    if listing is None or "config.json" not in listing[0]:
        return None
    files = listing[0]

    def whole(name):
        return share.get_file_client(f"{folder}/{name}").download_file().readall()

    try:
        config = json.loads(whole("config.json"))
        index = json.loads(whole(fit.INDEX_FILE)) if fit.INDEX_FILE in files else None
    except ValueError as e:
        raise LaunchError(f"{folder}: config.json or its index is not readable JSON ({e})") from None
    if not isinstance(config, dict):
        raise LaunchError(f"{folder}/config.json is not a JSON object")
    shards = [n for n in fit.weight_files(files, index) if n in files]
    headers = fit.read_headers(
        lambda name, offset, length: read_range(share, f"{folder}/{name}", offset, length),
        shards,
        {n: files[n] for n in shards if files[n] is not None},
    )
    return config, headers


def find_models(share, root, depth=MODEL_SEARCH_DEPTH):
    """Share folders under `root` that hold a config.json and are not peft adapters (as the
    launcher's discovery finds them), at most `depth` levels down."""
    found = []
    stack = [(root.strip("/"), 0)]
    while stack:
        folder, level = stack.pop()
        listing = _names(share, folder)
        if listing is None:
            continue
        files, folders = listing
        if level > 0 and "config.json" in files and layout.ADAPTER_CONFIG_FILE not in files:
            found.append(folder)
            continue
        if level < depth:
            stack += [(f"{folder}/{name}", level + 1) for name in folders if not name.startswith(".")]
    return sorted(found)


def purge_owned(share):
    """Delete aitk/launcher, aitk/inference and aitk/adapters (layout.OWNED_PREFIXES) with all
    they hold, and deploy's manifest, and nothing else; (files, folders) deleted. A folder already
    gone is fine."""
    files, dirs = walk(share, layout.OWNED_PREFIXES)
    try:
        share.get_file_client(sync_manifest.MANIFEST_PATH).delete_file()
        files.append(sync_manifest.MANIFEST_PATH)
    except Exception as e:  # pylint: disable=broad-except
        if not is_not_found(e):
            raise
    try:  # the deploy lease's file; one a deploy holds now stays (412: its lease)
        share.get_file_client(deploy_lock.LOCK_PATH).delete_file()
        files.append(deploy_lock.LOCK_PATH)
    except Exception as e:  # pylint: disable=broad-except
        if not is_not_found(e) and _error_code(e) not in ("LeaseIdMissing", "LeaseIdMismatchWithFileOperation"):
            raise
    for path in files:
        if path in (sync_manifest.MANIFEST_PATH, deploy_lock.LOCK_PATH):
            continue
        if not layout.is_owned(path):  # belt and braces
            raise sync_plan.SyncError(f"refusing to delete {path!r}")
        try:
            share.get_file_client(path).delete_file()
        except Exception as e:  # pylint: disable=broad-except
            if not is_not_found(e):
                raise
    for folder in sorted(dirs, key=len, reverse=True):  # children before their parents
        try:
            share.get_directory_client(folder).delete_directory()
        except Exception as e:  # pylint: disable=broad-except
            if not is_not_found(e):
                raise
    return len(files), len(dirs)


# -- one deploy at a time: a lease on the share (core/deploy/deploy_lock.py) --------------------


def _error_code(e):
    return getattr(e, "error_code", None) or ""


class DeployLease:  # pylint: disable=too-many-instance-attributes  # the lease, its holder's facts, its heartbeat
    """The share's deploy lease, held from `acquire()` to `release()` (a context manager): an
    Azure Files lease on deploy_lock.LOCK_PATH, whose metadata names the holder and carries a
    heartbeat a daemon thread renews. A holder that is gone (deploy_lock.gone) is broken and taken
    over; a live one makes acquire() raise deploy_lock.DeployBusyError."""

    def __init__(self, share, label, warn=None):
        self.share, self.label, self.warn = share, label, warn
        self.client = share.get_file_client(deploy_lock.LOCK_PATH)
        self.lease = None
        # proposed on every acquire: a retried acquire whose first answer was lost (the lease is
        # ours already) is granted again, not refused as someone else's
        self.lease_id = str(uuid.uuid4())
        self._stop = threading.Event()
        self._thread = None
        self._started = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def _metadata(self):
        import os
        import socket
        import time

        return deploy_lock.holder_metadata(socket.gethostname(), os.getpid(), self._started, time.time())

    def _take(self):
        """The lease, or None when another holder has it (409 LeaseAlreadyPresent)."""
        from azure.core.exceptions import HttpResponseError

        try:
            return self.client.acquire_lease(lease_id=self.lease_id)
        except HttpResponseError as e:
            if _error_code(e) == "LeaseAlreadyPresent":
                return None
            if not is_not_found(e):
                raise
        ensure_dirs(self.share, [deploy_lock.LOCK_PATH], set())
        try:
            self.client.create_file(0)
        except HttpResponseError as e:  # created and leased by a deploy that started just now
            if _error_code(e) not in ("LeaseIdMissing", "LeaseAlreadyPresent"):
                raise
            return None
        try:
            return self.client.acquire_lease(lease_id=self.lease_id)
        except HttpResponseError as e:
            if _error_code(e) == "LeaseAlreadyPresent":
                return None
            raise

    def acquire(self):
        import socket
        import time

        self._started = time.time()
        lease = self._take()
        if lease is None:
            props = self.client.get_file_properties()
            modified = props.last_modified.timestamp() if getattr(props, "last_modified", None) else None
            why = deploy_lock.gone(props.metadata, time.time(), socket.gethostname(), _pid_alive, modified)
            if why is None:
                raise deploy_lock.busy(self.label, props.metadata)
            if self.warn:
                self.warn(f"Taking over the deploy lease of {deploy_lock.describe(props.metadata)}: {why}.")
            from azure.storage.fileshare import ShareLeaseClient

            ShareLeaseClient(self.client).break_lease()
            lease = self._take()
            if lease is None:  # a third deploy took it between the break and here
                raise deploy_lock.busy(self.label, self.client.get_file_properties().metadata)
        self.lease = lease
        self.client.set_file_metadata(self._metadata(), lease=lease)
        self._thread = threading.Thread(target=self._beat, name="aitk-deploy-lease", daemon=True)
        self._thread.start()

    def _beat(self):
        while not self._stop.wait(deploy_lock.HEARTBEAT_S):
            try:
                self.client.set_file_metadata(self._metadata(), lease=self.lease)
            except Exception:  # pylint: disable=broad-except  # a missed beat; the next one may pass
                pass

    def release(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.lease is not None:
            try:
                self.lease.release()
            except Exception:  # pylint: disable=broad-except  # a lease left behind is taken over later
                pass
            self.lease = None


def _pid_alive(pid):
    import os

    if os.name == "nt":  # os.kill(pid, 0) would end the process there: rely on the heartbeat
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
