"""The runtime's Azure timing (runtime/azure_rules.py), played at a small time_scale: the ingress's
240 s idle timeout (a flowing stream runs on, a silent request or stream ends), scale to zero after cooldownPeriod and back on a request, probes that restart a
replica, the image pull delay, the system log and the Log Analytics rows and query subset."""

import http.client
import time

import pytest

from azure_standin import loganalytics, tls
from azure_standin.runtime import Runtime, azure_rules, system_log
from azure_standin.runtime.replica import NOTE_REASON

from .test_runtime import _app, _get, _wait

SLOW_PY = r"""
import os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
time.sleep(float(os.environ.get("SLEEP", "0")))
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
print("listening", flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["AITK_PORT"])), H).serve_forever()
"""
APP_ID = "/subscriptions/s/resourcegroups/rg/providers/microsoft.app/containerapps/"
# A replica whose answers pace themselves: /drip?n=N&gap=G sends N chunks G s apart (a model streaming
# tokens), /stall?after=K&gap=G sends K chunks then nothing for G s, /silent?gap=G waits G s before
# its headers (a long prefill or a request queued behind others).
PACED_PY = r"""
import os, time
from urllib.parse import urlparse, parse_qs
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data)); self.wfile.flush()
    def do_GET(self):
        u = urlparse(self.path); q = {k: float(v[0]) for k, v in parse_qs(u.query).items()}
        if u.path == "/silent":
            time.sleep(q["gap"])
        self.send_response(200); self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
        if u.path == "/drip":
            for i in range(int(q["n"])):
                self.chunk(b"data: %d\n\n" % i); time.sleep(q["gap"])
        elif u.path == "/stall":
            for i in range(int(q["after"])):
                self.chunk(b"data: %d\n\n" % i)
            time.sleep(q["gap"])
            self.chunk(b"data: late\n\n")
        self.wfile.write(b"0\r\n\r\n"); self.wfile.flush()
ThreadingHTTPServer(("127.0.0.1", int(os.environ["AITK_PORT"])), H).serve_forever()
"""


def _slow_app(sleep, cooldown=None, probes=None):
    app = _app(min_replicas=0)
    c = app["properties"]["template"]["containers"][0]
    c["command"] = ["python3", "-c", SLOW_PY]
    c["env"] = [{"name": "SLEEP", "value": str(sleep)}]
    if probes is not None:
        c["probes"] = probes
    if cooldown is not None:
        app["properties"]["template"]["scale"]["cooldownPeriod"] = cooldown
    return app


@pytest.fixture
def scaled(tmp_path):
    """A runtime at time_scale 0.01: the 240 s cut is 2.4 s, the 300 s cooldown 3 s."""
    ca, key = tls.make_ca(tmp_path / "tls")
    rt = Runtime(tmp_path / "state", ca, key, time_scale=0.01)
    rt.test_ca = str(ca)
    rt.test_share = tmp_path / "share"
    rt.test_share.mkdir()
    try:
        yield rt
    finally:
        rt.stop_all()


def _reasons(rt, app_id):
    """Azure's event reasons in the app's system log (the stand-in's own notes left out)."""
    return [e["Reason"] for e in rt.system_events(app_id) if e["Reason"] != NOTE_REASON]


def test_ingress_cuts_a_request_at_240_s_then_the_replica_answers(scaled):
    app_id = APP_ID + "slow"
    # the template's start-up budget, 10 + 95 x 10 s (9.6 s here): a 400 s start fits in it
    probes = [
        {
            "type": "Startup",
            "tcpSocket": {"port": 8000},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 95,
        }
    ]
    fqdn = scaled.apply(app_id, _slow_app(sleep=4, probes=probes), {}, {})["fqdn"]
    t0 = time.monotonic()
    conn, r = _get(scaled, fqdn, "/health")
    assert r.status == 504 and r.read() == azure_rules.INGRESS_TIMEOUT_BODY.encode()
    conn.close()
    assert 2.0 < time.monotonic() - t0 < 4.0  # 240 s x 0.01, not the replica's 4 s
    assert scaled.status(app_id)["state"] == azure_rules.PROCESSING  # starting is not Failed
    assert _wait(lambda: scaled.status(app_id)["ready"], timeout=30)
    conn, r = _get(scaled, fqdn, "/health")
    assert r.status == 200
    conn.close()


def test_ingress_timeout_is_idle_time_a_flowing_stream_outlasts_it(scaled):
    """240 s x 0.01 = 2.4 s of silence ends a request; bytes that keep coming keep it alive."""
    app_id = APP_ID + "paced"
    app = _app()
    app["properties"]["template"]["containers"][0]["command"] = ["python3", "-c", PACED_PY]
    fqdn = scaled.apply(app_id, app, {"/mount": scaled.test_share}, {"api-key": "k"})["fqdn"]
    assert _wait(lambda: scaled.status(app_id)["ready"], timeout=30)

    # 40 chunks 0.1 s apart: 4 s in all, longer than the 2.4 s idle timeout, never idle for it
    t0 = time.monotonic()
    conn, r = _get(scaled, fqdn, "/drip?n=40&gap=0.1")
    assert r.status == 200 and r.read().count(b"data: ") == 40
    conn.close()
    assert time.monotonic() - t0 > 3.5  # it really outlasted 2.4 s

    # two chunks, then silent for 4 s (past the 2.4 s): the stream is cut, the late chunk never comes
    conn, r = _get(scaled, fqdn, "/stall?after=2&gap=4")
    assert r.status == 200
    got = b""
    with pytest.raises(http.client.IncompleteRead):
        got = r.read()
    conn.close()
    assert b"late" not in got

    # the replica has the request but sends no byte for 4 s: the ingress answers 504 `stream timeout`
    t0 = time.monotonic()
    conn, r = _get(scaled, fqdn, "/silent?gap=4")
    assert r.status == 504 and r.read() == azure_rules.INGRESS_IDLE_BODY.encode()
    conn.close()
    assert 2.0 < time.monotonic() - t0 < 4.0


def test_scale_to_zero_after_the_cooldown_and_back_on_a_request(scaled):
    app_id = APP_ID + "idle"
    fqdn = scaled.apply(app_id, _slow_app(sleep=0), {}, {})["fqdn"]  # default cooldown 300 s -> 3 s
    assert scaled.status(app_id)["state"] == azure_rules.SCALED_TO_ZERO
    conn, r = _get(scaled, fqdn, "/health")
    assert r.status == 200
    conn.close()
    assert scaled.status(app_id)["state"] == azure_rules.RUNNING
    time.sleep(1.5)
    assert scaled.status(app_id)["running"], "scaled in before the cooldown"
    assert _wait(lambda: scaled.status(app_id)["state"] == azure_rules.SCALED_TO_ZERO, timeout=10)
    assert "ScaledIn" in _reasons(scaled, app_id)
    conn, r = _get(scaled, fqdn, "/health")  # wakes it again
    assert r.status == 200
    conn.close()
    assert _reasons(scaled, app_id).count("ScaledOut") == 2


def test_a_failing_startup_probe_restarts_the_replica(scaled):
    app_id = APP_ID + "neverup"
    probes = [{"type": "Startup", "tcpSocket": {"port": 8000}, "periodSeconds": 10, "failureThreshold": 10}]
    scaled.apply(app_id, _slow_app(sleep=3600, cooldown=3600, probes=probes), {}, {})
    scaled.apps[app_id].start_now()
    assert _wait(lambda: scaled.status(app_id)["restarts"] >= 2, timeout=30)  # 10 x 10 s x 0.01 = 1 s each
    assert scaled.status(app_id)["state"] == azure_rules.FAILED
    events = scaled.system_events(app_id)
    assert any("failed its startup probe 10 times" in e["Msg"] for e in events)
    assert "ProbeFailed" in _reasons(scaled, app_id)


def test_system_log_and_log_analytics_keep_the_exit_and_the_console(scaled, tmp_path):
    app_id = APP_ID + "crash"
    app = _slow_app(sleep=0, cooldown=3600)
    app["properties"]["template"]["containers"][0]["command"] = [
        "python3",
        "-c",
        "import sys; print('aitk-serve: error: no model under /mount'); sys.exit(2)",
    ]
    scaled.apply(app_id, app, {}, {})
    scaled.apps[app_id].start_now()
    assert _wait(lambda: scaled.status(app_id)["restarts"] >= 1, timeout=30)
    reasons = _reasons(scaled, app_id)
    order = ["AssigningReplica", "PullingImage", "ImagePulled", "ContainerStarted", "ContainerTerminated"]
    assert [r for r in reasons if r in order][: len(order)] == order
    assert any("exit code '2'" in e["Msg"] for e in scaled.system_events(app_id))
    console = system_log.read_rows(scaled.la_dir, system_log.CONSOLE_TABLE)
    assert "aitk-serve: error: no model under /mount" in [r["Log_s"] for r in console]
    assert not any("exited with code" in r["Log_s"] for r in console)  # the runtime's notes: system log only


def test_image_pull_delay_per_image_size(tmp_path):
    ca, key = tls.make_ca(tmp_path / "tls")
    # vllm/vllm-openai is ~10 GB: at 1000 MB/s that is 10 s on Azure, 1 s at time_scale 0.1
    rt = Runtime(tmp_path / "state", ca, key, time_scale=0.1, pull_mb_per_s=1000)
    try:
        app_id = APP_ID + "pull"
        rt.apply(app_id, _slow_app(sleep=0), {}, {})
        t0 = time.monotonic()
        rt.apps[app_id].start_now()
        assert _wait(lambda: rt.status(app_id)["pulling"], timeout=5)
        assert _wait(lambda: "ContainerStarted" in _reasons(rt, app_id), timeout=10)
        assert time.monotonic() - t0 >= 0.9
        pulled = next(e for e in rt.system_events(app_id) if e["Reason"] == "ImagePulled")
        assert 'pulled image "vllm/vllm-openai:v0.32.0" in ' in pulled["Msg"]
    finally:
        rt.stop_all()


@pytest.mark.parametrize(
    "probe, fragment",
    [
        ({"type": "Startup", "periodSeconds": 241}, "periodSeconds must be between 1 and 240"),
        ({"type": "Startup", "initialDelaySeconds": 61}, "initialDelaySeconds must be between 0 and 60"),
        ({"type": "Readiness", "failureThreshold": 49}, "failureThreshold must be between 1 and 48"),
        ({"type": "Startup", "failureThreshold": 241}, "failureThreshold must be between 1 and 240"),
        ({"type": "Sometimes"}, "is not one of"),
    ],
)
def test_probe_limits(probe, fragment):
    (err,) = azure_rules.probe_errors([probe])
    assert fragment in err
    assert azure_rules.probe_errors([{"type": "Startup", "periodSeconds": 10, "failureThreshold": 95}]) == []


def test_kql_subset():
    rows = [
        {"TimeGenerated": "1", "RevisionName_s": "a--1", "Log_s": "x one", "_ResourceId": "r"},
        {"TimeGenerated": "2", "RevisionName_s": "a--2", "Log_s": "y two", "_ResourceId": "r"},
        {"TimeGenerated": "3", "RevisionName_s": "a--2", "Log_s": "z two", "_ResourceId": "r"},
    ]

    def q(text):
        return loganalytics.run_query(text, lambda table: list(rows))

    cols, got = q("ContainerAppConsoleLogs_CL | where RevisionName_s == 'a--2' | order by TimeGenerated desc | take 1")
    assert [r["Log_s"] for r in got] == ["z two"] and "_ResourceId" not in cols
    _, got = q(
        "ContainerAppConsoleLogs_CL | where Log_s contains 'TWO' and RevisionName_s != 'x' | sort by TimeGenerated asc"
    )
    assert [r["Log_s"] for r in got] == ["y two", "z two"]
    cols, _ = q("ContainerAppSystemLogs_CL | project Log_s, TimeGenerated")
    assert cols == ["Log_s", "TimeGenerated"]
    for bad in (
        "Nope | take 1",
        "ContainerAppSystemLogs_CL | summarize dcount(Log_s)",
        "ContainerAppSystemLogs_CL | where TimeGenerated > ago(5x)",
        "ContainerAppSystemLogs_CL | take x",
    ):
        with pytest.raises(loganalytics.QueryError):
            q(bad)
