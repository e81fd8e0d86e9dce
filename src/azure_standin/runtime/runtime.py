"""The stand-in's container runtime: a container app's revision as a local process behind a
TLS-terminating ingress on loopback (docs/contracts.md, "The local Azure stand-in's container
runtime"; the calls are listed in runtime_api.md).

- The "image" is this Python environment: a command whose first word is python/python3 runs with
  `sys.executable`; the venv's bin folder leads PATH.
- A leading volume mount path (`/mount`) in the command, args and env values is replaced by the
  share's local folder (also in `--opt=/mount/...` args and in `:`-separated env lists).
- The process listens on a private loopback port given in the env var `AITK_PORT`.
- Env: PATH, HOME, LANG (+ LC_ALL, TMPDIR, LD_LIBRARY_PATH, CUDA_VISIBLE_DEVICES, NVIDIA_* when
  set, and the names listed in AITK_STANDIN_PASSENV) and the app's env (values or secretRefs),
  plus AITK_PORT.
- Ingress: 127.0.0.1:<port> (allocated at the first apply, kept across re-applies, and reused by
  a later Runtime on the same state_dir when free), TLS with a leaf from the stand-in CA,
  HTTP/1.1 proxy to the private port, responses streamed chunk by chunk (SSE). 503 while no
  replica is ready; with minReplicas 0 (ACA's default) the first request starts the replica and
  is held until it is ready (up to 600 s).
- Readiness: the Readiness (else Startup) probe's httpGet.path, default `/health`.
- Crashes restart with exponential backoff (1 s, 2 s, 4 s ... 30 s), counted in `restarts`.
- Stop: SIGTERM to the process group, SIGKILL after 10 s.
"""
import atexit
import hashlib
import http.client
import json
import logging
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional

from . import tls
from .http import read_body

log = logging.getLogger("azure_standin.runtime")

ACTIVATION_TIMEOUT_S = 600.0
STOP_GRACE_S = 10.0
BACKOFF_MAX_S = 30.0
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "proxy-connection"}

_all_runtimes = weakref.WeakSet()


@atexit.register
def _stop_everything():
    for rt in list(_all_runtimes):
        try:
            rt.stop_all()
        except Exception:  # pragma: no cover - best effort at exit
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
            with open(f"/proc/{d}/stat") as f:
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


def _slug(app_id: str) -> str:
    name = app_id.rstrip("/").rsplit("/", 1)[-1] or "app"
    return re.sub(r"[^a-z0-9-]", "-", name.lower())[:40] + "-" + hashlib.sha1(app_id.encode()).hexdigest()[:8]


class _Spec:
    """What one revision runs."""

    def __init__(self, argv, env, probe_path, min_replicas, revision, fingerprint, error=None):
        self.argv, self.env, self.probe_path = argv, env, probe_path
        self.min_replicas, self.revision, self.fingerprint, self.error = min_replicas, revision, fingerprint, error


def _map_path(value: str, volumes: Dict[str, Path]) -> str:
    for mp in sorted(volumes, key=len, reverse=True):
        mp_ = mp.rstrip("/") or "/"
        if value == mp_ or value.startswith(mp_ + "/"):
            return str(volumes[mp]) + value[len(mp_):]
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


def build_spec(app: dict, volumes: Dict[str, Path], secrets: Dict[str, str]) -> _Spec:
    props = app.get("properties") or {}
    template = props.get("template") or {}
    containers = template.get("containers") or []
    c = containers[0] if containers else {}
    vols = {k: Path(v) for k, v in (volumes or {}).items()}
    fp = hashlib.sha256(json.dumps({"t": template, "s": secrets or {}, "v": {k: str(v) for k, v in vols.items()}},
                                   sort_keys=True, default=str).encode()).hexdigest()
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
    env = {"PATH": bindir + os.pathsep + os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", "/tmp"), "LANG": os.environ.get("LANG", "C.UTF-8")}
    # What an image would bring along (accelerator libraries), plus names the caller lists in
    # AITK_STANDIN_PASSENV (comma-separated), e.g. HF_HUB_OFFLINE for an offline demo.
    passenv = ["LC_ALL", "TMPDIR", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
               "NVIDIA_DRIVER_CAPABILITIES"]
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


class _App:
    def __init__(self, rt: "Runtime", app_id: str):
        self.rt, self.app_id = rt, app_id
        self.dir = rt.base / _slug(app_id)
        self.work = self.dir / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "console.log"
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.spec: Optional[_Spec] = None
        self.proc: Optional[subprocess.Popen] = None
        self.private_port: Optional[int] = None
        self.want_running = False
        self.ready = False
        self.restarts = 0
        self.crashes_in_row = 0
        self.next_start_at = 0.0
        self.closed = False
        self.stopping = 0
        self.generation = 0
        self.proxy: Optional["_Proxy"] = None
        self.port: Optional[int] = None
        self.thread = threading.Thread(target=self._supervise, name=f"standin-app-{self.dir.name}", daemon=True)

    # -- logging ----------------------------------------------------------------------------
    def note(self, msg: str):
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} [stand-in] {msg}\n"
        with open(self.log_path, "a") as f:
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
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(spec.argv, env=env, cwd=str(self.work), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            self.note(f"revision {spec.revision}: failed to start: {e}")
            self.proc = None
        finally:
            logf.close()
        self.ready = False
        self.generation += 1
        self.cond.notify_all()

    def _stop_proc(self, proc: Optional[subprocess.Popen]):
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

    def replace(self, reason: str, run: bool) -> Optional[threading.Thread]:
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
        with self.rt.lock:
            self.rt._stoppers = [x for x in self.rt._stoppers if x.is_alive()] + [t]
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
                if (self.want_running and self.proc is None and spec is not None and not spec.error
                        and not self.stopping and time.monotonic() >= self.next_start_at):
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

    def upstream_port(self) -> Optional[int]:
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


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aitk-standin-ingress"
    sys_version = ""

    def log_message(self, *a):
        pass

    def _read_body(self) -> bytes:
        return read_body(self.rfile, self.headers)

    def _plain(self, status: int, text: str):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _proxy(self):
        app: _App = self.server.app
        body = self._read_body()
        port = app.upstream_port()
        if port is None:
            self._plain(503, "no healthy upstream")
            return
        headers = {}
        for k, v in self.headers.items():
            if k.lower() in HOP_BY_HOP or k.lower() in ("content-length", "host"):
                continue
            headers[k] = v
        headers["Host"] = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["X-Forwarded-Proto"] = "https"
        headers["X-Forwarded-Host"] = headers["Host"]
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ACTIVATION_TIMEOUT_S)
            conn.request(self.command, self.path, body=body or None, headers=headers)
            r = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            self._plain(502, f"upstream connect error: {e}")
            return
        try:
            self.send_response(r.status, r.reason)
            length = r.getheader("Content-Length")
            for k, v in r.getheaders():
                if k.lower() in HOP_BY_HOP or k.lower() in ("content-length", "server", "date"):
                    continue
                self.send_header(k, v)
            no_body = self.command == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200
            if no_body:
                if length is not None:
                    self.send_header("Content-Length", length)
                self.end_headers()
                return
            if length is not None:
                self.send_header("Content-Length", length)
                self.end_headers()
                while True:
                    data = r.read1(65536)
                    if not data:
                        break
                    self.wfile.write(data)
                    self.wfile.flush()
            else:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while True:
                    data = r.read1(65536)
                    if not data:
                        break
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except (OSError, http.client.HTTPException):
            self.close_connection = True
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, app: _App, ctx: ssl.SSLContext):
        self.app = app
        self.ctx = ctx
        super().__init__(("127.0.0.1", port), _ProxyHandler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # no 40 ms Nagle stalls (SSE)
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (OSError, ssl.SSLError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


class Runtime:
    def __init__(self, state_dir, ca_cert_pem_path, ca_key_pem_path):
        self.state_dir = Path(state_dir)
        self.base = self.state_dir / "runtime"
        self.base.mkdir(parents=True, exist_ok=True)
        tls_dir = self.base / "tls"
        tls_dir.mkdir(parents=True, exist_ok=True)
        cert, key = tls.make_leaf(Path(ca_cert_pem_path), Path(ca_key_pem_path),
                                  tls_dir / "ingress.pem", tls_dir / "ingress.key")
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(str(cert), str(key))
        self.ports_file = self.base / "ports.json"
        self.apps: Dict[str, _App] = {}
        self.lock = threading.Lock()
        self._stoppers: List[threading.Thread] = []
        _all_runtimes.add(self)

    # -- ports --------------------------------------------------------------------------------
    def _saved_ports(self) -> dict:
        try:
            return json.loads(self.ports_file.read_text())
        except (OSError, ValueError):
            return {}

    def _open_proxy(self, app: _App) -> int:
        saved = self._saved_ports().get(app.app_id)
        proxy = None
        if saved:
            try:
                proxy = _Proxy(int(saved), app, self.ctx)
            except OSError:
                proxy = None
        if proxy is None:
            proxy = _Proxy(0, app, self.ctx)
        app.proxy = proxy
        app.port = proxy.server_address[1]
        threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.2},
                         name=f"standin-ingress-{app.port}", daemon=True).start()
        ports = self._saved_ports()
        ports[app.app_id] = app.port
        tmp = self.ports_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(ports, indent=1))
        os.replace(tmp, self.ports_file)
        return app.port

    # -- API (runtime_api.md) ----------------------------------------------------------------
    def apply(self, app_id: str, app: dict, volumes: Dict[str, Path], secrets: Dict[str, str]) -> dict:
        spec = build_spec(app, volumes, secrets)
        with self.lock:
            a = self.apps.get(app_id)
            if a is None:
                a = self.apps[app_id] = _App(self, app_id)
                self._open_proxy(a)
                a.thread.start()
        with a.lock:
            if a.spec is not None and a.spec.fingerprint == spec.fingerprint:
                return {"fqdn": f"127.0.0.1:{a.port}"}
            a.spec = spec
            a.restarts = 0
            a.note(f"revision {spec.revision} applied (minReplicas {spec.min_replicas})")
            if spec.error:
                a.note(f"revision {spec.revision} cannot start: {spec.error}")
        a.replace("new revision", run=spec.min_replicas > 0)
        return {"fqdn": f"127.0.0.1:{a.port}"}

    def restart(self, app_id: str) -> None:
        a = self.apps.get(app_id)
        if a is not None:
            a.replace("revision restart", run=True)

    def remove(self, app_id: str, wait: bool = False) -> None:
        with self.lock:
            a = self.apps.pop(app_id, None)
        if a is None:
            return
        with a.lock:
            a.closed = True
            a.cond.notify_all()
        if a.proxy is not None:
            a.proxy.shutdown()
            a.proxy.server_close()
        t = a.replace("app removed", run=False)
        if t is not None and wait:
            t.join()

    def status(self, app_id: str) -> dict:
        a = self.apps.get(app_id)
        if a is None:
            return {"running": False, "ready": False, "restarts": 0, "pid": None, "log_path": None}
        with a.lock:
            alive = a.proc is not None and a.proc.poll() is None
            # A replica being (re)started for a new revision or a restart counts as running
            # (ACA: "Activating"); one waiting out a crash backoff does not.
            pending = (a.want_running and not alive and a.crashes_in_row == 0 and a.spec is not None
                       and not a.spec.error)
            running = alive or pending
            return {"running": running, "ready": bool(a.ready and alive), "restarts": a.restarts,
                    "pid": a.proc.pid if alive else None,
                    "log_path": str(a.log_path) if a.log_path.exists() else None,
                    "scaled_to_zero": not a.want_running and not running,
                    "port": a.port, "private_port": a.private_port if alive else None}

    def log_lines(self, app_id: str, tail: Optional[int] = None) -> List[str]:
        a = self.apps.get(app_id)
        path = a.log_path if a is not None else self.base / _slug(app_id) / "console.log"
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return lines[-tail:] if tail else lines

    def stop_all(self) -> None:
        """Stop every app and wait until every process group is gone."""
        with self.lock:
            ids = list(self.apps)
        threads = [threading.Thread(target=self.remove, args=(i, True)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with self.lock:
            stoppers, self._stoppers = self._stoppers, []
        for t in stoppers:
            t.join()
