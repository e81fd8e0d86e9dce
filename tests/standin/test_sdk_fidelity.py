"""The stand-in driven only through the public Azure SDKs, as the extension's code would: a token
from its Entra endpoint (azure-identity / MSAL), Resource Manager through azure-mgmt-resource,
azure-mgmt-storage, azure-mgmt-appcontainers and azure-mgmt-loganalytics, the real
src/aitk/azext_aitk/templates/inference.json deployed through deployments.begin_create_or_update,
and the Azure Files share through azure-storage-file-share with the key from listKeys. Every
response passes through the SDK's own deserializers; the checks read the typed models."""

import base64
import json
import os
import time
from pathlib import Path

import pytest
import requests

from azure_standin import StandIn

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "src" / "aitk" / "azext_aitk" / "templates" / "inference.json"

APP_PY = """
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = json.dumps({"path": self.path, "key": os.environ.get("AITK_API_KEY"),
                           "mount": os.environ.get("AITK_MOUNT"),
                           "seen": sorted(os.listdir(os.environ["AITK_MOUNT"]))}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("AITK_PORT") or os.environ.get("PORT"))), H).serve_forever()
"""


@pytest.fixture(scope="module")
def azure(tmp_path_factory):
    s = StandIn(tmp_path_factory.mktemp("sdk-standin"))
    s.start()
    old = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = str(s.ca_bundle)
    try:
        yield s
    finally:
        s.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class MsalCredential:
    """A TokenCredential on MSAL's client-credentials flow, as az's own service-principal login
    does (azure-identity is not in the venv; msal is, with az)."""

    def __init__(self, azure):
        import msal

        self.app = msal.ConfidentialClientApplication(
            azure.client_id,
            client_credential=azure.client_secret,
            authority=f"{azure.url}/{azure.tenant_id}",
            instance_discovery=False,
            verify=str(azure.ca_bundle),
        )

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        r = self.app.acquire_token_for_client(list(scopes))
        assert "access_token" in r, r
        return AccessToken(r["access_token"], int(time.time()) + int(r.get("expires_in", 3600)))


@pytest.fixture(scope="module")
def cred(azure):
    return MsalCredential(azure)


def _client(cls, azure, cred):
    return cls(
        cred,
        azure.subscription_id,
        base_url=azure.url + "/",
        credential_scopes=[azure.url + "/.default"],
        connection_verify=str(azure.ca_bundle),
        polling_interval=0.2,
    )


@pytest.fixture(scope="module")
def clients(azure, cred):
    from azure.mgmt.appcontainers import ContainerAppsAPIClient
    from azure.mgmt.loganalytics import LogAnalyticsManagementClient
    from azure.mgmt.resource import ResourceManagementClient
    from azure.mgmt.storage import StorageManagementClient

    return {
        "res": _client(ResourceManagementClient, azure, cred),
        "st": _client(StorageManagementClient, azure, cred),
        "aca": _client(ContainerAppsAPIClient, azure, cred),
        "la": _client(LogAnalyticsManagementClient, azure, cred),
    }


def test_sdk_token_and_arm_requires_bearer(azure, cred):
    tok = cred.get_token(azure.url + "/.default")
    assert tok.token.count(".") == 2 and tok.expires_on > time.time()
    r = requests.get(
        f"{azure.url}/subscriptions/{azure.subscription_id}/resourcegroups",
        params={"api-version": "2024-03-01"},
        verify=str(azure.ca_bundle),
    )
    assert r.status_code == 401
    assert "error" in r.json()
    r = requests.get(
        f"{azure.url}/subscriptions/{azure.subscription_id}/resourcegroups",
        params={"api-version": "2024-03-01"},
        verify=str(azure.ca_bundle),
        headers={"Authorization": "Bearer " + tok.token[:-4] + "AAAA"},
    )
    assert r.status_code == 401


def test_sdk_resource_groups_and_provider(azure, clients):
    from azure.mgmt.resource.resources.models import ResourceGroup

    res = clients["res"]
    rg = res.resource_groups.create_or_update("rg-sdk", ResourceGroup(location="eastus", tags={"a": "b"}))
    assert rg.name == "rg-sdk" and rg.location == "eastus" and rg.tags == {"a": "b"}
    assert rg.id == f"/subscriptions/{azure.subscription_id}/resourceGroups/rg-sdk"
    assert rg.properties.provisioning_state == "Succeeded"
    assert res.resource_groups.check_existence("rg-sdk") is True
    assert res.resource_groups.check_existence("rg-nope") is False
    assert "rg-sdk" in [g.name for g in res.resource_groups.list()]
    assert res.resource_groups.get("RG-SDK").name == "rg-sdk"  # names are case-insensitive
    p = res.providers.get("Microsoft.App")
    assert p.namespace.lower() == "microsoft.app" and p.registration_state == "Registered"
    assert any(t.resource_type.lower() == "containerapps" for t in p.resource_types)


def _deploy(clients, rg, name, params, template=None):
    from azure.mgmt.resource.resources.models import Deployment, DeploymentProperties

    template = template or json.loads(TEMPLATE.read_text())
    body = Deployment(
        properties=DeploymentProperties(
            mode="Incremental", template=template, parameters={k: {"value": v} for k, v in params.items()}
        )
    )
    return clients["res"].deployments.begin_create_or_update(rg, name, body).result()


def test_sdk_deploy_inference_template_and_read_back(azure, clients):
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.resource.resources.models import (
        DeploymentWhatIf,
        DeploymentWhatIfProperties,
    )
    from azure.storage.fileshare import ShareServiceClient

    azure.create_resource_group("rg-inf", "eastus")
    params = {"apiKey": "k-123", "apiKeySecondary": "k-456", "defaultCommands": ["python3", "/mount/app.py"]}
    d = _deploy(clients, "rg-inf", "aitk-inference", params)
    assert d.properties.provisioning_state == "Succeeded", d.properties.error
    out = {k: v["value"] for k, v in d.properties.outputs.items()}
    assert out["SUBSCRIPTION_ID"] == azure.subscription_id and out["RESOURCE_GROUP_NAME"] == "rg-inf"
    assert out["ACA_APP_ENDPOINT"].startswith("https://127.0.0.1:")
    # per-resource operations, each naming its target
    ops = list(clients["res"].deployment_operations.list("rg-inf", "aitk-inference"))
    kinds = {o.properties.target_resource.resource_type for o in ops if o.properties.target_resource}
    assert {
        "Microsoft.Storage/storageAccounts",
        "Microsoft.App/managedEnvironments",
        "Microsoft.App/containerApps",
    } <= kinds
    assert all(o.properties.provisioning_state == "Succeeded" for o in ops)
    # storage account and keys
    acct = clients["st"].storage_accounts.get_properties("rg-inf", out["STORAGE_ACCOUNT_NAME"])
    assert acct.provisioning_state == "Succeeded"
    assert acct.primary_endpoints.file == f"{azure.url}/{out['STORAGE_ACCOUNT_NAME']}/"
    keys = clients["st"].storage_accounts.list_keys("rg-inf", out["STORAGE_ACCOUNT_NAME"]).keys_property
    assert len(keys) == 2 and keys[0].key_name == "key1" and keys[0].value != keys[1].value
    share = clients["st"].file_shares.get("rg-inf", out["STORAGE_ACCOUNT_NAME"], out["FILE_SHARE_NAME"])
    assert share.name == out["FILE_SHARE_NAME"]
    # the environment, its storage, the workspace
    by_type = {
        o.properties.target_resource.resource_type: o.properties.target_resource.resource_name
        for o in ops
        if o.properties.target_resource
    }
    envs = [clients["aca"].managed_environments.get("rg-inf", by_type["Microsoft.App/managedEnvironments"])]
    assert envs[0].provisioning_state == "Succeeded"
    assert any(p.workload_profile_type == "Consumption-GPU-NC8as-T4" for p in envs[0].workload_profiles)
    st = clients["aca"].managed_environments_storages.get("rg-inf", envs[0].name, "aitk-share")
    assert by_type["Microsoft.App/managedEnvironments/storages"] == f"{envs[0].name}/aitk-share"
    assert st.properties.azure_file.account_name == out["STORAGE_ACCOUNT_NAME"]
    assert st.properties.azure_file.share_name == out["FILE_SHARE_NAME"]
    assert not st.properties.azure_file.account_key  # write-only, never returned
    ws = clients["la"].workspaces.get("rg-inf", by_type["Microsoft.OperationalInsights/workspaces"])
    assert ws.customer_id and ws.provisioning_state == "Succeeded"
    # the container app, secrets, revisions
    app = clients["aca"].container_apps.get("rg-inf", out["ACA_APP_NAME"])
    assert app.provisioning_state == "Succeeded"
    assert "https://" + app.configuration.ingress.fqdn == out["ACA_APP_ENDPOINT"]
    assert app.latest_revision_name and app.latest_revision_fqdn
    assert [s.value for s in app.configuration.secrets if s.name == "api-key"] in ([None], [])
    secrets = clients["aca"].container_apps.list_secrets("rg-inf", out["ACA_APP_NAME"])
    assert {s.name: s.value for s in secrets.value}["api-key"] == "k-123"
    revs = list(clients["aca"].container_apps_revisions.list_revisions("rg-inf", out["ACA_APP_NAME"]))
    assert app.latest_revision_name in [r.name for r in revs]
    rev = clients["aca"].container_apps_revisions.get_revision("rg-inf", out["ACA_APP_NAME"], app.latest_revision_name)
    assert rev.active
    # the share through the data plane, with the key from listKeys; a wrong key is refused
    svc = ShareServiceClient(
        acct.primary_endpoints.file,
        credential={"account_name": out["STORAGE_ACCOUNT_NAME"], "account_key": keys[0].value},
    )
    sc = svc.get_share_client(out["FILE_SHARE_NAME"])
    sc.get_file_client("app.py").upload_file(APP_PY.encode())
    assert (azure.share_dir(out["STORAGE_ACCOUNT_NAME"], out["FILE_SHARE_NAME"]) / "app.py").read_text() == APP_PY
    bad = ShareServiceClient(
        acct.primary_endpoints.file,
        credential={
            "account_name": out["STORAGE_ACCOUNT_NAME"],
            "account_key": base64.b64encode(os.urandom(64)).decode(),
        },
    )
    with pytest.raises(HttpResponseError) as e:
        bad.get_share_client(out["FILE_SHARE_NAME"]).get_share_properties()
    assert e.value.status_code == 403
    # the endpoint: scale from zero, the share at /mount, the secret in the env
    r = requests.get(out["ACA_APP_ENDPOINT"] + "/v1/models", verify=str(azure.ca_bundle), timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"] == "k-123" and "app.py" in body["seen"]
    assert (
        Path(body["mount"]).resolve() == azure.share_dir(out["STORAGE_ACCOUNT_NAME"], out["FILE_SHARE_NAME"]).resolve()
    )
    # restart the revision: the endpoint comes back
    clients["aca"].container_apps_revisions.restart_revision("rg-inf", out["ACA_APP_NAME"], app.latest_revision_name)
    r = requests.get(out["ACA_APP_ENDPOINT"] + "/", verify=str(azure.ca_bundle), timeout=60)
    assert r.status_code == 200
    # what-if of the same deployment: nothing to create or delete
    wi = (
        clients["res"]
        .deployments.begin_what_if(
            "rg-inf",
            "aitk-inference",
            DeploymentWhatIf(
                properties=DeploymentWhatIfProperties(
                    mode="Incremental",
                    template=json.loads(TEMPLATE.read_text()),
                    parameters={k: {"value": v} for k, v in params.items()},
                )
            ),
        )
        .result()
    )
    assert wi.status == "Succeeded"
    kinds = {c.change_type for c in wi.changes}
    assert "Create" not in kinds and "Delete" not in kinds, [(c.resource_id, c.change_type) for c in wi.changes]
    # re-deploying the same thing is a success and keeps the app's endpoint
    d2 = _deploy(clients, "rg-inf", "aitk-inference", params)
    assert d2.properties.outputs["ACA_APP_ENDPOINT"]["value"] == out["ACA_APP_ENDPOINT"]


def test_sdk_deploy_failures_name_the_cause(azure, clients):
    from azure.core.exceptions import HttpResponseError

    azure.create_resource_group("rg-fail", "eastus")
    # an unknown template function: a failure that names it, never a guess
    bad = json.loads(TEMPLATE.read_text())
    bad["outputs"]["X"] = {"type": "string", "value": "[frobnicate('a')]"}
    with pytest.raises(HttpResponseError) as e:
        _deploy(clients, "rg-fail", "bad-fn", {"apiKey": "k", "apiKeySecondary": "k2"}, bad)
    assert "frobnicate" in str(e.value)
    # Microsoft.App not registered
    azure.unregister_provider("Microsoft.App")
    try:
        with pytest.raises(HttpResponseError) as e:
            _deploy(clients, "rg-fail", "unreg", {"apiKey": "k", "apiKeySecondary": "k2"})
        assert "MissingSubscriptionRegistration" in str(e.value)
    finally:
        azure.register_provider("Microsoft.App")
    # a region without the GPU profile
    azure.create_resource_group("rg-west", "eastus2")
    with pytest.raises(HttpResponseError) as e:
        _deploy(clients, "rg-west", "nogpu", {"apiKey": "k", "apiKeySecondary": "k2"})
    text = str(e.value)
    assert "Consumption-GPU-NC8as-T4" in text or "workload profile" in text.lower(), text
    dep = clients["res"].deployments.get("rg-west", "nogpu")
    assert dep.properties.provisioning_state == "Failed"
    assert dep.properties.error.code == "DeploymentFailed"
