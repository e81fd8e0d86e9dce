#!/usr/bin/env python
"""A read-only FUSE mirror of a folder that plays remote storage: every read request the kernel sends
waits a fixed latency plus its size at a per-request bandwidth, then is served from the folder.

    python benchmarks/_throttled_fs.py SOURCE MOUNTPOINT --latency-ms 5 --mb-per-s 50

What it models, honestly: each FUSE read request stands for one request on a connection to the
storage (an SMB read on the share's mount, a ranged GET on Blob), with its round trip and that
connection's bandwidth; requests in flight at once (several reader threads, the kernel's
read-ahead) overlap, as parallel connections do. What it does not model: a share- or account-wide
throughput cap, TCP slow start, the kernel SMB client's own read-ahead and credits. The kernel
splits a large read into requests of at most 128 KiB (FUSE's default max_pages), and libfuse runs
at most `--threads` requests at once. Needs /dev/fuse, libfuse3 (Debian: fuse3) and mfusepy.
Runs until unmounted (`fusermount3 -u MOUNTPOINT`) or killed.
"""

import argparse
import errno
import os
import threading
import time

import mfusepy as fuse  # pylint: disable=import-error  # a benchmark tool, not a project dependency


class Throttled(fuse.Operations):
    def __init__(self, root, latency_s, bytes_per_s):
        self.root, self.latency_s, self.bytes_per_s = root, latency_s, bytes_per_s
        self.lock = threading.Lock()
        self.requests = 0

    def _real(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._real(path))
        except OSError as e:
            raise fuse.FuseOSError(e.errno) from None
        keys = ("st_mode", "st_size", "st_nlink", "st_uid", "st_gid", "st_atime", "st_mtime", "st_ctime")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        return [".", "..", *os.listdir(self._real(path))]

    def open(self, path, flags):
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise fuse.FuseOSError(errno.EROFS)
        return os.open(self._real(path), os.O_RDONLY)

    def read(self, path, size, offset, fh):
        with self.lock:
            self.requests += 1
        time.sleep(self.latency_s + size / self.bytes_per_s)
        return os.pread(fh, size, offset)

    def release(self, path, fh):
        os.close(fh)
        return 0

    def statfs(self, path):
        st = os.statvfs(self._real(path))
        keys = (
            "f_bavail",
            "f_bfree",
            "f_blocks",
            "f_bsize",
            "f_favail",
            "f_ffree",
            "f_files",
            "f_flag",
            "f_frsize",
            "f_namemax",
        )
        return {k: getattr(st, k) for k in keys}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("source")
    parser.add_argument("mountpoint")
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--mb-per-s", type=float, default=50.0)
    args = parser.parse_args()
    ops = Throttled(os.path.abspath(args.source), args.latency_ms / 1000.0, args.mb_per_s * 1e6)
    # libfuse 3.12+ runs at most max_threads requests at once (default 10): more than any reader here asks
    fuse.FUSE(ops, args.mountpoint, foreground=True, ro=True, nothreads=False, max_threads=64)


if __name__ == "__main__":
    main()
