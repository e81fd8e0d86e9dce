"""A workspace from one of AI Toolkit's older configs (zephyr-7b-beta: 'wais' resource names, an
inference.config.json its own provisioning wrote without COMMANDS) with the real az against the
stand-in: refused until `init` migrates it, then provision finds fine-tuning's 'waisenv'
environment by its scheme (the fine-tuning config names no job), serves from it, under the app
name AI Toolkit provisioned."""

import json
import shutil
from pathlib import Path

import pytest

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.scenario import FAKE_PARAMETERS, FAKE_SERVER, FINETUNING_TEMPLATE

RG = "aitk-older-ws"
SUFFIX = "k2x9q"
APP = f"waisacaapp{SUFFIX}"  # the Gradio app AI Toolkit's older inference.bicep names
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "aitk_workspaces" / "zephyr-7b-beta"
# The names the older finetuning.bicep gives its resources (fixture: infra/provision/finetuning.bicep).
OLDER_NAMES = {
    "storageAccountName": f"waisstorage{SUFFIX}",
    "fileShareName": f"waisfileshare{SUFFIX}",
    "acaEnvironmentName": f"waisenv{SUFFIX}",
    "acaEnvironmentStorageName": f"waisenvstorage{SUFFIX}",
    "acaJobName": f"waisacajob{SUFFIX}",
    "acaLogAnalyticsName": f"waislog{SUFFIX}",
}


@pytest.fixture(scope="module")
def older(az_cloud, standin, tmp_path_factory):
    ws = tmp_path_factory.mktemp("older") / "workspace"
    shutil.copytree(FIXTURE, ws)
    _ok(az_cloud("group", "create", "-n", RG, "-l", "eastus", "-o", "json"))
    params = [f"{k}={v}" for k, v in OLDER_NAMES.items()]
    d = _ok(
        az_cloud(
            "deployment",
            "group",
            "create",
            "-g",
            RG,
            "-n",
            "finetuning",
            "--template-file",
            str(FINETUNING_TEMPLATE),
            "--parameters",
            *params,
        )
    )
    out = {k: v["value"] for k, v in d["properties"]["outputs"].items()}
    ft_file = ws / "infra" / "finetuning.config.json"
    ft = json.loads(ft_file.read_text())
    ft.update(
        {k: out[k] for k in ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME")}
    )
    ft_file.write_text(json.dumps(ft, indent=2))  # ACA_JOB_NAME stays null: found by the naming scheme
    # as AI Toolkit's own provisioning of its Gradio app left it: names, a bare FQDN, no COMMANDS
    provisioned = {
        k: out[k] for k in ("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME")
    }
    provisioned |= {"ACA_APP_NAME": APP, "ACA_APP_ENDPOINT": f"{APP}.nicebeach-1234.eastus.azurecontainerapps.io"}
    (ws / "infra" / "inference.config.json").write_text(json.dumps(provisioned, indent=2))
    shutil.copy2(
        FAKE_SERVER, Path(standin.share_dir(out["STORAGE_ACCOUNT_NAME"], out["FILE_SHARE_NAME"])) / "fake_server.py"
    )
    return ws


def test_an_older_workspace_is_migrated_and_served_from_fine_tunings_environment(az_cloud, older):
    refused = az_cloud("aitk", "inference", "provision", *FAKE_PARAMETERS, cwd=older)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("ERROR:")]
    assert refused.returncode != 0 and "Traceback" not in refused.stderr and len(errors) == 1, refused.stderr
    assert "AI Toolkit's original inference files" in errors[0]

    results = {r["file"]: r["action"] for r in _ok(az_cloud("aitk", "inference", "init", "-o", "json", cwd=older))}
    assert results["infra/provision/inference.bicep"] == "migrated"
    assert results["infra/provision/inference.parameters.json"] == "migrated"
    assert results["infra/inference.config.json"] == "migrated"

    _ok(az_cloud("aitk", "inference", "provision", *FAKE_PARAMETERS, cwd=older))
    cfg = json.loads((older / "infra" / "inference.config.json").read_text())
    assert cfg["ACA_APP_ENDPOINT"].startswith("https://") and "PROVISION_STATE" not in cfg
    assert cfg["STORAGE_ACCOUNT_NAME"] == OLDER_NAMES["storageAccountName"]
    assert cfg["ACA_APP_NAME"] == APP  # the app AI Toolkit provisioned becomes aitk's, not a second one
    app = _ok(
        az_cloud(
            "resource", "show", "-g", RG, "-n", cfg["ACA_APP_NAME"], "--resource-type", "Microsoft.App/containerApps"
        )
    )
    assert app["properties"]["managedEnvironmentId"].endswith("/" + OLDER_NAMES["acaEnvironmentName"])
