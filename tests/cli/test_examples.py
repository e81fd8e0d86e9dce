"""Every example of `--help` (src/aitk/azext_aitk/_help.py) and every bash block of README.md
that runs `az aitk`, run as a user pastes them: `bash -c TEXT` in a real pseudo-terminal, in a
fine-tuning workspace against the local stand-in, one after the other like a user going through
the help. Each must exit 0; a broken example (e.g. a `read` that leaves the key empty, so curl
gets 401) fails this test, and the last test shows the runner catches exactly that.

Its own stand-in and az (the README's block reinstalls the extension). The workspace's
parameters file runs aitk_testkit/fake_server.py instead of vLLM, as a user may edit it."""

import importlib.util
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml

from aitk_testkit.az_harness import ROOT, default_sigint, signed_in_az
from aitk_testkit.scenario import FAKE_COMMAND, FAKE_SERVER, FINETUNING_STORAGE_TEMPLATE
from aitk_testkit.tiny_models import make_tiny_model, write_lora
from azure_standin import StandIn

pexpect = pytest.importorskip("pexpect", reason="pexpect (requirements/ext.txt) is not installed")

GROUP = "my-rg"  # the group the examples name
LOCATION = "swedencentral"  # the region they name (serverless A100 there)
FT_STORAGE = "myrgft01"
WORKSPACE = "my-finetuning-workspace"  # README: `cd my-finetuning-workspace`
HELP_FILE = ROOT / "src" / "aitk" / "azext_aitk" / "_help.py"
README = ROOT / "README.md"


def help_examples():
    """[(where, text)] of every example in _help.py, in the file's order."""
    spec = importlib.util.spec_from_file_location("aitk_help_under_test", HELP_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = []
    for key, text in module.helps.items():
        if key.split()[0] != "aitk":  # knack's `helps` is one dict per process: other tests may fill it
            continue
        for example in yaml.safe_load(text).get("examples") or []:
            out.append((f"az {key} --help: {example['name']}", example["text"]))
    return out


def readme_examples():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    return [(f"README.md bash block {i + 1}", b) for i, b in enumerate(blocks) if "az aitk" in b]


def _stage(where, text):
    """The order a user could go through them in one workspace: init first (init --force resets
    the parameters file), then the A100 provision (a new environment gets the profile; later
    provisions keep the app's), the rest as the help lists them, delete, then waiting for it to be gone."""
    if " inference init" in where and "README" not in where:
        return 0
    if "A100" in text:
        return 1
    if "README" in where:
        return 3
    if " inference delete" in where:
        return 4
    if "wait --deleted" in text:  # after delete, or it waits for an app that stays
        return 5
    return 2


def _answer_like_a_user(child, where, timeout):
    """Drive a pasted example to its end: Ctrl-D at the chat prompt, "n" to delete's question,
    "y" to provision's (the always-on cost of --min-replicas 1, the start command the user put in the
    parameters file), Ctrl-C a few seconds into a followed log. The exit status."""
    deadline = time.monotonic() + timeout
    while True:
        i = child.expect(
            [
                pexpect.EOF,
                "you> ",
                r"Delete these resources\? \(y/N\): ",
                "Console log of .*Ctrl-C stops",
                r"(Keep the replicas running|Deploy the container as the workspace sets it)\? \(y/N\): ",
            ],
            timeout=max(1, deadline - time.monotonic()),
        )
        if i == 0:
            break
        if i == 1:
            child.sendeof()
        elif i == 2:
            child.sendline("n")
        elif i == 4:
            child.sendline("y")
        else:
            time.sleep(3)
            child.sendintr()
    child.close()
    return child.exitstatus if child.exitstatus is not None else 128 + (child.signalstatus or 0)


def _seed_finetuning(azure, az, ws):
    """What fine-tuning left in my-rg: its storage and share (with the fake server), and the
    workspace's infra/finetuning.config.json."""
    az.run(
        "deployment",
        "group",
        "create",
        "-g",
        GROUP,
        "-n",
        "finetuning",
        "--template-file",
        str(FINETUNING_STORAGE_TEMPLATE),
        "--parameters",
        f"storageAccountName={FT_STORAGE}",
        "fileShareName=finetuning",
        "-o",
        "none",
        capture=True,
    )
    shutil.copy2(FAKE_SERVER, azure.share_dir(FT_STORAGE, "finetuning") / "fake_server.py")
    (ws / "infra").mkdir()
    (ws / "infra" / "finetuning.config.json").write_text(
        json.dumps(
            {
                "SUBSCRIPTION_ID": azure.subscription_id,
                "RESOURCE_GROUP_NAME": GROUP,
                "STORAGE_ACCOUNT_NAME": FT_STORAGE,
                "FILE_SHARE_NAME": "finetuning",
                "ACA_JOB_NAME": "job",
                "COMMANDS": [],
            }
        )
    )


@pytest.fixture(scope="module")
def paste(tmp_path_factory, aitk_wheel):
    base = tmp_path_factory.mktemp("examples")
    azure = StandIn(base / "azure")
    azure.start()
    try:
        az = signed_in_az(azure, base / "az", aitk_wheel)
        parent = base / "home"
        ws = parent / WORKSPACE
        ws.mkdir(parents=True)
        az.run("group", "create", "-n", GROUP, "-l", LOCATION, "-o", "none", capture=True)
        _seed_finetuning(azure, az, ws)
        # What the examples refer to: the wheel the README installs, an adapter folder, a local
        # model folder, a parameters file.
        shutil.copy2(aitk_wheel, parent / Path(aitk_wheel).name)
        write_lora(ws / "models" / "run1" / "adapter")
        make_tiny_model(ws / "Phi-3-mini-4k-instruct")  # `--model ./Phi-3-mini-4k-instruct`
        (ws / "prompts.txt").write_text("Say hello\nName a colour\n")  # compare --prompts prompts.txt
        (ws / "chats.jsonl").write_text(json.dumps([{"role": "user", "content": "Who are you?"}]) + "\n")
        (ws / "extra.parameters.json").write_text(
            json.dumps({"contentVersion": "1.0.0.0", "parameters": {"maximumInstanceCount": {"value": 1}}})
        )
        env = dict(az.env)
        # `az`, `python3` (with openai) from the venv; curl trusts the stand-in's CA like Azure's.
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        env.update(TERM="dumb", CURL_CA_BUNDLE=azure.ca_bundle)
        yield {"ws": ws, "parent": parent, "env": env, "azure": azure}
    finally:
        azure.stop()


def _run(paste, where, text, timeout=300):
    # A README block that starts with `cd my-finetuning-workspace` is pasted from its parent; the
    # later ones (the chat one-liner) from inside the workspace, where the first block left the user.
    cwd = paste["parent"] if "README" in where and f"cd {WORKSPACE}" in text else paste["ws"]
    child = pexpect.spawn(
        "bash",
        ["-c", text],
        env=paste["env"],
        cwd=str(cwd),
        encoding="utf-8",
        timeout=timeout,
        dimensions=(50, 200),
        preexec_fn=default_sigint,  # Ctrl-C reaches a followed log under `make test &` too
    )
    chunks = []
    child.logfile_read = type("Log", (), {"write": chunks.append, "flush": lambda self: None})()
    status = _answer_like_a_user(child, where, timeout)
    return status, "".join(chunks)


def _use_fake_server(ws):
    """The user's edit of the parameters file (init writes it; init without --force keeps it)."""
    path = ws / "infra" / "provision" / "inference.parameters.json"
    params = json.loads(path.read_text())
    params["parameters"]["defaultCommands"] = {"value": json.loads(FAKE_COMMAND)}
    path.write_text(json.dumps(params, indent=2))


def test_every_help_and_readme_example_runs_as_pasted(paste):
    examples = help_examples() + readme_examples()
    assert len(examples) >= 25 and any("README" in w for w, _ in examples)
    ordered = sorted(examples, key=lambda e: _stage(*e))  # stable: the file's order within a stage
    failures, ran = [], 0
    edited = False
    for where, text in ordered:
        if _stage(where, text) > 0 and not edited:
            _use_fake_server(paste["ws"])
            edited = True
        status, output = _run(paste, where, text)
        ran += 1
        if status != 0:
            failures.append(f"--- {where} (exit {status}):\n{text}\n{output[-3000:]}")
    assert ran == len(examples)
    assert not failures, "\n".join(failures)
    # What the examples made: the curl one answered, the script one wrote the reply.
    assert (paste["ws"] / "reply.txt").read_text().startswith("echo(")


def test_the_runner_catches_a_broken_example(paste):
    """The curl example as it was: tsv of a list is one value per line, so `read` leaves KEY empty
    and curl gets 401; with -f curl fails, and so does the example."""
    broken = """read -r URL KEY MODEL <<< "$(az aitk inference endpoint --show-key \\
  --query '[url, apiKey, models[0]]' -o tsv)"
curl -fsS "$URL/v1/models" -H "Authorization: Bearer $KEY"
"""
    status, output = _run(paste, "a broken example", broken)
    assert status != 0, output
