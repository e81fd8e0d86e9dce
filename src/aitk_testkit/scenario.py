"""The user's scenario, shared by `make demo`, the CLI and the end-to-end tests: what AI Toolkit's
fine-tuning leaves behind (seeded through the real az, see az_harness.py), and the OpenAI client a
user writes. Nothing here reaches into the extension or the stand-in's internals, except the seeds,
which write the model files straight into the share's folder the way fine-tuning would have left them.
"""

import json
from pathlib import Path

from .tiny_models import make_adapter, make_tiny_model, train_adapter, write_tiny_config

HERE = Path(__file__).resolve().parent
# The ARM JSON equivalent of AI Toolkit's finetuning.bicep (storage, share, Log Analytics, the
# environment with its dedicated GPU profile, the job), and only its storage account and share.
FINETUNING_TEMPLATE = HERE / "finetuning.template.json"
FINETUNING_STORAGE_TEMPLATE = HERE / "finetuning-storage.template.json"

RESOURCE_GROUP = "aitk-demo"
LOCATION = "eastus"
FINETUNE_STORAGE = "aitkftdemo01"
FINETUNE_SHARE = "finetuning"
# Where AI Toolkit leaves things on the share (see container/aitk_serve/layout.py).
DEMO_MODEL_DIR = "model-cache/aitk-demo/tiny-llama"
DEMO_ADAPTER_DIR = "models/demo-run/adapter"
DEMO_MODEL = "tiny-llama"  # the launcher names the base after its folder
DEMO_ADAPTER = "demo-run"  # ... and an adapter after its folder path under models/


def openai_client(endpoint, ca_bundle):
    """The OpenAI client a user would write, trusting the stand-in's CA (its ingress is HTTPS,
    as ACA's is)."""
    import ssl

    import openai

    trust = ssl.create_default_context(cafile=str(ca_bundle))
    return openai.OpenAI(
        base_url=endpoint["url"].rstrip("/") + "/v1",
        api_key=endpoint["apiKey"],
        http_client=openai.DefaultHttpxClient(verify=trust),
        max_retries=0,
        timeout=300,
    )


def seed_finetuning_leftovers(azure, az, workspace, *, rank=8, trained=False):
    """Stand in for what AI Toolkit's remote fine-tuning leaves: its resource group, storage
    account and share (deployed with az's own `deployment group create`), a base model and a
    LoRA adapter on the share, and infra/finetuning.config.json in the workspace. `trained`: the
    adapter is trained now to answer tiny_models.DEMO_PROMPT with DEMO_ANSWER (else random)."""
    share = seed_finetuning_storage(azure, az, workspace, RESOURCE_GROUP, FINETUNE_STORAGE, FINETUNE_SHARE)
    model_dir = share / DEMO_MODEL_DIR
    make_tiny_model(model_dir, arch="llama")
    (train_adapter if trained else make_adapter)(model_dir, share / DEMO_ADAPTER_DIR, rank=rank)
    return share


FAKE_SERVER = HERE / "fake_server.py"
# The app's start command for tests that need a serving app but not vLLM: the stdlib stand-in for
# the launcher (fake_server.py here), copied to the share's root by `seed_fake_finetuning`.
FAKE_COMMAND = json.dumps(["python3", "/mount/fake_server.py"])
# What `az aitk inference provision` takes to run FAKE_COMMAND.
FAKE_PARAMETERS = ("--parameters", f"defaultCommands={FAKE_COMMAND}")


def write_finetuning_config(workspace, subscription, group, storage, share_name, *, job_name="aitk-finetune-job"):
    """The workspace's infra/finetuning.config.json as AI Toolkit's fine-tuning writes it; without the
    job's fields when `job_name` is None (a config from before fine-tuning ran a job)."""
    fields = {
        "SUBSCRIPTION_ID": subscription,
        "RESOURCE_GROUP_NAME": group,
        "STORAGE_ACCOUNT_NAME": storage,
        "FILE_SHARE_NAME": share_name,
    }
    if job_name is not None:
        fields.update({"ACA_JOB_NAME": job_name, "COMMANDS": []})
    infra = Path(workspace) / "infra"
    infra.mkdir(parents=True, exist_ok=True)
    (infra / "finetuning.config.json").write_text(json.dumps(fields, indent=2))


def seed_finetuning_storage(
    azure,
    az,
    workspace,
    group,
    storage,
    share_name="finetuning",
    *,
    template=FINETUNING_STORAGE_TEMPLATE,
    job_name="aitk-finetune-job",
):
    """What every fine-tuning left behind has: the group (in LOCATION), fine-tuning's deployment of
    `template` (its storage account and share, by default nothing else) through az's own `deployment
    group create`, and the workspace's infra/finetuning.config.json. Returns the share's folder."""
    az.run("group", "create", "-n", group, "-l", LOCATION, "-o", "none")
    az.run(
        "deployment",
        "group",
        "create",
        "-g",
        group,
        "-n",
        "finetuning",
        "--template-file",
        str(template),
        "--parameters",
        f"storageAccountName={storage}",
        f"fileShareName={share_name}",
        "-o",
        "none",
    )
    write_finetuning_config(workspace, azure.subscription_id, group, storage, share_name, job_name=job_name)
    return azure.share_dir(storage, share_name)


def seed_fake_finetuning(
    azure, az, workspace, group, storage, share_name="finetuning", *, placeholder_model=True, **storage_options
):
    """`seed_finetuning_storage` plus, instead of the tiny model (nothing here runs vLLM), the fake server
    on the share and (unless `placeholder_model` is false) model-cache/org/m/config.json, the tiny
    Llama's (tiny_models.TINY_LLAMA_CONFIG; no weights: nothing here loads it, but deploy checks
    pushed adapters against it, and tiny_models.write_lora writes adapters that fit it).
    `storage_options` go to `seed_finetuning_storage`. Returns the share's folder."""
    share = seed_finetuning_storage(azure, az, workspace, group, storage, share_name, **storage_options)
    (share / "fake_server.py").write_bytes(FAKE_SERVER.read_bytes())
    if placeholder_model:
        write_tiny_config(share / "model-cache" / "org" / "m")
    return share
