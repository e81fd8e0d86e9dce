"""`az aitk inference adapter remove --name NAME` with the real az against the stand-in: an adapter
deploy pushed is taken off the share (its folder and its manifest entries), nothing else is
touched; a name that is not there, or not a name deploy gives, is one error line."""

import pytest

from aitk_testkit.az_harness import ok, one_error
from aitk_testkit.scenario import FAKE_PARAMETERS
from aitk_testkit.tiny_models import write_lora

RG = "aitk-adremove"
FT_STORAGE = "aitkadrm01"
FT_SHARE = "finetuning"


@pytest.fixture(scope="module")
def pushed(az_cloud, fake_finetuning, provision_fake):
    ws, share = fake_finetuning("adremove", RG, FT_STORAGE, FT_SHARE, job_name="job")
    provision_fake(ws, RG, *FAKE_PARAMETERS)
    specs = []
    for name in ("keep", "drop"):
        folder = write_lora(ws / "adapters" / name)
        (folder / "nested").mkdir()
        (folder / "nested" / "README.md").write_text(name)
        specs += ["--adapter", f"{name}={folder}"]
    ok(az_cloud("aitk", "inference", "deploy", *specs, "--timeout", "120", cwd=ws))
    return {"ws": ws, "share": share}


def test_remove_takes_one_adapter_off_the_share(az_cloud, pushed):
    share = pushed["share"]
    manifest = share / "aitk" / "deploy-manifest.json"
    assert (share / "aitk" / "adapters" / "drop" / "nested" / "README.md").is_file()
    result = ok(az_cloud("aitk", "inference", "adapter", "remove", "--name", "drop", "-o", "json", cwd=pushed["ws"]))
    assert result["removed"] == "drop" and result["files"] == 3
    assert not (share / "aitk" / "adapters" / "drop").exists()
    assert (share / "aitk" / "adapters" / "keep" / "adapter_model.safetensors").is_file()
    assert (share / "model-cache" / "org" / "m" / "config.json").is_file()
    assert "aitk/adapters/keep/" in manifest.read_text() and "aitk/adapters/drop" not in manifest.read_text()
    # A later deploy of the other adapter sees nothing missing and uploads nothing again.
    again = ok(
        az_cloud(
            "aitk", "inference", "deploy", "--adapter", f"keep={pushed['ws'] / 'adapters' / 'keep'}",
            "--timeout", "120", cwd=pushed["ws"],
        )
    )  # fmt: skip
    assert again["uploaded"] == 0


def test_removing_what_is_not_there_is_one_line(az_cloud, pushed):
    one_error(
        az_cloud("aitk", "inference", "adapter", "remove", "--name", "never-pushed", cwd=pushed["ws"]),
        "no adapter 'never-pushed' on share",
        in_line=True,
    )
    one_error(
        az_cloud("aitk", "inference", "adapter", "remove", "--name", "../keep", cwd=pushed["ws"]),
        "is not an adapter name deploy gives",
        in_line=True,
    )
    assert (pushed["share"] / "aitk" / "adapters" / "keep").is_dir()
