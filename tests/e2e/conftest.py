"""Fixtures for the end-to-end tests: one stand-in 'Azure' and one signed-in `az` per module."""
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from azure_standin import StandIn
from e2e.flow import ROOT, AzRunner, seed_finetuning_leftovers


def built_wheel():
    """The wheel `make test` builds; built here too so `pytest tests/e2e` works on its own."""
    wheels = sorted((ROOT / "dist").glob("aitk-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--no-build-isolation", str(ROOT), "-w", str(ROOT / "dist")], check=True)
        wheels = sorted((ROOT / "dist").glob("aitk-*.whl"))
    return wheels[-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Signed-in az with aitk from the wheel, a resource group with fine-tuning's storage and
    share holding a tiny base model and adapter, and a workspace with finetuning.config.json."""
    base = tmp_path_factory.mktemp("e2e")
    azure = StandIn(base / "azure")
    azure.start()
    try:
        az = AzRunner(azure, base, built_wheel(), echo=False)
        az.prepare()
        workspace = base / "workspace"
        workspace.mkdir()
        share = seed_finetuning_leftovers(azure, az, workspace)
        yield SimpleNamespace(azure=azure, az=az, workspace=workspace, share=share, base=base)
    finally:
        azure.stop()
