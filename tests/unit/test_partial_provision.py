"""A provision that did not finish (issue 13): the incomplete config it leaves, what refuses it,
and which resources `delete` removes after it (core/workspace.py, core/delete/teardown_plan.py)."""

import json

import pytest
from azext_aitk.core import workspace as ws_mod
from azext_aitk.core.delete import teardown_plan
from azext_aitk.core.errors import WorkspaceError

SUB = "00000000-0000-0000-0000-000000000000"
GROUP_ID = f"/subscriptions/{SUB}/resourceGroups/rg"
TAG = {"aitkProvisioned": "inference"}


def _res(rtype, name, tags=None):
    return {"id": f"{GROUP_ID}/providers/{rtype}/{name}", "type": rtype, "tags": tags}


def test_partial_config_is_written_marked_and_refused(tmp_path):
    ws = ws_mod.Workspace(tmp_path)
    values = {ws_mod.SUBSCRIPTION_ID: SUB, ws_mod.RESOURCE_GROUP_NAME: "rg", ws_mod.ACA_APP_NAME: ""}
    assert ws.write_partial_inference_config(values, "swedencentral")
    data = json.loads(ws.inference_config_file.read_text())
    assert data == {
        ws_mod.SUBSCRIPTION_ID: SUB,
        ws_mod.RESOURCE_GROUP_NAME: "rg",
        ws_mod.PROVISION_STATE: ws_mod.PROVISION_INCOMPLETE,
        ws_mod.PROVISION_LOCATION: "swedencentral",
    }
    with pytest.raises(WorkspaceError) as err:
        ws.inference_config()
    assert err.value.kind == "incomplete" and "provision did not finish" in str(err.value)
    assert "az aitk inference delete" in err.value.recommendation


def test_success_replaces_the_partial_config_and_a_complete_one_is_never_overwritten(tmp_path):
    ws = ws_mod.Workspace(tmp_path)
    ws.write_partial_inference_config({ws_mod.SUBSCRIPTION_ID: SUB, ws_mod.RESOURCE_GROUP_NAME: "rg"}, "eastus")
    full = {k: k.lower() for k in ws_mod.INFERENCE_CONFIG_KEYS}
    written = ws.write_inference_config(full)
    assert ws_mod.PROVISION_STATE not in written and ws_mod.PROVISION_LOCATION not in written
    assert ws.read_inference_config() == full
    assert not ws.write_partial_inference_config({ws_mod.SUBSCRIPTION_ID: SUB}, "westus")
    assert ws.read_inference_config() == full
    assert not ws.remove_partial_inference_config() and ws.inference_config_file.is_file()


def test_remove_partial_config(tmp_path):
    ws = ws_mod.Workspace(tmp_path)
    ws.write_partial_inference_config({ws_mod.SUBSCRIPTION_ID: SUB}, None)
    assert ws.remove_partial_inference_config()
    assert not ws.inference_config_file.exists()


def test_plan_partial_deletes_only_tagged_resources_app_first():
    resources = [
        _res("Microsoft.Storage/storageAccounts", "aitkinferabcde", TAG),
        _res("Microsoft.Storage/storageAccounts", "finetuningsa"),  # fine-tuning's: no tag
        _res("Microsoft.OperationalInsights/workspaces", "aitk-logs-abcde", {"AITKPROVISIONED": "inference"}),
        _res("Microsoft.App/managedEnvironments", "other-env", {"aitkProvisioned": "finetuning"}),
        _res("Microsoft.App/containerApps", "aitk-infer-abcde", TAG),
    ]
    items = teardown_plan.plan_partial(resources, ws_mod.has_provisioned_tag)
    assert [i["name"] for i in items] == ["aitk-infer-abcde", "aitk-logs-abcde", "aitkinferabcde"]
    assert {i["action"] for i in items} == {"delete"}
    assert items[0]["type"] == "Microsoft.App/containerApps"
