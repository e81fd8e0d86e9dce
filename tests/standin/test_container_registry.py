"""The stand-in's Azure Container Registry (providers/container_registry.py), user-assigned
identities and role assignments (providers/identity.py), deployed by REST and by a template
(`scope`, guid(), extensionResourceId()), and the pull rule: an image on a stand-in registry
starts only when it was imported and the app's registry identity holds AcrPull on the registry."""

import time

import pytest

from azure_standin import tls
from azure_standin.providers.app import image_pull_error
from azure_standin.providers.identity import ACR_PULL_ROLE_ID, ROLE_PROPAGATION_S
from azure_standin.runtime import Runtime, azure_rules
from azure_standin.runtime.replica import NOTE_REASON

from .test_arm_rest import deploy
from .test_cold_start import _reasons
from .test_runtime import _app, _wait

API = "2025-04-01"
API_RES = "2024-11-01"
RG = "acr-rg"


@pytest.fixture(scope="module")
def group(arm):
    r = arm.put(arm.rg(RG), API_RES, json={"location": "eastus"})
    assert r.status_code in (200, 201), r.text
    return arm.rg(RG)


def _registry(arm, group, name, sku="Basic", location="eastus"):
    return arm.put(
        f"{group}/providers/Microsoft.ContainerRegistry/registries/{name}",
        API,
        json={"location": location, "sku": {"name": sku}, "properties": {"adminUserEnabled": False}},
    )


def _import(arm, group, name, target, mode="NoForce"):
    r = arm.post(
        f"{group}/providers/Microsoft.ContainerRegistry/registries/{name}/importImage",
        API,
        json={
            "source": {"registryUri": "docker.io", "sourceImage": "vllm/vllm-openai:v0.32.0"},
            "targetTags": [target],
            "mode": mode,
        },
    )
    assert r.status_code == 202, r.text
    poll = r.headers["Azure-AsyncOperation"]
    seen = []
    for _ in range(100):
        body = arm.s.get(poll).json()
        seen.append(body["status"])
        if body["status"] != "InProgress":
            return seen, body
        time.sleep(0.2)
    raise AssertionError(seen)


@pytest.mark.parametrize("name", ["abcd", "a" * 51, "my-registry", "my_registry", ""])
def test_registry_names_follow_acr_rules(arm, group, name):
    if name:
        r = _registry(arm, group, name)
        assert r.status_code == 400 and "5 to 50 alphanumeric" in r.json()["error"]["message"]
    check = arm.post(
        f"/subscriptions/{arm.azure.subscription_id}/providers/Microsoft.ContainerRegistry/checkNameAvailability",
        API,
        json={"name": name, "type": "Microsoft.ContainerRegistry/registries"},
    ).json()
    assert check["nameAvailable"] is False and check["reason"] == "Invalid"


def test_a_registry_is_created_with_its_login_server_and_its_name_is_then_taken(arm, group):
    r = _registry(arm, group, "AitkRegistry01")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["properties"]["loginServer"] == "aitkregistry01.azurecr.standin.local"
    assert body["sku"] == {"name": "Basic", "tier": "Basic"} and body["properties"]["adminUserEnabled"] is False
    assert _registry(arm, group, "AitkRegistry01").status_code == 200  # the same PUT again
    arm.put(arm.rg("acr-other"), API_RES, json={"location": "eastus"})
    taken = _registry(arm, arm.rg("acr-other"), "aitkregistry01")  # names are global, any case
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "AlreadyInUse"
    url = f"/subscriptions/{arm.azure.subscription_id}/providers/Microsoft.ContainerRegistry/checkNameAvailability"
    assert arm.post(url, API, json={"name": "aitkregistry01"}).json()["reason"] == "AlreadyExists"
    assert arm.post(url, API, json={"name": "freshname123"}).json() == {"nameAvailable": True}
    arm.azure.taken_registry_names = {"someoneelses1"}  # held by another Azure customer
    try:
        assert arm.post(url, API, json={"name": "SomeoneElses1"}).json()["nameAvailable"] is False
        assert _registry(arm, group, "someoneelses1").status_code == 409
    finally:
        arm.azure.taken_registry_names = set()
    assert _registry(arm, group, "badskuregistry", sku="Free").status_code == 400


def test_import_is_long_running_and_no_force_refuses_an_existing_tag(arm, group):
    assert _registry(arm, group, "aitkimport01").status_code == 201
    seen, body = _import(arm, group, "aitkimport01", "vllm/vllm-openai:v0.32.0")
    assert seen[0] == "InProgress" and body["status"] == "Succeeded"
    rec = arm.azure.arm.get_record(f"{group}/providers/Microsoft.ContainerRegistry/registries/aitkimport01")
    assert rec["private"]["tags"] == {"vllm/vllm-openai": ["v0.32.0"]}
    _, again = _import(arm, group, "aitkimport01", "vllm/vllm-openai:v0.32.0")
    assert again["status"] == "Failed"
    assert again["error"]["message"] == "Tag vllm/vllm-openai:v0.32.0 already exists in target registry."
    _, forced = _import(arm, group, "aitkimport01", "vllm/vllm-openai:v0.32.0", mode="Force")
    assert forced["status"] == "Succeeded"
    assert rec["private"]["tags"] == {"vllm/vllm-openai": ["v0.32.0"]}


PULL_TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"registry": {"type": "string"}, "grant": {"type": "bool"}},
    "variables": {
        "identityId": "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'pull-id')]",
        "registryId": "[resourceId('Microsoft.ContainerRegistry/registries', parameters('registry'))]",
    },
    "resources": [
        {
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "apiVersion": "2023-01-31",
            "name": "pull-id",
            "location": "eastus",
        },
        {
            "condition": "[parameters('grant')]",
            "type": "Microsoft.Authorization/roleAssignments",
            "apiVersion": "2022-04-01",
            "scope": "[format('Microsoft.ContainerRegistry/registries/{0}', parameters('registry'))]",
            "name": f"[guid(variables('registryId'), variables('identityId'), '{ACR_PULL_ROLE_ID}')]",
            "properties": {
                "roleDefinitionId": f"[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
                f"'{ACR_PULL_ROLE_ID}')]",
                "principalId": "[reference(variables('identityId'), '2023-01-31').principalId]",
                "principalType": "ServicePrincipal",
            },
            "dependsOn": ["[variables('identityId')]"],
        },
    ],
    "outputs": {
        "assignment": {
            "type": "string",
            "value": f"[extensionResourceId(variables('registryId'), 'Microsoft.Authorization/roleAssignments', "
            f"guid(variables('registryId'), variables('identityId'), '{ACR_PULL_ROLE_ID}'))]",
        }
    },
}


def _pull_app(mgr, group, server, image_tag="v0.32.0", identity=True, assigned=True):
    identity_id = f"{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pull-id"
    app = _app()
    app["properties"]["template"]["containers"][0]["image"] = f"{server}/vllm/vllm-openai:{image_tag}"
    if identity:
        app["properties"]["configuration"]["registries"] = [{"server": server, "identity": identity_id}]
    if assigned:
        app["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {identity_id: {}}}
    return image_pull_error(mgr, app)


def test_a_template_grants_acr_pull_on_the_registry_and_only_then_the_pull_works(arm, group):
    mgr = arm.azure.arm
    assert _registry(arm, group, "aitkpull01").status_code == 201
    server = "aitkpull01.azurecr.standin.local"
    d, states = deploy(arm, RG, "pull-none", PULL_TEMPLATE, {"registry": "aitkpull01", "grant": False})
    assert states[-1] == "Succeeded", d
    assert "UNAUTHORIZED" in _pull_app(mgr, group, server) and "no AcrPull" in _pull_app(mgr, group, server)
    assert "UNAUTHORIZED" in _pull_app(mgr, group, server, identity=False)
    assert "not assigned to the container app" in _pull_app(mgr, group, server, assigned=False)

    # a new assignment takes effect role_propagation_s (x time_scale) after it is made (1 s here)
    arm.azure.role_propagation_s = 1.0
    try:
        d, states = deploy(arm, RG, "pull-grant", PULL_TEMPLATE, {"registry": "aitkpull01", "grant": True})
    finally:
        arm.azure.role_propagation_s = ROLE_PROPAGATION_S
    granted = time.monotonic()
    assert states[-1] == "Succeeded", d
    assert "no AcrPull" in _pull_app(mgr, group, server)  # not in effect yet
    while "no AcrPull" in (_pull_app(mgr, group, server) or ""):
        assert time.monotonic() - granted < 30
        time.sleep(0.1)
    assert time.monotonic() - granted > 0.5
    assignment = d["properties"]["outputs"]["assignment"]["value"]
    registry_id = f"{group}/providers/Microsoft.ContainerRegistry/registries/aitkpull01"
    assert assignment.lower().startswith(registry_id.lower() + "/providers/microsoft.authorization/roleassignments/")
    got = arm.get(assignment, "2022-04-01")
    assert got.status_code == 200, got.text
    props = got.json()["properties"]
    assert props["scope"].lower() == registry_id.lower()
    assert props["roleDefinitionId"].endswith("/roleDefinitions/" + ACR_PULL_ROLE_ID)
    assert props["createdOn"] <= props["updatedOn"] and props["createdOn"].startswith("20")
    # granted, but nothing imported yet: the tag is unknown
    assert "MANIFEST_UNKNOWN" in _pull_app(mgr, group, server)
    _import(arm, group, "aitkpull01", "vllm/vllm-openai:v0.32.0")
    assert _pull_app(mgr, group, server) is None
    assert "MANIFEST_UNKNOWN" in _pull_app(mgr, group, server, image_tag="v9.9.9")
    # the same deployment again keeps the same assignment (guid() is deterministic)
    d, _ = deploy(arm, RG, "pull-grant", PULL_TEMPLATE, {"registry": "aitkpull01", "grant": True})
    assert d["properties"]["outputs"]["assignment"]["value"] == assignment
    # an image elsewhere (Docker Hub) is not the stand-in registry's business
    app = _app()
    assert image_pull_error(mgr, app) is None
    # deleting the registry takes its role assignments with it
    assert arm.delete(registry_id, API).status_code == 200
    assert arm.get(assignment, "2022-04-01").status_code == 404


def test_a_refused_pull_fails_the_replica_as_azure_shows_it(tmp_path):
    ca, key = tls.make_ca(tmp_path / "tls")
    rt = Runtime(tmp_path / "state", ca, key, time_scale=0.01)
    try:
        app_id = "/subscriptions/s/resourcegroups/rg/providers/microsoft.app/containerapps/nopull"
        why = 'Failed to pull image "r.azurecr.standin.local/vllm/vllm-openai:v0.32.0": UNAUTHORIZED: no AcrPull'
        refusal = {"now": why}
        rt.pull_gate = lambda asked: refusal["now"] if asked == app_id else None
        rt.apply(app_id, _app(), {"/mount": tmp_path}, {"api-key": "k"})
        assert _wait(lambda: azure_rules.PULL_FAILED in _reasons(rt, app_id), timeout=20)
        assert rt.status(app_id)["state"] == azure_rules.FAILED
        assert _wait(lambda: _reasons(rt, app_id).count(azure_rules.PULL_FAILED) >= 2, timeout=20)  # retried
        reasons = _reasons(rt, app_id)
        assert reasons[:3] == ["AssigningReplica", "PullingImage", azure_rules.PULL_FAILED]
        assert "ImagePulled" not in reasons and "ContainerStarted" not in reasons
        events = [e for e in rt.system_events(app_id) if e["Reason"] != NOTE_REASON]
        assert events[2]["Msg"] == why
        st = rt.status(app_id)
        assert not st["running"] and st["restarts"] == 0  # a refused pull is no container restart
        refusal["now"] = None  # AcrPull granted: the next pull works, no new revision needed
        assert _wait(lambda: rt.status(app_id)["ready"], timeout=30)
        assert "ImagePulled" in _reasons(rt, app_id)
    finally:
        rt.stop_all()


def test_an_imported_image_pulls_as_much_as_the_original(tmp_path):
    """The pull-delay knob counts the image's size wherever it is pulled from."""
    assert azure_rules.image_size_gb("aitkpull01.azurecr.standin.local/vllm/vllm-openai:v0.32.0") == 10.0
    assert azure_rules.image_size_gb("docker.io/vllm/vllm-openai:v0.32.0") == 10.0
    assert azure_rules.image_size_gb("vllm/vllm-openai:v0.32.0") == 10.0
    assert azure_rules.image_size_gb("myacr.azurecr.io/other/image:1") == azure_rules.DEFAULT_IMAGE_SIZE_GB
    ca, key = tls.make_ca(tmp_path / "tls")
    rt = Runtime(tmp_path / "state", ca, key, time_scale=0.5, pull_mb_per_s=1000)
    try:
        assert rt.pull_seconds("myacr.azurecr.standin.local/vllm/vllm-openai:v0.32.0") == 5.0  # 10 GB / 1 GB/s x 0.5
    finally:
        rt.stop_all()


def _data_plane(azure):
    """A requests session that reaches login servers through the stand-in's CONNECT tunnel."""
    import requests

    s = requests.Session()
    s.trust_env = False
    s.verify = azure.ca_bundle
    s.proxies = {"https": azure.proxy_url}
    return s


def _signed_in(azure, server, repo):
    from .conftest import arm_token

    s = _data_plane(azure)
    challenge = s.get(f"https://{server}/v2/")
    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"] == f'Bearer realm="https://{server}/oauth2/token",service="{server}"'
    bad = s.post(f"https://{server}/oauth2/exchange", data={"grant_type": "access_token", "access_token": "x.y.z"})
    assert bad.status_code == 401 and bad.json()["errors"][0]["code"] == "UNAUTHORIZED"
    refresh = s.post(
        f"https://{server}/oauth2/exchange",
        data={"grant_type": "access_token", "service": server, "access_token": arm_token(azure)},
    ).json()["refresh_token"]
    access = s.post(
        f"https://{server}/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "service": server,
            "scope": f"repository:{repo}:pull,push",
            "refresh_token": refresh,
        },
    ).json()["access_token"]
    s.headers["Authorization"] = f"Bearer {access}"
    return s


def test_the_data_plane_signs_in_and_streams_only_on_premium(arm, group):
    """ACR's data plane through the tunnel: the token exchange, tags, and artifact streaming, which
    is Premium only (Learn, container-registry-artifact-streaming); a conversion runs, then its
    streaming artifact is a referrer of the image. The tunnel reaches login servers and nothing else."""
    azure, repo, tag = arm.azure, "vllm/vllm-openai", "v0.32.0"
    with pytest.raises(Exception, match="403|ProxyError|Tunnel"):
        _data_plane(azure).get("https://example.com/", timeout=10)
    for name, sku in (("streambasic01", "Basic"), ("streampremium1", "Premium")):
        assert _registry(arm, group, name, sku=sku).status_code == 201
        _import(arm, group, name, f"{repo}:{tag}")
    basic = _signed_in(azure, "streambasic01.azurecr.standin.local", repo)
    digest = basic.get(f"https://streambasic01.azurecr.standin.local/acr/v1/{repo}/_tags/{tag}").json()["tag"]["digest"]
    no = basic.post(f"https://streambasic01.azurecr.standin.local/acr/v1/{repo}/_streaming/{digest}", json={})
    assert no.status_code == 400 and "only available in the Premium service tier" in no.json()["errors"][0]["message"]
    # a token of one registry opens nothing in another
    other = basic.get(f"https://streampremium1.azurecr.standin.local/acr/v1/{repo}/_tags/{tag}")
    assert other.status_code == 401
    s, base = (
        _signed_in(azure, "streampremium1.azurecr.standin.local", repo),
        "https://streampremium1.azurecr.standin.local",
    )
    digest = s.get(f"{base}/acr/v1/{repo}/_tags/{tag}").json()["tag"]["digest"]
    assert s.get(f"{base}/acr/v1/{repo}/_tags/v9").status_code == 404
    assert s.get(f"{base}/acr/v1/{repo}/_streaming").json()["convertPushedImages"] is False  # inactive by default
    op = s.post(f"{base}/acr/v1/{repo}/_streaming/{digest}", json={"conversionFormat": "overlaybd"})
    assert op.status_code == 202 and op.json()["status"] == "Running", op.text
    referrers = f"{base}/v2/{repo}/referrers/{digest}?artifactType=application/vnd.azure.artifact.streaming.v1"
    assert s.get(referrers).json()["manifests"] == []
    deadline = time.monotonic() + 30
    while s.get(f"{base}/acr/v1/{repo}/_operations/{op.json()['id']}").json()["status"] == "Running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert s.get(f"{base}/acr/v1/{repo}/_operations/{op.json()['id']}").json()["status"] == "Succeeded"
    (artifact,) = s.get(referrers).json()["manifests"]
    assert artifact["artifactType"] == "application/vnd.azure.artifact.streaming.v1"
