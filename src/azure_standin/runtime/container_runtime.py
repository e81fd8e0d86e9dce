"""The runtime Resource Manager drives (apply / restart / remove / status / stop_all, docs/standin.md):
per container app one ingress (ingress.py) and its replicas (replica.py: replica 0 and those its HTTP
scale rule adds, up to maxReplicas)."""

import json
import os
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from .. import tls
from . import azure_rules
from .ingress import Ingress
from .replica import LIVE_RUNTIMES, AppReplica, app_slug, build_spec


class Runtime:  # pylint: disable=too-many-instance-attributes
    """`time_scale` multiplies every Azure duration the runtime plays (azure_rules: the 240 s
    ingress idle timeout, cooldownPeriod, probe periods, crash backoff, image pulls); 1.0 is Azure's timing.
    `pull_mb_per_s` turns on an image pull delay of (image size / throughput) before each replica
    starts, as a cold start on a fresh node pulls the image (None: no delay)."""

    def __init__(self, state_dir, ca_cert_pem_path, ca_key_pem_path, time_scale=1.0, pull_mb_per_s=None):
        self.time_scale = float(time_scale)
        self.pull_mb_per_s = pull_mb_per_s
        # app_id -> why its image pull is refused, or None; Resource Manager sets it (it knows the
        # registries, identities and role assignments)
        self.pull_gate: Callable[[str], str | None] | None = None
        self.state_dir = Path(state_dir)
        self.la_dir = self.state_dir / "loganalytics"
        self.base = self.state_dir / "runtime"
        self.base.mkdir(parents=True, exist_ok=True)
        tls_dir = self.base / "tls"
        tls_dir.mkdir(parents=True, exist_ok=True)
        cert, key = tls.make_leaf(
            Path(ca_cert_pem_path), Path(ca_key_pem_path), tls_dir / "ingress.pem", tls_dir / "ingress.key"
        )
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(str(cert), str(key))
        self.ports_file = self.base / "ports.json"
        self.apps: dict[str, AppReplica] = {}
        self.lock = threading.Lock()
        self._stoppers: list[threading.Thread] = []
        self._containers_root: Path | None = None
        LIVE_RUNTIMES.add(self)

    def new_container_fs(self) -> Path:
        """An empty folder for one container's own file system (replica.py), in one short folder of
        the system's temp dir per runtime (socket paths under it must stay within 107 bytes),
        removed with everything in it by stop_all."""
        with self.lock:
            if self._containers_root is None:
                self._containers_root = Path(tempfile.mkdtemp(prefix="aca-"))
            root = self._containers_root
        return Path(tempfile.mkdtemp(prefix="c", dir=root))

    def seconds(self, azure_seconds: float) -> float:
        """Wall seconds the stand-in waits for a duration that takes `azure_seconds` on Azure."""
        return azure_seconds * self.time_scale

    def pull_refusal(self, app_id: str) -> str | None:
        """Why the registry refuses the app's image pull now, or None: asked at each replica
        start, so a role assignment removed later fails the next cold start, as on Azure."""
        gate = self.pull_gate
        return gate(app_id) if gate is not None else None

    def pull_seconds(self, image: str) -> float:
        if not self.pull_mb_per_s:
            return 0.0
        return self.seconds(azure_rules.image_size_gb(image) * 1000.0 / float(self.pull_mb_per_s))

    # -- ports --------------------------------------------------------------------------------
    def _saved_ports(self) -> dict:
        try:
            return json.loads(self.ports_file.read_text())
        except (OSError, ValueError):
            return {}

    def _open_proxy(self, app: AppReplica) -> int:
        saved = self._saved_ports().get(app.app_id)
        proxy = None
        if saved:
            try:
                proxy = Ingress(int(saved), app, self.ctx)
            except OSError:
                proxy = None
        if proxy is None:
            proxy = Ingress(0, app, self.ctx)
        app.proxy = proxy
        app.port = proxy.server_address[1]
        threading.Thread(
            target=proxy.serve_forever, kwargs={"poll_interval": 0.2}, name=f"standin-ingress-{app.port}", daemon=True
        ).start()
        ports = self._saved_ports()
        ports[app.app_id] = app.port
        tmp = self.ports_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(ports, indent=1))
        os.replace(tmp, self.ports_file)
        return app.port

    # -- API (docs/standin.md) --------------------------------------------------------------
    def apply(self, app_id: str, app: dict, volumes: dict[str, Path], secrets: dict[str, str]) -> dict:
        spec = build_spec(app, volumes, secrets)
        with self.lock:
            a = self.apps.get(app_id)
            if a is None:
                a = self.apps[app_id] = AppReplica(self, app_id)
                self._open_proxy(a)
                a.thread.start()
        with a.lock:
            if a.spec is not None and a.spec.fingerprint == spec.fingerprint:
                if a.spec.env != spec.env:
                    # A secret changed: the running replica keeps the values it started with; the
                    # next one started (restart, scale from zero) reads the new ones (manage-secrets).
                    a.spec.env = spec.env
                    a.note(f"revision {spec.revision}: secrets changed; they reach a replica when it (re)starts")
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
            extras = a._scale_in_locked(0, "app removed")  # pylint: disable=protected-access
            a.cond.notify_all()
        if a.proxy is not None:
            a.proxy.shutdown()
            a.proxy.server_close()
        t = a.replace("app removed", run=False)
        if wait:
            for x in [*extras, t]:
                if x is not None:
                    x.join()

    @staticmethod
    def _replica_status(r: AppReplica) -> dict:
        """One replica, as Replicas_ListReplicas shows it (call with the app's lock held)."""
        alive = r.proc is not None and r.proc.poll() is None
        return {
            "name": r.replica_name,
            "created": r.created_at,
            "ready": bool(r.ready and alive),
            "pid": r.proc.pid if alive else None,
            "private_port": r.private_port if alive else None,
            "pulling": r.pull_done_at is not None,
            "restarts": r.restarts,
            "serving": r.serving,
            "log_path": str(r.log_path) if r.log_path.exists() else None,
        }

    def status(self, app_id: str) -> dict:
        a = self.apps.get(app_id)
        if a is None:
            return {"running": False, "ready": False, "restarts": 0, "pid": None, "log_path": None}
        with a.lock:
            # Replica 0 while it runs or is wanted, and the replicas the scale rule added.
            replicas = [self._replica_status(r) for r in a.replicas_locked() if r is not a or a.want_running]
            any_ready = any(r["ready"] for r in replicas)
            alive = a.proc is not None and a.proc.poll() is None
            # A replica being (re)started for a new revision or a restart counts as running
            # (ACA: "Processing"); one waiting out a crash backoff does not.
            starting = a.crashes_in_row == 0 and a.spec is not None and not a.spec.error and not a.pull_refused
            pending = a.want_running and not alive and starting
            running = alive or pending
            cannot_start = (a.spec is not None and bool(a.spec.error)) or a.crashes_in_row or a.pull_refused
            if (a.ready and alive) or any_ready:
                state = azure_rules.RUNNING
            elif a.want_running and cannot_start:
                state = azure_rules.FAILED
            elif a.want_running:
                state = azure_rules.PROCESSING
            else:
                state = azure_rules.SCALED_TO_ZERO
            return {
                "state": state,
                "pulling": a.pull_done_at is not None,
                "inflight": a.inflight,
                "running": running,
                "ready": bool(a.ready and alive) or any_ready,
                "restarts": a.restarts,
                "pid": a.proc.pid if alive else None,
                "log_path": str(a.log_path) if a.log_path.exists() else None,
                "scaled_to_zero": not a.want_running and not running,
                "port": a.port,
                "private_port": a.private_port if alive else None,
                "replicas": replicas if running or any_ready else [],
            }

    def system_events(self, app_id: str) -> list[dict]:
        a = self.apps.get(app_id)
        return a.syslog.events() if a is not None else []

    def replica_names(self, app_id: str) -> list[str]:
        """The names of the app's replicas that run now (replica 0 first)."""
        return [r["name"] for r in self.status(app_id).get("replicas") or []]

    def log_lines(self, app_id: str, tail: int | None = None, replica: str | None = None) -> list[str]:
        """The console of the app's replica `replica` (a name from replica_names; None: replica 0)."""
        a = self.apps.get(app_id)
        path = a.log_path if a is not None else self.base / app_slug(app_id) / "console.log"
        if a is not None and replica:
            with a.lock:
                path = next((r.log_path for r in a.replicas_locked() if r.replica_name == replica), path)
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
        with self.lock:
            root, self._containers_root = self._containers_root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
