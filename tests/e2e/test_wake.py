"""Issue #11: a scaled-to-zero endpoint, through the real az against the stand-in played at
Azure's timing x 0.02 (the 240 s ingress cut is 4.8 s, a 300 s cooldown 6 s) with a 400 s image
pull (vllm/vllm-openai's 10 GB at 25 MB/s, 8 s here): `status` sees the scale-in after the
cooldown; `chat --message` then wakes the app, says so, retries what the ingress ends after 240 s of silence
(explained, never the raw 504) and answers; `wait --ready` does the same after `deploy --no-wait`."""

import json
import time

from aitk_testkit.scenario import FAKE_COMMAND
from azure_standin.runtime.replica import NOTE_REASON

RESOURCE_GROUP = "aitk-wake"
FT_STORAGE = "aitkftwake01"
TIME_SCALE = 0.02
PULL_MB_PER_S = 25  # 10 GB / 25 MB/s = 400 s on Azure: longer than the ingress's 240 s
COOLDOWN_S = 300
STANDIN_OPTIONS = {"time_scale": TIME_SCALE, "pull_mb_per_s": PULL_MB_PER_S}


def _status(az, ws):
    return json.loads(az.run("aitk", "inference", "status", "-o", "json", cwd=ws, capture=True).stdout)


def _until_scaled_to_zero(az, ws, timeout=60):
    """status until it reports no replica. Between calls, quiet for longer than the cooldown: while a
    replica runs, status asks its /health, and that request resets the cooldown (as on Azure)."""
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(COOLDOWN_S * TIME_SCALE * 1.5)
        st = _status(az, ws)
        if st["replicas"] == 0 and not st["ready"]:
            return st
        assert time.monotonic() < deadline, st


def test_cold_app_scales_in_then_chat_wakes_it_through_the_ingress_cut(fake_world):
    az, ws = fake_world.az, fake_world.workspace
    az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
    az.run(
        "aitk",
        "inference",
        "provision",
        "--parameters",
        f"defaultCommands={FAKE_COMMAND}",
        f"cooldownPeriod={COOLDOWN_S}",
        "-o",
        "none",
        cwd=ws,
        capture=True,
    )
    az.run("aitk", "inference", "deploy", "-o", "none", cwd=ws, capture=True)

    # scale-in after the cooldown, as status reports it
    st = _until_scaled_to_zero(az, ws, timeout=COOLDOWN_S * TIME_SCALE + 60)
    assert st["revisionState"] == "ScaledToZero", st
    assert "scaled to zero" in st["note"] and "startupError" not in st, st

    # no replica runs: the system log says why, the console comes from Log Analytics
    proc = az.run("aitk", "inference", "logs", "--type", "system", cwd=ws, capture=True)
    reasons = [line.split("  ")[2] for line in proc.stdout.splitlines() if line.count("  ") >= 3]
    reasons = [r for r in reasons if r != NOTE_REASON]  # Azure's own events: the stand-in's notes aside
    assert "ImagePulled" in reasons and reasons[-1] == "ScaledIn", proc.stdout
    assert f"revision {st['revision']}" not in proc.stderr  # the app's whole log by default
    proc = az.run("aitk", "inference", "logs", "--revision", st["revision"], cwd=ws, capture=True)
    assert "the console of the last terminated replica, from Log Analytics" in proc.stderr, proc.stderr
    assert "fake server: serving fake-base" in proc.stdout, proc.stdout
    # an unknown revision: one line listing the app's revisions (issue 23), nothing on stdout
    proc = az.run(
        "aitk", "inference", "logs", "--revision", "nope--x", "--type", "system", cwd=ws, capture=True, check=False
    )
    assert proc.returncode != 0 and proc.stdout == "", proc
    assert "is not a revision of" in proc.stderr and st["revision"] in proc.stderr, proc.stderr

    t0 = time.monotonic()
    proc = az.run("aitk", "inference", "chat", "--message", "Hello", "--wait", "1200", cwd=ws, capture=True)
    took = time.monotonic() - t0
    assert proc.stdout.startswith("echo(fake-base) Hello"), proc.stdout
    assert took > 400 * TIME_SCALE, took  # it really waited for the pull
    assert "waking the endpoint: replica starting, 0:0" in proc.stderr, proc.stderr
    assert "see `az aitk inference logs`" in proc.stderr
    assert "240 s with nothing sent (its idle limit)" in proc.stderr, proc.stderr  # the cut was met, and explained
    assert "upstream request timeout" not in proc.stderr and "answered 504" not in proc.stderr, proc.stderr
    assert "the endpoint is awake after" in proc.stderr


def test_wait_ready_after_deploy_no_wait_and_a_short_wait_explains(fake_world):
    az, ws = fake_world.az, fake_world.workspace
    _until_scaled_to_zero(az, ws, timeout=COOLDOWN_S * TIME_SCALE + 60)
    # a budget shorter than the start: one clear error, no traceback, no raw 504
    proc = az.run("aitk", "inference", "chat", "--message", "Hi", "--wait", "2", cwd=ws, check=False, capture=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "did not start within --wait 2 s" in proc.stderr, proc.stderr
    proc = az.run("aitk", "inference", "deploy", "--no-wait", cwd=ws, capture=True)
    assert "`az aitk inference wait --ready`" in proc.stderr, proc.stderr
    # the help's example, as a user pastes it
    proc = az.run("aitk", "inference", "wait", "--ready", "--timeout", "1800", cwd=ws, capture=True)
    assert proc.stdout.strip() == "", proc.stdout
    assert _status(az, ws)["ready"] is True
    endpoint = json.loads(az.run("aitk", "inference", "endpoint", "-o", "json", cwd=ws, capture=True).stdout)
    assert endpoint["state"] == "Running" and "fake-base" in endpoint["models"]
