"""The real `az` (azure-cli in .venv) against the stand-in, unpatched, as a user would run it:
custom cloud + service-principal login, resource groups, provider state, a template deployment of
src/aitk/azext_aitk/templates/inference.json (long-running, polled by az), its operations and
what-if, and storage keys through az's own SDK calls."""

import json
import subprocess
from pathlib import Path

import pytest

from aitk_testkit.az_harness import AZ, az_env, sign_in, standin_env
from azure_standin import StandIn

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "src" / "aitk" / "azext_aitk" / "templates" / "inference.json"

pytestmark = pytest.mark.skipif(not Path(AZ).is_file(), reason="az is not installed in this venv")


@pytest.fixture(scope="module")
def az(tmp_path_factory):
    base = tmp_path_factory.mktemp("az-real")
    s = StandIn(base / "state")
    s.start()
    env = az_env(base / "az")
    env.update(standin_env(s))

    def run(*args, ok=True):
        p = subprocess.run([AZ, *args], env=env, capture_output=True, text=True, timeout=300)
        if ok:
            assert p.returncode == 0, f"az {' '.join(args)}\n{p.stderr}"
        return p

    try:
        sign_in(s, env)
        yield s, run
    finally:
        s.stop()


def test_az_login_account_and_groups(az):
    s, run = az
    acct = json.loads(run("account", "show", "-o", "json").stdout)
    assert acct["id"] == s.subscription_id and acct["tenantId"] == s.tenant_id
    assert acct["user"]["type"] == "servicePrincipal" and acct["user"]["name"] == s.client_id
    rg = json.loads(run("group", "create", "-n", "rg-cli", "-l", "eastus", "-o", "json").stdout)
    assert rg["name"] == "rg-cli" and rg["properties"]["provisioningState"] == "Succeeded"
    assert run("group", "exists", "-n", "rg-cli").stdout.strip() == "true"
    assert run("group", "exists", "-n", "rg-none").stdout.strip() == "false"
    state = run("provider", "show", "-n", "Microsoft.App", "--query", "registrationState", "-o", "tsv")
    assert state.stdout.strip() == "Registered"
    # every ARM call carried a bearer token; none was refused
    assert not [r for r in s.requests_log if r[2] == 401]


def test_az_deployment_group_create_what_if_and_keys(az):
    s, run = az
    run("group", "create", "-n", "rg-dep", "-l", "eastus", "-o", "none")
    p = run(
        "deployment",
        "group",
        "create",
        "-g",
        "rg-dep",
        "-n",
        "aitk-inference",
        "--template-file",
        str(TEMPLATE),
        "--parameters",
        "apiKey=k-cli",
        "apiKeySecondary=k-cli-2",
        "--parameters",
        'defaultCommands=["python3","/mount/app.py"]',
        "-o",
        "json",
    )
    d = json.loads(p.stdout)
    assert d["properties"]["provisioningState"] == "Succeeded"
    outs = {k: v["value"] for k, v in d["properties"]["outputs"].items()}
    assert outs["ACA_APP_ENDPOINT"].startswith("https://127.0.0.1:")
    assert "k-cli" not in p.stdout  # a securestring never comes back
    shown = json.loads(run("deployment", "group", "show", "-g", "rg-dep", "-n", "aitk-inference", "-o", "json").stdout)
    assert shown["properties"]["outputs"].keys() == d["properties"]["outputs"].keys()
    ops = json.loads(
        run("deployment", "operation", "group", "list", "-g", "rg-dep", "-n", "aitk-inference", "-o", "json").stdout
    )
    assert {
        o["properties"]["targetResource"]["resourceType"] for o in ops if o["properties"].get("targetResource")
    } >= {"Microsoft.App/containerApps"}
    keys = json.loads(
        run(
            "storage", "account", "keys", "list", "-g", "rg-dep", "-n", outs["STORAGE_ACCOUNT_NAME"], "-o", "json"
        ).stdout
    )
    assert [k["keyName"] for k in keys] == ["key1", "key2"]
    wi = run(
        "deployment",
        "group",
        "what-if",
        "-g",
        "rg-dep",
        "--template-file",
        str(TEMPLATE),
        "--parameters",
        "apiKey=k-cli",
        "apiKeySecondary=k-cli-2",
        "--parameters",
        'defaultCommands=["python3","/mount/app.py"]',
        "--no-pretty-print",
        "-o",
        "json",
    )
    changes = json.loads(wi.stdout)["changes"]
    assert changes and not [c for c in changes if c["changeType"] in ("Create", "Delete")]
    # a deployment that fails reports DeploymentFailed naming the cause, az exits non-zero
    run("group", "create", "-n", "rg-west", "-l", "eastus2", "-o", "none")
    bad = run(
        "deployment",
        "group",
        "create",
        "-g",
        "rg-west",
        "-n",
        "nogpu",
        "--template-file",
        str(TEMPLATE),
        "--parameters",
        "apiKey=k",
        "apiKeySecondary=k2",
        "-o",
        "json",
        ok=False,
    )
    assert bad.returncode != 0 and "DeploymentFailed" in bad.stderr, bad.stderr
