"""What a new user trips on (issue 13), with the real az against the local stand-in: which
resource group provision targets and why, names checked before any call, the group created
with --location, progress and next steps on stderr (hidden by --only-show-errors) with the
results in the output, logs without probe noise, the chat's slash commands and control
characters under a real pseudo-terminal, a network that is down, and delete of what is gone.

Own resource groups and workspaces; the container app runs aitk_testkit/fake_server.py."""

import configparser
import json
import os
import shlex
import shutil
import socket
from pathlib import Path

import pytest

from aitk_testkit.az_harness import AZ, Az, one_error
from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.scenario import FAKE_PARAMETERS, write_finetuning_config

pexpect = pytest.importorskip("pexpect", reason="pexpect (requirements/ext.txt) is not installed")

RG = "aitk-newuser"
LOCATION = "eastus"
FT_STORAGE = "aitknuft01"
FT_SHARE = "finetuning"
# What the fixture provisions with; a later provision passes the same so it changes nothing.
SAME_AS_FIXTURE = ("--min-replicas", "1", *FAKE_PARAMETERS)


def _finetuning_config(ws, subscription, group, storage=FT_STORAGE):
    write_finetuning_config(ws, subscription, group, storage, FT_SHARE, job_name="job")


def _with_env(az, **extra):
    return Az(dict(az.env, **extra))


@pytest.fixture(scope="module")
def nu(fake_finetuning, provision_fake):
    """A fine-tuning workspace provisioned with one warm replica of the fake server."""
    ws, share = fake_finetuning("newuser", RG, FT_STORAGE, FT_SHARE, placeholder_model=False, job_name="job")
    app = provision_fake(ws, RG, *SAME_AS_FIXTURE)
    init = app["init"]
    assert "Next:" in init.stderr and "az aitk inference provision" in init.stderr, init.stderr
    return {"ws": ws, "share": share, "cfg": app["cfg"], "app_id": app["app_id"], "provision": app["provision"]}


# -- which resource group, and why -------------------------------------------------------------


def test_provision_says_where_the_group_came_from_and_shows_progress_and_next_steps(nu):
    err = nu["provision"].stderr
    assert f"Resource group '{RG}' (from infra/finetuning.config.json" in err, err
    # each resource as it completes, with the elapsed time, and the portal link
    assert f"Microsoft.App/containerApps {nu['cfg']['ACA_APP_NAME']}: done" in err, err
    assert "/portal/#view/HubsExtension/DeploymentDetailsBlade/~/overview/id/" in err, err
    assert "Next:" in err and "az aitk inference deploy" in err
    assert "WARNING: Endpoint" not in err


def test_workspace_config_wins_over_az_defaults_group(az_cloud, nu):
    """`az config set defaults.group` (here its environment form) names a group that does not
    exist: provision must follow the workspace's own config, say so, and change nothing."""
    before = (nu["ws"] / "infra" / "inference.config.json").read_text()
    az = _with_env(az_cloud, AZURE_DEFAULTS_GROUP="aitk-some-other-group")
    proc = az("aitk", "inference", "provision", *SAME_AS_FIXTURE, "-o", "json", cwd=nu["ws"])
    out = _ok(proc)
    assert "Resource group 'aitk-newuser' (from infra/inference.config.json; -g overrides it)" in proc.stderr
    assert out["RESOURCE_GROUP_NAME"] == RG and out["ACA_APP_NAME"] == nu["cfg"]["ACA_APP_NAME"]
    assert (nu["ws"] / "infra" / "inference.config.json").read_text() == before


def test_az_defaults_group_is_the_last_choice(az_cloud, tmp_path):
    az = _with_env(az_cloud, AZURE_DEFAULTS_GROUP="aitk-default-nowhere")
    proc = az("aitk", "inference", "provision", cwd=tmp_path)
    one_error(proc, "resource group 'aitk-default-nowhere' does not exist")
    assert "(from az config defaults.group" in proc.stderr


@pytest.mark.parametrize(
    "name, problem",
    [
        ("bad rg name!", "' ', '!'"),
        ("ends.with.period.", "ends in a period"),
        ("x" * 91, "91 characters"),
        ("semi;colon", "';'"),
    ],
)
def test_invalid_resource_group_name_is_refused_before_any_call(az_cloud, tmp_path, name, problem):
    proc = az_cloud("aitk", "inference", "provision", "-g", name, cwd=tmp_path)
    one_error(proc, "is not a valid resource group name", problem)
    err = proc.stderr
    assert shlex.quote(name) in err and "does not exist" not in err


def test_invalid_name_in_a_config_file_names_the_file(az_cloud, standin, tmp_path):
    _finetuning_config(tmp_path, standin.subscription_id, "has space")
    proc = az_cloud("aitk", "inference", "provision", cwd=tmp_path)
    one_error(proc, "'has space' (from infra/finetuning.config.json) is not a valid resource group name")


@pytest.mark.parametrize("name", ["rg(1)", "grupo-ñandú_1.x"])
def test_valid_unusual_names_pass_and_the_suggested_command_pastes(az_cloud, tmp_path, name):
    proc = az_cloud("aitk", "inference", "provision", "-g", name, cwd=tmp_path)
    one_error(proc, f"resource group '{name}' does not exist")
    err = proc.stderr
    suggested = [part for i, part in enumerate(err.split("`")) if i % 2 == 1]
    assert suggested, err
    for line in suggested:
        words = shlex.split(line)  # the shell sees the name as one word
        assert name in words, (line, words)


def test_missing_group_is_created_with_location_and_results_survive_only_show_errors(az_cloud, tmp_path):
    group = "aitk-newuser-created"
    proc = az_cloud(
        "aitk",
        "inference",
        "provision",
        "-g",
        group,
        "-l",
        LOCATION,
        *FAKE_PARAMETERS,
        "-o",
        "json",
        "--workspace",
        str(tmp_path),
    )
    out = _ok(proc)
    assert f"Creating resource group '{group}' in {LOCATION}" in proc.stderr
    assert _ok(az_cloud("group", "show", "-n", group, "-o", "json"))["location"] == LOCATION
    assert out["RESOURCE_GROUP_NAME"] == group and out["ACA_APP_ENDPOINT"].startswith("https://")
    # results are the output; progress and next steps are stderr that --only-show-errors hides
    quiet = az_cloud("aitk", "inference", "provision", "--only-show-errors", "-o", "json", "--workspace", str(tmp_path))
    assert _ok(quiet)["ACA_APP_ENDPOINT"] == out["ACA_APP_ENDPOINT"]
    assert quiet.stderr.strip() == "", quiet.stderr
    # delete of what is there, then of what is gone: "nothing to delete", exit 0
    _ok(az_cloud("aitk", "inference", "delete", "--yes", "--workspace", str(tmp_path)), parse=False)
    again = az_cloud("aitk", "inference", "delete", "--yes", "-o", "json", "--workspace", str(tmp_path))
    assert _ok(again)["deleted"] == []
    assert "Nothing to delete" in again.stderr


# -- deploy: progress, results, next steps -----------------------------------------------------


def test_deploy_shows_the_wait_and_next_steps_and_only_show_errors_keeps_the_result(az_cloud, nu):
    proc = az_cloud("aitk", "inference", "deploy", "-o", "json", cwd=nu["ws"])
    out = _ok(proc)
    assert out["endpoint"] == nu["cfg"]["ACA_APP_ENDPOINT"].rstrip("/") and out["models"][0] == "fake-base"
    err = proc.stderr
    assert "Waiting for the endpoint" in err and "az aitk inference logs --follow" in err, err
    assert "Serving after" in err
    for step in ("az aitk inference endpoint --show-key", "az aitk inference chat", "az aitk inference logs"):
        assert step in err, err
    quiet = az_cloud("aitk", "inference", "deploy", "--only-show-errors", "-o", "json", cwd=nu["ws"])
    assert _ok(quiet)["endpoint"] == out["endpoint"] and quiet.stderr.strip() == "", quiet.stderr


def test_endpoint_show_key_has_a_curl_that_works_and_keeps_the_key_off_command_lines(az_cloud, standin, nu, tmp_path):
    """The curl of `endpoint --show-key`, pasted into bash after the export its help gives: it
    answers, and the key is on no command line (a `curl` first on PATH records what `ps` would
    show, then runs the real one) and not in the pasted text (the shell's history)."""
    import subprocess

    out = _ok(az_cloud("aitk", "inference", "endpoint", "--show-key", cwd=nu["ws"]))
    assert out["url"] in out["curl"] and out["apiKey"] not in out["curl"]
    spy = tmp_path / "bin"
    spy.mkdir()
    (spy / "curl").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$0" "$@" >> {tmp_path}/argv\nexec {shutil.which("curl")} "$@"\n'
    )
    (spy / "curl").chmod(0o755)
    env = dict(
        az_cloud.env,
        CURL_CA_BUNDLE=standin.ca_bundle,
        PATH=f"{spy}{os.pathsep}{Path(AZ).parent}{os.pathsep}{os.environ['PATH']}",
    )
    typed = "export AITK_API_KEY=$(az aitk inference endpoint --show-key --query apiKey -o tsv)\n" + out["curl"]
    reply = subprocess.run(["bash", "-c", typed], cwd=nu["ws"], env=env, text=True, capture_output=True, timeout=120)
    assert reply.returncode == 0, reply.stderr
    assert json.loads(reply.stdout)["choices"][0]["message"]["content"] == "echo(fake-base) Hello! [turn 1]"
    argv = (tmp_path / "argv").read_text()
    assert "/v1/chat/completions" in argv and out["apiKey"] not in argv and out["apiKey"] not in typed
    # Pasted without the export first: the shell says how to set it, and curl never runs.
    unset = subprocess.run(["bash", "-c", out["curl"]], env=env, text=True, capture_output=True, timeout=60)
    assert unset.returncode != 0 and "AITK_API_KEY: is not set; first run: export AITK_API_KEY=" in unset.stderr
    assert argv == (tmp_path / "argv").read_text()


# -- logs without probe noise ------------------------------------------------------------------


def test_logs_hide_health_probes_unless_all(az_cloud, standin, nu):
    log_path = standin.runtime.status(nu["app_id"])["log_path"]
    with open(log_path, "a") as f:
        f.write('INFO:     100.100.0.1:40000 - "GET /health HTTP/1.1" 200 OK\n')
        f.write('INFO:     100.100.0.1:40001 - "POST /v1/chat/completions HTTP/1.1" 200 OK\n')
        f.write('INFO:     100.100.0.1:40002 - "GET /health HTTP/1.1" 503 Service Unavailable\n')
    proc = az_cloud("aitk", "inference", "logs", "--tail", "20", cwd=nu["ws"])
    _ok(proc, parse=False)
    assert "POST /v1/chat/completions" in proc.stdout and '"GET /health HTTP/1.1" 503' in proc.stdout
    assert '"GET /health HTTP/1.1" 200' not in proc.stdout
    assert "--all shows them" in proc.stderr
    every = az_cloud("aitk", "inference", "logs", "--tail", "20", "--all", cwd=nu["ws"])
    _ok(every, parse=False)
    assert '"GET /health HTTP/1.1" 200' in every.stdout


# -- chat under a real terminal ----------------------------------------------------------------


def _spawn(az, ws, *args, timeout=60):
    return az.spawn("aitk", "inference", *args, cwd=ws, timeout=timeout)


def test_chat_slash_commands_are_handled_locally(az_cloud, nu):
    child = _spawn(az_cloud, nu["ws"], "chat")
    try:
        child.expect_exact("/help lists commands")
        child.expect_exact("you> ")
        child.sendline("/help")
        child.expect_exact("/model NAME")
        child.expect_exact("fake-base")
        child.expect_exact("you> ")
        assert "echo(" not in child.before  # never sent to the model
        child.sendline("first")
        child.expect_exact("echo(fake-base) first [turn 1]")
        child.expect_exact("you> ")
        child.sendline("/clear")
        child.expect_exact("(conversation cleared)")
        child.expect_exact("you> ")
        child.sendline("/system be brief")
        child.expect_exact("(system message set)")
        child.expect_exact("you> ")
        child.sendline("second")
        child.expect_exact("[sys] echo(fake-base) second [turn 1]")  # history cleared, system set
        child.expect_exact("you> ")
        child.sendline("/model nope")
        child.expect_exact("model 'nope' is not served")
        child.expect_exact("you> ")
        child.sendline("/unknown thing")
        child.expect_exact("unknown command /unknown")
        child.expect_exact("you> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before


def test_chat_shows_control_characters_from_the_model_instead_of_running_them(az_cloud, nu):
    child = _spawn(az_cloud, nu["ws"], "chat", "--message", "clear\x1b[2Jscreen\x07bell")
    try:
        child.expect(pexpect.EOF)
        seen = child.before
    finally:
        child.close()
    assert child.exitstatus == 0, seen
    assert "clear^[[2Jscreen^Gbell" in seen and "\x1b[2J" not in seen and "\x07" not in seen, repr(seen)
    # into a pipe or file, the reply stays as the model wrote it (scripts get the bytes)
    piped = az_cloud("aitk", "inference", "chat", "--message", "raw\x1b[1mbold", cwd=nu["ws"])
    _ok(piped, parse=False)
    assert "raw\x1b[1mbold" in piped.stdout


# -- a network that is down --------------------------------------------------------------------


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_azure_unreachable_is_one_line_saying_what_to_check(az_cloud, standin, nu, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(az_cloud.env["AZURE_CONFIG_DIR"], config)
    clouds = configparser.ConfigParser()
    clouds.read(config / "clouds.config")
    dead = f"https://127.0.0.1:{_closed_port()}"
    for section in clouds.sections():
        for key, value in clouds[section].items():
            if standin.url in value:
                clouds[section][key] = value.replace(standin.url, dead)
    with open(config / "clouds.config", "w") as f:
        clouds.write(f)
    az = _with_env(az_cloud, AZURE_CONFIG_DIR=str(config))
    proc = az("aitk", "inference", "endpoint", cwd=nu["ws"], timeout=120)
    one_error(proc, "could not reach Azure", "connection was refused")
    err = proc.stderr
    assert "HTTPSConnection" not in err and "Check your network connection" in err, err


# -- delete: what stays on the share, and purging it -------------------------------------------


def test_delete_says_what_stays_on_the_share_then_purge_removes_exactly_deploys_folders(az_cloud, nu):
    share = nu["share"]
    for rel in ("aitk/launcher/aitk_serve/x.py", "aitk/inference/serve.json", "aitk/adapters/a/adapter_config.json"):
        (share / rel).parent.mkdir(parents=True, exist_ok=True)
        (share / rel).write_text("x")
    (share / "aitk" / "mine.txt").write_text("keep")
    (share / "aitk" / "deploy-manifest.json").write_text("{}")  # deploy's (core/deploy/sync_manifest.py)
    (share / "finetuned-data.txt").write_text("keep me")
    proc = az_cloud("aitk", "inference", "delete", "--yes", cwd=nu["ws"])
    _ok(proc, parse=False)
    assert f"Kept on share {FT_STORAGE}/{FT_SHARE}: aitk/launcher/, aitk/inference/, aitk/adapters/" in proc.stderr
    assert "--purge-share-files removes them" in proc.stderr
    assert (share / "aitk" / "launcher").is_dir()
    proc = az_cloud("aitk", "inference", "delete", "--yes", "--purge-share-files", "-o", "json", cwd=nu["ws"])
    out = _ok(proc)
    assert "Nothing to delete" in proc.stderr and out["shareFilesPurged"]["files"] >= 3
    for gone in ("launcher", "inference", "adapters"):
        assert not (share / "aitk" / gone).exists(), gone
    assert not (share / "aitk" / "deploy-manifest.json").exists()
    assert (share / "aitk" / "mine.txt").read_text() == "keep"
    assert (share / "finetuned-data.txt").read_text() == "keep me" and (share / "fake_server.py").is_file()
