"""The user's flow, shared by `make demo` and the end-to-end tests.

A user types `az …` commands; this module runs the real `az` (from the venv) as a subprocess with
the extension installed from the built wheel into a private extension folder, signed in to the
local Azure stand-in. Nothing here reaches into the extension or the stand-in's internals, except
`seed_finetuning_leftovers`, which writes the model files straight into the share's folder the way
fine-tuning would have left them.
"""
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

RESOURCE_GROUP = "aitk-demo"
LOCATION = "eastus"
FINETUNE_STORAGE = "aitkftdemo01"
FINETUNE_SHARE = "finetuning"
# Where AI Toolkit leaves things on the share (see container/aitk_serve/layout.py).
DEMO_MODEL_DIR = "model-cache/aitk-demo/tiny-llama"
DEMO_ADAPTER_DIR = "models/demo-run/adapter"
DEMO_MODEL = "tiny-llama"          # the launcher names the base after its folder
DEMO_ADAPTER = "demo-run"          # ... and an adapter after its folder path under models/


class AzError(RuntimeError):
    def __init__(self, args, returncode, stdout, stderr):
        super().__init__(f"az {' '.join(args)} exited {returncode}:\n{stderr.strip()}")
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


class AzRunner:
    """Runs the real `az` against the stand-in, with aitk installed from the wheel."""

    def __init__(self, azure, base_dir, wheel, echo=True):
        self.azure = azure
        self.wheel = Path(wheel)
        self.echo = echo
        self.executable = str(Path(sys.executable).with_name("az"))
        config_dir = Path(base_dir) / "az-config"
        ext_dir = Path(base_dir) / "az-extensions"
        config_dir.mkdir(parents=True, exist_ok=True)
        ext_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env.update(azure.az_env(config_dir))
        self.env["AZURE_EXTENSION_DIR"] = str(ext_dir)

    def prepare(self):
        self.run("extension", "add", "--source", str(self.wheel), "--yes")
        self.azure.az_login(self.executable, self.env)

    def run(self, *args, cwd=None, check=True, capture=False, timeout=900):
        if self.echo:
            print("$ az " + " ".join(shlex.quote(a) for a in args), flush=True)
        proc = subprocess.run([self.executable, *args], cwd=cwd, env=self.env, text=True,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None, timeout=timeout)
        if check and proc.returncode != 0:
            raise AzError(args, proc.returncode, proc.stdout or "", proc.stderr or "")
        return proc

    __call__ = run

    def json(self, *args, cwd=None):
        proc = self.run(*args, "-o", "json", cwd=cwd, capture=True)
        return json.loads(proc.stdout) if proc.stdout.strip() else None


def openai_client(endpoint, ca_bundle):
    """The OpenAI client a user would write, trusting the stand-in's CA (its ingress is HTTPS,
    as ACA's is)."""
    import ssl

    import openai
    trust = ssl.create_default_context(cafile=str(ca_bundle))
    return openai.OpenAI(base_url=endpoint["url"].rstrip("/") + "/v1", api_key=endpoint["apiKey"],
                         http_client=openai.DefaultHttpxClient(verify=trust),
                         max_retries=0, timeout=300)


def seed_finetuning_leftovers(azure, az, workspace, *, rank=8):
    """Stand in for what AI Toolkit's remote fine-tuning leaves: its resource group, storage
    account and share (deployed with az's own `deployment group create`), a base model and a
    LoRA adapter on the share, and infra/finetuning.config.json in the workspace."""
    from serve.tiny_models import make_adapter, make_tiny_model  # the launcher tests' factory

    az("group", "create", "-n", RESOURCE_GROUP, "-l", LOCATION, "-o", "none")
    az("deployment", "group", "create", "-g", RESOURCE_GROUP, "-n", "finetuning",
       "--template-file", str(HERE / "finetuning.template.json"),
       "--parameters", f"storageAccountName={FINETUNE_STORAGE}", f"fileShareName={FINETUNE_SHARE}",
       "-o", "none")
    share = azure.share_dir(FINETUNE_STORAGE, FINETUNE_SHARE)
    model_dir = share / DEMO_MODEL_DIR
    make_tiny_model(model_dir, arch="llama")
    make_adapter(model_dir, share / DEMO_ADAPTER_DIR, rank=rank)
    infra = Path(workspace) / "infra"
    infra.mkdir(parents=True, exist_ok=True)
    (infra / "finetuning.config.json").write_text(json.dumps({
        "SUBSCRIPTION_ID": azure.subscription_id,
        "RESOURCE_GROUP_NAME": RESOURCE_GROUP,
        "STORAGE_ACCOUNT_NAME": FINETUNE_STORAGE,
        "FILE_SHARE_NAME": FINETUNE_SHARE,
        "ACA_JOB_NAME": "aitk-finetune-job",
        "COMMANDS": [],
    }, indent=2))
    return share


FAKE_SERVER = ROOT / "tests" / "cli" / "fake_server.py"
# The app's start command for tests that need a serving app but not vLLM: the stdlib stand-in for
# the launcher (tests/cli/fake_server.py), copied to the share's root by `seed_fake_finetuning`.
FAKE_COMMAND = json.dumps(["python3", "/mount/fake_server.py"])


def seed_fake_finetuning(azure, az, workspace, group, storage, share_name="finetuning"):
    """Like `seed_finetuning_leftovers`, without the tiny model (nothing here runs vLLM): the
    group, fine-tuning's storage account and share, the fake server on the share and the
    workspace's infra/finetuning.config.json. Returns the share's folder."""
    az("group", "create", "-n", group, "-l", LOCATION, "-o", "none")
    az("deployment", "group", "create", "-g", group, "-n", "finetuning",
       "--template-file", str(HERE / "finetuning.template.json"),
       "--parameters", f"storageAccountName={storage}", f"fileShareName={share_name}", "-o", "none")
    share = azure.share_dir(storage, share_name)
    (share / "fake_server.py").write_bytes(FAKE_SERVER.read_bytes())
    (share / "model-cache" / "org" / "m").mkdir(parents=True, exist_ok=True)
    (share / "model-cache" / "org" / "m" / "config.json").write_text("{}")
    infra = Path(workspace) / "infra"
    infra.mkdir(parents=True, exist_ok=True)
    (infra / "finetuning.config.json").write_text(json.dumps({
        "SUBSCRIPTION_ID": azure.subscription_id, "RESOURCE_GROUP_NAME": group,
        "STORAGE_ACCOUNT_NAME": storage, "FILE_SHARE_NAME": share_name,
        "ACA_JOB_NAME": "aitk-finetune-job", "COMMANDS": []}, indent=2))
    return share
