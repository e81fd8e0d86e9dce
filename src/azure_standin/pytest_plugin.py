"""pytest plugin: `-p azure_standin.pytest_plugin` gives a session fixture `azure_standin`, a
started StandIn in a temporary folder, stopped (with every process it started) at the end."""

import pytest

from . import StandIn


@pytest.fixture(scope="session")
def azure_standin(tmp_path_factory):
    azure = StandIn(tmp_path_factory.mktemp("azure-standin"))
    azure.start()
    try:
        yield azure
    finally:
        azure.stop()
