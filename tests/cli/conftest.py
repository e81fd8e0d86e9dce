"""The real az (azure-cli 2.91 from the venv) with aitk installed from the built wheel into a
private extension folder, with a private config folder, driven as a subprocess
(aitk_testkit.az_harness; `aitk_wheel` and `azure_standin` come from the plugins in tests/conftest.py)."""

import pytest

from aitk_testkit.az_harness import Az, az_env, signed_in_az


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
