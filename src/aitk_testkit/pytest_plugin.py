"""pytest plugin: the session fixture `aitk_wheel`, the wheel every az of the session installs aitk from
(dist/'s when `make wheel` made it from the current sources, else a fresh private build)."""

import pytest

from .az_harness import current_wheel


@pytest.fixture(scope="session")
def aitk_wheel(tmp_path_factory):
    return current_wheel(tmp_path_factory.mktemp("wheel"))
