"""A container app's replica as a local process: what a revision runs (build_spec), and its
start, readiness probe, crash backoff and stop (AppReplica). The behaviour is described in runtime/__init__.py."""

import atexit
import hashlib
import http.client
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .container_runtime import Runtime

log = logging.getLogger("azure_standin.runtime")

ACTIVATION_TIMEOUT_S = 600.0
STOP_GRACE_S = 10.0
BACKOFF_MAX_S = 30.0

LIVE_RUNTIMES = weakref.WeakSet()


@atexit.register
def _stop_everything():
    for rt in list(LIVE_RUNTIMES):
        try:
            rt.stop_all()
        except Exception:  # pylint: disable=broad-exception-caught  # best effort at exit  # pragma: no cover
            pass


def _group_alive(pgid: int) -> bool:
    """Does any non-zombie process remain in the process group? (Orphans that an init which does
    not reap leaves as zombies do not count.)"""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not os.path.isdir("/proc/self"):
        return True
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", encoding="utf-8", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def app_slug(app_id: str) -> str:
    name = app_id.rstrip("/").rsplit("/", 1)[-1] or "app"
    return re.sub(r"[^a-z0-9-]", "-", name.lower())[:40] + "-" + hashlib.sha1(app_id.encode()).hexdigest()[:8]


class _Spec:  # pylint: disable=too-few-public-methods  # a record
    """What one revision runs."""

    def __init__(self, argv, env, probe_path, min_replicas, revision, fingerprint, error=None):
        self.argv, self.env, self.probe_path = argv, env, probe_path
        self.min_replicas, self.revision, self.fingerprint, self.error = min_replicas, revision, fingerprint, error


def _map_path(value: str, volumes: dict[str, Path]) -> str:
    for mp in sorted(volumes, key=len, reverse=True):
        mp_ = mp.rstrip("/") or "/"
        if value == mp_ or value.startswith(mp_ + "/"):
            return str(volumes[mp]) + value[len(mp_) :]
    return value


def _map_arg(value: str, volumes) -> str:
    v = _map_path(value, volumes)
    if v == value and value.startswith("-") and "=" in value:
        k, _, rest = value.partition("=")
        return k + "=" + _map_path(rest, volumes)
    return v


def _map_env(value: str, volumes) -> str:
    if ":" in value and not re.match(r"^[a-z][a-z0-9+.-]*://", value, re.I):
        return ":".join(_map_path(p, volumes) for p in value.split(":"))
    return _map_path(value, volumes)


def build_spec(app: dict, volumes: dict[str, Path], secrets: dict[str, str]) -> _Spec:
    props = app.get("properties") or {}
    template = props.get("template") or {}
    containers = template.get("containers") or []
    c = containers[0] if containers else {}
    vols = {k: Path(v) for k, v in (volumes or {}).items()}
    fp = hashlib.sha256(
        json.dumps(
            {"t": template, "s": secrets or {}, "v": {k: str(v) for k, v in vols.items()}}, sort_keys=True, default=str
        ).encode()
    ).hexdigest()
    scale = template.get("scale") or {}
    min_replicas = scale.get("minReplicas")
    min_replicas = 0 if min_replicas is None else int(min_replicas)
    revision = props.get("latestRevisionName") or (app.get("name", "app") + "--" + fp[:7])
    error = None
    argv = [str(a) for a in (c.get("command") or [])] + [str(a) for a in (c.get("args") or [])]
    if not argv:
        error = "the container has no command; the stand-in cannot run an image's entrypoint"
    else:
        argv = [_map_arg(a, vols) for a in argv]
        if re.fullmatch(r"python(3(\.\d+)?)?", os.path.basename(argv[0])):
            argv[0] = sys.executable
    bindir = os.path.dirname(sys.executable)
    env = {
        "PATH": bindir + os.pathsep + os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    # What an image would bring along (accelerator libraries), plus names the caller lists in
    # AITK_STANDIN_PASSENV (comma-separated), e.g. HF_HUB_OFFLINE for an offline demo.
    passenv = [
        "LC_ALL",
        "TMPDIR",
        "LD_LIBRARY_PATH",
        "CUDA_VISIBLE_DEVICES",
        "NVIDIA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES",
    ]
    passenv += [n.strip() for n in os.environ.get("AITK_STANDIN_PASSENV", "").split(",") if n.strip()]
    for k in passenv:
        if os.environ.get(k):
            env[k] = os.environ[k]
    for item in c.get("env") or []:
        name = item.get("name")
        if not name:
            continue
        if item.get("secretRef") is not None:
            ref = item["secretRef"]
            if ref not in (secrets or {}):
                error = error or f"env {name} refers to secret {ref!r}, which the app does not define"
                continue
            env[name] = str(secrets[ref])
        else:
            env[name] = _map_env(str(item.get("value", "")), vols)
    probe_path = "/health"
    probes = {(p.get("type") or "").lower(): p for p in c.get("probes") or []}
    for kind in ("readiness", "startup"):
        hg = (probes.get(kind) or {}).get("httpGet") or {}
        if hg.get("path"):
            probe_path = hg["path"]
            break
    return _Spec(argv, env, probe_path, min_replicas, revision, fp, error)


# The supervisor's state for one app (process, ports, readiness, restart back-off, stop bookkeeping).
class AppReplica:  # pylint: disable=too-many-instance-attributes
    def __init__(self, rt: "Runtime", app_id: str):
        self.rt, self.app_id = rt, app_id
        self.dir = rt.base / app_slug(app_id)
        self.work = self.dir / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "console.log"
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.spec: _Spec | None = None
        self.proc: subprocess.Popen | None = None
        self.private_port: int | None = None
        self.want_running = False
        self.ready = False
        self.restarts = 0
        self.crashes_in_row = 0
        self.next_start_at = 0.0
        self.closed = False
        self.stopping = 0
        self.generation = 0
        self.proxy: ThreadingHTTPServer | None = None  # its Ingress, set by the Runtime
        self.port: int | None = None
        self.thread = threading.Thread(target=self._supervise, name=f"standin-app-{self.dir.name}", daemon=True)

    # -- logging ----------------------------------------------------------------------------
    def note(self, msg: str):
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} [stand-in] {msg}\n"
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(line)

    # -- process control (call with lock held) -----------------------------------------------
    def _start_locked(self):
        spec = self.spec
        if spec is None:
            return
        if spec.error:
            self.note(f"revision {spec.revision} cannot start: {spec.error}")
            self.proc = None
            return
        self.private_port = _free_port()
        env = dict(spec.env)
        env["AITK_PORT"] = str(self.private_port)
        env.setdefault("AITK_HOST", "127.0.0.1")  # serve on loopback only, if the launcher honours it
        self.note(f"revision {spec.revision}: starting {' '.join(spec.argv)} (AITK_PORT={self.private_port})")
        with open(self.log_path, "ab") as logf:
            try:
                # The replica outlives this call: _stop_proc and the supervisor reap it.
                self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
                    spec.argv,
                    env=env,
                    cwd=str(self.work),
                    stdin=subprocess.DEVNULL,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as e:
                self.note(f"revision {spec.revision}: failed to start: {e}")
                self.proc = None
        self.ready = False
        self.generation += 1
        self.cond.notify_all()

    def _stop_proc(self, proc: subprocess.Popen | None):
        """SIGTERM to the group, SIGKILL after STOP_GRACE_S. Call WITHOUT the lock."""
        if proc is None:
            return
        pgid = proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(pgid):
                break
            time.sleep(0.05)
        else:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass

    def replace(self, reason: str, run: bool) -> threading.Thread | None:
        """Take the current process out (SIGTERM/SIGKILL in the background) and, with run=True,
        let the supervisor start a fresh one once the old process group is gone."""
        with self.lock:
            proc, self.proc = self.proc, None
            self.ready = False
            self.generation += 1
            self.want_running = run
            self.crashes_in_row = 0
            self.next_start_at = 0.0
            if proc is not None:
                self.note(f"stopping pid {proc.pid} ({reason})")
                self.stopping += 1
            self.cond.notify_all()
        if proc is None:
            return None

        def work():
            try:
                self._stop_proc(proc)
            finally:
                with self.lock:
                    self.stopping -= 1
                    self.cond.notify_all()

        t = threading.Thread(target=work, name=f"standin-stop-{proc.pid}", daemon=True)
        self.rt.track_stopper(t)
        t.start()
        return t

    def start_now(self):
        """Scale from zero: ask the supervisor for a replica (no-op when one runs or is coming)."""
        with self.lock:
            if not self.want_running:
                self.want_running = True
                self.crashes_in_row = 0
                self.next_start_at = 0.0
                self.cond.notify_all()

    # -- supervisor: crash restarts and readiness ---------------------------------------------
    def _probe(self, port: int, path: str) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path, headers={"User-Agent": "kube-probe/1.29", "Connection": "close"})
            r = conn.getresponse()
            r.read()
            conn.close()
            return 200 <= r.status < 400
        except (OSError, http.client.HTTPException):
            return False

    def _may_start(self, spec: _Spec | None) -> bool:
        """A runnable revision, no stop in flight and the crash back-off over. Call with the lock held."""
        return spec is not None and not spec.error and not self.stopping and time.monotonic() >= self.next_start_at

    def _supervise(self):
        last_probe = 0.0
        while True:
            with self.lock:
                if self.closed:
                    return
                proc, gen, ready = self.proc, self.generation, self.ready
                port, spec = self.private_port, self.spec
                if self.want_running and proc is not None and proc.poll() is not None:
                    code = proc.returncode
                    try:  # what the crashed process left behind in its group goes too
                        os.killpg(proc.pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                    self.proc = None
                    self.ready = False
                    self.restarts += 1
                    self.crashes_in_row += 1
                    delay = min(BACKOFF_MAX_S, 2.0 ** (self.crashes_in_row - 1))
                    self.next_start_at = time.monotonic() + delay
                    self.note(f"pid {proc.pid} exited with code {code}; restart {self.restarts} in {delay:.0f} s")
                    self.cond.notify_all()
                    proc = None
                if self.want_running and self.proc is None and self._may_start(spec):
                    self._start_locked()
                    if self.proc is None:  # could not even exec: back off like a crash
                        self.restarts += 1
                        self.crashes_in_row += 1
                        self.next_start_at = time.monotonic() + min(BACKOFF_MAX_S, 2.0 ** (self.crashes_in_row - 1))
                    proc, gen, port = self.proc, self.generation, self.private_port
            if proc is not None and port and time.monotonic() - last_probe >= (2.0 if ready else 0.25):
                last_probe = time.monotonic()
                ok = self._probe(port, spec.probe_path)
                with self.lock:
                    if self.generation == gen and self.proc is proc and ok != self.ready:
                        self.ready = ok
                        if ok:
                            self.crashes_in_row = 0
                            self.note(f"replica ready (pid {proc.pid}, probe {spec.probe_path})")
                        else:
                            self.note(f"replica not ready (probe {spec.probe_path} failed)")
                        self.cond.notify_all()
            time.sleep(0.1)

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not self.ready and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0 or (self.spec is not None and self.spec.error) or self.crashes_in_row >= 3:
                    return False  # no replica in time, or one that cannot start / keeps crashing
                self.cond.wait(min(left, 0.5))
            return self.ready and not self.closed

    def upstream_port(self) -> int | None:
        """Port of a ready replica; wakes a scaled-to-zero app and holds until ready."""
        with self.lock:
            if self.ready:
                return self.private_port
            activating = not self.want_running or (self.spec is not None and self.spec.min_replicas == 0)
            if not self.want_running:
                self.note("scale from zero: first request")
        if not activating:
            return None
        self.start_now()
        if self.wait_ready(ACTIVATION_TIMEOUT_S):
            return self.private_port
        return None
