"""A container app's replica as a local process: what a revision runs (build_spec), and its
start, readiness probe, crash backoff and stop (AppReplica). The behaviour is described in runtime/__init__.py."""

import atexit
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

from . import azure_rules
from .system_log import SystemLog

if TYPE_CHECKING:
    from .container_runtime import Runtime

log = logging.getLogger("azure_standin.runtime")

STOP_GRACE_S = 10.0
BACKOFF_MAX_S = 30.0
# The Reason of the stand-in's own notes in the system log (not one of Azure's event reasons).
NOTE_REASON = "StandInNote"

LIVE_RUNTIMES = weakref.WeakSet()


@atexit.register
def _stop_everything():
    for rt in list(LIVE_RUNTIMES):
        try:
            rt.stop_all()
        except Exception:  # pylint: disable=broad-exception-caught  # best effort at exit: stop the rest
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
            with open(f"/proc/{d}/stat", encoding="ascii", errors="replace") as f:
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


class _Spec:  # pylint: disable=too-many-instance-attributes,too-few-public-methods  # a record
    """What one revision runs."""

    def __init__(self, argv, env, probe_path, min_replicas, revision, fingerprint, error=None):
        self.argv, self.env, self.probe_path = argv, env, probe_path
        self.min_replicas, self.revision, self.fingerprint, self.error = min_replicas, revision, fingerprint, error
        self.probes: dict[str, azure_rules.Probe] = {}
        self.cooldown = azure_rules.DEFAULT_COOLDOWN_S
        self.image = ""
        self.container = "main"
        self.max_replicas = azure_rules.DEFAULT_MAX_REPLICAS
        self.concurrent_requests = float(azure_rules.DEFAULT_CONCURRENT_REQUESTS)


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


def _scale_spec(spec: _Spec, scale: dict) -> None:
    """template.scale: cooldownPeriod, maxReplicas, and the first HTTP rule's concurrentRequests (a
    string in the API), else the default rule's (scale-app.md, "Default scale rule": HTTP, 10)."""
    if scale.get("cooldownPeriod") is not None:
        spec.cooldown = float(scale["cooldownPeriod"])
    if scale.get("maxReplicas") is not None:
        spec.max_replicas = max(1, int(scale["maxReplicas"]))
    for rule in scale.get("rules") or []:
        http_rule = (rule or {}).get("http")
        if http_rule is not None:
            value = (http_rule.get("metadata") or {}).get("concurrentRequests")
            if value is not None:
                spec.concurrent_requests = max(1.0, float(value))
            break


# One pass over the container spec, field by field as the API defines it.
def build_spec(app: dict, volumes: dict[str, Path], secrets: dict[str, str]) -> _Spec:  # pylint: disable=too-many-locals
    props = app.get("properties") or {}
    template = props.get("template") or {}
    containers = template.get("containers") or []
    c = containers[0] if containers else {}
    vols = {k: Path(v) for k, v in (volumes or {}).items()}
    # The revision's identity: its template and mounts, not the secrets' values. "Adding, removing,
    # or changing secrets doesn't generate new revisions" and "an updated or deleted secret doesn't
    # automatically affect existing revisions": it takes a restart or a new revision
    # (https://learn.microsoft.com/azure/container-apps/manage-secrets).
    fp = hashlib.sha256(
        json.dumps({"t": template, "v": {k: str(v) for k, v in vols.items()}}, sort_keys=True, default=str).encode()
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
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    # What an image would bring along (accelerator libraries), plus names the caller lists in
    # AITK_STANDIN_PASSENV (comma-separated), e.g. HF_HUB_OFFLINE for an offline demo.
    passenv = [
        "LC_ALL",
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
    spec = _Spec(argv, env, probe_path, min_replicas, revision, fp, error)
    spec.probes = azure_rules.effective_probes(c.get("probes") or [])
    _scale_spec(spec, scale)
    spec.image = str(c.get("image") or "")
    spec.container = str(c.get("name") or "main")
    return spec


class AppReplica:  # pylint: disable=too-many-instance-attributes,too-many-public-methods
    """One replica of a container app's revision and its life: scheduled, image pulled, container
    started, probes, restarts. The app's first replica (index 0, `parent` None) is the app: it also
    keeps the app's ingress, its request count and its scale rule (scale out to `extras`, replicas
    1.. each with its own process and supervisor, and in again after the cooldown; to zero and back
    on a request). Durations are Azure's (azure_rules) times the runtime's time_scale."""

    def __init__(self, rt: "Runtime", app_id: str, parent: "AppReplica | None" = None, index: int = 0):
        self.rt, self.app_id = rt, app_id
        self.parent, self.index = parent, index
        self.dir = rt.base / app_slug(app_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.container_fs: Path | None = None  # the running container's own file system (below)
        # Each replica has its own console (the log stream is per replica on Azure).
        self.log_path = self.dir / ("console.log" if index == 0 else f"console-{index}.log")
        self.syslog = parent.syslog if parent is not None else SystemLog(self.dir / "system.jsonl", rt.la_dir, app_id)
        # One lock for the app and all its replicas: the ingress picks among them, the scale rule
        # adds and removes them.
        self.lock = parent.lock if parent is not None else threading.RLock()
        self.cond = parent.cond if parent is not None else threading.Condition(self.lock)
        self.spec: _Spec | None = None
        self.proc: subprocess.Popen | None = None
        self.private_port: int | None = None
        self.want_running = False
        self.ready = False
        self.started = False  # the startup probe passed
        self.restarts = 0
        self.crashes_in_row = 0
        self.next_start_at = 0.0
        self.pull_done_at: float | None = None
        self.pull_began_at = 0.0
        self.pull_refused: str | None = None  # why the registry refused the last pull
        self.pull_refusals = 0  # refused pulls in a row (their back-off)
        self.proc_started_at = 0.0
        self.proc_log_offset = 0
        self.failing_since: dict[str, float] = {}
        self.next_probe_at: dict[str, float] = {}
        self.last_activity = time.monotonic()
        self.inflight = 0  # requests the app's ingress holds (the app's replica 0 counts them)
        self.serving = 0  # requests this replica is answering
        self.closed = False
        # The HTTP scale rule's state (replica 0 only): arrival times of recent requests, the next
        # 15 s evaluation, since when the rule asks for fewer replicas than run, the replicas
        # beyond the first, and the next replica's number.
        self.arrivals: deque[float] = deque()
        self.next_eval_at = 0.0
        self.fewer_since: float | None = None
        self.extras: list[AppReplica] = []
        self.next_index = 1
        self.created_at = time.time()
        self.stopping = 0
        self.generation = 0
        self.proxy: ThreadingHTTPServer | None = None  # its Ingress, set by the Runtime
        self.port: int | None = None
        self.thread = threading.Thread(target=self._supervise, name=f"standin-app-{self.dir.name}", daemon=True)

    # -- logging ----------------------------------------------------------------------------
    def note(self, msg: str):
        """The runtime's own account (applied, starting, ready, exited): into the app's system
        log, beside the events, never into the console stream, which on Azure holds only the
        container's output (https://learn.microsoft.com/azure/container-apps/logging)."""
        self.event(NOTE_REASON, msg)

    @property
    def replica_name(self) -> str:
        """`<revision>-<n>`: replica 0 is the app's first; later ones count up."""
        return f"{self.spec.revision}-{self.index}" if self.spec is not None else ""

    def event(self, reason: str, msg: str, warning: bool = False):
        spec = self.spec
        self.syslog.event(
            reason, msg, revision=spec.revision if spec else "", replica=self.replica_name, warning=warning
        )

    def _console_since_start(self) -> list[str]:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.proc_log_offset)
                data = f.read()
        except OSError:
            return []
        return data.decode(errors="replace").splitlines()

    # -- process control (call with lock held) -----------------------------------------------
    def _schedule_locked(self):
        """A replica is placed and its image pull begins (optional delay per image size)."""
        spec = self.spec
        if spec is None:
            return
        if spec.error:
            self.note(f"revision {spec.revision} cannot start: {spec.error}")
            self.event("ContainerCreateFailure", f"Container '{spec.container}' cannot start: {spec.error}", True)
            return
        # Azure's system log: the replica scheduled, then its image pull, each with its TimeStamp
        # (https://learn.microsoft.com/azure/container-apps/logging#system-logs; the message as the
        # service writes it: https://azureossd.github.io/2024/01/11/Container-Apps-Demystifying-restarts/).
        # `status`'s start-up timeline measures the scheduling and pull phases from these times.
        self.event("AssigningReplica", f"Replica '{self.replica_name}' has been scheduled to run on a node.")
        self.event("PullingImage", f'Pulling image "{spec.image}"')
        refusal = self.rt.pull_refusal(self.app_id)
        if refusal:
            # The registry refuses the pull: no container starts, the pull is retried with a
            # back-off ("ImagePullBackOff or UNAUTHORIZED error",
            # https://learn.microsoft.com/azure/container-apps/troubleshoot-deployment-errors).
            self.pull_refused = refusal
            self.pull_refusals += 1
            self.note(f"revision {spec.revision} cannot start: {refusal}")
            self.event(azure_rules.PULL_FAILED, refusal, True)
            delay = min(BACKOFF_MAX_S, 2.0 ** (self.pull_refusals - 1)) * self.rt.time_scale
            self.next_start_at = time.monotonic() + delay
            self.cond.notify_all()
            return
        self.pull_refused = None
        self.pull_began_at = time.monotonic()
        self.pull_done_at = self.pull_began_at + self.rt.pull_seconds(spec.image)

    def _start_locked(self):
        spec = self.spec
        if spec is None:
            return
        self.pull_done_at = None
        self.event(
            "ImagePulled", f'Successfully pulled image "{spec.image}" in {time.monotonic() - self.pull_began_at:.2f}s'
        )
        self.private_port = _free_port()
        fs = self._fresh_container_fs()
        env = {**fs, **spec.env}  # the app's own env wins
        env["AITK_PORT"] = str(self.private_port)
        env.setdefault("AITK_HOST", "127.0.0.1")  # serve on loopback only, if the launcher honours it
        self.note(f"revision {spec.revision}: starting {' '.join(spec.argv)} (AITK_PORT={self.private_port})")
        try:
            self.proc_log_offset = self.log_path.stat().st_size
        except OSError:
            self.proc_log_offset = 0
        logf = open(self.log_path, "ab")  # pylint: disable=consider-using-with  # the child owns it
        try:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with  # supervised below
                spec.argv,
                env=env,
                cwd=fs["HOME"],  # the image's working folder
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as e:
            self.note(f"revision {spec.revision}: failed to start: {e}")
            self.event("ContainerCreateFailure", f"Container '{spec.container}' failed to start: {e}", True)
            self.proc = None
        finally:
            logf.close()
        self.ready = False
        self.started = False
        self.failing_since = {}
        now = time.monotonic()
        self.proc_started_at = now
        self.next_probe_at = {k: now + self.rt.seconds(p.initial_delay) for k, p in spec.probes.items()}
        if self.proc is not None:
            self.event("ContainerCreated", f"Created container '{spec.container}'")
            self.event("ContainerStarted", f"Started container '{spec.container}'")
        self.generation += 1
        self.cond.notify_all()

    def _fresh_container_fs(self) -> dict[str, str]:
        """HOME and TMPDIR of a new, empty container file system. A container's own file system is
        temporary: it is gone when the container shuts down or restarts, and the next one starts from
        the image (https://learn.microsoft.com/azure/container-apps/storage-mounts, "Container-scoped
        storage"), so whatever a process left in ~/.cache or /tmp (torch's inductor cache, Hugging
        Face's) never reaches the next replica; only volumes (the share) do. Its path is short, as an
        image's /tmp is: vLLM puts its IPC sockets in TMPDIR, and a socket path has at most 107 bytes."""
        if self.container_fs is not None:
            shutil.rmtree(self.container_fs, ignore_errors=True)  # the previous container is gone by now
        self.container_fs = self.rt.new_container_fs()
        home, tmp = self.container_fs / "home", self.container_fs / "tmp"
        home.mkdir()
        tmp.mkdir()
        return {"HOME": str(home), "TMPDIR": str(tmp)}

    def _backoff_locked(self) -> float:
        self.restarts += 1
        self.crashes_in_row += 1
        delay = min(BACKOFF_MAX_S, 2.0 ** (self.crashes_in_row - 1)) * self.rt.time_scale
        self.next_start_at = time.monotonic() + delay
        return delay

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
        # SIGKILL is delivered asynchronously: the leader is reaped above, but its children may still
        # be dying on a loaded machine. "Stopped" means the whole group is gone.
        gone_by = time.monotonic() + 5.0
        while _group_alive(pgid) and time.monotonic() < gone_by:
            time.sleep(0.05)

    def _retire_locked(self, proc: subprocess.Popen) -> threading.Thread:
        """Stop `proc` in the background and remove its file system; the supervisor starts no new
        one until it is gone."""
        self.stopping += 1
        container_fs = self.container_fs

        def work():
            try:
                self._stop_proc(proc)
                if container_fs is not None:
                    shutil.rmtree(container_fs, ignore_errors=True)
            finally:
                with self.lock:
                    self.stopping -= 1
                    self.cond.notify_all()

        t = threading.Thread(target=work, name=f"standin-stop-{proc.pid}", daemon=True)
        with self.rt.lock:
            self.rt._stoppers = [x for x in self.rt._stoppers if x.is_alive()] + [t]  # pylint: disable=protected-access
        t.start()
        return t

    def replace(self, reason: str, run: bool) -> threading.Thread | None:
        """Take the current process out (SIGTERM/SIGKILL in the background) and, with run=True,
        let the supervisor start a fresh one once the old process group is gone. On the app's
        replica 0, the replicas beyond it go too (the scale rule starts what minReplicas asks)."""
        with self.lock:
            if self.parent is None:
                self._scale_in_locked(0, reason)
            proc, self.proc = self.proc, None
            self.ready = False
            self.started = False
            self.pull_done_at = None
            self.generation += 1
            self.want_running = run
            self.crashes_in_row = 0
            self.pull_refused, self.pull_refusals = None, 0
            self.next_start_at = 0.0
            self.last_activity = time.monotonic()
            if proc is None:
                if self.container_fs is not None:  # a crashed container's file system goes with it
                    shutil.rmtree(self.container_fs, ignore_errors=True)
                self.cond.notify_all()
                return None
            self.note(f"stopping pid {proc.pid} ({reason})")
            if self.spec is not None:
                self.syslog.console_gone(
                    self.spec.revision, self.replica_name, self.spec.container, self._console_since_start()
                )
            t = self._retire_locked(proc)
            self.cond.notify_all()
            return t

    def start_now(self):
        """Scale from zero: ask the supervisor for a replica (no-op when one runs or is coming)."""
        with self.lock:
            self.last_activity = time.monotonic()
            if not self.want_running:
                self.want_running = True
                self.crashes_in_row = 0
                self.next_start_at = 0.0
                self.event("ScaledOut", "Scaling the revision from 0 to 1 replica: an HTTP request arrived")
                self.cond.notify_all()

    # -- the app's replicas and its HTTP scale rule (on replica 0) -------------------------------
    def replicas_locked(self) -> list["AppReplica"]:
        """The app's replicas: replica 0 (itself, running or not) and those the rule added."""
        return [self, *self.extras]

    def replica_count_locked(self) -> int:
        return (1 if self.want_running else 0) + len(self.extras)

    def _scale_out_locked(self, to: int, why: str):
        """Add replicas up to `to`, each its own process under its own supervisor."""
        cur = self.replica_count_locked()
        for _ in range(to - cur):
            r = AppReplica(self.rt, self.app_id, parent=self, index=self.next_index)
            self.next_index += 1
            r.spec = self.spec
            r.want_running = True
            self.extras.append(r)
            r.event("ScaledOut", f"Scaling the revision from {cur} to {to} replicas: {why}")
            r.thread.start()
        self.cond.notify_all()

    def _scale_in_locked(self, to: int, why: str) -> list[threading.Thread]:
        """Stop the replicas beyond replica 0 down to `to` in all (idle ones first, newest first);
        replica 0 itself is the caller's (scale to zero)."""
        cur = self.replica_count_locked()
        keep = max(0, to - 1)
        order = sorted(self.extras, key=lambda r: (r.serving > 0, -r.index))
        threads = []
        for r in order[: max(0, len(self.extras) - keep)]:
            r.event("ScaledIn", f"Scaling the revision from {cur} to {max(to, 0)} replicas: {why}")
            self.extras.remove(r)
            t = r.replace(why, run=False)
            r.closed = True
            if t is not None:
                threads.append(t)
        self.cond.notify_all()
        return threads

    def _scale_rule_locked(self, now: float):
        """Replica 0's supervisor, each pass: minReplicas at once; every 15 s the HTTP rule
        (azure_rules.http_desired_replicas): out at once by the scale-up step, in once it has asked
        for fewer replicas for the cooldown period. Scale to zero stays with the supervisor."""
        spec = self.spec
        window = self.rt.seconds(azure_rules.HTTP_SCALE_WINDOW_S)
        while self.arrivals and self.arrivals[0] < now - window:
            self.arrivals.popleft()
        if spec is None or spec.error or self.closed:
            return
        cur = self.replica_count_locked()
        if self.want_running and cur < spec.min_replicas:
            self._scale_out_locked(min(spec.min_replicas, spec.max_replicas), "minReplicas")
            return
        if now < self.next_eval_at:
            return
        self.next_eval_at = now + window
        desired = azure_rules.http_desired_replicas(
            len(self.arrivals), spec.concurrent_requests, spec.min_replicas, spec.max_replicas
        )
        if cur == 0:
            return  # a request activates the revision (start_now)
        rate = len(self.arrivals) / azure_rules.HTTP_SCALE_WINDOW_S
        if desired > cur:
            self.fewer_since = None
            to = azure_rules.scale_up_step(cur, desired)
            self._scale_out_locked(
                to,
                f"{len(self.arrivals)} requests in the past 15 s, {rate:g}/s over the HTTP rule's "
                f"concurrentRequests {spec.concurrent_requests:g}",
            )
        elif desired < cur and self.extras:
            self.fewer_since = self.fewer_since if self.fewer_since is not None else now
            if now - self.fewer_since >= self.rt.seconds(spec.cooldown):
                self.fewer_since = None
                self._scale_in_locked(
                    max(1, desired),
                    f"the HTTP rule asked for {desired} for {spec.cooldown:.0f} s (scale.cooldownPeriod)",
                )
        else:
            self.fewer_since = None

    def pick_replica(self) -> "AppReplica | None":
        """A ready replica for one request (the one answering the fewest), counted as serving it;
        None while none is ready. Replicas still starting get no request."""
        with self.lock:
            ready = [r for r in self.replicas_locked() if r.ready and r.proc is not None and not r.closed]
            if not ready:
                return None
            r = min(ready, key=lambda x: (x.serving, x.index))
            r.serving += 1
            return r

    def release(self, r: "AppReplica"):
        with self.lock:
            r.serving -= 1

    def request_began(self):
        with self.lock:
            self.inflight += 1
            self.last_activity = time.monotonic()
            self.arrivals.append(self.last_activity)

    def request_ended(self):
        with self.lock:
            self.inflight -= 1
            self.last_activity = time.monotonic()

    # -- supervisor: pulls, probes, restarts, scale in ------------------------------------------
    def _probe(self, port: int, probe: azure_rules.Probe) -> bool:
        timeout = max(0.2, min(5.0, self.rt.seconds(probe.timeout)))
        try:
            if probe.path is None:  # TCP probe
                with socket.create_connection(("127.0.0.1", port), timeout=timeout):
                    return True
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            conn.request("GET", probe.path, headers={"User-Agent": "kube-probe/1.29", "Connection": "close"})
            r = conn.getresponse()
            r.read()
            conn.close()
            return 200 <= r.status < 400
        except (OSError, http.client.HTTPException):
            return False

    def _reap_locked(self):
        """The container exited: log it, keep its console in Log Analytics, back off, restart."""
        proc, spec = self.proc, self.spec
        code = proc.returncode
        try:  # what the crashed process left behind in its group goes too
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc = None
        self.ready = False
        self.started = False
        delay = self._backoff_locked()
        self.note(f"pid {proc.pid} exited with code {code}; restart {self.restarts} in {delay:.0f} s")
        self.event(
            "ContainerTerminated",
            f"Container '{spec.container}' was terminated with exit code '{code}' and reason 'ProcessExited'",
            True,
        )
        self.syslog.console_gone(spec.revision, self.replica_name, spec.container, self._console_since_start())
        self.cond.notify_all()

    def _probe_failed_locked(self, kind: str, probe: azure_rules.Probe, now: float):
        """Kubernetes' rule: failureThreshold failures in a row, periodSeconds apart, act. Counted
        as time failing so a slow loop at a small time scale does not stretch the budget."""
        since = self.failing_since.setdefault(kind, now)
        if since == now:
            self.event("ProbeFailed", f"Probe of {kind.capitalize()} failed on container '{self.spec.container}'", True)
        budget = self.rt.seconds(probe.period * probe.failure_threshold)
        if now - since < budget:
            return
        if kind == "readiness":
            if self.ready:
                self.ready = False
                self.note(f"replica not ready (probe {probe.path or 'tcp'} failed)")
                self.cond.notify_all()
            return
        proc = self.proc
        self.proc = None
        self.ready = False
        self.started = False
        delay = self._backoff_locked()
        self.note(f"pid {proc.pid} failed its {kind} probe {probe.failure_threshold} times; restart in {delay:.0f} s")
        self.event(
            "ContainerTerminated",
            f"Container '{self.spec.container}' failed its {kind} probe {probe.failure_threshold} times in a row, "
            "will be restarted",
            True,
        )
        self.syslog.console_gone(
            self.spec.revision, self.replica_name, self.spec.container, self._console_since_start()
        )
        self._retire_locked(proc)
        self.cond.notify_all()

    def _due_probe_locked(self, now: float):
        """(kind, probe) to run now, or None."""
        spec = self.spec
        kinds = ("readiness", "liveness") if self.started else ("startup",)
        for kind in kinds:
            probe = spec.probes.get(kind)
            if probe is not None and now >= self.next_probe_at.get(kind, 0.0):
                self.next_probe_at[kind] = now + max(0.1, self.rt.seconds(probe.period))
                return kind, probe
        return None

    def _apply_probe_locked(self, kind: str, probe: azure_rules.Probe, ok: bool):
        now = time.monotonic()
        if not ok:
            self._probe_failed_locked(kind, probe, now)
            return
        self.failing_since.pop(kind, None)
        if kind == "startup":
            self.started = True
            # readiness and liveness start after it, their initial delays counted from the container's start
            for later in ("readiness", "liveness"):
                self.next_probe_at[later] = max(now, self.next_probe_at.get(later, now))
        elif kind == "readiness" and not self.ready:
            self.ready = True
            self.crashes_in_row = 0
            self.note(f"replica ready (pid {self.proc.pid}, probe {probe.path or 'tcp'})")
            self.cond.notify_all()

    def _idle_past_cooldown_locked(self, now: float) -> bool:
        """Replica 0 of a revision with minReplicas 0, no request for cooldownPeriod: scale to zero."""
        spec = self.spec
        return (
            self.parent is None
            and self.want_running
            and spec is not None
            and spec.min_replicas == 0
            and self.inflight == 0
            and now - self.last_activity >= self.rt.seconds(spec.cooldown)
        )

    def _supervise(self):  # pylint: disable=too-many-branches
        while True:
            scale_in = False
            due = None
            with self.lock:
                if self.closed:
                    return
                now = time.monotonic()
                spec = self.spec
                if self.want_running and self.proc is not None and self.proc.poll() is not None:
                    self._reap_locked()
                can_start = (
                    self.want_running and self.proc is None and spec is not None and not spec.error
                ) and not self.stopping
                if can_start and self.pull_done_at is None and now >= self.next_start_at:
                    self._schedule_locked()
                elif can_start and self.pull_done_at is not None and now >= self.pull_done_at:
                    self._start_locked()
                    if self.proc is None:  # could not even exec: back off like a crash
                        self._backoff_locked()
                if self.parent is None:
                    self._scale_rule_locked(now)
                if self._idle_past_cooldown_locked(now):
                    scale_in = True
                    self._scale_in_locked(0, f"no request for {spec.cooldown:.0f} s (scale.cooldownPeriod)")
                    self.event(
                        "ScaledIn",
                        f"Scaling the revision from 1 to 0 replicas: no request for {spec.cooldown:.0f} s "
                        "(scale.cooldownPeriod)",
                    )
                elif self.proc is not None and spec is not None:
                    due = self._due_probe_locked(now)
                proc, gen, port = self.proc, self.generation, self.private_port
            if scale_in:
                self.replace("scaled to zero after the cooldown period", run=False)
                continue
            if due is not None and proc is not None and port:
                ok = self._probe(port, due[1])
                with self.lock:
                    if self.generation == gen and self.proc is proc and proc.poll() is None:
                        self._apply_probe_locked(due[0], due[1], ok)
            time.sleep(0.05)

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not self.ready and not self.closed:
                left = deadline - time.monotonic()
                if (
                    left <= 0
                    or (self.spec is not None and self.spec.error)
                    or self.crashes_in_row >= 3
                    or self.pull_refused
                ):
                    return False  # no replica in time, or one that cannot start / keeps crashing
                self.cond.wait(min(left, 0.5))
            return self.ready and not self.closed

    def upstream(self, timeout: float) -> tuple["AppReplica | None", str]:
        """(a ready replica, now counted as serving the request, "ok") or (None, "unavailable" |
        "timeout"); wakes a scaled-to-zero app and holds the request until a replica is ready or
        `timeout` passes. The caller gives the replica back with release()."""
        r = self.pick_replica()
        if r is not None:
            return r, "ok"
        with self.lock:
            activating = not self.want_running or (self.spec is not None and self.spec.min_replicas == 0)
        if not activating:
            return None, "unavailable"
        self.start_now()
        if self.wait_ready(timeout):
            r = self.pick_replica()
            if r is not None:
                return r, "ok"
        with self.lock:
            failing = (
                self.closed
                or (self.spec is not None and self.spec.error)
                or self.crashes_in_row >= 3
                or bool(self.pull_refused)
            )
        return None, "unavailable" if failing else "timeout"
