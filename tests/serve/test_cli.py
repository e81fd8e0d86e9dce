"""`python -m aitk_serve` as a process: refusals (one line, exit 2, no traceback), --check,
and what it hands to exec. No vLLM server is started here."""

import json
import os

import pytest
from aitk_serve import cli

from serve.conftest import ROOT, left_out, refused, run_launcher
from serve.fakes import LLAMA, PHI3, lora_tensors, write_adapter, write_model

KEY = "launcher-test-key-77d1"


@pytest.fixture
def share(tmp_path):
    m = tmp_path / "share"
    write_model(m / "model-cache" / "org" / "tiny-llama")
    write_adapter(m / "models" / "run-1" / "adapter", base_model_name_or_path="tiny-llama")
    write_adapter(
        m / "models" / "run-2" / "adapter", rank=40, targets=("q_proj", "o_proj"), base_model_name_or_path="tiny-llama"
    )
    return m


def test_check_prints_the_vllm_command_as_json_and_hides_the_key(share):
    r = run_launcher(["--check", "--", "--dtype", "float32"], share, AITK_API_KEY=KEY)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    cmd = out["command"]
    assert cmd[1:3] == ["-m", "aitk_serve.cpu_server"]  # no GPU here
    assert cmd[cmd.index("--model") + 1] == str(share / "model-cache/org/tiny-llama")
    assert cmd[cmd.index("--served-model-name") + 1] == "tiny-llama"
    assert cmd[cmd.index("--max-lora-rank") + 1] == "64"  # rank 40 -> 64
    assert cmd[cmd.index("--max-loras") + 1] == "2"
    assert cmd[-2:] == ["--dtype", "float32"]
    assert [a["name"] for a in out["adapters"]] == ["run-1", "run-2"]
    assert out["cwd"] == str(share) and out["env"]["VLLM_API_KEY"] == "<redacted>"
    assert KEY not in r.stdout and KEY not in r.stderr


def test_check_with_the_key_in_a_custom_variable_and_an_extra_api_key_flag(share):
    r = run_launcher(["--check", "--api-key-env", "MY_KEY", "--", "--api-key", KEY], share, MY_KEY=KEY)
    assert r.returncode == 0, r.stderr
    assert KEY not in r.stdout + r.stderr
    assert json.loads(r.stdout)["env"]["VLLM_API_KEY"] == "<redacted>"


def test_several_keys_in_extra_args_are_all_hidden_and_count_as_a_key(share):
    keys = [KEY + "-a", KEY + "-b", KEY + "-c", KEY + "-d"]
    r = run_launcher(
        [
            "--check",
            "--",
            "--api-key",
            keys[0],
            keys[1],
            "--dtype",
            "float32",
            f"--api-key={keys[2]}",
            "--api_key",
            keys[3],
        ],
        share,
    )
    assert r.returncode == 0, r.stderr
    assert not any(k in r.stdout + r.stderr for k in keys)
    # Taken off vLLM's command line altogether (it was `--api-key <redacted> ...` there before).
    assert not any(a.startswith("--api") for a in json.loads(r.stdout)["command"])
    assert json.loads(r.stdout)["env"]["AITK_SERVE_ARG_API_KEYS"] == "<redacted>"
    notes = json.loads(r.stdout)["notes"]
    assert not any("API is open" in n for n in notes), notes
    r = run_launcher(["--check", "--", "--api-key", keys[0]], share, AITK_API_KEY=KEY)
    assert any("--api-key in the extra vLLM arguments replaces" in n for n in json.loads(r.stdout)["notes"])


def test_keys_from_serve_json_vllm_args_are_hidden_too(share, tmp_path):
    cfg = tmp_path / "serve.json"
    cfg.write_text(json.dumps({"vllm_args": ["--api-key", KEY, KEY + "-2"]}))
    r = run_launcher(["--check", "--config", str(cfg)], share)
    assert r.returncode == 0, r.stderr
    assert KEY not in r.stdout + r.stderr
    assert not any("API is open" in n for n in json.loads(r.stdout)["notes"])


def test_a_differing_base_name_warns_but_serves(share, tmp_path):
    a = write_adapter(tmp_path / "moved", base_model_name_or_path="/old/home/some-other-model")
    r = run_launcher(["--check", "--adapter", f"moved={a}"], share)
    assert r.returncode == 0, r.stderr
    notes = json.loads(r.stdout)["notes"]
    assert any("trained on '/old/home/some-other-model'" in n for n in notes)


def test_no_key_is_allowed_but_noted(share):
    r = run_launcher(["--check"], share)
    assert r.returncode == 0 and "VLLM_API_KEY" not in json.loads(r.stdout)["env"]
    assert any("no API key" in n for n in json.loads(r.stdout)["notes"])


@pytest.mark.parametrize(
    "setup,message",
    [
        (lambda s, t: ["--model", str(t / "missing")], "does not exist"),
        (lambda s, t: ["--model", str((t / "empty").mkdir() or t / "empty")], "has no config.json"),
        (lambda s, t: ["--adapter", f"x={write_adapter(t / 'x', config=False)}"], "no adapter_config.json"),
        (lambda s, t: ["--adapter", f"x={write_adapter(t / 'x', weights=False)}"], "no adapter weights"),
        (
            lambda s, t: ["--adapter", f"x={write_adapter(t / 'x', rank=600)}"],
            "LoRA rank 600 is above the largest rank vLLM 0.32.0 serves (512)",
        ),
        (
            lambda s, t: ["--adapter", f"x={write_adapter(t / 'x', modules_to_save=['lm_head'])}"],
            "modules_to_save ['lm_head'] cannot be served",
        ),
        (
            lambda s, t: [
                "--adapter",
                "x="
                + str(
                    write_adapter(
                        t / "x",
                        {
                            "base_model.model.model.layers.0.mlp.act_fn.lora_A.weight": (8, 128),
                            "base_model.model.model.layers.0.mlp.act_fn.lora_B.weight": (128, 8),
                        },
                    )
                ),
            ],
            "targets 'act_fn', which is not a module of this model",
        ),
        (
            lambda s, t: ["--adapter", f"x={write_adapter(t / 'x', model_config=dict(LLAMA, hidden_size=256))}"],
            "it was trained for a different base model",
        ),
        (
            lambda s, t: [
                "--adapter",
                "x=" + str(write_adapter(t / "x", model_config=dict(LLAMA, vocab_size=1024), targets=("lm_head",))),
            ],
            "vocabulary size mismatch",
        ),
        (
            lambda s, t: ["--adapter", f"x={write_adapter(t / 'x')}", "--adapter", f"x={write_adapter(t / 'y')}"],
            "two adapters are named 'x'",
        ),
        (lambda s, t: ["--adapter", f"tiny-llama={write_adapter(t / 'x')}"], "same name as the base model"),
        (lambda s, t: ["--adapter", "oops"], "is not NAME=PATH"),
    ],
)
def test_refusals_are_one_line_and_exit_2(share, tmp_path, setup, message):
    refused(run_launcher(["--check", *setup(share, tmp_path)], share), message)


def test_refusals_also_stop_a_real_start(share, tmp_path):
    """Without --check the launcher refuses before exec'ing vLLM, just the same."""
    bad = write_adapter(tmp_path / "x", modules_to_save=["embed_tokens"])
    refused(run_launcher(["--adapter", f"x={bad}"], share, timeout=60), "modules_to_save")


def test_duplicate_names_in_env_and_serve_json_are_refused(share, tmp_path):
    a = write_adapter(tmp_path / "a")
    refused(run_launcher(["--check"], share, AITK_ADAPTERS=f"n={a},n={a}"), "two adapters are named 'n'")
    cfg = tmp_path / "serve.json"
    cfg.write_text(f'{{"adapters": {{"n": "{a}", "n": "{a}"}}}}')
    refused(run_launcher(["--check", "--config", str(cfg)], share), "two adapters are named 'n'")


def test_phi3_llama_mixups_are_refused(tmp_path):
    """Named on the command line: refused. Found on the share: left out, the base model serves."""
    share = tmp_path / "share"
    write_model(share / "model-cache" / "org" / "tiny-phi3", PHI3)
    llama = write_adapter(
        share / "models" / "llama-run" / "adapter", lora_tensors(LLAMA, ("q_proj", "k_proj", "v_proj"), 8)
    )
    message = "'k_proj', which is not a module of this model"
    refused(run_launcher(["--check", "--adapter", f"x={llama}"], share), message)
    left_out(run_launcher(["--check"], share), "llama-run", message)


def test_exec_replaces_the_launcher_with_vllm(share, monkeypatch):
    """main() starts vLLM's server from the mount root with the launcher's environment."""
    calls = []
    monkeypatch.chdir(ROOT)
    env = {
        "AITK_MOUNT": str(share),
        "AITK_API_KEY": KEY,
        "CUDA_VISIBLE_DEVICES": "",
        "PATH": os.environ.get("PATH", ""),
    }
    rc = cli.main(["--port", "9999"], env=env, execve=lambda exe, argv, e: calls.append((exe, argv, e, os.getcwd())))
    assert rc == 0 and len(calls) == 1
    exe, argv, e, cwd = calls[0]
    assert exe == argv[0] and argv[argv.index("--port") + 1] == "9999"
    assert cwd == str(share)
    assert e["VLLM_API_KEY"] == KEY and e["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert e["VLLM_CPU_KVCACHE_SPACE"] == "1"


def test_the_start_log_names_everything_but_the_key(share, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    env = {"AITK_MOUNT": str(share), "AITK_API_KEY": KEY, "CUDA_VISIBLE_DEVICES": ""}
    cli.main(["--", "--api-key", KEY, KEY + "-second", f"--api-key={KEY}-third"], env=env, execve=lambda *a: None)
    err = capsys.readouterr().err
    assert "adapter 'run-2' rank 40 on o_proj, q_proj" in err and "start [" in err
    assert KEY not in err and "the API is open" not in err


# Every form vLLM's parser (argparse with abbreviations, `_` read as `-`) takes as --api-key.
API_KEY_FORMS = [
    ["--api-key", KEY],
    ["--api_key", KEY],
    ["--api-k", KEY],
    ["--api-ke", KEY],
    [f"--api-ke={KEY}"],
    [f"--api_k={KEY}"],
    ["--api-key", KEY, KEY + "-2"],
]


@pytest.mark.parametrize("form", API_KEY_FORMS, ids=lambda f: f[0].split("=")[0] + f"x{len(f)}")
def test_an_api_key_after_the_separator_reaches_vllm_in_the_environment_only(share, capsys, form):
    calls = []
    env = {"AITK_MOUNT": str(share), "CUDA_VISIBLE_DEVICES": ""}
    rc = cli.main(
        ["--", "--dtype", "float32", *form, "--max-model-len", "64"], env=env, execve=lambda *a: calls.append(a)
    )
    assert rc == 0 and len(calls) == 1
    _, argv, exec_env = calls[0]
    assert not any(KEY in a for a in argv) and not any(a.startswith("--api") for a in argv), argv
    assert argv[-4:] == ["--dtype", "float32", "--max-model-len", "64"]  # the other arguments stay, in order
    want = [KEY, KEY + "-2"] if len(form) == 3 else [KEY]
    assert json.loads(exec_env["AITK_SERVE_ARG_API_KEYS"]) == want
    err = capsys.readouterr().err
    assert KEY not in err and "the API is open" not in err
    from aitk_serve.middleware import api_tokens

    assert api_tokens(None, exec_env) == want  # the keys the server and the page's check accept


@pytest.mark.parametrize("form", API_KEY_FORMS, ids=lambda f: f[0].split("=")[0] + f"x{len(f)}")
def test_check_hides_every_form_of_the_key(share, form):
    r = run_launcher(["--check", "--", *form], share, AITK_API_KEY=KEY + "-env")
    assert r.returncode == 0, r.stderr
    assert KEY not in r.stdout + r.stderr
    assert any("--api-key in the extra vLLM arguments replaces" in n for n in json.loads(r.stdout)["notes"])


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--api", KEY], "--api in the extra vLLM arguments could mean any of --api-key, --api-server-count"),
        (["--api-", KEY], "could mean any of --api-key, --api-server-count"),
        (["--api-key"], "--api-key in the extra vLLM arguments has no key after it"),
        (["--api-k", "--dtype", "half"], "--api-k in the extra vLLM arguments has no key after it"),
        (["--api-key="], "has no key after it"),
    ],
)
def test_an_api_key_flag_vllm_would_refuse_is_refused_in_one_line(share, extra, message):
    r = run_launcher(["--check", "--", *extra], share)
    refused(r, message)
    assert KEY not in r.stdout + r.stderr


def test_api_key_file_and_api_server_count_are_not_keys(share):
    r = run_launcher(["--check", "--", "--api-server-count", "2", "--api-key-file", "f"], share, AITK_API_KEY=KEY)
    assert r.returncode == 0, r.stderr
    cmd = json.loads(r.stdout)["command"]
    assert cmd[-4:] == ["--api-server-count", "2", "--api-key-file", "f"]


def test_checking_imports_neither_vllm_nor_torch(share):
    """The checks run in well under a second: no heavy imports before exec."""
    import subprocess
    import sys

    from serve.conftest import launcher_env

    code = (
        "import sys; from aitk_serve.cli import main; rc = main(['--check']); "
        "print(rc, sorted(m for m in ('vllm', 'torch', 'transformers') if m in sys.modules))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], env=launcher_env(share), cwd=str(ROOT), capture_output=True, text=True, timeout=60
    )
    assert r.stdout.strip().splitlines()[-1] == "0 []", r.stdout + r.stderr


def planned_value(share, option, args=(), **env):
    """The value the launcher would pass to vLLM for `option`, from `--check`."""
    out = run_launcher(["--check", *args], share, **env)
    assert out.returncode == 0, out.stderr
    argv = json.loads(out.stdout)["command"]
    return argv[argv.index(option) + 1]


def test_the_port_comes_from_the_flag_then_aitk_port_then_8000(share):
    """A runtime that picks the port (the local stand-in) passes it in AITK_PORT."""
    assert planned_value(share, "--port") == "8000"
    assert planned_value(share, "--port", AITK_PORT="18123") == "18123"
    assert planned_value(share, "--port", ["--port", "9999"], AITK_PORT="18123") == "9999"
    refused(run_launcher(["--check"], share, AITK_PORT="http"), "AITK_PORT='http' is not a port number")


def test_the_address_comes_from_the_flag_then_aitk_host_then_all_interfaces(share):
    assert planned_value(share, "--host") == "0.0.0.0"
    assert planned_value(share, "--host", AITK_HOST="127.0.0.1") == "127.0.0.1"
    assert planned_value(share, "--host", ["--host", "::1"], AITK_HOST="127.0.0.1") == "::1"
