"""`make demo KEEP=1` (scripts/demo.py --keep): after the demo the stand-in keeps running and the
demo prints how to use it from another terminal. Here the kept phase runs against this session's
stand-in with an app provisioned on the fake server (the demo's own vLLM is what `make demo`
itself shows), and every line it prints is pasted into a fresh bash, as a newcomer would."""

import importlib.util
import json
import os
import subprocess
import threading
import time

import pytest

from aitk_testkit.az_harness import ROOT
from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.scenario import FAKE_PARAMETERS

RG = "aitk-keep"


def _demo():
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _paste(source_line, line):
    """`line` typed into a new terminal after `source_line`, with none of this process's az
    settings: only what the demo printed makes it reach the stand-in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZ_", "REQUESTS_", "SSL_"))}
    return subprocess.run(
        ["bash", "-c", f"{source_line}\n{line}"], env=env, cwd="/", text=True, capture_output=True, timeout=300
    )


def test_kept_stand_in_runs_status_chat_logs_and_delete_as_printed(az_cloud, fake_finetuning, provision_fake, tmp_path):
    demo = _demo()
    ws, _ = fake_finetuning("keep", RG, "aitkkeepft01", "finetuning", placeholder_model=False, job_name="job")
    provision_fake(ws, RG, "--min-replicas", "1", "--yes", *FAKE_PARAMETERS, "-o", "json")
    endpoint = _ok(az_cloud("aitk", "inference", "endpoint", "--show-key", cwd=ws))

    printed, stop = [], threading.Event()
    kept = threading.Thread(
        target=demo.keep_running, args=(az_cloud, ws, tmp_path), kwargs={"out": printed.append, "wait": stop.wait}
    )
    kept.start()
    try:
        deadline = time.monotonic() + 60
        while len(printed) < 2 + len(demo.TRY_NEXT) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Ctrl-C here stops them" in printed[0]
        source_line, commands = printed[1], printed[2:]
        assert source_line.startswith("source ") and [c.split("   #")[0] for c in commands] == [
            c.split("   #")[0] for c in demo.TRY_NEXT
        ]
        assert kept.is_alive()  # it waits (for Ctrl-C) with the stand-in up
        secrets = [endpoint["apiKey"], endpoint["secondaryApiKey"]]
        env_file = (tmp_path / "env.sh").read_text()
        assert not any(s in env_file or s in "\n".join(printed) for s in secrets)

        status, chat, logs, delete = (_paste(source_line, c) for c in commands)
        for proc in (status, chat, logs, delete):
            assert proc.returncode == 0, f"{proc.args}\n{proc.stdout}\n{proc.stderr}"
        assert "Revision" in status.stdout and endpoint["latestRevision"] in status.stdout
        assert "echo(fake-base) What is the capital of France? [turn 1]" in chat.stdout
        assert "fake server: serving fake-base" in logs.stdout
        gone = _paste(source_line, f"az containerapp show -g {RG} -n {endpoint['app']} -o none")
        assert gone.returncode != 0 and "not found" in gone.stderr.lower()
    finally:
        stop.set()
        kept.join(timeout=30)
    assert not kept.is_alive()


def test_ctrl_c_while_kept_says_it_stops(az_cloud, tmp_path):
    printed = []

    def ctrl_c():
        raise KeyboardInterrupt

    _demo().keep_running(az_cloud, tmp_path, tmp_path, out=printed.append, wait=ctrl_c)
    assert printed[-1].strip() == "Stopping the stand-in."


@pytest.mark.parametrize("field", ["curl", "note"])
def test_the_demo_hides_the_key_wherever_it_appears(field):
    shown = _demo().shown({"url": "u", "apiKey": "k-1", "secondaryApiKey": "k-2", field: "curl -H 'Bearer k-1' u"})
    assert "k-1" not in json.dumps(shown) and "k-2" not in json.dumps(shown) and shown["url"] == "u"
