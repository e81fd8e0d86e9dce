"""The real az (azure-cli 2.91 from the venv) against the stand-in: custom cloud sign-in with a
service principal, resource groups, `az deployment group create/validate/what-if` with our
templates, and Azure's error codes as az shows them. Plus `python -m azure_standin serve`."""

import json
import os
import signal

import pytest

from aitk_testkit.az_harness import sign_in
from aitk_testkit.scenario import FINETUNING_STORAGE_TEMPLATE
from standin.conftest import INFERENCE_TEMPLATE, start_serve


def test_login_account_and_token(az_signed_in, arm_standin):
    acct = az_signed_in.ok("account", "show", "-o", "json")
    assert acct["id"] == arm_standin.subscription_id and acct["tenantId"] == arm_standin.tenant_id
    assert acct["user"] == {"name": arm_standin.client_id, "type": "servicePrincipal"}
    assert acct["environmentName"] == "AitkStandIn"
    tok = az_signed_in.ok("account", "get-access-token", "-o", "json")
    assert tok["subscription"] == arm_standin.subscription_id and tok["accessToken"].count(".") == 2
    sign_in(arm_standin, az_signed_in.env)  # again, on the same config: fine
    assert az_signed_in.ok("account", "show", "-o", "json")["id"] == arm_standin.subscription_id


def test_login_failure_raises_with_az_stderr(arm_standin, tmp_path):
    fake = tmp_path / "az"
    fake.write_text(
        "#!/bin/sh\nif [ \"$1\" = login ]; then echo 'AADSTS7000215: Invalid client secret' >&2; exit 1; fi\n"
        "if [ \"$1 $2\" = 'cloud show' ]; then exit 3; fi\nexit 0\n"
    )
    fake.chmod(0o755)
    with pytest.raises(RuntimeError) as e:
        sign_in(arm_standin, dict(os.environ), az_executable=str(fake))
    assert "login" in str(e.value) and "AADSTS7000215" in str(e.value)


def test_groups_and_finetuning_deployment(az_signed_in, arm_standin):
    g = az_signed_in.ok("group", "create", "-n", "rg-az", "-l", "eastus", "-o", "json")
    assert g["properties"]["provisioningState"] == "Succeeded"
    assert az_signed_in.ok("group", "exists", "-n", "rg-az") is True
    assert az_signed_in.ok("group", "exists", "-n", "rg-none") is False
    d = az_signed_in.ok(
        "deployment",
        "group",
        "create",
        "-g",
        "rg-az",
        "-n",
        "finetuning",
        "--template-file",
        str(FINETUNING_STORAGE_TEMPLATE),
        "--parameters",
        "storageAccountName=aitkaz01",
        "fileShareName=finetuning",
        "-o",
        "json",
    )
    assert d["properties"]["provisioningState"] == "Succeeded"
    assert d["properties"]["outputs"]["FILE_SHARE_NAME"]["value"] == "finetuning"
    assert arm_standin.share_dir("aitkaz01", "finetuning").is_dir()
    keys = az_signed_in.ok("storage", "account", "keys", "list", "-g", "rg-az", "-n", "aitkaz01", "-o", "json")
    assert [k["keyName"] for k in keys] == ["key1", "key2"]
    ops = az_signed_in.ok("deployment", "operation", "group", "list", "-g", "rg-az", "-n", "finetuning", "-o", "json")
    assert sorted(o["properties"]["targetResource"]["resourceType"] for o in ops) == [
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Storage/storageAccounts/fileServices/shares",
    ]
    p = az_signed_in(
        "deployment",
        "group",
        "create",
        "-g",
        "rg-none",
        "--template-file",
        str(FINETUNING_STORAGE_TEMPLATE),
        "--parameters",
        "storageAccountName=aitkaz02",
        "fileShareName=x12",
    )
    assert p.returncode != 0 and "ResourceGroupNotFound" in p.stderr


def test_inference_template_with_az(az_signed_in, arm_standin):
    az_signed_in.ok("group", "create", "-n", "rg-azinf", "-l", "eastus", "-o", "none")
    params = [
        "apiKey=k-az-1",
        "apiKeySecondary=k-az-2",
        'defaultCommands=["python3", "-c", "import time; time.sleep(30)"]',
    ]
    on_group = ("-g", "rg-azinf", "--template-file", str(INFERENCE_TEMPLATE), "--parameters", *params)

    def what_if():
        return az_signed_in.ok("deployment", "group", "what-if", *on_group, "--no-pretty-print", "-o", "json")

    v = az_signed_in.ok("deployment", "group", "validate", *on_group, "-o", "json")
    assert v["properties"]["provisioningState"] == "Succeeded"
    wi = what_if()
    assert {c["changeType"] for c in wi["changes"]} == {"Create"}
    d = az_signed_in.ok("deployment", "group", "create", "-n", "inference", *on_group, "-o", "json")
    outs = {k: v["value"] for k, v in d["properties"]["outputs"].items()}
    assert outs["ACA_APP_ENDPOINT"].startswith("https://127.0.0.1:") and outs["RESOURCE_GROUP_NAME"] == "rg-azinf"
    assert "k-az-1" not in json.dumps(d)
    wi2 = what_if()
    assert {c["changeType"] for c in wi2["changes"]} <= {"NoChange", "Ignore"}, [
        (c["resourceId"], c["changeType"], c.get("delta")) for c in wi2["changes"] if c["changeType"] == "Modify"
    ]
    az_signed_in.ok("group", "create", "-n", "rg-azwest", "-l", "eastus2", "-o", "none")
    p = az_signed_in(
        "deployment",
        "group",
        "create",
        "-g",
        "rg-azwest",
        "--template-file",
        str(INFERENCE_TEMPLATE),
        "--parameters",
        "apiKey=k",
        "apiKeySecondary=k2",
    )
    assert p.returncode != 0 and "DeploymentFailed" in p.stderr and "Consumption-GPU-NC8as-T4" in p.stderr


def test_serve_command_writes_info_and_stops_on_sigterm(tmp_path):
    import requests

    state = tmp_path / "state"
    proc, info = start_serve(state)
    try:
        info_path = state / "standin.json"
        r = requests.get(
            f"{info['url']}/{info['tenant_id']}/v2.0/.well-known/openid-configuration", verify=info["ca_bundle"]
        )
        assert r.status_code == 200 and r.json()["token_endpoint"].startswith(info["url"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert not info_path.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_az_rides_out_injected_faults(az_signed_in, arm_standin):
    """10% seeded faults of every kind on ARM: az's retry policy gets group create and a template
    deployment through, and nothing is created twice."""
    mark = len(arm_standin.requests_log)
    arm_standin.set_faults(rate=0.1, seed=11)
    try:
        for i in range(2):
            az_signed_in.ok("group", "create", "-n", f"rg-faulty{i}", "-l", "eastus", "-o", "none")
            az_signed_in.ok(
                "deployment",
                "group",
                "create",
                "-g",
                f"rg-faulty{i}",
                "-n",
                "finetuning",
                "--template-file",
                str(FINETUNING_STORAGE_TEMPLATE),
                "--parameters",
                f"storageAccountName=aitkfaulty{i}",
                "fileShareName=share",
                "-o",
                "none",
                timeout=300,
            )
    finally:
        arm_standin.set_faults(None)
    statuses = [s for _, _, s in arm_standin.requests_log[mark:]]
    assert any(s in (429, 500, 503) for s in statuses), statuses
    for i in range(2):
        res = az_signed_in.ok("resource", "list", "-g", f"rg-faulty{i}", "-o", "json")
        assert [r["name"] for r in res] == [f"aitkfaulty{i}"]
