"""Fixtures for the end-to-end tests: one stand-in 'Azure' and one signed-in `az` per module
(aitk_testkit.az_harness, aitk_testkit.scenario)."""

from types import SimpleNamespace

import pytest

from aitk_testkit.az_harness import signed_in_az
from aitk_testkit.scenario import seed_fake_finetuning, seed_finetuning_leftovers
from azure_standin import StandIn


def signed_in_world(tmp_path_factory, wheel, name, seed, **standin_options):
    """Start a stand-in 'Azure' (StandIn's `standin_options`, e.g. time_scale), sign the real az in
    with aitk from `wheel`, make a workspace and let `seed(azure, az, workspace)` leave fine-tuning's
    resources; yields the lot, stops after."""
    base = tmp_path_factory.mktemp(name)
    azure = StandIn(base / "azure", **standin_options)
    azure.start()
    try:
        az = signed_in_az(azure, base / "az", wheel)
        workspace = base / "workspace"
        workspace.mkdir()
        share = seed(azure, az, workspace)
        yield SimpleNamespace(azure=azure, az=az, workspace=workspace, share=share, base=base)
    finally:
        azure.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory, aitk_wheel):
    """Signed-in az with aitk from the wheel, a resource group with fine-tuning's storage and
    share holding a tiny base model and adapter, and a workspace with finetuning.config.json."""
    yield from signed_in_world(tmp_path_factory, aitk_wheel, "e2e", seed_finetuning_leftovers)


@pytest.fixture(scope="module")
def fake_world(tmp_path_factory, aitk_wheel, request):
    """A stand-in 'Azure' of the module's own (its faults and requests_log are the module's),
    signed-in az, and a workspace whose fine-tuning left storage + share in the module's
    RESOURCE_GROUP / FT_STORAGE, with aitk_testkit's fake_server.py on the share (scenario.FAKE_COMMAND);
    the module's STANDIN_OPTIONS (if any) go to StandIn (e.g. Azure's timing at a small time_scale)."""

    def seed(azure, az, workspace):
        return seed_fake_finetuning(azure, az, workspace, request.module.RESOURCE_GROUP, request.module.FT_STORAGE)

    options = getattr(request.module, "STANDIN_OPTIONS", {})
    yield from signed_in_world(tmp_path_factory, aitk_wheel, "e2e-fake", seed, **options)
