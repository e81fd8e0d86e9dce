"""The HTTP scale rule as Learn's scale-app page documents it (runtime/azure_rules.py): requests in the
past 15 s / 15 over concurrentRequests, up to maxReplicas, each replica its own process; the ingress
spreads requests over the ready replicas only; after the cooldown the extra replicas go; the system
log names each replica scaled out or in. Played at a small time_scale."""

import threading
import time

import pytest

from azure_standin import tls
from azure_standin.runtime import Runtime, azure_rules

from .test_cold_start import APP_ID, _reasons
from .test_runtime import _app, _get, _wait

# Answers its pid after a short wait (so a burst overlaps); replicas after the first start slowly,
# so a request sent to a replica still starting would fail.
PID_PY = r"""
import os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
if os.path.exists(os.environ["MARK"]):
    time.sleep(float(os.environ["LATER_START_S"]))
open(os.environ["MARK"], "a").close()
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path != "/health":
            time.sleep(0.1)
        body = str(os.getpid()).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["AITK_PORT"])), H).serve_forever()
"""
TIME_SCALE = 0.05  # the 15 s window is 0.75 s; cooldownPeriod 160 s is 8 s
COOLDOWN_S = 160


@pytest.mark.parametrize(
    "in_window, rule, lo, hi, want",
    [
        (0, 10, 0, 10, 0),  # no request: minReplicas
        (15, 1, 0, 10, 1),  # 1 request/s over a rule of 1: one replica carries it
        (16, 1, 0, 10, 2),  # more: a second
        (120, 8, 1, 10, 1),  # 8/s sustained is what concurrentRequests 8 takes for one replica
        (121, 8, 1, 10, 2),
        (1000, 1, 1, 3, 3),  # never past maxReplicas
    ],
)
def test_http_rule_counts_the_past_15_s_over_15(in_window, rule, lo, hi, want):
    assert azure_rules.http_desired_replicas(in_window, rule, lo, hi) == want


def test_scale_up_steps_1_4_8_16():
    assert azure_rules.scale_up_step(1, 30) == 4
    assert azure_rules.scale_up_step(4, 30) == 8
    assert azure_rules.scale_up_step(1, 2) == 2
    assert azure_rules.scale_up_step(32, 100) == 64


@pytest.fixture
def rt(tmp_path):
    ca, key = tls.make_ca(tmp_path / "tls")
    runtime = Runtime(tmp_path / "state", ca, key, time_scale=TIME_SCALE)
    runtime.test_ca = str(ca)
    try:
        yield runtime
    finally:
        runtime.stop_all()


def _scaling_app(tmp_path):
    app = _app(min_replicas=1)
    c = app["properties"]["template"]["containers"][0]
    c["command"] = ["python3", "-c", PID_PY]
    c["env"] = [{"name": "MARK", "value": str(tmp_path / "started")}, {"name": "LATER_START_S", "value": "1.5"}]
    app["properties"]["template"]["scale"] = {
        "minReplicas": 1,
        "maxReplicas": 2,
        "cooldownPeriod": COOLDOWN_S,
        "rules": [{"name": "http", "http": {"metadata": {"concurrentRequests": "1"}}}],
    }
    return app


def _burst(rt, fqdn, n):
    """n requests at once; the pids that answered and the statuses."""
    out = []
    lock = threading.Lock()

    def one():
        conn, r = _get(rt, fqdn, "/who")
        body = r.read().decode()
        conn.close()
        with lock:
            out.append((r.status, body))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _burst_until_scaled_out(rt, fqdn, app_id, timeout=60):
    """Bursts of 40 requests until a second replica is listed (on a busy machine the handshakes of
    one burst may spread over more than one 0.75 s window); every answer 200, none from a replica
    still starting."""
    deadline = time.monotonic() + timeout
    while True:
        answers = _burst(rt, fqdn, 40)
        assert {s for s, _ in answers} == {200}, answers
        if _wait(lambda: len(rt.status(app_id)["replicas"]) == 2, timeout=2):
            return
        assert time.monotonic() < deadline, rt.system_events(app_id)[-5:]


def test_a_burst_scales_out_to_max_replicas_spread_over_ready_ones_then_in_after_the_cooldown(rt, tmp_path):
    app_id = APP_ID + "scaling"
    fqdn = rt.apply(app_id, _scaling_app(tmp_path), {}, {"api-key": "k"})["fqdn"]
    assert _wait(lambda: rt.status(app_id)["ready"], timeout=60)
    assert len(rt.status(app_id)["replicas"]) == 1
    first_pid = rt.status(app_id)["pid"]

    # 40 requests within one 0.75 s window: 40 / 15 = 2.7/s over a rule of 1 asks for 3, capped at 2
    _burst_until_scaled_out(rt, fqdn, app_id)
    second = rt.status(app_id)["replicas"][1]
    assert second["name"] == "app1--rev1-1" and second["pid"] != first_pid
    assert _wait(lambda: all(r["ready"] for r in rt.status(app_id)["replicas"]), timeout=60)
    out = [e for e in rt.system_events(app_id) if e["Reason"] == "ScaledOut"]
    assert [e["ReplicaName"] for e in out] == ["app1--rev1-1"] and "from 1 to 2" in out[0]["Msg"], out

    # both ready: the ingress spreads a burst over both processes
    pids = {body for _, body in _burst(rt, fqdn, 20)}
    ready_pids = {str(r["pid"]) for r in rt.status(app_id)["replicas"]}
    assert pids == ready_pids and len(pids) == 2, (pids, ready_pids)
    assert len(rt.replica_names(app_id)) == 2

    # quiet: after the cooldown (160 s x 0.05) the rule's 1 replica is what runs; minReplicas 1 stays
    assert _wait(lambda: len(rt.status(app_id)["replicas"]) == 1, timeout=60)
    gone = [e for e in rt.system_events(app_id) if e["Reason"] == "ScaledIn"]
    assert [e["ReplicaName"] for e in gone] == ["app1--rev1-1"] and "from 2 to 1" in gone[0]["Msg"], gone
    assert rt.status(app_id)["ready"] and rt.status(app_id)["pid"] == first_pid
    assert _reasons(rt, app_id).count("ScaledOut") == 1


def test_scale_to_zero_takes_every_replica(rt, tmp_path):
    app_id = APP_ID + "tozero"
    app = _scaling_app(tmp_path)
    app["properties"]["template"]["scale"]["minReplicas"] = 0
    fqdn = rt.apply(app_id, app, {}, {"api-key": "k"})["fqdn"]
    _burst_until_scaled_out(rt, fqdn, app_id)  # the first request wakes it; the rule then adds a second
    t0 = time.monotonic()
    assert _wait(lambda: rt.status(app_id)["scaled_to_zero"], timeout=60), rt.status(app_id)
    assert time.monotonic() - t0 > COOLDOWN_S * TIME_SCALE * 0.5
    assert rt.status(app_id)["replicas"] == []
    gone = [e for e in rt.system_events(app_id) if e["Reason"] == "ScaledIn"]
    assert len(gone) == 2 and gone[0]["ReplicaName"] != gone[1]["ReplicaName"], gone  # each replica, then zero
    assert gone[0]["ReplicaName"] == "app1--rev1-1" and "from 1 to 0" in gone[1]["Msg"], gone
