"""Hostile --workspace values and workspace files, with the real az (not signed in: every one of
these is refused, or accepted, before anything talks to Azure): one ERROR line naming what is
wrong, non-zero, no traceback, and nothing written."""

import json
import subprocess

import pytest

from aitk_testkit.az_harness import one_error

CONFIG = {
    "SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "RESOURCE_GROUP_NAME": "rg",
    "STORAGE_ACCOUNT_NAME": "store",
    "FILE_SHARE_NAME": "share",
    "ACA_APP_NAME": "app",
    "ACA_APP_ENDPOINT": "https://app.example",
}


def _snapshot(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("value, says", [("", "is empty"), ("   ", "is empty"), ("x" * 5000, "File name too long")])
def test_a_workspace_value_that_cannot_be_a_folder_is_refused_and_nothing_is_written(az, workspace, value, says):
    before = _snapshot(workspace)
    line = one_error(az("aitk", "inference", "init", "--workspace", value, cwd=workspace))
    assert "--workspace" in line and says in line
    assert _snapshot(workspace) == before  # not the current folder, not a folder named '   '


def test_a_file_given_as_the_workspace_is_named_as_a_file(az, workspace):
    (workspace / "notes.txt").write_text("hi")
    for command in ("init", "endpoint"):
        line = one_error(az("aitk", "inference", command, "--workspace", str(workspace / "notes.txt")))
        assert "is a file, not a folder" in line
    assert _snapshot(workspace) == ["notes.txt"]


@pytest.mark.parametrize(
    "content, says",
    [
        ('{"ACA_APP_NAME": "caf\xe9"}'.encode("latin-1"), "is not UTF-8 text (byte 21 is 0xe9)"),
        (json.dumps(CONFIG).encode("utf-16"), "is not UTF-8 text (byte 0 is 0xff)"),
        (None, "is a folder, not a file"),
    ],
)
def test_a_config_that_is_not_utf8_text_or_not_a_file_is_one_line(az, workspace, content, says):
    config = workspace / "infra" / "inference.config.json"
    if content is None:
        (config / "old").mkdir(parents=True)
    else:
        config.parent.mkdir()
        config.write_bytes(content)
    line = one_error(az("aitk", "inference", "endpoint", cwd=workspace))
    assert "inference.config.json" in line and says in line


def test_a_bom_and_crlf_config_in_a_symlinked_workspace_is_read(az, workspace, tmp_path):
    """A config saved by a Windows editor (BOM, CRLF), reached through a symlinked workspace, is
    read: the command gets as far as asking to sign in."""
    (workspace / "infra").mkdir()
    text = json.dumps(CONFIG, indent=2).replace("\n", "\r\n")
    (workspace / "infra" / "inference.config.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    link = tmp_path / "linked"
    link.symlink_to(workspace)
    line = one_error(az("aitk", "inference", "endpoint", "--workspace", str(link)))
    assert "az login" in line


@pytest.mark.parametrize(
    "serve, says",
    [
        ("[]", "is not a JSON object"),
        (b"\xef\xbb\xbf{\r\n  oops\r\n}", "is not valid JSON"),
        ('{"model": "m", "vllm_arg": ["--x"]}', "unknown keys ['vllm_arg']"),
        ('{"adapters": ["a"]}', '"adapters" must map names to paths'),
    ],
)
def test_deploy_refuses_a_serve_json_the_launcher_would_refuse_before_anything(az, workspace, serve, says):
    """The launcher reads serve.json at every start; deploy reads it with the launcher's own
    reader first (here: before even asking to sign in), so nothing is uploaded."""
    (workspace / "infra").mkdir()
    (workspace / "infra" / "inference.config.json").write_text(json.dumps(CONFIG))
    (workspace / "inference").mkdir()
    (workspace / "inference" / "serve.json").write_bytes(serve.encode() if isinstance(serve, str) else serve)
    line = one_error(az("aitk", "inference", "deploy", cwd=workspace))
    assert "serve.json" in line and says in line


@pytest.mark.parametrize(
    "args, says",
    [
        (["key", "rotate", "--timeout", "0"], "--timeout must be a positive number of seconds, not 0"),
        (["chat", "--message", "hi", "--model", " "], "--model is empty"),
    ],
)
def test_bad_values_are_refused_before_anything_changes(az, workspace, args, says):
    """Checked before the command reads Azure (here: before it asks to sign in): key rotate would
    otherwise replace the key and only then fail to wait."""
    (workspace / "infra").mkdir()
    (workspace / "infra" / "inference.config.json").write_text(json.dumps(CONFIG))
    assert says in one_error(az("aitk", "inference", *args, cwd=workspace))


def test_python_files_in_a_hostile_workspace_do_not_run_when_the_harness_runs_az(az, workspace, tmp_path):
    """pip's `az` is `python -m azure.cli`, which puts the current folder first on Python's path: a
    workspace's `azure/__init__.py` or `knack.py` would run as az starts. The harness keeps the
    folder off the path; a plain `python -m azure.cli` (what the user's pip az runs) does not."""
    ran = tmp_path / "ran"
    payload = f"import pathlib; pathlib.Path({str(ran)!r}).write_text(__name__)\n"
    (workspace / "azure").mkdir()
    (workspace / "azure" / "__init__.py").write_text(payload)
    (workspace / "knack.py").write_text(payload)
    line = one_error(az("aitk", "inference", "endpoint", cwd=workspace))  # az ran: no config here
    assert "inference.config.json" in line
    assert not ran.exists()
    # What the harness protects against: the same folder with the user's own pip az runs the file.
    unsafe = {k: v for k, v in az.env.items() if k != "PYTHONSAFEPATH"}
    subprocess.run([az.executable, "version"], cwd=workspace, env=unsafe, capture_output=True, timeout=120, check=False)
    assert ran.exists()


@pytest.mark.parametrize(
    "config, says",
    [
        ("finetuning.config.json", "AI Toolkit's fine-tuning wrote it"),
        ("inference.config.json", "provision wrote it"),
    ],
)
def test_a_malformed_config_init_does_not_write_names_the_file_and_not_init_force(az, workspace, config, says):
    """init reads both configs; it rewrites neither, so its --force is no fix for them."""
    (workspace / "infra").mkdir()
    (workspace / "infra" / config).write_text('{\n  "RESOURCE_GROUP_NAME": "rg",\n  oops\n}\n')
    before = _snapshot(workspace)
    for args in (["init"], ["init", "--force"]):
        proc = az("aitk", "inference", *args, cwd=workspace)
        line = one_error(proc, f"Fix line 3 of {workspace / 'infra' / config}", says)
        assert f"infra/{config}:3:" in line and "is not valid JSON" in line
        assert "init --force` to reset" not in proc.stderr
    assert _snapshot(workspace) == before  # nothing half-done


def test_a_malformed_parameters_file_is_one_init_force_resets(az, workspace):
    az("aitk", "inference", "init", cwd=workspace)
    params = workspace / "infra" / "provision" / "inference.parameters.json"
    params.write_text("{ nope")
    proc = az("aitk", "inference", "provision", "-g", "rg", "--what-if", cwd=workspace)
    one_error(proc, "inference.parameters.json:1:", "az aitk inference init --force` to reset it")
