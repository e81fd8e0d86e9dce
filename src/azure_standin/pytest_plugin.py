"""pytest plugin: `-p azure_standin.pytest_plugin` gives a session fixture `azure_standin`, a
started StandIn in a temporary folder, stopped (with every process it started) at the end."""

import pytest

from . import StandIn


@pytest.fixture(scope="session")
def azure_standin(tmp_path_factory):
    # Azure's timing (time_scale 1.0) but a role assignment in effect 5 s after it is made, not 180 s:
    # the delay is on (a pull right after provision is refused first), short enough for a test.
    azure = StandIn(tmp_path_factory.mktemp("azure-standin"), role_propagation_s=5.0)
    azure.start()
    try:
        yield azure
    finally:
        azure.stop()
