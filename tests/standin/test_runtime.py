"""The stand-in's container runtime: local process, /mount mapping, TLS ingress, streaming,
restarts, scale from zero, clean stop."""

import http.client
import os
import ssl
import time

import pytest

from azure_standin import tls
from azure_standin.runtime import Runtime

APP_PY = r"""
import os, sys, time, json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
HEALTHY = os.environ.get("HEALTHY", "1") == "1"
import tempfile
HOME, TMP = os.environ["HOME"], tempfile.gettempdir()
LEFT_BEHIND = sorted(os.listdir(HOME)) + sorted(os.listdir(TMP))  # by an earlier container
for folder in (HOME, TMP):
    os.makedirs(os.path.join(folder, ".cache", "torchinductor"), exist_ok=True)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        sys.stderr.write("req %s\n" % self.path); sys.stderr.flush()
    def _send(self, code, body, ctype="text/plain"):
        self.send_response(code); self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        if self.path == "/health":
            return self._send(200 if HEALTHY else 503, b"ok")
        if self.path == "/info":
            info = {"pid": os.getpid(), "data": open(os.environ["DATA"]).read(),
                    "secret": os.environ.get("SECRET"), "cwd": os.getcwd(),
                    "exe": sys.executable, "env": sorted(os.environ),
                    "home": HOME, "tmp": TMP, "left_behind": LEFT_BEHIND}
            return self._send(200, json.dumps(info).encode(), "application/json")
        if self.path == "/stream":
            self.send_response(200); self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
            for i in range(3):
                d = ("data: %d\n\n" % i).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(d), d)); self.wfile.flush(); time.sleep(0.4)
            self.wfile.write(b"0\r\n\r\n"); self.wfile.flush(); return
        if self.path == "/crash":
            self._send(200, b"bye"); os._exit(3)
        self._send(404, b"no")
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        self._send(200, json.dumps({"got": body.decode(), "auth": self.headers.get("Authorization"),
                                    "xfp": self.headers.get("X-Forwarded-Proto")}).encode(), "application/json")
print("listening on", os.environ["AITK_PORT"], flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["AITK_PORT"])), H).serve_forever()
"""


def _app(min_replicas=1, extra_env=(), healthy=True):
    env = [
        {"name": "DATA", "value": "/mount/x"},
        {"name": "SECRET", "secretRef": "api-key"},
        {"name": "HEALTHY", "value": "1" if healthy else "0"},
        *extra_env,
    ]
    return {
        "name": "app1",
        "properties": {
            "latestRevisionName": "app1--rev1",
            "configuration": {"ingress": {"external": True, "targetPort": 8000}, "secrets": [{"name": "api-key"}]},
            "template": {
                "containers": [
                    {
                        "name": "main",
                        "image": "vllm/vllm-openai:v0.32.0",
                        "command": ["python3", "-c", APP_PY],
                        "env": env,
                        "volumeMounts": [{"volumeName": "share", "mountPath": "/mount"}],
                        "probes": [{"type": "Readiness", "httpGet": {"path": "/health", "port": 8000}}],
                    }
                ],
                "volumes": [{"name": "share", "storageType": "AzureFile", "storageName": "s"}],
                "scale": {"minReplicas": min_replicas, "maxReplicas": 1},
            },
        },
    }


@pytest.fixture
def rt(tmp_path):
    ca, key = tls.make_ca(tmp_path / "tls")
    r = Runtime(tmp_path / "state", ca, key)
    r.test_ca = str(ca)
    share = tmp_path / "share"
    share.mkdir()
    (share / "x").write_text("from the share")
    r.test_share = share
    r.test_pids = []
    try:
        yield r
    finally:
        pids = r.test_pids + [a.proc.pid for a in r.apps.values() if a.proc is not None]
        r.stop_all()
        for pid in pids:
            assert not _alive(pid), pid


def _get(rt, fqdn, path, timeout=30):
    host, port = fqdn.split(":")
    ctx = ssl.create_default_context(cafile=rt.test_ca)
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=timeout)
    conn.request("GET", path)
    return conn, conn.getresponse()


def _alive(pid):
    """True if pid runs (a zombie waiting for init to reap it does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(pred, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_runtime_apply_ingress_stream_restart(rt):
    app_id = "/subscriptions/s/resourcegroups/rg/providers/microsoft.app/containerapps/app1"
    vols = {"/mount": rt.test_share}
    out = rt.apply(app_id, _app(), vols, {"api-key": "s3cret"})
    assert out["fqdn"].startswith("127.0.0.1:")
    assert _wait(lambda: rt.status(app_id)["ready"]), rt.log_lines(app_id)
    st = rt.status(app_id)
    assert st["running"] and st["pid"] and st["restarts"] == 0
    rt.test_pids.append(st["pid"])

    conn, r = _get(rt, out["fqdn"], "/info")
    import json

    info = json.loads(r.read())
    conn.close()
    assert info["data"] == "from the share"  # /mount/x -> the share's folder
    assert info["secret"] == "s3cret"  # secretRef resolved
    assert info["pid"] == st["pid"]
    assert os.path.realpath(info["exe"]) == os.path.realpath(__import__("sys").executable)
    assert "AITK_PORT" in info["env"] and "PYTEST_CURRENT_TEST" not in info["env"]

    # SSE-like stream arrives chunk by chunk, not buffered
    conn, r = _get(rt, out["fqdn"], "/stream")
    assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream"
    arrivals = []
    while True:
        d = r.read1(65536)
        if not d:
            break
        arrivals.append((time.monotonic(), d))
    conn.close()
    assert b"".join(d for _, d in arrivals) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert len(arrivals) > 1 and arrivals[-1][0] - arrivals[0][0] > 0.5

    # the OpenAI client's HTTP stack: streaming, keep-alive, POST bodies, headers through
    import httpx

    with httpx.Client(verify=ssl.create_default_context(cafile=rt.test_ca), timeout=30) as c:
        with c.stream("GET", f"https://{out['fqdn']}/stream") as r:
            pieces = list(r.iter_raw())
        assert len(pieces) > 1 and b"".join(pieces).count(b"data:") == 3
        r = c.post(
            f"https://{out['fqdn']}/v1/chat/completions",
            json={"model": "m"},
            headers={"Authorization": "Bearer s3cret"},
        )
        assert r.status_code == 200
        assert r.json() == {"got": '{"model":"m"}', "auth": "Bearer s3cret", "xfp": "https"}
        assert c.get(f"https://{out['fqdn']}/nope").status_code == 404

    # unchanged template: no-op, same port and pid
    assert rt.apply(app_id, _app(), vols, {"api-key": "s3cret"}) == out
    assert rt.status(app_id)["pid"] == st["pid"]

    # revision restart: new pid
    rt.restart(app_id)
    assert _wait(lambda: rt.status(app_id)["ready"])
    pid2 = rt.status(app_id)["pid"]
    assert pid2 != st["pid"]
    rt.test_pids.append(pid2)

    # changed secret: no new revision, no restart: the running replica keeps the old value until
    # the revision restarts (https://learn.microsoft.com/azure/container-apps/manage-secrets)
    assert rt.apply(app_id, _app(), vols, {"api-key": "other"}) == out
    time.sleep(0.5)
    conn, r = _get(rt, out["fqdn"], "/info")
    info = json.loads(r.read())
    conn.close()
    assert info["secret"] == "s3cret" and info["pid"] == pid2 and rt.status(app_id)["restarts"] == 0
    rt.restart(app_id)
    assert _wait(lambda: rt.status(app_id)["ready"] and rt.status(app_id)["pid"] != pid2)
    conn, r = _get(rt, out["fqdn"], "/info")
    info = json.loads(r.read())
    conn.close()
    assert info["secret"] == "other" and info["pid"] != pid2
    rt.test_pids.append(info["pid"])

    # a crash is restarted and counted
    conn, r = _get(rt, out["fqdn"], "/crash")
    r.read()
    conn.close()
    assert _wait(lambda: rt.status(app_id)["restarts"] == 1 and rt.status(app_id)["ready"])
    assert any("exited with code 3" in e["Msg"] for e in rt.system_events(app_id))  # the runtime's note
    assert any("listening on" in ln for ln in rt.log_lines(app_id, tail=50))


def _info(rt, fqdn):
    import json

    conn, r = _get(rt, fqdn, "/info")
    try:
        return json.loads(r.read())
    finally:
        conn.close()


def test_each_container_starts_with_an_empty_home_and_tmp(rt):
    """A container's own file system is gone when it stops (storage-mounts.md): what one container
    left in HOME or /tmp (caches) is not there for the next one; the share is."""
    app_id = "/subscriptions/s/resourcegroups/rg/providers/microsoft.app/containerapps/app1"
    out = rt.apply(app_id, _app(), {"/mount": rt.test_share}, {"api-key": "k"})
    assert _wait(lambda: rt.status(app_id)["ready"]), rt.log_lines(app_id)
    first = _info(rt, out["fqdn"])
    assert first["left_behind"] == []
    assert os.path.realpath(first["home"]) != os.path.realpath(os.path.expanduser("~"))
    assert os.path.realpath(first["tmp"]) != os.path.realpath(__import__("tempfile").gettempdir())
    assert os.path.realpath(first["cwd"]) == os.path.realpath(first["home"])
    assert len(first["tmp"]) + len("/0f0a469f-987a-e10a6ddbefac-ipc") < 107  # room for a socket path (vLLM's)
    rt.test_pids.append(first["pid"])
    rt.restart(app_id)
    assert _wait(lambda: rt.status(app_id)["ready"] and rt.status(app_id)["pid"] != first["pid"])
    second = _info(rt, out["fqdn"])
    assert second["pid"] != first["pid"] and second["left_behind"] == []  # the first one's .cache is gone
    assert second["data"] == "from the share"
    assert not os.path.exists(first["home"]) and not os.path.exists(first["tmp"])  # removed with its container
    rt.test_pids.append(second["pid"])
    rt.stop_all()
    assert not os.path.exists(os.path.dirname(os.path.dirname(second["home"])))  # nothing left in the temp dir


def test_runtime_scale_from_zero_and_unready(rt):
    zero = "/subscriptions/s/resourcegroups/rg/providers/microsoft.app/containerapps/zero"
    sick = "/subscriptions/s/resourcegroups/rg/providers/microsoft.app/containerapps/sick"
    vols = {"/mount": rt.test_share}
    out = rt.apply(zero, _app(min_replicas=0), vols, {"api-key": "k"})
    out2 = rt.apply(sick, _app(healthy=False), vols, {"api-key": "k"})
    assert out["fqdn"] != out2["fqdn"]
    time.sleep(0.5)
    assert rt.status(zero)["running"] is False
    conn, r = _get(rt, out["fqdn"], "/health")  # held until the replica is ready
    assert r.status == 200 and r.read() == b"ok"
    conn.close()
    assert rt.status(zero)["running"] and rt.status(zero)["ready"]

    assert _wait(lambda: rt.status(sick)["running"])
    time.sleep(0.5)
    conn, r = _get(rt, out2["fqdn"], "/health")
    assert r.status == 503  # no ready replica
    r.read()
    conn.close()
    assert rt.status(sick)["ready"] is False

    rt.remove(sick)
    assert rt.status(sick)["running"] is False
    assert rt.status("/nope") == {"running": False, "ready": False, "restarts": 0, "pid": None, "log_path": None}


STUBBORN_PY = r"""
import os, signal, subprocess, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(os.environ["CHILD_FILE"], "w").write(str(child.pid))
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
ThreadingHTTPServer(("127.0.0.1", int(os.environ["AITK_PORT"])), H).serve_forever()
"""


def test_runtime_stop_kills_the_group(rt, monkeypatch, tmp_path):
    """SIGTERM is ignored -> SIGKILL after the grace period, children included; no command -> error."""
    from azure_standin.runtime import replica

    monkeypatch.setattr(replica, "STOP_GRACE_S", 1.0)
    app_id = "/subscriptions/s/resourcegroups/rg/providers/microsoft.app/containerapps/stubborn"
    app = _app()
    c = app["properties"]["template"]["containers"][0]
    c["command"] = ["python", "-c", STUBBORN_PY]
    c["env"] = [{"name": "CHILD_FILE", "value": "/mount/child.pid"}]
    rt.apply(app_id, app, {"/mount": rt.test_share}, {})
    assert _wait(lambda: rt.status(app_id)["ready"]), rt.log_lines(app_id)
    pid = rt.status(app_id)["pid"]
    child = int((rt.test_share / "child.pid").read_text())
    t0 = time.monotonic()
    rt.remove(app_id, wait=True)
    assert time.monotonic() - t0 < 15
    for p in (pid, child):
        assert not _alive(p), p

    bad = "/subscriptions/s/resourcegroups/rg/providers/microsoft.app/containerapps/bad"
    app = _app()
    app["properties"]["template"]["containers"][0]["command"] = []
    out = rt.apply(bad, app, {"/mount": rt.test_share}, {})
    assert rt.status(bad)["running"] is False
    conn, r = _get(rt, out["fqdn"], "/health")
    assert r.status == 503
    conn.close()
    assert any("no command" in e["Msg"] for e in rt.system_events(bad))


def test_runtime_port_survives_a_standin_restart(tmp_path):
    """A new Runtime on the same state_dir (the stand-in restarted) gives an app its old port,
    so the stored ingress fqdn stays right."""
    ca, key = tls.make_ca(tmp_path / "tls")
    share = tmp_path / "share"
    share.mkdir()
    (share / "x").write_text("x")
    app_id = "/subscriptions/s/resourcegroups/rg/providers/microsoft.app/containerapps/again"
    r1 = Runtime(tmp_path / "state", ca, key)
    try:
        fqdn = r1.apply(app_id, _app(min_replicas=0), {"/mount": share}, {"api-key": "k"})["fqdn"]
    finally:
        r1.stop_all()
    r2 = Runtime(tmp_path / "state", ca, key)
    try:
        assert r2.apply(app_id, _app(min_replicas=0), {"/mount": share}, {"api-key": "k"})["fqdn"] == fqdn
        assert r2.status(app_id)["running"] is False  # minReplicas 0: nothing started
    finally:
        r2.stop_all()


def test_runtime_crash_loop_is_a_503_not_a_hang(rt):
    app_id = "/subscriptions/s/resourcegroups/rg/providers/microsoft.app/containerapps/crashy"
    app = _app(min_replicas=0)
    app["properties"]["template"]["containers"][0]["command"] = [
        "python3",
        "-c",
        "import sys; print('boom'); sys.exit(5)",
    ]
    out = rt.apply(app_id, app, {"/mount": rt.test_share}, {"api-key": "k"})
    t0 = time.monotonic()
    conn, r = _get(rt, out["fqdn"], "/v1/models", timeout=60)
    assert r.status == 503
    conn.close()
    assert time.monotonic() - t0 < 20
    st = rt.status(app_id)
    assert st["restarts"] >= 3 and not st["ready"]
    assert any("exited with code 5" in e["Msg"] for e in rt.system_events(app_id))  # the runtime's note
    assert any(ln == "boom" for ln in rt.log_lines(app_id))
