"""`provision --image-registry NAME` with the real az against the local stand-in: the registry is
created (or reused), the pinned image imported server-side once, the app pulls it with a
user-assigned identity holding AcrPull; bad or taken names are one line before anything is
created; without AcrPull the replica does not start and status says why; delete removes the
registry provision created and keeps one the user had; a registry of another resource group of the
subscription is reused (its AcrPull role deployed there by a nested deployment) and kept by delete."""

import json
import time

import pytest

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.az_harness import one_error
from aitk_testkit.scenario import FAKE_PARAMETERS, seed_fake_finetuning

RG = "aitk-acr"
FT_STORAGE = "aitkacrft01"
REGISTRY = "aitkacrtest01"
PINNED = "vllm/vllm-openai:v0.32.0"  # the template's default image (core/shipped_templates.default_image)
ARGS = ("--min-replicas", "1", "--yes", *FAKE_PARAMETERS, "-o", "json")


def _registry_record(standin, name=REGISTRY, group=RG):
    return standin.arm.get_record(
        f"/subscriptions/{standin.subscription_id}/resourceGroups/{group}/providers/"
        f"Microsoft.ContainerRegistry/registries/{name}"
    )


def _types(az_cloud, group=RG):
    return sorted(r["type"] for r in _ok(az_cloud("resource", "list", "-g", group, "-o", "json")))


@pytest.fixture(scope="module")
def acr_ws(az_cloud, fake_finetuning):
    """Fine-tuning's group and storage with the fake server, nothing provisioned yet."""
    ws, _ = fake_finetuning("acr", RG, FT_STORAGE, placeholder_model=False, job_name="job")
    _ok(az_cloud("aitk", "inference", "init", cwd=ws))
    return ws


@pytest.mark.parametrize(
    "name, problem",
    [
        ("acr", "it has 3 characters (5-50)"),
        ("my-registry", "it contains '-' (only letters and digits)"),
        ("x" * 51, "it has 51 characters (5-50)"),
    ],
)
def test_a_bad_name_is_refused_in_one_line_before_anything_is_created(az_cloud, acr_ws, name, problem):
    before = _types(az_cloud)
    line = one_error(az_cloud("aitk", "inference", "provision", "--image-registry", name, cwd=acr_ws))
    assert f"is not a valid container registry name: {problem}" in line
    assert _types(az_cloud) == before == ["Microsoft.Storage/storageAccounts"]
    assert not (acr_ws / "infra" / "inference.config.json").exists()


def test_a_name_taken_elsewhere_in_azure_is_one_line(az_cloud, standin, acr_ws):
    standin.taken_registry_names = {"someoneelses01"}
    try:
        line = one_error(az_cloud("aitk", "inference", "provision", "--image-registry", "SomeoneElses01", cwd=acr_ws))
    finally:
        standin.taken_registry_names = set()
    assert "the container registry name SomeoneElses01 is taken" in line
    assert _types(az_cloud) == ["Microsoft.Storage/storageAccounts"]


def test_what_if_lists_the_registry_identity_and_import_and_creates_nothing(az_cloud, acr_ws):
    proc = az_cloud("aitk", "inference", "provision", "--image-registry", REGISTRY, "--what-if", cwd=acr_ws)
    _ok(proc, parse=False)  # az's what-if report
    err = proc.stderr
    assert f"Container registry {REGISTRY}: new, Basic tier, in resource group '{RG}' (eastus)" in err, err
    assert f"Image docker.io/{PINNED}: imported into it server-side as {PINNED}" in err, err
    assert "+ Microsoft.ManagedIdentity/userAssignedIdentities/aitk-pull-" in proc.stdout, proc.stdout
    assert f"registries/{REGISTRY}/providers/Microsoft.Authorization/roleAssignments/" in proc.stdout, proc.stdout
    assert _types(az_cloud) == ["Microsoft.Storage/storageAccounts"]


@pytest.fixture(scope="module")
def pulled(az_cloud, standin, acr_ws):
    """provision --image-registry: registry created, image imported, the app running from it."""
    proc = az_cloud("aitk", "inference", "provision", "--image-registry", REGISTRY, *ARGS, cwd=acr_ws)
    _ok(proc)
    cfg = json.loads((acr_ws / "infra" / "inference.config.json").read_text())
    app_id = (
        f"/subscriptions/{standin.subscription_id}/resourceGroups/{RG}/providers/"
        f"Microsoft.App/containerApps/{cfg['ACA_APP_NAME']}"
    )
    deadline = time.monotonic() + 30
    while not standin.runtime.status(app_id.lower()).get("ready") and time.monotonic() < deadline:
        time.sleep(0.2)
    return {"proc": proc, "cfg": cfg, "app_id": app_id}


def test_provision_imports_the_image_and_the_app_pulls_it_with_its_identity(az_cloud, standin, pulled):
    err = pulled["proc"].stderr
    server = f"{REGISTRY}.azurecr.standin.local"
    assert f"Creating the container registry {REGISTRY}" in err, err
    assert f"Imported docker.io/{PINNED} into {server} as {PINNED}." in err, err
    assert json.loads(pulled["proc"].stdout)["imageRegistry"] == {
        "name": REGISTRY,
        "loginServer": server,
        "image": f"{server}/{PINNED}",
        "created": True,
        "imported": True,
    }
    rec = _registry_record(standin)
    assert rec["body"]["tags"] == {"aitkProvisioned": "inference"} and rec["body"]["sku"]["name"] == "Basic"
    assert rec["body"]["location"] == "eastus" and rec["body"]["properties"]["adminUserEnabled"] is False
    assert rec["private"]["imports"] == [{"source": f"docker.io/{PINNED}", "targets": [PINNED]}]
    app = _ok(az_cloud("resource", "show", "--ids", pulled["app_id"], "-o", "json"))
    assert app["properties"]["template"]["containers"][0]["image"] == f"{server}/{PINNED}"
    (entry,) = app["properties"]["configuration"]["registries"]
    assert entry["server"] == server and "passwordSecretRef" not in entry
    assert app["identity"]["type"] == "UserAssigned"
    assert [i.lower() for i in app["identity"]["userAssignedIdentities"]] == [entry["identity"].lower()]
    identity = _ok(az_cloud("resource", "show", "--ids", entry["identity"], "-o", "json"))
    assert identity["tags"] == {"aitkProvisioned": "inference"}
    assert standin.runtime.status(pulled["app_id"].lower())["ready"], "the replica pulled from the registry"
    events = standin.runtime.system_events(pulled["app_id"].lower())
    assert any(e["Reason"] == "ImagePulled" and server in e["Msg"] for e in events)


def test_running_it_again_imports_nothing_and_changes_nothing(az_cloud, standin, acr_ws, pulled):
    proc = az_cloud("aitk", "inference", "provision", "--image-registry", REGISTRY, *ARGS, cwd=acr_ws)
    out = _ok(proc)
    assert out["ACA_APP_NAME"] == pulled["cfg"]["ACA_APP_NAME"]
    assert (out["imageRegistry"]["created"], out["imageRegistry"]["imported"]) == (False, False)
    assert f"Container registry {REGISTRY}: reused ({REGISTRY}.azurecr.standin.local" in proc.stderr, proc.stderr
    assert f"has {PINNED} already: not imported again." in proc.stderr, proc.stderr
    assert "Creating the container registry" not in proc.stderr
    assert len(_registry_record(standin)["private"]["imports"]) == 1


def test_provision_again_without_the_flag_keeps_pulling_from_the_registry(az_cloud, standin, acr_ws, pulled):
    proc = az_cloud("aitk", "inference", "provision", *ARGS, cwd=acr_ws)
    out = _ok(proc)
    assert f"pulls its image from container registry {REGISTRY} (an earlier --image-registry): kept" in proc.stderr
    assert out["imageRegistry"]["name"] == REGISTRY and out["imageRegistry"]["imported"] is False
    app = _ok(az_cloud("resource", "show", "--ids", pulled["app_id"], "-o", "json"))
    image = app["properties"]["template"]["containers"][0]["image"]
    assert image == f"{REGISTRY}.azurecr.standin.local/{PINNED}", "a re-provision moved the pull back to Docker Hub"
    assert len(_registry_record(standin)["private"]["imports"]) == 1


def test_without_acr_pull_deploy_and_status_say_why_the_replica_does_not_start(az_cloud, standin, acr_ws, pulled):
    registry_id = _registry_record(standin)["id"]
    assignments = [
        r["id"]
        for r in standin.arm.res.values()
        if r["type"] == "Microsoft.Authorization/roleAssignments" and r["id"].lower().startswith(registry_id.lower())
    ]
    assert len(assignments) == 1
    _ok(az_cloud("resource", "delete", "--ids", assignments[0], "--api-version", "2022-04-01"), parse=False)
    app_id = pulled["app_id"].lower()
    t0 = time.monotonic()
    proc = az_cloud("aitk", "inference", "deploy", cwd=acr_ws)  # uploads the launcher: a restart, a fresh pull
    line = one_error(proc)
    assert time.monotonic() - t0 < 60, "deploy waited instead of failing fast"
    assert "the endpoint's replica did not start: Failed to pull image" in line, line
    assert "UNAUTHORIZED" in line and "AcrPull" in line, line
    assert "ImagePullBackOff" in [e["Reason"] for e in standin.runtime.system_events(app_id)]
    assert not standin.runtime.status(app_id)["ready"]
    st = _ok(az_cloud("aitk", "inference", "status", cwd=acr_ws))
    assert st["revisionState"] == "Failed", st
    assert "UNAUTHORIZED" in json.dumps(st) and "AcrPull" in json.dumps(st), st
    # provision again restores the assignment (the template's), and the next pull starts the replica
    _ok(az_cloud("aitk", "inference", "provision", "--image-registry", REGISTRY, *ARGS, cwd=acr_ws))
    deadline = time.monotonic() + 30
    while not standin.runtime.status(app_id).get("ready"):
        assert time.monotonic() < deadline, standin.runtime.system_events(app_id)[-5:]
        time.sleep(0.2)


def test_delete_removes_the_registry_provision_made(az_cloud, standin, acr_ws, pulled):
    registry_id = _registry_record(standin)["id"].lower()
    proc = az_cloud("aitk", "inference", "delete", "--yes", "-o", "json", cwd=acr_ws)
    out = _ok(proc)
    deleted = [i.lower() for i in out["deleted"]]
    assert registry_id in deleted and deleted[0].endswith("/containerapps/" + pulled["cfg"]["ACA_APP_NAME"]), out
    assert any("/userassignedidentities/aitk-pull-" in i for i in deleted), out
    assert f"Microsoft.ContainerRegistry/registries {REGISTRY} (the image pull's registry, made by provision)" in (
        proc.stderr
    )
    assert _registry_record(standin) is None
    types = _types(az_cloud)
    assert "Microsoft.ContainerRegistry/registries" not in types
    assert "Microsoft.ManagedIdentity/userAssignedIdentities" not in types
    # the role assignment went with its registry
    assert not [r for r in standin.arm.res.values() if r["id"].lower().startswith(registry_id)]


def test_your_own_registry_is_reused_and_kept_by_delete_without_the_apps_role(az_cloud, standin, tmp_path):
    """A registry the user made (untagged) in the app's group: reused as it is; delete keeps it and
    removes only what provision added to it (the pull identity's AcrPull role) and the identity."""
    group, own = "aitk-acr-own", "aitkacrown01"
    ws = tmp_path / "workspace"
    ws.mkdir()
    seed_fake_finetuning(standin, az_cloud, ws, group, "aitkacrownft1", placeholder_model=False, job_name="job")
    _ok(az_cloud("acr", "create", "-g", group, "-n", own, "--sku", "Standard", "-o", "json"))
    _ok(az_cloud("aitk", "inference", "init", cwd=ws))
    proc = az_cloud("aitk", "inference", "provision", "--image-registry", own, *ARGS, cwd=ws)
    out = _ok(proc)
    assert f"Container registry {own}: reused ({own}.azurecr.standin.local, resource group '{group}')" in proc.stderr
    assert out["imageRegistry"]["created"] is False and out["imageRegistry"]["imported"] is True
    registry = _registry_record(standin, own, group)
    roles = [
        r["id"].lower() for r in standin.arm.res.values() if r["id"].lower().startswith(registry["id"].lower() + "/")
    ]
    assert len(roles) == 1
    proc = az_cloud("aitk", "inference", "delete", "--yes", "-o", "json", cwd=ws)
    gone = _ok(proc)
    assert registry["id"].lower() in [i.lower() for i in gone["kept"]], gone
    assert f"{own} (the image pull's registry, not made by provision (yours))" in proc.stderr, proc.stderr
    deleted = [i.lower() for i in gone["deleted"]]
    assert roles[0] in deleted and any("/userassignedidentities/aitk-pull-" in i for i in deleted), gone
    assert _registry_record(standin, own, group) is not None
    assert not [r for r in standin.arm.res.values() if r["id"].lower().startswith(registry["id"].lower() + "/")]
    assert _registry_record(standin, own, group)["private"]["tags"] == {"vllm/vllm-openai": ["v0.32.0"]}


def test_a_registry_of_another_resource_group_is_reused_and_kept_by_delete_without_the_apps_role(
    az_cloud, standin, tmp_path
):
    """A registry of another resource group of the subscription (a team's shared one): reused; the
    pull identity's AcrPull role is deployed in the registry's group by the template's nested
    deployment (a role assignment is deployed at its scope:
    https://learn.microsoft.com/azure/role-based-access-control/role-assignments-template#scope), so
    the app's first pull is authorized; delete keeps the registry and removes that role."""
    group, shared_group, shared = "aitk-acr-app", "aitk-acr-shared", "aitkacrshared01"
    ws = tmp_path / "workspace"
    ws.mkdir()
    seed_fake_finetuning(standin, az_cloud, ws, group, "aitkacrappft01", placeholder_model=False, job_name="job")
    standin.create_resource_group(shared_group, "eastus")
    _ok(az_cloud("acr", "create", "-g", shared_group, "-n", shared, "--sku", "Basic", "-o", "json"))
    _ok(az_cloud("aitk", "inference", "init", cwd=ws))
    assert (ws / "infra" / "provision" / "modules" / "acr-pull.bicep").is_file()  # beside the Bicep it serves
    proc = az_cloud("aitk", "inference", "provision", "--image-registry", shared, *ARGS, cwd=ws)
    out = _ok(proc)
    assert f"Container registry {shared}: reused ({shared}.azurecr.standin.local, resource group '{shared_group}'" in (
        proc.stderr
    )
    assert f"the app stays in '{group}'" in proc.stderr
    assert out["imageRegistry"]["created"] is False and out["imageRegistry"]["imported"] is True
    registry = _registry_record(standin, shared, shared_group)
    roles = [r for r in standin.arm.res.values() if r["id"].lower().startswith(registry["id"].lower() + "/providers/")]
    assert len(roles) == 1 and roles[0]["rg"] == shared_group
    identity = _ok(az_cloud("identity", "list", "-g", group, "-o", "json"))[0]
    assert roles[0]["body"]["properties"]["principalId"] == identity["principalId"]
    nested = _ok(az_cloud("deployment", "group", "list", "-g", shared_group, "-o", "json"))
    assert len(nested) == 1 and nested[0]["name"].startswith("aitk-acr-pull-"), nested  # the module's deployment
    assert nested[0]["properties"]["provisioningState"] == "Succeeded"
    made_there = _types(az_cloud, shared_group)  # the identity and the app stay in the app's group
    assert not {"Microsoft.ManagedIdentity/userAssignedIdentities", "Microsoft.App/containerApps"} & set(made_there)
    # the app pulls from it: its replica runs
    app = standin.arm.get_record(
        f"/subscriptions/{standin.subscription_id}/resourceGroups/{group}/providers/Microsoft.App/containerApps/"
        + out["ACA_APP_NAME"]
    )
    assert app["body"]["properties"]["template"]["containers"][0]["image"].startswith(f"{shared}.azurecr.standin.")
    deadline = time.time() + 60
    while not standin.runtime.status(app["id"].lower())["ready"] and time.time() < deadline:
        time.sleep(0.5)
    assert standin.runtime.status(app["id"].lower())["ready"]
    proc = az_cloud("aitk", "inference", "delete", "--yes", "-o", "json", cwd=ws)
    gone = _ok(proc)
    assert registry["id"].lower() in [i.lower() for i in gone["kept"]], gone
    assert roles[0]["id"].lower() in [i.lower() for i in gone["deleted"]], gone
    assert _registry_record(standin, shared, shared_group) is not None
    assert not [r for r in standin.arm.res.values() if r["id"].lower().startswith(registry["id"].lower() + "/")]


def test_a_first_deploy_waits_for_a_new_acr_pull_role_to_take_effect(az_cloud, standin, tmp_path):
    """Issue 19: a new role assignment takes minutes to take effect (the stand-in's delay, 45 s here),
    so the first pull after `provision --image-registry` on a fresh registry is refused UNAUTHORIZED.
    deploy says why it waits and succeeds once the replica's own pull retry gets through, instead of
    failing (or running to its timeout)."""
    group, registry = "aitk-acr-new", "aitkacrnew01"
    ws = tmp_path / "workspace"
    ws.mkdir()
    seed_fake_finetuning(standin, az_cloud, ws, group, "aitkacrnewft1", placeholder_model=False, job_name="job")
    _ok(az_cloud("aitk", "inference", "init", cwd=ws))
    standin.role_propagation_s = 45.0
    try:
        _ok(az_cloud("aitk", "inference", "provision", "--image-registry", registry, *ARGS, cwd=ws))
    finally:
        standin.role_propagation_s = 5.0
    t0 = time.monotonic()
    proc = az_cloud("aitk", "inference", "deploy", "-o", "json", cwd=ws)
    took = time.monotonic() - t0
    _ok(proc)
    assert "got its AcrPull role" in proc.stderr and "deploy waits" in proc.stderr, proc.stderr
    assert took < 300, took  # far from deploy's own timeout
    cfg = json.loads((ws / "infra" / "inference.config.json").read_text())
    app_id = f"/subscriptions/{standin.subscription_id}/resourceGroups/{group}/providers/Microsoft.App/containerApps/"
    events = standin.runtime.system_events((app_id + cfg["ACA_APP_NAME"]).lower())
    reasons = [e["Reason"] for e in events]
    assert "ImagePullBackOff" in reasons and reasons.index("ImagePullBackOff") < len(reasons) - 1 - reasons[::-1].index(
        "ImagePulled"
    ), reasons  # refused first, pulled later
    _ok(az_cloud("aitk", "inference", "delete", "--yes", "-o", "json", cwd=ws))


def test_docker_hubs_rate_limit_on_the_anonymous_import_is_one_line(az_cloud, standin, tmp_path):
    """Issue 19: Registries_ImportImage from docker.io is anonymous, so Docker Hub's limit applies; its
    `toomanyrequests` refusal is one line that says what happened and to retry later, no traceback."""
    group, registry = "aitk-acr-limit", "aitkacrlimit01"
    ws = tmp_path / "workspace"
    ws.mkdir()
    seed_fake_finetuning(standin, az_cloud, ws, group, "aitkacrlimft1", placeholder_model=False, job_name="job")
    _ok(az_cloud("aitk", "inference", "init", cwd=ws))
    standin.docker_hub_anonymous_pulls_left = 0
    try:
        line = one_error(az_cloud("aitk", "inference", "provision", "--image-registry", registry, *ARGS, cwd=ws))
    finally:
        standin.docker_hub_anonymous_pulls_left = None
    assert f"container registry {registry}: Docker Hub refused the import of docker.io/{PINNED}" in line, line
    assert "toomanyrequests" in line and "anonymous" in line, line
    # later, within the limit: provision reuses the registry and imports
    out = _ok(az_cloud("aitk", "inference", "provision", "--image-registry", registry, *ARGS, cwd=ws))
    assert out["imageRegistry"]["imported"] is True
    _ok(az_cloud("aitk", "inference", "delete", "--yes", "-o", "json", cwd=ws))
