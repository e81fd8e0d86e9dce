"""Resource Manager over HTTPS: auth, resource groups, providers, each resource type's body
deserialized with the Azure SDK model, deployments (async, operations, validate, what-if),
Azure-like failures, and seeded faults."""

import json
import time

import pytest
import requests

from aitk_testkit.scenario import FINETUNING_STORAGE_TEMPLATE
from standin.conftest import INFERENCE_TEMPLATE, Arm

API_RES = "2024-11-01"
API_DEP = "2025-04-01"


def _deployment_body(template, params):
    """An incremental deployment of `template` with plain parameter values."""
    return {
        "properties": {
            "mode": "Incremental",
            "template": template,
            "parameters": {k: {"value": v} for k, v in params.items()},
        }
    }


def deploy(arm, rg, name, template, params, wait=True):
    body = _deployment_body(template, params)
    r = arm.put(f"{arm.rg(rg)}/providers/Microsoft.Resources/deployments/{name}", API_DEP, json=body)
    assert r.status_code == 201, r.text
    poll = r.headers["Azure-AsyncOperation"]
    assert r.headers.get("Retry-After") == "1"
    states = []
    for _ in range(200):
        st = arm.s.get(poll).json()["status"]
        states.append(st)
        if st not in ("Accepted", "Running"):
            break
        time.sleep(0.05)
    d = arm.get(f"{arm.rg(rg)}/providers/Microsoft.Resources/deployments/{name}", API_DEP).json()
    return d, states


def test_arm_needs_a_bearer_token_of_ours(arm_standin):
    url = f"{arm_standin.url}/subscriptions/{arm_standin.subscription_id}/resourcegroups?api-version={API_RES}"
    r = requests.get(url, verify=arm_standin.ca_bundle)
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    assert "WWW-Authenticate" in r.headers
    r = requests.get(url, verify=arm_standin.ca_bundle, headers={"Authorization": "Bearer a.b.c"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_token_endpoint_rejects_a_wrong_secret(arm_standin):
    r = requests.post(
        f"{arm_standin.url}/{arm_standin.tenant_id}/oauth2/v2.0/token",
        verify=arm_standin.ca_bundle,
        data={
            "grant_type": "client_credentials",
            "client_id": arm_standin.client_id,
            "client_secret": "wrong",
            "scope": f"{arm_standin.url}/.default",
        },
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_tls_certificate_covers_loopback(arm_standin):
    import socket
    import ssl

    from cryptography import x509

    ctx = ssl.create_default_context(cafile=arm_standin.ca_bundle)
    for host in ("127.0.0.1", "localhost"):
        with socket.create_connection(("127.0.0.1", arm_standin.port)) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                cert = x509.load_der_x509_certificate(s.getpeercert(binary_form=True))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)


def test_resource_groups_and_providers(arm):
    from azure.mgmt.resource.resources.models import Provider, ResourceGroup

    assert arm.head(arm.rg("rg-a"), API_RES).status_code == 404
    r = arm.get(arm.rg("rg-a"), API_RES)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceGroupNotFound"
    r = arm.put(arm.rg("rg-a"), API_RES, json={"location": "East US"})
    assert r.status_code == 201
    g = ResourceGroup.deserialize(r.json()) if hasattr(ResourceGroup, "deserialize") else ResourceGroup(r.json())
    assert g.name == "rg-a" and g.location == "eastus" and g.properties.provisioning_state == "Succeeded"
    assert arm.put(arm.rg("rg-a"), API_RES, json={"location": "eastus"}).status_code == 200
    assert arm.head(arm.rg("RG-A"), API_RES).status_code == 204  # case-insensitive
    p = arm.get(f"/subscriptions/{arm.azure.subscription_id}/providers/Microsoft.App", API_RES).json()
    prov = Provider.deserialize(p) if hasattr(Provider, "deserialize") else Provider(p)
    assert prov.registration_state == "Registered"
    r = arm.s.get(f"{arm.azure.url}{arm.rg('rg-a')}")  # no api-version
    assert r.status_code == 400 and r.json()["error"]["code"] == "MissingApiVersionParameter"
    r = arm.get(f"{arm.rg('rg-a')}/providers/Microsoft.App/containerApps/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    r = arm.get(f"{arm.rg('rg-missing')}/providers/Microsoft.App/containerApps/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceGroupNotFound"


def _sdk(model_cls, body):
    """Deserialize with the SDK model (msrest-style .deserialize or the newer Model(mapping))."""
    if hasattr(model_cls, "deserialize"):
        return model_cls.deserialize(body)
    return model_cls(body)


def test_inference_deployment_and_every_body_deserializes(arm):
    from azure.mgmt.appcontainers import models as aca
    from azure.mgmt.loganalytics import models as la
    from azure.mgmt.resource.deployments import models as dm
    from azure.mgmt.storage import models as st

    azure = arm.azure
    azure.create_resource_group("rg-inf", "eastus")
    tmpl = json.loads(INFERENCE_TEMPLATE.read_text())
    d, states = deploy(
        arm,
        "rg-inf",
        "inf",
        tmpl,
        {
            "apiKey": "key-123",
            "apiKeySecondary": "key-456",
            "defaultCommands": ["python3", "-c", "import time; time.sleep(60)"],
        },
    )
    assert d["properties"]["provisioningState"] == "Succeeded", d["properties"].get("error")
    assert states[-1] == "Succeeded"
    dep = _sdk(dm.DeploymentExtended, d)
    outs = {k: v["value"] for k, v in dep.properties.outputs.items()}
    assert set(outs) == {
        "SUBSCRIPTION_ID",
        "RESOURCE_GROUP_NAME",
        "STORAGE_ACCOUNT_NAME",
        "FILE_SHARE_NAME",
        "ACA_APP_NAME",
        "ACA_APP_ENDPOINT",
    }
    assert outs["ACA_APP_ENDPOINT"].startswith("https://127.0.0.1:")
    assert "key-123" not in json.dumps(d)  # secure parameter never echoed
    assert {"id"} == set(
        dep.properties.output_resources[0].as_dict()
        if hasattr(dep.properties.output_resources[0], "as_dict")
        else {"id": 1}
    )
    ops = arm.get(
        f"/subscriptions/{azure.subscription_id}/resourcegroups/rg-inf/deployments/inf/operations", API_DEP
    ).json()["value"]
    assert len(ops) == 6 and all(o["properties"]["provisioningState"] == "Succeeded" for o in ops)
    for o in ops:
        _sdk(dm.DeploymentOperation, o)

    rg = arm.rg("rg-inf")
    acct = outs["STORAGE_ACCOUNT_NAME"]
    body = arm.get(f"{rg}/providers/Microsoft.Storage/storageAccounts/{acct}", "2025-06-01").json()
    sa = _sdk(st.StorageAccount, body)
    assert sa.primary_endpoints.file == f"{azure.url}/{acct}/" and sa.provisioning_state == "Succeeded"
    keys = arm.post(f"{rg}/providers/Microsoft.Storage/storageAccounts/{acct}/listKeys", "2025-06-01").json()
    assert [k["keyName"] for k in keys["keys"]] == ["key1", "key2"]
    _sdk(st.StorageAccountListKeysResult, keys)
    share = arm.get(
        f"{rg}/providers/Microsoft.Storage/storageAccounts/{acct}/fileServices/default/shares/"
        f"{outs['FILE_SHARE_NAME']}",
        "2025-06-01",
    ).json()
    assert _sdk(st.FileShare, share).share_quota == 1024
    assert azure.share_dir(acct, outs["FILE_SHARE_NAME"]).is_dir()
    shares = arm.get(
        f"{rg}/providers/Microsoft.Storage/storageAccounts/{acct}/fileServices/default/shares", "2025-06-01"
    ).json()
    assert [s["name"] for s in shares["value"]] == [outs["FILE_SHARE_NAME"]]

    wss = [
        r
        for r in arm.get(f"{rg}/resources", API_RES).json()["value"]
        if r["type"] == "Microsoft.OperationalInsights/workspaces"
    ]
    ws = _sdk(la.Workspace, wss[0])
    assert ws.customer_id
    envs = [
        r
        for r in arm.get(f"{rg}/resources", API_RES).json()["value"]
        if r["type"] == "Microsoft.App/managedEnvironments"
    ]
    env = _sdk(aca.ManagedEnvironment, envs[0])
    assert env.default_domain and env.static_ip and env.provisioning_state == "Succeeded"
    assert [w.workload_profile_type for w in env.workload_profiles] == ["Consumption", "Consumption-GPU-NC8as-T4"]
    assert "sharedKey" not in json.dumps(envs[0])
    stor = arm.get(f"{envs[0]['id']}/storages/aitk-share").json()
    assert _sdk(aca.ManagedEnvironmentStorage, stor).properties.azure_file.share_name == outs["FILE_SHARE_NAME"]
    assert "accountKey" not in json.dumps(stor)

    app_path = f"{rg}/providers/Microsoft.App/containerApps/{outs['ACA_APP_NAME']}"
    app_body = arm.get(app_path).json()
    app = _sdk(aca.ContainerApp, app_body)
    assert "key-123" not in json.dumps(app_body)
    assert app.configuration.ingress.fqdn == outs["ACA_APP_ENDPOINT"][len("https://") :]
    assert app.latest_revision_name.startswith(outs["ACA_APP_NAME"] + "--")
    assert app.event_stream_endpoint and app.provisioning_state == "Succeeded"
    assert [s.name for s in app.configuration.secrets] == ["api-key", "api-key-secondary"]
    secrets = arm.post(f"{app_path}/listSecrets").json()
    assert _sdk(aca.SecretsCollection, secrets).value[0].value == "key-123"
    revs = arm.get(f"{app_path}/revisions").json()["value"]
    assert [r["name"] for r in revs] == [app.latest_revision_name]
    rev = _sdk(aca.Revision, arm.get(f"{app_path}/revisions/{app.latest_revision_name}").json())
    assert rev.active is True and rev.health_state in ("Healthy", "None", "Unhealthy")
    assert arm.post(f"{app_path}/revisions/{app.latest_revision_name}/restart").status_code == 200

    # re-deploy the same: same revision, NoChange in what-if; a template change makes a new revision
    d2, _ = deploy(
        arm,
        "rg-inf",
        "inf",
        tmpl,
        {
            "apiKey": "key-123",
            "apiKeySecondary": "key-456",
            "defaultCommands": ["python3", "-c", "import time; time.sleep(60)"],
        },
    )
    assert d2["properties"]["provisioningState"] == "Succeeded"
    assert arm.get(app_path).json()["properties"]["latestRevisionName"] == app.latest_revision_name
    wi = what_if(
        arm,
        "rg-inf",
        tmpl,
        {
            "apiKey": "key-123",
            "apiKeySecondary": "key-456",
            "cpu": "4.0",
            "defaultCommands": ["python3", "-c", "import time; time.sleep(60)"],
        },
    )
    result = _sdk(dm.WhatIfOperationResult, wi)
    by_type = {c.resource_id.split("/providers/")[1].rsplit("/", 1)[0]: c for c in result.changes}
    assert by_type["Microsoft.App/containerApps"].change_type == "Modify"
    assert by_type["Microsoft.App/containerApps"].delta
    assert by_type["Microsoft.Storage/storageAccounts"].change_type == "NoChange"
    d3, _ = deploy(
        arm,
        "rg-inf",
        "inf",
        tmpl,
        {
            "apiKey": "key-123",
            "apiKeySecondary": "key-456",
            "cpu": "4.0",
            "defaultCommands": ["python3", "-c", "import time; time.sleep(60)"],
        },
    )
    assert d3["properties"]["provisioningState"] == "Succeeded"
    assert arm.get(app_path).json()["properties"]["latestRevisionName"] != app.latest_revision_name
    assert arm.delete(arm.rg("rg-inf"), API_RES).status_code in (200, 202)
    assert not azure.share_dir(acct, outs["FILE_SHARE_NAME"]).exists()


def what_if(arm, rg, template, params):
    body = _deployment_body(template, params)
    r = arm.post(f"{arm.rg(rg)}/providers/Microsoft.Resources/deployments/wi/whatIf", API_DEP, json=body)
    assert r.status_code == 202, r.text
    for _ in range(20):
        p = arm.s.get(r.headers["Location"])
        if p.status_code == 200:
            return p.json()
        assert p.status_code == 202
        time.sleep(0.05)
    raise AssertionError("what-if never finished")


def test_gpu_less_region_and_unregistered_provider_fail_like_azure(arm):
    azure = arm.azure
    azure.create_resource_group("rg-west", "eastus2")  # no serverless GPUs there
    tmpl = json.loads(INFERENCE_TEMPLATE.read_text())
    d, _ = deploy(arm, "rg-west", "inf", tmpl, {"apiKey": "k", "apiKeySecondary": "k2"})
    err = d["properties"]["error"]
    assert d["properties"]["provisioningState"] == "Failed" and err["code"] == "DeploymentFailed"
    detail = err["details"][0]
    assert "managedEnvironments" in detail["target"]
    assert (
        "Consumption-GPU-NC8as-T4" in detail["message"]
        and "Managed Environment Consumption T4 Gpus" in detail["message"]
    )
    ops = arm.get(f"{arm.rg('rg-west')}/providers/Microsoft.Resources/deployments/inf/operations", API_DEP).json()[
        "value"
    ]
    assert any(o["properties"]["provisioningState"] == "Failed" for o in ops)

    azure.create_resource_group("rg-unreg", "eastus")
    azure.unregister_provider("Microsoft.App")
    try:
        r = arm.put(
            f"{arm.rg('rg-unreg')}/providers/Microsoft.App/managedEnvironments/env1",
            json={"location": "eastus", "properties": {}},
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "MissingSubscriptionRegistration"
        p = arm.get(f"/subscriptions/{azure.subscription_id}/providers/Microsoft.App", API_RES).json()
        assert p["registrationState"] == "NotRegistered"
    finally:
        azure.register_provider("Microsoft.App")


def test_validate_and_invalid_templates(arm):
    azure = arm.azure
    azure.create_resource_group("rg-val", "eastus")
    ft = json.loads(FINETUNING_STORAGE_TEMPLATE.read_text())
    base = f"{arm.rg('rg-val')}/providers/Microsoft.Resources/deployments/v"
    storage = {"storageAccountName": "aitkval01", "fileShareName": "share"}
    ok = arm.post(
        base + "/validate",
        API_DEP,
        json=_deployment_body(ft, storage),
    )
    assert ok.status_code == 200 and ok.json()["properties"]["provisioningState"] == "Succeeded"
    bad = dict(ft, outputs={"x": {"type": "string", "value": "[utcNow()]"}})
    r = arm.put(
        base,
        API_DEP,
        json=_deployment_body(bad, storage),
    )
    assert (
        r.status_code == 400
        and r.json()["error"]["code"] == "InvalidTemplate"
        and "utcNow" in r.json()["error"]["message"]
    )
    r = arm.put(base, API_DEP, json=_deployment_body(ft, {}))
    assert r.status_code == 400 and "storageAccountName" in r.json()["error"]["message"]
    r = arm.put(
        f"{arm.rg('rg-nope')}/providers/Microsoft.Resources/deployments/v",
        API_DEP,
        json=_deployment_body(ft, {}),
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceGroupNotFound"
    # JSONC as az sends it: unquoted `template:` key and comments
    raw = (
        '{"properties": {"mode": "Incremental", "parameters": {"storageAccountName": {"value": "aitkval02"}, '
        '"fileShareName": {"value": "s2"}}, template: '
        + json.dumps(ft, indent=1).replace('"resources": [', '// a comment\n"resources": [')
        + "}}"
    )
    r = arm.put(base + "2", API_DEP, data=raw.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text


def test_faults_are_seeded_and_cut_keeps_the_state_change(tmp_path):
    from azure_standin import StandIn

    with StandIn(tmp_path / "a") as azure:
        arm = Arm(azure)
        azure.set_faults(rate=0.5, seed=7, kinds=("429", "503"))
        statuses = [arm.head(arm.rg("nope"), API_RES).status_code for _ in range(40)]
        azure.set_faults(None)
        faults = [s for s in statuses if s in (429, 503)]
        assert 8 <= len(faults) <= 32 and set(statuses) <= {404, 429, 503}
        with StandIn(tmp_path / "b") as other:  # same seed, same sequence
            arm2 = Arm(other)
            other.set_faults(rate=0.5, seed=7, kinds=("429", "503"))
            assert [arm2.head(arm2.rg("nope"), API_RES).status_code for _ in range(40)] == statuses
        azure.set_faults(rate=1.0, seed=1, kinds=("429",))
        r = arm.put(arm.rg("rg-f"), API_RES, json={"location": "eastus"})
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        azure.set_faults(None)
        assert arm.head(arm.rg("rg-f"), API_RES).status_code == 404  # a 429 changes nothing
        azure.set_faults(rate=1.0, seed=1, kinds=("cut",))
        with pytest.raises(requests.exceptions.RequestException):
            arm.put(arm.rg("rg-f"), API_RES, json={"location": "eastus"})
        azure.set_faults(None)
        assert arm.head(arm.rg("rg-f"), API_RES).status_code == 204  # the cut response's change stuck
        assert arm.put(arm.rg("rg-f"), API_RES, json={"location": "eastus"}).status_code == 200  # retry is idempotent
        azure.set_faults(rate=1.0, seed=1, kinds=("latency",))
        t = time.time()
        assert arm.head(arm.rg("rg-f"), API_RES).status_code == 204
        assert time.time() - t >= 0.2
        azure.set_faults(None)
        logged = [e for e in azure.requests_log if e[0] == "PUT"]
        assert (429 in [e[2] for e in logged]) and all(isinstance(e[1], str) and "api-version" in e[1] for e in logged)


def test_chunked_request_keep_alive_and_log(arm):
    def gen():
        yield b'{"location": '
        yield b'"eastus"}'

    r = arm.put(arm.rg("rg-chunked"), API_RES, data=gen(), headers={"Content-Type": "application/json"})
    assert r.status_code == 201 and r.json()["location"] == "eastus"
    # many requests over one kept-alive connection
    for _ in range(5):
        assert arm.head(arm.rg("rg-chunked"), API_RES).status_code == 204
    method, path, status = arm.azure.requests_log[-1]
    assert method == "HEAD" and path.endswith(f"?api-version={API_RES}") and status == 204


def test_list_by_type_in_group_and_subscription(arm):
    from azure.mgmt.storage import models as st

    arm.azure.create_resource_group("rg-list", "eastus")
    r = arm.put(
        f"{arm.rg('rg-list')}/providers/Microsoft.Storage/storageAccounts/aitklist01",
        "2025-06-01",
        json={"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
    )
    assert r.status_code == 201
    in_rg = arm.get(f"{arm.rg('rg-list')}/providers/Microsoft.Storage/storageAccounts", "2025-06-01").json()["value"]
    assert [a["name"] for a in in_rg] == ["aitklist01"]
    _sdk(st.StorageAccount, in_rg[0])
    in_sub = arm.get(
        f"/subscriptions/{arm.azure.subscription_id}/providers/Microsoft.Storage/storageAccounts", "2025-06-01"
    ).json()["value"]
    assert "aitklist01" in [a["name"] for a in in_sub]
    r = arm.put(
        f"{arm.rg('rg-list')}/providers/Microsoft.Storage/storageAccounts/Bad_Name",
        "2025-06-01",
        json={"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "AccountNameInvalid"
    r = arm.put(
        f"{arm.rg('rg-list')}/providers/Microsoft.Storage/storageAccounts/nope01/fileServices/default/shares/s1",
        "2025-06-01",
        json={"properties": {}},
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "ParentResourceNotFound"


def test_available_workload_profile_types_per_region_and_unknown_locations(arm):
    """AvailableWorkloadProfiles_Get (Microsoft.App 2025-07-01) answers per the stand-in's region
    table; a location it does not have is refused as ARM refuses it, as is a resource group there."""
    sub = f"/subscriptions/{arm.azure.subscription_id}/providers/Microsoft.App/locations"
    api = "2025-07-01"

    def types(location):
        r = arm.get(f"{sub}/{location}/availableManagedEnvironmentsWorkloadProfileTypes", api)
        assert r.status_code == 200, r.text
        body = r.json()
        assert all(i["type"] == "Microsoft.App/availableManagedEnvironmentsWorkloadProfileTypes" for i in body["value"])
        return {i["name"]: i["properties"] for i in body["value"]}

    westus3 = types("West US 3")  # a display name works as the name does
    assert westus3["Consumption-GPU-NC8as-T4"]["gpus"] == 1 and "Consumption-GPU-NC24-A100" in westus3
    assert westus3["NC48-A100"]["gpus"] == 2 and westus3["Consumption"]["applicability"] == "LocationDefault"
    weu = types("westeurope")
    assert "Consumption-GPU-NC8as-T4" in weu and "Consumption-GPU-NC24-A100" not in weu
    eastus2 = types("eastus2")
    assert "D4" in eastus2 and not any("GPU" in n or "A100" in n for n in eastus2)
    r = arm.get(f"{sub}/marsnorth/availableManagedEnvironmentsWorkloadProfileTypes", api)
    assert r.status_code == 400 and r.json()["error"]["code"] == "NoRegisteredProviderFound"
    assert "No registered resource provider found for location 'marsnorth'" in r.json()["error"]["message"]
    r = arm.put(arm.rg("rg-mars"), API_RES, json={"location": "marsnorth"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "LocationNotAvailableForResourceGroup"
    assert arm.head(arm.rg("rg-mars"), API_RES).status_code == 404
