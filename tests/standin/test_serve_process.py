"""`python -m azure_standin serve --state DIR` as another process uses it (the demo): it writes
DIR/standin.json, serves ARM and the apps, and on SIGTERM stops cleanly, app processes included."""

import json
import os
import signal
import time
from pathlib import Path

import requests

from standin.conftest import start_serve

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "src" / "aitk" / "azext_aitk" / "templates" / "inference.json"

APP = (
    "import os, pathlib, time\n"
    "pathlib.Path(os.environ['AITK_MOUNT'], 'app.pid').write_text(str(os.getpid()))\n"
    "time.sleep(600)\n"
)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_serve_writes_info_runs_apps_and_stops_them_on_sigterm(tmp_path):
    state = tmp_path / "state"
    proc, info = start_serve(state, start_new_session=True)
    try:
        info_path = state / "standin.json"
        assert info["url"].startswith("https://127.0.0.1:")
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would override s.verify
        s.verify = info["ca_bundle"]
        tok = s.post(
            f"{info['url']}/{info['tenant_id']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
                "scope": info["url"] + "/.default",
            },
        ).json()
        s.headers["Authorization"] = "Bearer " + tok["access_token"]
        rg = f"{info['url']}/subscriptions/{info['subscription_id']}/resourcegroups/rg-srv"
        assert s.put(rg, params={"api-version": "2024-03-01"}, json={"location": "eastus"}).status_code in (200, 201)
        body = {
            "properties": {
                "mode": "Incremental",
                "template": json.loads(TEMPLATE.read_text()),
                "parameters": {
                    "apiKey": {"value": "k"},
                    "apiKeySecondary": {"value": "k2"},
                    "minReplicas": {"value": 1},
                    "defaultCommands": {"value": ["python3", "/mount/app.py"]},
                },
            }
        }
        dep = f"{rg}/providers/Microsoft.Resources/deployments/d1"
        r = s.put(dep, params={"api-version": "2024-03-01"}, json=body)
        assert r.status_code in (200, 201), r.text
        deadline = time.time() + 60
        while time.time() < deadline:
            d = s.get(dep, params={"api-version": "2024-03-01"}).json()
            if d["properties"]["provisioningState"] not in ("Accepted", "Running"):
                break
            time.sleep(0.2)
        assert d["properties"]["provisioningState"] == "Succeeded", d
        outs = {k: v["value"] for k, v in d["properties"]["outputs"].items()}
        share = state / "shares" / outs["STORAGE_ACCOUNT_NAME"] / outs["FILE_SHARE_NAME"]
        # the app starts before its command exists on the share: it crashes and is restarted,
        # as ACA restarts a container whose entrypoint fails; then the file appears
        (share / "app.py").write_text(APP)
        deadline = time.time() + 60
        while not (share / "app.pid").is_file() and time.time() < deadline:
            time.sleep(0.2)
        assert (share / "app.pid").is_file(), "the app never ran"
        app_pid = int((share / "app.pid").read_text())
        assert _alive(app_pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not info_path.exists()
        deadline = time.time() + 15
        while _alive(app_pid) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(app_pid), "the app's process outlived the stand-in"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
