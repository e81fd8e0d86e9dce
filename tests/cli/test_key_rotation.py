"""`az aitk inference key rotate` and the two API keys, with the real az against the stand-in:
the endpoint (aitk_testkit/fake_server.py, fed by the template's AITK_API_KEY and
AITK_API_KEY_SECONDARY secretRefs) accepts both keys over real HTTPS; rotating one leaves the other
working, the old value is refused and the new one accepted; re-provision keeps both; no key is
printed unless --show-key."""

import json

import pytest
import requests

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.scenario import FAKE_PARAMETERS, FINETUNING_TEMPLATE

RG = "aitk-keys"
LOCATION = "eastus"
FT_STORAGE = "aitkkeysft01"
FT_SHARE = "finetuning"


@pytest.fixture(scope="module")
def keys_ws(fake_finetuning, provision_fake):
    ws, _ = fake_finetuning(
        "keys",
        RG,
        FT_STORAGE,
        FT_SHARE,
        placeholder_model=False,
        template=FINETUNING_TEMPLATE,
        job_name=None,
    )
    provision_fake(ws, RG, "--min-replicas", "1", "--yes", *FAKE_PARAMETERS, "-o", "json")
    return ws


def provision(az_cloud, ws):
    return _ok(
        az_cloud(
            "aitk", "inference", "provision", "--min-replicas", "1", "--yes", *FAKE_PARAMETERS, "-o", "json", cwd=ws,
        )
    )  # fmt: skip


def show_keys(az_cloud, ws):
    out = _ok(az_cloud("aitk", "inference", "endpoint", "--show-key", cwd=ws))
    return out["url"], out["apiKey"], out["secondaryApiKey"]


def status_with(standin, url, key):
    """HTTP status of GET /v1/models with the key, through the stand-in's HTTPS ingress."""
    return requests.get(
        f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}, verify=standin.ca_bundle, timeout=30
    ).status_code


def test_both_keys_work_and_reprovision_keeps_them(az_cloud, standin, keys_ws):
    url, primary, secondary = show_keys(az_cloud, keys_ws)
    assert primary and secondary and primary != secondary
    assert status_with(standin, url, primary) == 200 and status_with(standin, url, secondary) == 200
    assert status_with(standin, url, "aitk-not-a-key") == 401
    plain = az_cloud("aitk", "inference", "endpoint", cwd=keys_ws)
    assert primary not in plain.stdout + plain.stderr and secondary not in plain.stdout + plain.stderr
    again = az_cloud("aitk", "inference", "provision", "--min-replicas", "1", "--yes", *FAKE_PARAMETERS, "-o", "json",
                     "--debug", cwd=keys_ws)  # fmt: skip
    _ok(again)
    assert primary not in again.stdout + again.stderr and secondary not in again.stdout + again.stderr
    assert show_keys(az_cloud, keys_ws) == (url, primary, secondary)


def test_rotate_secondary_then_primary_no_request_refused_on_the_key_in_use(az_cloud, standin, keys_ws):
    url, primary, old_secondary = show_keys(az_cloud, keys_ws)
    proc = az_cloud("aitk", "inference", "key", "rotate", "--key", "secondary", "--debug", cwd=keys_ws)
    out = _ok(proc)
    assert out["rotated"] == "secondary" and out["unchanged"] == "primary" and out["ready"] is True
    assert "secondaryApiKey" not in out and "apiKey" not in out
    _, same_primary, new_secondary = show_keys(az_cloud, keys_ws)
    assert same_primary == primary and new_secondary != old_secondary
    assert new_secondary not in proc.stdout + proc.stderr  # not even in --debug
    assert "key rotate --key primary" in proc.stderr  # the next step of the rotation
    assert status_with(standin, url, primary) == 200  # clients on the primary never noticed
    assert status_with(standin, url, new_secondary) == 200
    assert status_with(standin, url, old_secondary) == 401

    # Clients moved to the secondary: replace the primary.
    out = _ok(az_cloud("aitk", "inference", "key", "rotate", "--key", "primary", "--show-key", cwd=keys_ws))
    new_primary = out["apiKey"]
    assert show_keys(az_cloud, keys_ws) == (url, new_primary, new_secondary)
    assert status_with(standin, url, new_secondary) == 200
    assert status_with(standin, url, new_primary) == 200
    assert status_with(standin, url, primary) == 401


def test_rotate_refuses_a_bad_key_name(az_cloud, keys_ws):
    proc = az_cloud("aitk", "inference", "key", "rotate", "--key", "tertiary", cwd=keys_ws)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "primary" in proc.stderr


def test_rotate_refuses_an_app_without_the_secondary_key(az_cloud, standin, keys_ws, tmp_path):
    """An app from before the secondary key (its container has no AITK_API_KEY_SECONDARY): one
    clear error, nothing changed."""
    cfg = json.loads((keys_ws / "infra" / "inference.config.json").read_text())
    app_id = (
        f"/subscriptions/{standin.subscription_id}/resourceGroups/{RG}/providers/"
        f"Microsoft.App/containerApps/{cfg['ACA_APP_NAME']}"
    )
    app = _ok(az_cloud("rest", "--method", "get", "--url", f"{app_id}?api-version=2025-07-01"))
    (container,) = app["properties"]["template"]["containers"]
    old_env = [e for e in container["env"] if e["name"] != "AITK_API_KEY_SECONDARY"]
    body = {"properties": {"template": {"containers": [{**container, "env": old_env}]}}}
    (tmp_path / "body.json").write_text(json.dumps(body))
    _ok(az_cloud("rest", "--method", "patch", "--url", f"{app_id}?api-version=2025-07-01",
                 "--body", f"@{tmp_path / 'body.json'}"))  # fmt: skip
    before = show_keys(az_cloud, keys_ws)
    proc = az_cloud("aitk", "inference", "key", "rotate", cwd=keys_ws)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "provisioned before" in proc.stderr and "az aitk inference provision" in proc.stderr
    assert show_keys(az_cloud, keys_ws) == before
    provision(az_cloud, keys_ws)  # puts the variable back, keeps both keys
    assert show_keys(az_cloud, keys_ws) == before
