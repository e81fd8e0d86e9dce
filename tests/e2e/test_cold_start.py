"""Issue #11: start-up failures show their cause, fast, through the real az against the stand-in.

A launcher that refuses (the real aitk_serve, pointed at a model that is not on the share) after
deploy: deploy exits non-zero in well under a minute with the launcher's own error line (from the
system log's ContainerTerminated event and the console), not after the 30-minute wait; `status`
shows the cause too."""

import json
import time

import pytest

pytestmark = pytest.mark.slow

RESOURCE_GROUP = "aitk-cold"
FT_STORAGE = "aitkftcold01"
REFUSING = json.dumps(["python3", "-m", "aitk_serve", "--model", "/mount/model-cache/nobody/missing-model"])


def test_launcher_refusal_fails_deploy_fast_and_status_shows_it(fake_world):
    az, ws = fake_world.az, fake_world.workspace
    az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
    az.run(
        "aitk",
        "inference",
        "provision",
        "--parameters",
        f"defaultCommands={REFUSING}",
        "-o",
        "none",
        cwd=ws,
        capture=True,
    )
    t0 = time.monotonic()
    proc = az.run("aitk", "inference", "deploy", cwd=ws, check=False, capture=True)
    took = time.monotonic() - t0
    assert proc.returncode != 0, proc.stderr
    assert took < 60, (took, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    error = next(line for line in proc.stderr.splitlines() if line.startswith("ERROR:"))
    assert "the endpoint's replica did not start: aitk_serve: error:" in error, proc.stderr
    assert "missing-model" in error, error

    st = json.loads(az.run("aitk", "inference", "status", "-o", "json", cwd=ws, capture=True).stdout)
    assert st["ready"] is False
    assert st["startupError"].startswith("aitk_serve: error:") and "missing-model" in st["startupError"], st
