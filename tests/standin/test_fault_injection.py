"""Faults on request: a seeded fraction of management and data-plane requests gets 429 (with
Retry-After) / 500 / 503, added latency or a connection cut mid-body; the Azure SDKs' own retry
policies get through with nothing lost or duplicated."""

import collections
import hashlib
import os
import time

import pytest
import requests

from azure_standin import StandIn


@pytest.fixture(scope="module")
def azure(tmp_path_factory):
    s = StandIn(tmp_path_factory.mktemp("faults-standin"))
    s.start()
    old = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = str(s.ca_bundle)
    try:
        yield s
    finally:
        s.set_faults(None)
        s.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def token(azure):
    r = requests.post(
        f"{azure.url}/{azure.tenant_id}/oauth2/v2.0/token",
        verify=str(azure.ca_bundle),
        data={
            "grant_type": "client_credentials",
            "client_id": azure.client_id,
            "client_secret": azure.client_secret,
            "scope": azure.url + "/.default",
        },
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


class _Cred:
    def __init__(self, tok):
        self.tok = tok

    def get_token(self, *scopes, **kw):
        from azure.core.credentials import AccessToken

        return AccessToken(self.tok, int(time.time()) + 3000)


def _statuses(azure, token, n):
    url = f"{azure.url}/subscriptions/{azure.subscription_id}/resourcegroups"
    out = []
    with requests.Session() as s:
        for _ in range(n):
            try:
                r = s.get(
                    url,
                    params={"api-version": "2024-03-01"},
                    verify=str(azure.ca_bundle),
                    headers={"Authorization": "Bearer " + token},
                    timeout=10,
                )
                out.append((r.status_code, r.headers.get("Retry-After")))
            except requests.RequestException:
                out.append(("cut", None))
    return out


def test_faults_seeded_rate_and_shapes(azure, token):
    azure.set_faults(rate=0.25, seed=3, kinds=("429", "500", "503"), paths=["/resourcegroups"])
    try:
        first = _statuses(azure, token, 80)
        azure.set_faults(rate=0.25, seed=3, kinds=("429", "500", "503"), paths=["/resourcegroups"])
        second = _statuses(azure, token, 80)
    finally:
        azure.set_faults(None)
    assert first == second  # the same seed, the same faults
    counts = collections.Counter(s for s, _ in first)
    faulted = counts[429] + counts[500] + counts[503]
    assert 8 <= faulted <= 34, counts  # 25 % of 80 = 20
    assert counts[200] == 80 - faulted
    assert all(ra is not None and 0 < float(ra) <= 5 for s, ra in first if s == 429)
    # the path filter: other paths are never faulted
    azure.set_faults(rate=1.0, seed=1, kinds=("500",), paths=["/no-such-path"])
    try:
        assert {s for s, _ in _statuses(azure, token, 5)} == {200}
    finally:
        azure.set_faults(None)
    assert {s for s, _ in _statuses(azure, token, 5)} == {200}  # set_faults(None) stops them


def test_fixed_latency_delays_every_request_by_that_much(azure, token):
    def timed(n):
        t0 = time.monotonic()
        statuses = _statuses(azure, token, n)
        return (time.monotonic() - t0) / n, statuses

    base, _ = timed(10)
    azure.set_faults(rate=1.0, kinds=("latency",), latency_s=0.05, paths=["/resourcegroups"])
    try:
        delayed, statuses = timed(5)
    finally:
        azure.set_faults(None)
    assert {s for s, _ in statuses} == {200}  # delayed, not failed
    assert delayed - base >= 0.045, (base, delayed)  # 50 ms each, not the drawn default of 0.2-1.0 s
    assert delayed - base < 0.19, (base, delayed)


def test_faults_cut_drops_the_connection(azure, token):
    azure.set_faults(rate=1.0, seed=1, kinds=("cut",), paths=["/resourcegroups"])
    try:
        st = _statuses(azure, token, 3)
    finally:
        azure.set_faults(None)
    assert [s for s, _ in st] == ["cut"] * 3


def test_sdk_retries_get_through_faults(azure, token):
    from azure.mgmt.resource import ResourceManagementClient
    from azure.mgmt.resource.resources.models import ResourceGroup
    from azure.storage.fileshare import LinearRetry, ShareServiceClient

    # a storage account to write to: seeded through the stand-in's own deployment path
    azure.create_resource_group("rg-flt", "eastus")
    res = ResourceManagementClient(
        _Cred(token),
        azure.subscription_id,
        base_url=azure.url + "/",
        credential_scopes=[azure.url + "/.default"],
        polling_interval=0.2,
        retry_backoff_factor=0.1,
    )
    from azure.mgmt.resource.resources.models import Deployment, DeploymentProperties

    tpl = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Storage/storageAccounts",
                "apiVersion": "2025-06-01",
                "name": "aitkflt01",
                "location": "eastus",
                "sku": {"name": "Standard_LRS"},
                "kind": "StorageV2",
                "properties": {"minimumTlsVersion": "TLS1_2"},
            },
            {
                "type": "Microsoft.Storage/storageAccounts/fileServices/shares",
                "apiVersion": "2025-06-01",
                "name": "aitkflt01/default/data",
                "properties": {"shareQuota": 100},
                "dependsOn": ["[resourceId('Microsoft.Storage/storageAccounts', 'aitkflt01')]"],
            },
        ],
        "outputs": {
            "key": {
                "type": "string",
                "value": "[listKeys(resourceId('Microsoft.Storage/storageAccounts', 'aitkflt01'), '2025-06-01').keys[0].value]",
            }
        },
    }
    kinds = ("429", "500", "503", "latency", "cut")
    azure.set_faults(rate=0.2, seed=11, kinds=kinds)
    n0 = len(azure.requests_log)
    try:
        for i in range(4):
            rg = res.resource_groups.create_or_update(f"rg-retry-{i}", ResourceGroup(location="eastus"))
            assert rg.name == f"rg-retry-{i}"
        d = res.deployments.begin_create_or_update(
            "rg-flt", "stor", Deployment(properties=DeploymentProperties(mode="Incremental", template=tpl))
        ).result()
        assert d.properties.provisioning_state == "Succeeded"
        key = d.properties.outputs["key"]["value"]
        svc = ShareServiceClient(
            f"{azure.url}/aitkflt01/",
            credential={"account_name": "aitkflt01", "account_key": key},
            retry_policy=LinearRetry(backoff=0.2, random_jitter_range=0.1, retry_total=8),
            max_range_size=512 * 1024,
        )
        sc = svc.get_share_client("data")
        data = os.urandom(3 * 1024 * 1024 + 123)
        sc.get_directory_client("models").create_directory()
        f = sc.get_file_client("models/blob.bin")
        f.upload_file(data, max_concurrency=4, metadata={"k": "v"})
        got = f.download_file().readall()
        props = f.get_file_properties()
    finally:
        azure.set_faults(None)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    assert props.size == len(data) and props.metadata == {"k": "v"}
    local = azure.share_dir("aitkflt01", "data") / "models" / "blob.bin"
    assert local.read_bytes() == data
    # resource groups were not duplicated by retries
    names = [g.name for g in res.resource_groups.list()]
    assert sorted(n for n in names if n.startswith("rg-retry-")) == [f"rg-retry-{i}" for i in range(4)]
    seen = collections.Counter(str(s) for _, _, s in azure.requests_log[n0:])
    assert seen["429"] + seen["500"] + seen["503"] > 0, seen  # faults did happen
