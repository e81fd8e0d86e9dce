"""core/delete/teardown_plan.py: "made by provision" is one rule, the aitkProvisioned tag the template
puts on what it creates, whatever the resource is named."""

import json

from azext_aitk.core import workspace as ws_mod
from azext_aitk.core.delete import teardown_plan
from azext_aitk.core.init import shipped_templates

RG = "/subscriptions/s/resourceGroups/g/providers"
APP = f"{RG}/Microsoft.App/containerApps/my-llm"
ENV = f"{RG}/Microsoft.App/managedEnvironments/team-gpu-env"  # not the template's default name
LOGS = f"{RG}/Microsoft.OperationalInsights/workspaces/my-logs"
STORAGE = f"{RG}/Microsoft.Storage/storageAccounts/mystore"


def _actions(items):
    return {i["name"]: i["action"] for i in items}


def test_renamed_resources_provision_made_are_deleted_by_their_tag():
    items = teardown_plan.plan(
        APP, ENV, [], STORAGE, {}, logs_workspace_id=LOGS, provisioned=[ENV.upper(), LOGS, STORAGE]
    )
    assert set(_actions(items).values()) == {"delete"}


def test_default_names_without_the_tag_are_kept():
    env = f"{RG}/Microsoft.App/managedEnvironments/aitk-env-abcde"
    logs = f"{RG}/Microsoft.OperationalInsights/workspaces/aitk-logs-abcde"
    storage = f"{RG}/Microsoft.Storage/storageAccounts/aitkinferabcde"
    items = teardown_plan.plan(APP, env, [], storage, {}, logs_workspace_id=logs, provisioned=[])
    assert _actions(items) == {
        "my-llm": "delete",
        "aitk-env-abcde": "keep",
        "aitk-logs-abcde": "keep",
        "aitkinferabcde": "keep",
    }
    assert "no aitkProvisioned tag" in items[1]["reason"]


def _created_resources(template):
    """The resources a template creates (not `existing` references), nested deployments' too."""
    for resource in template.get("resources") or []:
        if resource.get("existing"):
            continue
        yield resource
        inner = ((resource.get("properties") or {}).get("template")) or {}
        yield from _created_resources(inner)


def test_the_template_tags_every_top_level_resource_delete_decides_about():
    """Delete's types (teardown_plan.PARTIAL_ORDER; a registry is created by provision's own call, with
    the same tag) must each carry the tag in the shipped template, or a made resource would be kept."""
    template = json.loads(shipped_templates.ARM_JSON.read_text(encoding="utf-8"))
    name, value = ws_mod.PROVISIONED_TAG
    created = {}
    for resource in _created_resources(template):
        if resource["type"].count("/") == 1:  # top-level: child resources go with their parent
            created[resource["type"].lower()] = resource
    decided = {t.lower() for t in teardown_plan.PARTIAL_ORDER} - {"microsoft.containerregistry/registries"}
    assert decided <= set(created), sorted(decided - set(created))
    for rtype in decided:
        tags = created[rtype].get("tags") or {}
        assert tags.get(name) == value, (rtype, tags)
        assert ws_mod.has_provisioned_tag({"tags": tags})
