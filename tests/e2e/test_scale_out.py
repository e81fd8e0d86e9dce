"""Issue 19: scale-out that actually happens, through the real az against the stand-in played at
Azure's timing x 0.05 (the HTTP rule's 15 s window is 0.75 s, a cooldownPeriod of 300 s is 15 s).
provision --max-replicas 2 --scale-concurrency 1 says the rule it sets; a burst of requests makes a
second replica (its own process) start; both serve the base model and an adapter put on the share
after they started; `status` lists both; the app scales back in after the cooldown; bench reports
the per-replica capacity and `--apply-scale-rule` writes it into the app."""

import json
import threading
import time

import requests

from aitk_testkit.scenario import FAKE_COMMAND

RESOURCE_GROUP = "aitk-scale"
FT_STORAGE = "aitkftscale01"
TIME_SCALE = 0.05
COOLDOWN_S = 300  # 15 s here (Azure's default): the checks while two replicas run fit in it
STANDIN_OPTIONS = {"time_scale": TIME_SCALE}


def _status(az, ws):
    return json.loads(az.run("aitk", "inference", "status", "-o", "json", cwd=ws, capture=True).stdout)


def _until(pred, timeout, what, fail=True):
    """pred() once it is true; past `timeout` an assertion with what() (or False with fail=False)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            assert not fail, what()
            return False
        time.sleep(0.2)


def _burst(url, key, ca, model, n):
    """n chat requests at once through the app's ingress; their status codes and answers."""
    out, lock = [], threading.Lock()

    def one():
        r = requests.post(
            url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8},
            verify=ca,
            timeout=120,
        )
        with lock:
            out.append((r.status_code, r.text))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_a_burst_starts_a_second_replica_both_serve_then_it_scales_in(fake_world):
    azure, az, ws = fake_world.azure, fake_world.az, fake_world.workspace
    az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
    provisioned = az.run(
        "aitk", "inference", "provision", "--min-replicas", "1", "--max-replicas", "2", "--scale-concurrency", "1",
        "--yes", "--parameters", f"defaultCommands={FAKE_COMMAND}", f"cooldownPeriod={COOLDOWN_S}",
        "-o", "json", cwd=ws, capture=True,
    )  # fmt: skip
    assert "HTTP scale rule: concurrentRequests 1 (--scale-concurrency)" in provisioned.stderr, provisioned.stderr
    assert json.loads(provisioned.stdout)["scaleConcurrentRequests"] == 1
    az.json("aitk", "inference", "deploy", "--timeout", "120", cwd=ws)
    ep = az.json("aitk", "inference", "endpoint", "--show-key", cwd=ws)
    url, key, ca = ep["url"], ep["apiKey"], azure.ca_bundle
    app_id = next(a for a in azure.runtime.apps if a.endswith("/containerapps/" + ep["app"].lower()))

    st = _status(az, ws)
    assert st["replicas"] == 1 and len(st["replicaList"]) == 1 and st["scaleConcurrentRequests"] == 1, st

    # 40 requests in one 0.75 s window: 40 / 15 per second over a rule of 1 asks for 3, capped at 2.
    # On a busy machine one burst's requests may spread over more windows: burst again until then.
    def scaled_out():
        answers = _burst(url, key, ca, "fake-base", 40)
        assert {code for code, _ in answers} == {200}, answers[:3]  # none went to a replica still starting
        return _until(
            lambda: len(azure.runtime.status(app_id)["replicas"]) == 2, timeout=3, what=lambda: None, fail=False
        )

    _until(scaled_out, timeout=120, what=lambda: azure.runtime.system_events(app_id)[-6:])
    st = _until(
        lambda: (s := _status(az, ws))["replicas"] == 2 and s,
        timeout=120,
        what=lambda: azure.runtime.system_events(app_id)[-6:],
    )
    names = [r["name"] for r in st["replicaList"]]
    assert len(set(names)) == 2 and all(r["runningState"] == "Running" for r in st["replicaList"]), st
    scaled_out = [e for e in azure.runtime.system_events(app_id) if e["Reason"] == "ScaledOut"]
    assert [e["ReplicaName"] for e in scaled_out] == [names[1]], scaled_out

    # an adapter that appears on the share after both replicas started: each process serves it
    (fake_world.share / "aitk" / "adapters" / "late-bot").mkdir(parents=True)
    replicas = azure.runtime.status(app_id)["replicas"]
    assert len({r["pid"] for r in replicas}) == 2
    for r in replicas:
        for model in ("fake-base", "late-bot"):
            direct = requests.post(
                f"http://127.0.0.1:{r['private_port']}/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                timeout=60,
            )
            assert direct.status_code == 200 and f"echo({model})" in direct.text, (r["name"], direct.text)
    # and through the ingress
    chat = az.run("aitk", "inference", "chat", "-m", "late-bot", "--message", "hi", cwd=ws, capture=True)
    assert "echo(late-bot)" in chat.stdout, chat.stdout

    # quiet: after the cooldown the second replica goes; minReplicas 1 keeps the first
    st = _until(
        lambda: (s := _status(az, ws))["replicas"] == 1 and s,
        timeout=120,
        what=lambda: azure.runtime.system_events(app_id)[-6:],
    )
    assert [r["name"] for r in st["replicaList"]] == [names[0]], st
    scaled_in = [e for e in azure.runtime.system_events(app_id) if e["Reason"] == "ScaledIn"]
    assert [e["ReplicaName"] for e in scaled_in] == [names[1]], scaled_in

    # bench: what one replica carried, and --apply-scale-rule writes the matching value into the app
    res = az.json(
        "aitk", "inference", "bench", "--concurrency", "1", "4", "--requests", "8", "--prompt-tokens", "16",
        "--output-tokens", "8", "--apply-scale-rule", cwd=ws,
    )  # fmt: skip
    cap = res["replicaCapacity"]
    assert cap["concurrentRequests"] == max(1, int(cap["requestsPerSecondPerReplica"])), cap
    assert res["scaleRule"]["measured"] == cap["concurrentRequests"]
    assert res["scaleRule"]["applied"] == (cap["concurrentRequests"] != 1), res["scaleRule"]
    assert _status(az, ws)["scaleConcurrentRequests"] == cap["concurrentRequests"]
    # a later provision keeps what bench measured: the app's current rule comes before the estimate
    what_if = az.run("aitk", "inference", "provision", "--what-if", cwd=ws, capture=True)
    kept = f"HTTP scale rule: concurrentRequests {cap['concurrentRequests']} (the app's current rule)"
    assert kept in what_if.stderr, what_if.stderr
