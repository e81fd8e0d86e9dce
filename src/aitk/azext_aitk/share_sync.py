"""Carry out a sync plan on an Azure Files share (azure-storage-file-share), in parallel.

No az here: the caller passes a ShareClient and a progress callback.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

from . import sync_plan

FILE_WORKERS = 8                 # files at a time
RANGE_WORKERS = 4                # ranges at a time within a large file
LARGE_FILE = 16 * 1024 * 1024    # above this, a file goes up in parallel ranges


def _not_found(e):
    from azure.core.exceptions import ResourceNotFoundError
    return isinstance(e, ResourceNotFoundError) or getattr(e, "status_code", None) == 404


def list_remote(share, roots, workers=FILE_WORKERS):
    """({share path: RemoteFile}, {existing directories}) under each root."""
    files, dirs = [], set()
    for root in roots:
        stack = [root.strip("/")]
        while stack:
            folder = stack.pop()
            try:
                items = list(share.get_directory_client(folder).list_directories_and_files())
            except Exception as e:  # pylint: disable=broad-except
                if _not_found(e):
                    continue
                raise
            dirs.add(folder)
            for item in items:
                path = f"{folder}/{item['name']}"
                if item.get("is_directory"):
                    stack.append(path)
                else:
                    files.append(path)

    def props(path):
        p = share.get_file_client(path).get_file_properties()
        return sync_plan.remote_from_metadata(path, p.size, p.metadata)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        remote = list(pool.map(props, files))
    return {r.path: r for r in remote}, dirs


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


class Progress:
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


def upload(share, files, progress=None, workers=FILE_WORKERS):
    """Upload LocalFiles (with sha256) in parallel; size + sha256 go into the file's metadata
    only once all its bytes are written: creating the file replaces any old metadata, so a file
    whose upload was cut short (a killed deploy) never looks complete, and the next deploy
    uploads it again."""
    def one(f):
        client = share.get_file_client(f.path)
        with open(f.source, "rb") as data:
            kwargs = {"length": f.size}
            if f.size > LARGE_FILE:
                kwargs["max_concurrency"] = RANGE_WORKERS
            if progress is not None:
                kwargs["progress_hook"] = progress.file_hook(f.path)
            client.upload_file(data, **kwargs)
        client.set_file_metadata(sync_plan.metadata_for(f))
        if progress is not None and f.size == 0:
            progress.file_hook(f.path)(0, 0)
        return f.path

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, files))


def delete(share, remote_files):
    for r in remote_files:
        if not sync_plan.layout.is_owned(r.path):   # belt and braces: the plan never has these
            raise sync_plan.SyncError(f"refusing to delete {r.path!r}")
        try:
            share.get_file_client(r.path).delete_file()
        except Exception as e:  # pylint: disable=broad-except
            if not _not_found(e):
                raise


THROTTLE_RETRIES = 6


def retry_policy(initial_backoff=2, increment_base=2, retry_total=5, **kwargs):
    """The storage SDK's ExponentialRetry, which also waits out 429 Too Many Requests: the SDK
    retries 5xx and 408 (Azure Storage throttles with 503 ServerBusy) but gives up on a 429,
    which fails the whole deploy; here a 429 is retried after its Retry-After (else a backoff).
    Waits of 2, 4, 6, 10, 18 s instead of the SDK's 15, 18, 24 s: one transient error in a
    deploy of many files should not stall it for 15 s."""
    import time

    from azure.storage.fileshare import ExponentialRetry

    class _Retry(ExponentialRetry):
        def send(self, request):
            body = request.http_request.body
            position = body.tell() if hasattr(body, "seek") and hasattr(body, "tell") else None
            for attempt in range(THROTTLE_RETRIES + 1):
                response = super().send(request)
                if response.http_response.status_code != 429 or attempt == THROTTLE_RETRIES:
                    return response
                time.sleep(retry_after(response.http_response.headers, attempt))
                if position is not None:
                    body.seek(position)
            return response

    return _Retry(initial_backoff=initial_backoff, increment_base=increment_base,
                  retry_total=retry_total, **kwargs)


def retry_after(headers, attempt):
    """Seconds to wait before retrying a 429: its Retry-After (seconds), else 1, 2, 4, … s."""
    try:
        return min(max(float(headers.get("Retry-After")), 0.0), 60.0)
    except (TypeError, ValueError):
        return float(min(2 ** attempt, 30))
