"""The real az (azure-cli 2.91 from the venv) with aitk installed from the built wheel into a
private extension folder, with a private config folder, driven as a subprocess
(aitk_testkit.az_harness; `aitk_wheel` and `azure_standin` come from the plugins in tests/conftest.py)."""

import json
import signal
import time

import pytest

from aitk_testkit.az_harness import Az, az_env, ok, signed_in_az
from aitk_testkit.scenario import seed_fake_finetuning


@pytest.fixture(scope="session")
def az(tmp_path_factory, aitk_wheel):
    """`az` with aitk installed the way a user installs it (`az extension add --source`)."""
    runner = Az(az_env(tmp_path_factory.mktemp("az")))
    runner.add_extension(aitk_wheel)
    return runner


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "workspace"
    ws.mkdir()
    return ws


@pytest.fixture(scope="session")
def standin(azure_standin):
    """The local Azure stand-in of the session."""
    return azure_standin


@pytest.fixture(scope="session")
def az_cloud(standin, tmp_path_factory, aitk_wheel):
    """`az` signed in to the stand-in, with aitk installed from the wheel."""
    return signed_in_az(standin, tmp_path_factory.mktemp("az-cloud"), aitk_wheel)


@pytest.fixture(scope="session")
def fake_finetuning(az_cloud, standin, tmp_path_factory):
    """A function: a new workspace folder (`<name>N/workspace`) and fine-tuning's storage in `group`,
    seeded by scenario.seed_fake_finetuning (the arguments after `group` are its own). Returns
    (the workspace, the share's folder)."""

    def seed(name, group, *args, **options):
        ws = tmp_path_factory.mktemp(name) / "workspace"
        ws.mkdir()
        return ws, seed_fake_finetuning(standin, az_cloud, ws, group, *args, **options)

    return seed


@pytest.fixture(scope="session")
def provision_fake(az_cloud, standin):
    """A function: `init` then `provision <provision_args>` in a workspace seeded by
    scenario.seed_fake_finetuning in `group` (both must succeed), then, when `wait_ready`, up to 30 s for
    the app's replica to be ready. Returns {"init", "provision": the CompletedProcesses, "cfg": the written
    inference.config.json, "app_id": the app's resource id, lower case}."""

    def provision(ws, group, *provision_args, wait_ready=True):
        init = az_cloud("aitk", "inference", "init", cwd=ws)
        ok(init)
        proc = az_cloud("aitk", "inference", "provision", *provision_args, cwd=ws)
        ok(proc)
        cfg = json.loads((ws / "infra" / "inference.config.json").read_text())
        app_id = (
            f"/subscriptions/{standin.subscription_id}/resourceGroups/{group}/providers/"
            f"Microsoft.App/containerApps/{cfg['ACA_APP_NAME']}"
        ).lower()
        deadline = time.monotonic() + 30
        while wait_ready and not standin.runtime.status(app_id).get("ready") and time.monotonic() < deadline:
            time.sleep(0.2)
        return {"init": init, "provision": proc, "cfg": cfg, "app_id": app_id}

    return provision


@pytest.fixture(params=["foreground", "background"])
def job_control(request):
    """Run the test as a shell runs it in the foreground, and as a background job (`make test &`):
    SIGINT ignored in this process, which every child inherits unless the harness restores it."""
    if request.param == "foreground":
        yield request.param
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield request.param
    finally:
        signal.signal(signal.SIGINT, before)
