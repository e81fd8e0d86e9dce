"""Clients nobody here wrote, against the stand-in, each run as a user types it with the real az
(azure-cli in .venv): `az containerapp logs show` (console, and --follow --tail), `replica list/show`,
`revision restart`, `az storage share list / directory create / file upload / file list` with
--account-name/--account-key (host-style URLs through the stand-in's storage proxy), the share quota
of Get Share Properties against Resource Manager's, and the Log Analytics query API (what
`az monitor log-analytics query` calls; that command is the `log-analytics` az extension, not in
azure-cli, so the test sends its request itself) with the ingestion delay, ago() and summarize."""

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests

from aitk_testkit.az_harness import AZ, az_env, sign_in, standin_env
from azure_standin import StandIn

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "src" / "aitk" / "azext_aitk" / "templates" / "inference.json"
TIME_SCALE = 0.05  # probes and cooldowns 20x faster; the ingestion delay 20 s -> 1 s

# The app: /health for the probes, one console line at start and one per other request.
APP_PY = r"""
import os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path != "/health":  # the probes' requests stay out of the console
            print("served " + self.path, flush=True)
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
print("app-started", flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["AITK_PORT"])), H).serve_forever()
"""

pytestmark = pytest.mark.skipif(not Path(AZ).is_file(), reason="az is not installed in this venv")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    base = tmp_path_factory.mktemp("az-clients")
    s = StandIn(base / "state", time_scale=TIME_SCALE)
    s.start()
    env = az_env(base / "az")
    env.update(standin_env(s))

    def run(*args, ok=True, timeout=300):
        p = subprocess.run([AZ, *args], env=env, capture_output=True, text=True, timeout=timeout)
        if ok:
            assert p.returncode == 0, f"az {' '.join(args)}\n{p.stderr}"
        return p

    try:
        sign_in(s, env)
        run("group", "create", "-n", "rg-cl", "-l", "eastus", "-o", "none")
        d = json.loads(
            run(
                "deployment",
                "group",
                "create",
                "-g",
                "rg-cl",
                "-n",
                "inf",
                "--template-file",
                str(TEMPLATE),
                "--parameters",
                "apiKey=k-1",
                "apiKeySecondary=k-2",
                "minReplicas=1",
                "--parameters",
                json.dumps({"defaultCommands": {"value": ["python3", "-c", APP_PY]}}),
                "-o",
                "json",
            ).stdout
        )
        outs = {k: v["value"] for k, v in d["properties"]["outputs"].items()}
        app = outs["ACA_APP_NAME"]
        deadline = time.time() + 120
        while time.time() < deadline:
            st = s.runtime.status(
                f"/subscriptions/{s.subscription_id}/resourcegroups/rg-cl/providers/microsoft.app/containerapps/{app}"
            )
            if st.get("ready"):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the app never became ready")
        yield s, run, env, outs
    finally:
        s.stop()


def test_replica_list_show_and_revision_restart(deployed):
    s, run, _, outs = deployed
    app = outs["ACA_APP_NAME"]
    reps = json.loads(run("containerapp", "replica", "list", "-n", app, "-g", "rg-cl", "-o", "json").stdout)
    assert len(reps) == 1
    rep = reps[0]
    rev = rep["id"].split("/revisions/")[1].split("/")[0]
    assert rep["type"] == "Microsoft.App/containerApps/revisions/replicas"
    assert rep["properties"]["runningState"] == "Running"
    (container,) = rep["properties"]["containers"]
    assert container["ready"] is True and container["runningState"] == "Running" and container["restartCount"] == 0
    shown = json.loads(
        run(
            "containerapp", "replica", "show", "-n", app, "-g", "rg-cl", "--revision", rev, "--replica", rep["name"],
            "-o", "json",
        ).stdout
    )  # fmt: skip
    assert shown["name"] == rep["name"] and shown["properties"]["containers"][0]["name"] == container["name"]
    missing = run(
        "containerapp", "replica", "show", "-n", app, "-g", "rg-cl", "--revision", rev, "--replica", "nope-0",
        ok=False,
    )  # fmt: skip
    assert missing.returncode != 0 and "nope-0" in missing.stderr

    pid = container["containerId"]
    restarted = run("containerapp", "revision", "restart", "-n", app, "-g", "rg-cl", "--revision", rev, "-o", "json")
    assert json.loads(restarted.stdout) == {}  # 200 with a JSON body az's client parses
    deadline = time.time() + 120
    while time.time() < deadline:
        now = json.loads(run("containerapp", "replica", "list", "-n", app, "-g", "rg-cl", "-o", "json").stdout)
        c = now[0]["properties"]["containers"][0] if now else {}
        if c.get("ready") and c.get("containerId") not in ("", pid):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"no new ready replica after the restart: {now}")


def test_logs_show_console_and_follow(deployed):
    s, run, env, outs = deployed
    app = outs["ACA_APP_NAME"]
    fqdn = outs["ACA_APP_ENDPOINT"]
    requests.get(f"{fqdn}/first", verify=s.ca_bundle, timeout=30)
    out = run("containerapp", "logs", "show", "-n", app, "-g", "rg-cl").stdout
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    logs = [line["Log"] for line in lines]
    assert any("app-started" in x for x in logs) and any("served /first" in x for x in logs), out
    text = run("containerapp", "logs", "show", "-n", app, "-g", "rg-cl", "--format", "text", "--tail", "1").stdout
    # --tail 1: the last line, the GET / of az's own ping of the app before it looks for a replica
    # (azure-cli containerapp _validators._ping_containerapp_if_need)
    assert [x.split("  ", 1)[1] for x in text.splitlines()[2:]] == ["served /"], text

    follow = subprocess.Popen(  # pylint: disable=consider-using-with  # ended below
        [AZ, "containerapp", "logs", "show", "-n", app, "-g", "rg-cl", "--follow", "--tail", "5", "--format", "text"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = []
        deadline = time.time() + 120
        asked = False
        while time.time() < deadline:
            line = follow.stdout.readline()
            if not line:
                break
            seen.append(line)
            if not asked and "Successfully Connected" in line:
                asked = True
                requests.get(f"{fqdn}/while-following", verify=s.ca_bundle, timeout=30)
            if "served /while-following" in line:
                break
        assert any("served /while-following" in x for x in seen), "".join(seen) + follow.stderr.read()
    finally:
        follow.kill()
        follow.wait()


def test_storage_commands_with_account_name_and_key(deployed, tmp_path):
    s, run, env, outs = deployed
    account, share = outs["STORAGE_ACCOUNT_NAME"], outs["FILE_SHARE_NAME"]
    key = json.loads(run("storage", "account", "keys", "list", "-g", "rg-cl", "-n", account, "-o", "json").stdout)[0][
        "value"
    ]
    # az builds https://{account}.file.{the cloud's storage suffix}; it reaches them through the proxy
    env2 = dict(env, HTTPS_PROXY=s.proxy_url, NO_PROXY="127.0.0.1")
    creds = ["--account-name", account, "--account-key", key, "--only-show-errors"]

    def az2(*args):
        p = subprocess.run([AZ, *args, *creds], env=env2, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, f"az {' '.join(args)}\n{p.stderr}"
        return p.stdout

    shares = json.loads(az2("storage", "share", "list", "-o", "json"))
    assert [x["name"] for x in shares] == [share]
    arm_quota = json.loads(
        run(
            "storage", "share-rm", "show", "-g", "rg-cl", "--storage-account", account, "-n", share, "-o", "json"
        ).stdout
    )["shareQuota"]
    assert shares[0]["quota"] == arm_quota == 1024  # the template's shareQuota, not a default
    shown = json.loads(az2("storage", "share", "show", "-n", share, "-o", "json"))
    assert shown["properties"]["quota"] == arm_quota  # Get Share Properties' x-ms-share-quota

    made = json.loads(az2("storage", "directory", "create", "--share-name", share, "--name", "models", "-o", "json"))
    assert made["created"] is True
    src = tmp_path / "config.json"
    src.write_text('{"r": 8}')
    az2("storage", "file", "upload", "--share-name", share, "--source", str(src), "--path", "models/config.json")
    listed = json.loads(az2("storage", "file", "list", "--share-name", share, "--path", "models", "-o", "json"))
    assert [e["name"] for e in listed] == ["config.json"]
    assert (s.share_dir(account, share) / "models" / "config.json").read_text() == '{"r": 8}'
    # the requests came host-style: the stand-in saw them under the account's path
    assert any(p.startswith(f"/{account}/{share}/models") for _, p, _ in s.requests_log)


def test_proxy_refuses_other_destinations(deployed):
    s, _, _, _ = deployed
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get("https://example.com/", proxies={"https": s.proxy_url}, timeout=30)


def _query(s, customer_id, query):
    """POST {logAnalyticsResourceId}/v1/workspaces/{id}/query with a token for that audience, the call of
    the log-analytics extension's LogAnalyticsDataClient (and of aitk's azure/system_log.py)."""
    tok = requests.post(
        f"{s.url}/{s.tenant_id}/oauth2/v2.0/token",
        verify=s.ca_bundle,
        data={
            "grant_type": "client_credentials",
            "client_id": s.client_id,
            "client_secret": s.client_secret,
            "scope": f"{s.url}/loganalytics/.default",
        },
    ).json()["access_token"]
    r = requests.post(
        f"{s.url}/loganalytics/v1/workspaces/{customer_id}/query",
        json={"query": query},
        headers={"Authorization": f"Bearer {tok}"},
        verify=s.ca_bundle,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    t = r.json()["tables"][0]
    return [dict(zip([c["name"] for c in t["columns"]], row, strict=True)) for row in t["rows"]], t["columns"]


def test_log_analytics_ingestion_delay_ago_and_summarize(deployed):
    s, run, _, outs = deployed
    ws = json.loads(
        run(
            "resource",
            "list",
            "-g",
            "rg-cl",
            "--resource-type",
            "Microsoft.OperationalInsights/workspaces",
            "-o",
            "json",
        ).stdout
    )[0]  # noqa: E501
    customer_id = json.loads(
        run("monitor", "log-analytics", "workspace", "show", "-g", "rg-cl", "-n", ws["name"], "-o", "json").stdout
    )["customerId"]  # noqa: E501
    app = outs["ACA_APP_NAME"]
    delay = 20.0 * TIME_SCALE
    # an event that happens now is not there at once, and is once the ingestion delay passed
    s.runtime.apps[
        f"/subscriptions/{s.subscription_id}/resourcegroups/rg-cl/providers/microsoft.app/containerapps/{app}"
    ].syslog.event("ProbeMarker", "a marker event")
    q = "ContainerAppSystemLogs_CL | where Reason_s == 'ProbeMarker'"
    assert _query(s, customer_id, q)[0] == []
    deadline = time.time() + 60
    while not _query(s, customer_id, q)[0]:
        assert time.time() < deadline, "the row never arrived"
        time.sleep(delay / 4)
    rows, cols = _query(
        s, customer_id, "ContainerAppSystemLogs_CL | where TimeGenerated > ago(1h) | summarize count() by Reason_s"
    )
    assert [c["name"] for c in cols] == ["Reason_s", "count_"] and cols[1]["type"] == "long"
    counts = {r["Reason_s"]: r["count_"] for r in rows}
    assert counts["ProbeMarker"] == 1 and counts.get("ContainerStarted", 0) >= 1
    old = "ContainerAppSystemLogs_CL | where TimeGenerated < ago(1h) | summarize count()"
    assert _query(s, customer_id, old)[0] == [{"count_": 0}]  # Kusto: one row, even over no rows
    binned, _ = _query(s, customer_id, "ContainerAppSystemLogs_CL | summarize n=count() by bin(TimeGenerated, 1h)")
    assert sum(r["n"] for r in binned) == sum(counts.values())
    assert all(r["TimeGenerated"].endswith(":00:00Z") for r in binned)
