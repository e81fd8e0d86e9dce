"""Shared fixtures of the stand-in's own tests: a started StandIn, an ARM token, and a real `az`
(azure-cli 2.91 from the venv) signed in to it with a private config folder (aitk_testkit.az_harness)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from aitk_testkit.az_harness import signed_in_az
from azure_standin import StandIn

ROOT = Path(__file__).resolve().parents[2]
INFERENCE_TEMPLATE = ROOT / "src" / "aitk" / "azext_aitk" / "templates" / "inference.json"


def arm_token(azure):
    r = requests.post(
        f"{azure.url}/{azure.tenant_id}/oauth2/v2.0/token",
        verify=azure.ca_bundle,
        data={
            "grant_type": "client_credentials",
            "client_id": azure.client_id,
            "client_secret": azure.client_secret,
            "scope": f"{azure.url}/.default",
        },
    )
    r.raise_for_status()
    return r.json()["access_token"]


class Arm:
    """Minimal ARM client over requests (raw bodies, for shape checks)."""

    def __init__(self, azure):
        self.azure = azure
        self.s = requests.Session()
        self.s.verify = azure.ca_bundle
        self.s.trust_env = False  # REQUESTS_CA_BUNDLE in the env would override verify
        self.s.headers["Authorization"] = "Bearer " + arm_token(azure)

    def url(self, path, api="2025-07-01"):
        sep = "&" if "?" in path else "?"
        return f"{self.azure.url}{path}{sep}api-version={api}"

    def rg(self, rg):
        return f"/subscriptions/{self.azure.subscription_id}/resourceGroups/{rg}"

    def __getattr__(self, method):
        if method not in ("get", "put", "post", "delete", "head", "patch"):
            raise AttributeError(method)

        def call(path, api="2025-07-01", **kw):
            return getattr(self.s, method)(self.url(path, api), **kw)

        return call


@pytest.fixture(scope="module")
def arm_standin(tmp_path_factory):
    azure = StandIn(tmp_path_factory.mktemp("arm-standin"))
    azure.start()
    try:
        yield azure
    finally:
        azure.stop()


@pytest.fixture(scope="module")
def arm(arm_standin):
    return Arm(arm_standin)


@pytest.fixture(scope="module")
def az_signed_in(arm_standin, tmp_path_factory):
    """az (without aitk) signed in to the module's stand-in."""
    return signed_in_az(arm_standin, tmp_path_factory.mktemp("az"))


def start_serve(state, **popen_options):
    """`python -m azure_standin serve --state STATE` as a user starts it, up to 60 s for it to write
    STATE/standin.json with what a client needs. (the process, that file's content)"""
    proc = subprocess.Popen(
        [sys.executable, "-m", "azure_standin", "serve", "--state", str(state)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen_options,
    )
    try:
        info_path = state / "standin.json"
        deadline = time.time() + 60
        while not info_path.is_file() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert info_path.is_file(), proc.stdout.read() if proc.poll() is not None else "no standin.json"
        info = json.loads(info_path.read_text())
        assert {"url", "ca_bundle", "subscription_id", "tenant_id", "client_id", "client_secret"} <= set(info)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, info
