"""Fixtures for the launcher tests: tiny models and adapters made at test time, and real vLLM
servers started through the launcher (session-scoped: each starts once, several adapters each).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from aitk_testkit.tiny_models import ALL_LINEAR, make_adapter, make_tiny_model

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = ROOT / "container"
# The launcher is not installed in the venv (production gets it from the share via PYTHONPATH);
# the tests import it from the source tree the same way (pytest.ini's pythonpath).

API_KEY = "test-key-5f2c9a"  # what the servers under test require
SECONDARY_API_KEY = "test-key-second-77b1"  # accepted as well (AITK_API_KEY_SECONDARY: key rotation)
START_TIMEOUT = 420  # seconds for a tiny model to become ready on a busy CPU


def launcher_env(mount, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AITK_", "VLLM_", "CUDA_VISIBLE"))}
    env["PYTHONPATH"] = str(CONTAINER)
    env["AITK_MOUNT"] = str(mount)
    env["CUDA_VISIBLE_DEVICES"] = ""  # CPU: never pick up a GPU the machine might have
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_launcher(args, mount, timeout=120, **env):
    """Run `python -m aitk_serve ARGS` to completion (for --check and refusals)."""
    return subprocess.run(
        [sys.executable, "-m", "aitk_serve", *args],
        cwd=str(ROOT),
        env=launcher_env(mount, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def refused(result, message):
    """The launcher refused: exit 2, nothing on stdout, one line on stderr holding `message`."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aitk_serve: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def left_out(result, name, message):
    """The launcher went on without adapter `name` (from the share): exit 0, the adapter not in the
    plan, and one note naming it and holding `message`."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    plan = json.loads(result.stdout)
    assert name not in [a["name"] for a in plan["adapters"]]
    lines = [n for n in plan["notes"] if n.startswith(f"adapter {name!r} is left out")]
    assert len(lines) == 1 and message in lines[0] and "\n" not in lines[0], plan["notes"]
    return plan


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, key=None, timeout=120):
    """(status, parsed JSON or text) without raising on HTTP errors."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


class Server:
    """The launcher running as a process (vLLM runs as its child; signals reach it through the launcher)."""

    def __init__(self, mount, args, log_path, key=API_KEY, env=None, launcher=("-m", "aitk_serve"), wrap=()):
        self.mount, self.key, self.log_path = Path(mount), key, Path(log_path)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        keys = {"AITK_API_KEY": key, "AITK_API_KEY_SECONDARY": SECONDARY_API_KEY} if key else {}
        env = launcher_env(mount, **keys, **(env or {}))
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [*wrap, sys.executable, *launcher, "--host", "127.0.0.1", "--port", str(self.port), *args],
            cwd=str(ROOT),
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started = time.monotonic()
        self.ready_after = None

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as r:
                    if r.status == 200:
                        self.ready_after = time.monotonic() - self.started
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(1)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.tail()}")

    def tail(self, n=60):
        self.log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def logs(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def api(self, method, path, body=None, key="default", timeout=120):
        return http(method, self.url + path, body, self.key if key == "default" else key, timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        # vLLM's engine core is a child process: make sure nothing of the group survives.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


# ---------------------------------------------------------------------------------------------
# Models and adapters (made once per session)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """Tiny models and adapters in a scratch folder:
    llama, phi3 (the models); llama-q (q/k/v/o, rank 8), llama-all64 (all linear, rank 64),
    llama-mlp16 (MLP, rank 16, for runtime loading), phi3-packed (qkv_proj + gate_up_proj,
    rank 8), phi3-all (all linear, rank 16)."""
    root = tmp_path_factory.mktemp("tiny")
    made = {"root": root}
    made["llama"] = make_tiny_model(root / "llama", arch="llama")
    made["phi3"] = make_tiny_model(root / "phi3", arch="phi3", seed=2)
    made["llama-q"] = make_adapter(made["llama"], root / "llama-q", rank=8, seed=11)
    made["llama-all64"] = make_adapter(
        made["llama"], root / "llama-all64", rank=64, targets=ALL_LINEAR["llama"], seed=12, b_std=0.05
    )
    made["llama-mlp16"] = make_adapter(
        made["llama"], root / "llama-mlp16", rank=16, targets=["gate_proj", "up_proj", "down_proj"], seed=13
    )
    made["phi3-packed"] = make_adapter(
        made["phi3"], root / "phi3-packed", rank=8, targets=["qkv_proj", "gate_up_proj"], seed=21
    )
    made["phi3-all"] = make_adapter(made["phi3"], root / "phi3-all", rank=16, targets=ALL_LINEAR["phi3"], seed=22)
    return made


@pytest.fixture(scope="session")
def llama_mount(tiny, tmp_path_factory):
    """A share in the AI Toolkit layout: model-cache/<org>/<model>/ and models/<run>/adapter/."""
    mount = tmp_path_factory.mktemp("mount-llama")
    shutil.copytree(tiny["llama"], mount / "model-cache" / "tiny-org" / "tiny-llama")
    shutil.copytree(tiny["llama-q"], mount / "models" / "run-q" / "adapter")
    shutil.copytree(tiny["llama-all64"], mount / "models" / "run-all64" / "adapter")
    return mount


@pytest.fixture(scope="session")
def llama_server(llama_mount, tmp_path_factory):
    """The launcher on the llama share, by discovery alone, float32, API key required."""
    log = tmp_path_factory.mktemp("logs") / "llama-server.log"
    server = Server(llama_mount, ["--", "--dtype", "float32", "--max-model-len", "512"], log)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def phi3_server(tiny, tmp_path_factory):
    """The launcher with explicit --model/--adapter flags on the Phi-3 model, and its key also given
    to vLLM after `--` in an abbreviated form (`--api-ke=KEY`), which the launcher takes off vLLM's
    command line: the key then replaces $AITK_API_KEY and its secondary, as vLLM's --api-key does."""
    mount = tmp_path_factory.mktemp("mount-phi3")
    log = tmp_path_factory.mktemp("logs") / "phi3-server.log"
    server = Server(
        mount,
        [
            "--model",
            str(tiny["phi3"]),
            "--served-model-name",
            "tiny-phi3",
            "--adapter",
            f"packed={tiny['phi3-packed']}",
            "--adapter",
            f"all16={tiny['phi3-all']}",
            "--",
            f"--api-ke={API_KEY}",
            "--dtype",
            "float32",
            "--max-model-len",
            "512",
        ],
        log,
    )
    try:
        yield server.wait_ready()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def blob_llama(tiny, tmp_path_factory):
    """Weights in Blob (issue 18): Azurite (TLS, OAuth, src/aitk_testkit/azurite.py) holding the tiny
    llama at az://weights/tiny-llama, the app's managed identity endpoint, and what a reader process
    needs (`env`, and `wrap`: its own mount namespace with the test CA and the account's host name)."""
    from types import SimpleNamespace

    from aitk_testkit.azurite import Azurite, ManagedIdentityEndpoint

    with Azurite(tmp_path_factory.mktemp("azurite")) as azurite, ManagedIdentityEndpoint() as identity:
        probe = subprocess.run([*azurite.isolated(), "true"], capture_output=True, text=True, check=False)
        if probe.returncode:  # the readers need their own mount namespace (aitk_testkit/azurite.py)
            pytest.fail(f"a mount namespace cannot be made here (root or user namespaces needed): {probe.stderr}")
        azurite.upload_folder(tiny["llama"], "weights", "tiny-llama")
        yield SimpleNamespace(
            azurite=azurite,
            identity=identity,
            uri="az://weights/tiny-llama",
            env={**azurite.reader_env(), **identity.env()},
            wrap=azurite.isolated(),
        )
