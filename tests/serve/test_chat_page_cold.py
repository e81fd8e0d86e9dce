"""The chat page through a cold ingress (issue #11), in headless Chromium against the stand-in's
container runtime played at Azure's timing x 0.01 (the 240 s ingress idle timeout is 2.4 s, the default
300 s cooldownPeriod 3 s), over the ingress's TLS with the stand-in's leaf trusted by its key only.

The replica is the real chat page and key check (aitk_serve.middleware.KeyGateMiddleware) in
front of a small fake of vLLM's API, so the browser sees what it sees on Azure without a model:
- first load of a scaled-to-zero app: the ingress holds GET / while a replica starts and the page
  appears; when the start outlasts the 240 s cut the ingress answers its own raw 504 (we cannot
  change that page: `az aitk inference endpoint` wakes the app first, docs/serving.md);
- the page open while the app scales to zero: the next message is held, cut with a 504, and the page
  says it is waking the endpoint, polls /health and resends: the reply arrives, no raw 504 shown;
- a wrong key after the wake still opens the key dialog saying the key was refused;
- a hold longer than 5 s (not cut) says on the status line what the wait is;
- a reply that streams for longer than 240 s arrives whole (the limit is idle time); one that stalls
  for 240 s mid-stream, or whose replica dies, keeps its text and says why;
- hostile model names, replies and error text are shown as text, not run."""

import base64
import hashlib
import time

import pytest

from azure_standin import tls
from azure_standin.runtime import Runtime, azure_rules
from serve.conftest import API_KEY, CONTAINER
from serve.test_chat_page import quit_browser, start_browser, wait

pytestmark = [pytest.mark.browser]

TIME_SCALE = 0.01
APP_ID = "/subscriptions/s/resourcegroups/rg/providers/microsoft.app/containerapps/"
# A fake of the vLLM routes the page uses, behind the launcher's own page and key middleware;
# SLEEP seconds of start-up first (loading a model).
FAKE_VLLM = r"""
import asyncio, json, os, sys, time
time.sleep(float(os.environ.get("SLEEP", "0")))
import uvicorn
from aitk_serve.middleware import KeyGateMiddleware

async def body_of(receive):
    parts = []
    while True:
        m = await receive()
        parts.append(m.get("body", b""))
        if not m.get("more_body"):
            return b"".join(parts)

async def answer(send, status, obj):
    data = json.dumps(obj).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})

async def fake_vllm(scope, receive, send):
    if scope["path"] == "/health":
        return await answer(send, 200, {})
    if scope["path"] == "/v1/models":
        model_id = os.environ.get("MODEL_ID", "fake-base")
        return await answer(send, 200, {"object": "list", "data": [{"id": model_id, "object": "model"}]})
    if scope["path"] == "/v1/chat/completions":
        req = json.loads(await body_of(receive))
        last = [m["content"] for m in req["messages"] if m["role"] == "user"][-1]
        if "stall" in last:  # a request the server takes 5 s to start answering (past the idle limit here)
            await asyncio.sleep(5)
        if "refuse" in last:  # vLLM's error answer, echoing what it was sent
            return await answer(send, 400, {"error": {"message": "bad request: " + last}})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        words = ["echo:", *last.split()]
        if "long" in last:  # a reply that streams for 6 s (past the idle limit here, never idle for it)
            words += [f"w{i}" for i in range(60)]
        for i, word in enumerate(words):
            if "crash" in last and i == 2:
                os._exit(3)  # the replica dies mid-reply
            if "pause" in last and i == 3:
                await asyncio.sleep(5)  # silent mid-reply for longer than the idle limit here
            chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
            await send({"type": "http.response.body", "body": b"data: " + json.dumps(chunk).encode() + b"\n\n",
                        "more_body": True})
            await asyncio.sleep(0.1 if "long" in last else 0.02)
        return await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
    return await answer(send, 404, {"error": "not found"})

print("fake vLLM listening", flush=True)
uvicorn.run(KeyGateMiddleware(fake_vllm), host="127.0.0.1", port=int(os.environ["AITK_PORT"]),
            log_level="warning", lifespan="off")
"""


def _app(name, sleep, cooldown, model_id="fake-base"):
    env = [
        {"name": "SLEEP", "value": str(sleep)},
        {"name": "MODEL_ID", "value": model_id},
        {"name": "PYTHONPATH", "value": str(CONTAINER)},
        {"name": "VLLM_API_KEY", "secretRef": "api-key"},
    ]
    # The template's startup probe (10 + 95 x 10 s = 960 s on Azure): Azure's default TCP probe gives a
    # replica 240 s, too little for a 400 s start.
    probes = [
        {
            "type": "Startup",
            "httpGet": {"path": "/health", "port": 8000},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 95,
        },
    ]
    return {
        "name": name,
        "properties": {
            "latestRevisionName": f"{name}--rev1",
            "configuration": {"ingress": {"external": True, "targetPort": 8000}, "secrets": [{"name": "api-key"}]},
            "template": {
                "containers": [
                    {
                        "name": "main",
                        "image": "aitk/fake",
                        "command": ["python3", "-c", FAKE_VLLM],
                        "env": env,
                        "probes": probes,
                    }
                ],
                "scale": {"minReplicas": 0, "maxReplicas": 1, "cooldownPeriod": cooldown},
            },
        },
    }


def _spki_sha256(cert_pem_path):
    """Chromium's --ignore-certificate-errors-spki-list value: base64 SHA-256 of the leaf's public key,
    so the browser accepts this one certificate and nothing else."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem_path.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def cold(tmp_path_factory):
    base = tmp_path_factory.mktemp("cold-page")
    ca, key = tls.make_ca(base / "tls")
    rt = Runtime(base / "state", ca, key, time_scale=TIME_SCALE)
    leaf = base / "state" / "runtime" / "tls" / "ingress.pem"
    driver, profile = start_browser([f"--ignore-certificate-errors-spki-list={_spki_sha256(leaf)}"])
    try:
        yield rt, driver
    finally:
        quit_browser(driver, profile)
        rt.stop_all()


def _deploy(rt, name, sleep, cooldown=300, model_id="fake-base"):
    """A scaled-to-zero app whose replica takes `sleep` s to start; `cooldown` in Azure seconds (a
    replica still starting when it passes with no request is scaled in, as KEDA does)."""
    app_id = APP_ID + name
    fqdn = rt.apply(app_id, _app(name, sleep, cooldown, model_id), {}, {"api-key": API_KEY})["fqdn"]
    assert rt.status(app_id)["state"] == azure_rules.SCALED_TO_ZERO
    return app_id, f"https://{fqdn}/"


def _until_scaled_to_zero(rt, app_id, timeout=30):
    deadline = time.monotonic() + timeout
    while rt.status(app_id)["state"] != azure_rules.SCALED_TO_ZERO:
        assert time.monotonic() < deadline, rt.status(app_id)
        time.sleep(0.2)


def _reasons(rt, app_id):
    return [e["Reason"] for e in rt.system_events(app_id)]


# Every text the status line shows, in order (the page rewrites it every second while waiting).
RECORD_STATUSES = """
window.__statuses = [];
new MutationObserver(() => window.__statuses.push(document.getElementById("status").textContent))
  .observe(document.getElementById("status"), {childList: true, characterData: true, subtree: true});
"""


def _open_with_key(d, url, key=API_KEY):
    from selenium.webdriver.common.by import By

    d.get(url)
    assert d.title == "aitk chat", d.page_source[:300]
    wait(d, lambda d: "open" in d.find_element(By.ID, "key-dialog").get_attribute("class"), timeout=60)
    d.find_element(By.ID, "api-key").send_keys(key)
    d.find_element(By.ID, "key-save").click()
    wait(d, lambda d: d.execute_script("return document.body.dataset.status") == "Ready", timeout=60)
    d.execute_script(RECORD_STATUSES)


def _send(d, text, timeout=90):
    """Send a message; return the finished assistant message or error shown for it."""
    from selenium.webdriver.common.by import By

    before = len(d.find_elements(By.CSS_SELECTOR, ".msg.assistant[data-done='true'], .msg.error"))
    d.find_element(By.ID, "prompt").send_keys(text)
    d.find_element(By.ID, "send").click()
    sel = ".msg.assistant[data-done='true'], .msg.error"
    return wait(
        d,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, sel)) > before and d.find_elements(By.CSS_SELECTOR, sel)[-1],
        timeout=timeout,
    )


def test_first_load_of_a_scaled_to_zero_app_is_held_until_the_replica_serves_the_page(cold):
    rt, d = cold
    app_id, url = _deploy(rt, "quick", sleep=1.0)  # a start within the 240 s cut (2.4 s here)
    t0 = time.monotonic()
    _open_with_key(d, url)
    assert time.monotonic() - t0 > 1.0  # the ingress held GET / while the replica started
    assert "ScaledOut" in _reasons(rt, app_id)  # the page load started the replica

    # Idle past the cooldown: the app scales to zero with the page open; the next message is
    # held while a replica starts and then answered, as if nothing happened.
    _until_scaled_to_zero(rt, app_id)
    reply = _send(d, "hello again")
    assert "error" not in reply.get_attribute("class"), reply.text
    assert reply.text.strip() == "echo: hello again"
    assert _reasons(rt, app_id).count("ScaledOut") == 2

    # Ended by the ingress although the endpoint is up (the server sends no byte within the idle limit:
    # 504 `stream timeout`): sent again once, then explained instead of resent for ever.
    reply = _send(d, "stall please")
    assert "error" in reply.get_attribute("class")
    assert reply.text.startswith("The endpoint is up, but this request got no first word twice"), reply.text
    assert "New chat" in reply.text and "max tokens" not in reply.text, reply.text
    assert "504" not in reply.text and "stream timeout" not in reply.text, reply.text


def test_a_start_longer_than_the_ingress_cut_first_load_shows_the_ingress_504(cold):
    """What we cannot change: the page is not loaded yet, so the browser shows the ingress's own
    answer. docs/serving.md: open the URL `az aitk inference endpoint` prints, after it woke the app."""
    rt, d = cold
    app_id, url = _deploy(rt, "slowpage", sleep=4.0, cooldown=600)  # 400 s start; cut at 240 s
    d.get(url)
    assert d.find_element("tag name", "body").text.strip() == azure_rules.INGRESS_TIMEOUT_BODY
    deadline = time.monotonic() + 30
    while not rt.status(app_id)["ready"]:  # the replica goes on starting; a reload then gets the page
        assert time.monotonic() < deadline
        time.sleep(0.2)
    _open_with_key(d, url)


def test_the_open_page_wakes_the_endpoint_through_the_ingress_cut_and_resends(cold):
    from selenium.webdriver.common.by import By

    rt, d = cold
    app_id, url = _deploy(rt, "slow", sleep=4.0, cooldown=600)  # a 400 s start: longer than the 240 s cut
    rt.apps[app_id].start_now()
    deadline = time.monotonic() + 30
    while not rt.status(app_id)["ready"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    _open_with_key(d, url)
    _until_scaled_to_zero(rt, app_id)

    t0 = time.monotonic()
    reply = _send(d, "hello there")
    took = time.monotonic() - t0
    assert "error" not in reply.get_attribute("class"), reply.text
    assert reply.text.strip() == "echo: hello there"
    assert took > 4.0  # it waited out the cut (2.4 s) and the start (4 s)
    statuses = d.execute_script("return window.__statuses")
    waking = [s for s in statuses if s.startswith("waking the endpoint: replica starting, 0:0")]
    assert waking, statuses
    assert "see `az aitk inference logs`" in waking[0] and "240 s with nothing sent" in waking[0], waking
    assert any(s.startswith("the endpoint is awake after 0:0") for s in statuses), statuses
    shown = " ".join(statuses) + " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, ".msg"))
    assert "upstream request timeout" not in shown and "504" not in shown, shown

    # A wrong key after a wake still says the key is wrong (and the right one then gets the reply).
    d.execute_script("sessionStorage.setItem('aitk-api-key', 'not-the-key')")
    _until_scaled_to_zero(rt, app_id)
    d.find_element(By.ID, "prompt").send_keys("and now?")
    d.find_element(By.ID, "send").click()
    wait(d, lambda d: "open" in d.find_element(By.ID, "key-dialog").get_attribute("class"), timeout=60)
    assert d.execute_script("return document.body.dataset.status") == "That key was refused"
    assert int(d.execute_script("return document.body.dataset.wakes || '0'")) >= 1
    d.find_element(By.ID, "api-key").send_keys(API_KEY)
    d.find_element(By.ID, "key-save").click()
    done = ".msg.assistant[data-done='true'], .msg.error"
    last = wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, done)[-1].text.startswith("echo: and"), timeout=60)
    assert last and d.find_elements(By.CSS_SELECTOR, done)[-1].text.strip() == "echo: and now?"


def test_a_long_hold_says_why_before_the_ingress_answers(tmp_path):
    """At Azure's timing x 0.06 the 240 s cut is 14.4 s: a 6.5 s start (plus the fake server's own
    start, which a busy machine stretches) is held, not cut, and from 5 s on the status line says
    what the wait is (the page cannot know yet that it is a cold start)."""
    ca, key = tls.make_ca(tmp_path / "tls")
    rt = Runtime(tmp_path / "state", ca, key, time_scale=0.06)
    leaf = tmp_path / "state" / "runtime" / "tls" / "ingress.pem"
    d, profile = start_browser([f"--ignore-certificate-errors-spki-list={_spki_sha256(leaf)}"])
    try:
        app_id, url = _deploy(rt, "held", sleep=6.5, cooldown=300)  # cooldown 18 s here
        _open_with_key(d, url)
        _until_scaled_to_zero(rt, app_id, timeout=120)
        reply = _send(d, "still there")
        assert reply.text.strip() == "echo: still there", reply.text
        statuses = d.execute_script("return window.__statuses")
        held = [s for s in statuses if s.startswith("waiting for the endpoint, 0:0")]
        assert held and "a scaled-to-zero endpoint starts a replica first" in held[0], statuses
        assert not any(s.startswith("waking the endpoint") for s in statuses), statuses  # it was not cut
    finally:
        quit_browser(d, profile)
        rt.stop_all()


# The page's clock at Azure's pace: this runtime plays Azure's durations x TIME_SCALE, so the page,
# which measures a request with Date.now(), must see time run 1 / TIME_SCALE as fast to tell a cut at
# the ingress's 240 s (2.4 s here) from a connection that dropped early.
AZURE_CLOCK = """
window.__realNow = Date.now.bind(Date);
const t0 = window.__realNow();
Date.now = () => t0 + (window.__realNow() - t0) * %s;
""" % (1 / TIME_SCALE)


def test_a_reply_streaming_past_240_s_arrives_whole_and_one_that_stalls_is_cut_and_explained(cold):
    from selenium.webdriver.common.by import By

    rt, d = cold
    app_id, url = _deploy(rt, "longreply", sleep=0.5, cooldown=3000)
    _open_with_key(d, url)
    d.execute_script(AZURE_CLOCK)

    # 6 s of tokens (600 s at Azure's pace), never 2.4 s apart: the ingress lets it run to [DONE].
    t0 = time.monotonic()
    reply = _send(d, "a long one")
    assert time.monotonic() - t0 > 4.0  # it outlasted the 240 s (2.4 s here)
    assert "error" not in reply.get_attribute("class"), reply.text
    assert reply.text.rstrip().endswith("w59"), reply.text

    # Silent for 5 s (500 s) after three words: the ingress ends it; the words stay, the error says why.
    error = _send(d, "pause now please")
    assert "error" in error.get_attribute("class"), error.text
    cut = d.find_elements(By.CSS_SELECTOR, ".msg.assistant[data-cut='true']")
    assert len(cut) == 1 and cut[0].text.strip() == "echo: pause now", [c.text for c in cut]
    assert error.text.startswith("The reply above was cut off after 4:0"), error.text
    assert "nothing came for 4:0" in error.text and "240 s with nothing sent" in error.text, error.text
    assert "max tokens" not in error.text, error.text
    assert d.execute_script("return document.body.dataset.status") == "Error"

    # The cut reply is part of the conversation: the next message is answered after it.
    d.execute_script("Date.now = window.__realNow;")
    reply = _send(d, "next")
    assert reply.text.strip() == "echo: next"
    assert [m.text.split()[0] for m in d.find_elements(By.CSS_SELECTOR, ".msg.assistant")] == ["echo:"] * 3


def test_a_replica_that_dies_mid_reply_keeps_the_partial_text_and_points_at_the_logs(cold):
    from selenium.webdriver.common.by import By

    rt, d = cold
    app_id, url = _deploy(rt, "crashreply", sleep=0.5, cooldown=3000)
    _open_with_key(d, url)
    error = _send(d, "crash now please")
    cut = d.find_elements(By.CSS_SELECTOR, ".msg.assistant[data-cut='true']")
    assert len(cut) == 1 and cut[0].text.strip() == "echo: crash", [c.text for c in cut]
    assert error.text.startswith("The reply above was cut off after 0:0"), error.text
    assert "the connection to the endpoint closed" in error.text and "az aitk inference logs" in error.text
    assert "240 s" not in error.text


HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>&amp;'


def test_the_page_renders_hostile_model_names_replies_and_errors_as_text(cold):
    from selenium.webdriver.common.by import By

    rt, d = cold
    app_id, url = _deploy(rt, "hostile", sleep=0.5, cooldown=3000, model_id=HOSTILE)
    _open_with_key(d, url)
    option = d.find_element(By.CSS_SELECTOR, "#model option")
    assert option.text == HOSTILE + " (base)" and option.get_attribute("value") == HOSTILE
    reply = _send(d, HOSTILE)
    assert reply.text.strip() == "echo: " + HOSTILE
    error = _send(d, "refuse " + HOSTILE)
    assert "error" in error.get_attribute("class") and error.text.startswith("HTTP 400: "), error.text
    assert "bad request: refuse <img src=x onerror=" in error.text and "<script>window.__xss=2</script>" in error.text
    assert d.execute_script("return window.__xss") is None
    assert not d.find_elements(By.CSS_SELECTOR, "#messages img, #messages script, #model img")
    # the key stays in this tab's sessionStorage; nothing in localStorage, cookies or the URL
    assert d.execute_script("return localStorage.length") == 0 and d.get_cookies() == []
    assert API_KEY not in d.current_url
