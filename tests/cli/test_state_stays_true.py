"""Issue 23, "State that stays true", the way a user meets it: the real az against the stand-in,
with the stdlib stand-in for the launcher (aitk_testkit/fake_server.py, which reports at
/aitk/serving what it started with, as the launcher does).

- after a provision that changed the app, deploy and `key rotate` restart the revision that is
  active (the stand-in refuses an inactive one as ACA does), and a rotation that could not finish
  says so and is finished, not repeated, by the next `key rotate`;
- a deploy interrupted (SIGINT, a real process) after its upload and before its restart is
  completed by the re-run, which asks the running server what it serves;
- two deploys at once: the second refuses in one line naming the first (an Azure Files lease), and
  a holder that was killed is taken over, saying so;
- `deploy --verify` catches a same-size change made on the share behind deploy's back (issue 21).
"""

import hashlib
import json
import signal
import subprocess
import time

import pytest
import requests

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.az_harness import one_error
from aitk_testkit.scenario import FAKE_PARAMETERS

RG = "aitk-state"
FT_STORAGE = "aitkstateft01"
FT_SHARE = "finetuning"
GATE = "gate.txt"
# A start command that serves (the fake server) only once deploy has put inference/gate.txt on the
# share, and otherwise exits with one error line: a new revision that cannot start until a deploy.
GATED_COMMAND = json.dumps(
    [
        "python3",
        "-c",
        "import os,runpy,sys; m=os.environ['AITK_MOUNT']; "
        f"os.path.exists(os.path.join(m,'aitk','inference','{GATE}')) or "
        f"sys.exit('aitk_serve: error: aitk/inference/{GATE} is missing'); "
        "runpy.run_path(os.path.join(m,'fake_server.py'), run_name='__main__')",
    ]
)


@pytest.fixture(scope="module")
def state(az_cloud, standin, fake_finetuning, provision_fake):
    ws, share = fake_finetuning("state", RG, FT_STORAGE, FT_SHARE, placeholder_model=False, job_name=None)
    app = provision_fake(ws, RG, "--min-replicas", "1", "--yes", *FAKE_PARAMETERS, "-o", "json")
    _ok(az_cloud("aitk", "inference", "deploy", "-o", "json", cwd=ws))
    keys = _ok(az_cloud("aitk", "inference", "endpoint", "--show-key", cwd=ws))
    yield {"ws": ws, "share": share, "cfg": app["cfg"], "url": keys["url"], "key": keys["apiKey"]}
    standin.set_faults(None)


def serving(standin, st):
    r = requests.get(
        st["url"] + "/aitk/serving",
        headers={"Authorization": f"Bearer {st['key']}"},
        verify=standin.ca_bundle,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()


def share_sha(st, rel):
    return hashlib.sha256((st["share"] / rel).read_bytes()).hexdigest()


def start_deploy(az_cloud, ws):
    return subprocess.Popen(
        [az_cloud.executable, "aitk", "inference", "deploy", "-o", "json"],
        cwd=str(ws),
        env=az_cloud.env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def read_until(proc, needle, timeout=240):
    """stderr lines of `proc` until one holds `needle` (the lines read so far)."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never came; stderr so far:\n{''.join(seen)}")


def hold_restart(standin):
    """Every restart request fails (503) until set_faults(None): a deploy that reaches its restart
    keeps retrying it, holding its lease, until it is interrupted."""
    standin.set_faults(1.0, kinds=("503",), paths=["/restart"])


def edit_serve_json(ws, max_len):
    path = ws / "inference" / "serve.json"
    serve = json.loads(path.read_text())
    serve["vllm_args"] = ["--max-model-len", str(max_len)]
    path.write_text(json.dumps(serve, indent=2))


def test_an_interrupted_deploy_is_completed_by_the_rerun(az_cloud, standin, state):
    before = serving(standin, state)
    edit_serve_json(state["ws"], 1024)
    hold_restart(standin)
    proc = start_deploy(az_cloud, state["ws"])
    try:
        read_until(proc, "Restarting revision")  # uploaded; the restart has not happened
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
    finally:
        standin.set_faults(None)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr.read()
    new_sha = share_sha(state, "aitk/inference/serve.json")
    assert serving(standin, state) == before and before["serveConfigSha256"] != new_sha  # the replica is behind

    rerun = az_cloud("aitk", "inference", "deploy", "-o", "json", cwd=state["ws"])
    out = _ok(rerun)
    assert out["uploaded"] == 0 and out["action"] == "restart", rerun.stderr
    assert "started with another aitk/inference/serve.json than the share holds" in rerun.stderr
    assert out["serving"]["serveConfigSha256"] == new_sha
    assert serving(standin, state)["serveConfigSha256"] == new_sha
    again = _ok(az_cloud("aitk", "inference", "deploy", "-o", "json", cwd=state["ws"]))
    assert again["action"] == "none" and again["uploaded"] == 0  # now they agree: nothing to do


def test_a_second_deploy_refuses_while_one_runs_and_takes_over_from_a_killed_one(az_cloud, standin, state):
    edit_serve_json(state["ws"], 2048)
    hold_restart(standin)
    first = start_deploy(az_cloud, state["ws"])
    try:
        read_until(first, "Restarting revision")  # the first deploy holds the lease
        first.send_signal(signal.SIGSTOP)  # Ctrl-Z: it holds the lease and stays alive, however long
        second = az_cloud("aitk", "inference", "deploy", cwd=state["ws"])
        one_error(second, "is deploying to share")
        assert f"(pid {first.pid})" in second.stderr and "this deploy changed nothing" in second.stderr
        first.send_signal(signal.SIGKILL)  # killed: its lease stays behind
        first.wait(timeout=60)
    finally:
        standin.set_faults(None)
        if first.poll() is None:
            first.kill()
            first.wait()
    third = az_cloud("aitk", "inference", "deploy", "-o", "json", cwd=state["ws"])
    out = _ok(third)
    assert "Taking over the deploy lease of a deploy from" in third.stderr and f"process {first.pid}" in third.stderr
    assert out["serving"]["serveConfigSha256"] == share_sha(state, "aitk/inference/serve.json")
    # a deploy that ends normally leaves the lease free
    assert "Taking over" not in _ok_stderr(az_cloud, state["ws"])


def _ok_stderr(az_cloud, ws):
    proc = az_cloud("aitk", "inference", "deploy", "-o", "json", cwd=ws)
    _ok(proc)
    return proc.stderr


def test_verify_rehashes_what_is_on_the_share(az_cloud, state):
    remote = state["share"] / "aitk" / "inference" / "serve.json"
    original = remote.read_bytes()
    changed = original.replace(b"2048", b"4096")
    assert len(changed) == len(original) and changed != original
    with open(remote, "r+b") as f:  # a share writer changes the file in place, same size
        f.write(changed)
    plain = _ok(az_cloud("aitk", "inference", "deploy", "-o", "json", cwd=state["ws"]))
    assert plain["uploaded"] == 0  # what "unchanged" rests on: the recorded size and hash
    proc = az_cloud("aitk", "inference", "deploy", "--verify", "-o", "json", cwd=state["ws"])
    out = _ok(proc)
    assert out["uploaded"] == 1 and "content re-hashed" in proc.stderr
    assert remote.read_bytes() == original


def test_restart_and_key_rotation_after_a_provision_that_changed_the_app(az_cloud, standin, state):
    ws, cfg = state["ws"], state["cfg"]
    app_id = (
        f"/subscriptions/{standin.subscription_id}/resourceGroups/{RG}/providers/"
        f"Microsoft.App/containerApps/{cfg['ACA_APP_NAME']}"
    )
    old_revision = _ok(az_cloud("rest", "--method", "get", "--url", f"{app_id}?api-version=2025-07-01"))["properties"][
        "latestRevisionName"
    ]
    keys_before = _ok(az_cloud("aitk", "inference", "endpoint", "--show-key", cwd=ws))
    # a provision that changes the app: a new revision, which cannot start until a deploy
    _ok(az_cloud("aitk", "inference", "provision", "--min-replicas", "1", "--yes", "--parameters",
                 f"defaultCommands={GATED_COMMAND}", "-o", "json", cwd=ws))  # fmt: skip
    app = _ok(az_cloud("rest", "--method", "get", "--url", f"{app_id}?api-version=2025-07-01"))
    new_revision = app["properties"]["latestRevisionName"]
    assert new_revision != old_revision
    # Azure's rule, kept by the stand-in: only the active revision can be restarted
    refused = az_cloud("rest", "--method", "post", "--url",
                       f"{app_id}/revisions/{old_revision}/restart?api-version=2025-07-01")  # fmt: skip
    assert refused.returncode != 0 and "is not active" in refused.stderr

    # key rotate restarts the active revision; it cannot start: the rotation says it is not finished
    rotate = az_cloud("aitk", "inference", "key", "rotate", "--key", "secondary", "--timeout", "300", cwd=ws)
    assert rotate.returncode != 0 and "Traceback" not in rotate.stderr and "is not active" not in rotate.stderr
    assert "does not accept the new key yet" in rotate.stderr and f"{GATE} is missing" in rotate.stderr
    assert "key rotate --key secondary` again to finish" in rotate.stderr
    secrets = _ok(az_cloud("rest", "--method", "post", "--url", f"{app_id}/listSecrets?api-version=2025-07-01"))
    pending = {"secondaryApiKey": {s["name"]: s["value"] for s in secrets["value"]}["api-key-secondary"]}
    assert pending["secondaryApiKey"] != keys_before["secondaryApiKey"]  # replaced on the app
    other = az_cloud("aitk", "inference", "key", "rotate", "--key", "primary", cwd=ws)
    one_error(other, "has not finished")

    # deploy puts the file there and restarts what is active: serving again
    (ws / "inference" / GATE).write_text("open\n")
    deploy = az_cloud("aitk", "inference", "deploy", "-o", "json", cwd=ws)
    out = _ok(deploy)
    assert f"Restarting revision {new_revision}" in deploy.stderr and out["ready"] is True

    # the next rotate finishes the pending one: the same new key, no second rotation
    finish = az_cloud("aitk", "inference", "key", "rotate", "--key", "secondary", cwd=ws)
    done = _ok(finish)
    assert "finishing that rotation (no new key is made)" in finish.stderr
    assert done["rotation"] == "complete" and done["ready"] is True
    after = _ok(az_cloud("aitk", "inference", "endpoint", "--show-key", cwd=ws))
    assert after["secondaryApiKey"] == pending["secondaryApiKey"] and after["apiKey"] == keys_before["apiKey"]
    for key, want in ((after["secondaryApiKey"], 200), (keys_before["secondaryApiKey"], 401), (after["apiKey"], 200)):
        r = requests.get(f"{state['url']}/v1/models", headers={"Authorization": f"Bearer {key}"},
                         verify=standin.ca_bundle, timeout=30)  # fmt: skip
        assert r.status_code == want
    # and a rotation after that is a new one again
    fresh = _ok(az_cloud("aitk", "inference", "key", "rotate", "--key", "secondary", "--show-key", cwd=ws))
    assert fresh["rotation"] == "complete" and fresh["secondaryApiKey"] != after["secondaryApiKey"]
