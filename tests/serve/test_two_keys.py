"""Two API keys (primary and secondary, for rotation): the launcher passes both in the
environment, aitk_serve.api_server puts them into vLLM's parsed arguments, and vLLM's own check
and our middleware accept either, over real HTTP; neither key is on the command line or in
--check's output."""

import json
from argparse import Namespace

from aitk_serve import api_server, cli
from aitk_serve.api_server import SECONDARY_API_KEY_ENV, keys_from_env, with_env_keys
from aitk_serve.middleware import api_tokens
from aitk_serve.vllm_args import API_SERVER_MODULE, build

from serve.fakes import write_model
from serve.test_middleware import LiveServer, build_app

PRIMARY, SECONDARY = "key-primary-0123456789", "key-secondary-9876543210"
ENV = {"VLLM_API_KEY": PRIMARY, SECONDARY_API_KEY_ENV: SECONDARY}


def test_keys_from_env_primary_first_no_blanks_no_repeats():
    assert keys_from_env(ENV) == [PRIMARY, SECONDARY]
    assert keys_from_env({"VLLM_API_KEY": PRIMARY, SECONDARY_API_KEY_ENV: ""}) == [PRIMARY]
    assert keys_from_env({"VLLM_API_KEY": PRIMARY, SECONDARY_API_KEY_ENV: PRIMARY}) == [PRIMARY]
    assert keys_from_env({}) == []
    assert api_tokens(Namespace(api_key=None), ENV) == [PRIMARY, SECONDARY]


def test_the_hook_fills_vllms_parsed_arguments_unless_api_key_was_given():
    seen = []
    validate = with_env_keys(seen.append, ENV)
    args = Namespace(api_key=None)
    validate(args)
    assert args.api_key == [PRIMARY, SECONDARY] and seen == [args]
    given = Namespace(api_key=["own"])
    validate(given)
    assert given.api_key == ["own"]
    empty = Namespace(api_key=None)
    with_env_keys(lambda a: None, {})(empty)
    assert empty.api_key is None  # no key: vLLM's server stays open, as without the hook


def test_the_hook_reaches_the_function_vllms_main_calls(monkeypatch):
    from vllm.entrypoints.launchers import cli_args
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    monkeypatch.setattr(cli_args, "validate_parsed_serve_args", cli_args.validate_parsed_serve_args)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    api_server.install()
    api_server.install()  # idempotent: one hook
    args = make_arg_parser(FlexibleArgumentParser()).parse_args(["--model", "m"])
    cli_args.validate_parsed_serve_args(args)
    assert args.api_key == [PRIMARY, SECONDARY]


def test_both_keys_work_over_http_with_vllms_check_and_ours():
    """vLLM's AuthenticationMiddleware (guarding /v1) and ours (everything else) with the keys the
    hook puts in args.api_key."""
    with LiveServer(build_app(keys=keys_from_env(ENV))) as server:
        for path in ("/v1/models", "/invocations"):
            for key in (PRIMARY, SECONDARY):
                assert (
                    server.request("GET" if path == "/v1/models" else "POST", path, {"Authorization": f"Bearer {key}"})[
                        0
                    ]
                    == 200
                )
            assert server.request("GET", "/v1/models", {"Authorization": "Bearer other"})[0] == 401
    # After a rotation the replica restarts with the new pair: the old secondary is refused.
    with LiveServer(build_app(keys=[PRIMARY, "key-secondary-new"])) as server:
        assert server.request("GET", "/v1/models", {"Authorization": f"Bearer {SECONDARY}"})[0] == 401
        assert server.request("GET", "/v1/models", {"Authorization": "Bearer key-secondary-new"})[0] == 200


def test_the_secondary_key_goes_to_the_environment_never_the_command_line():
    argv, env, _ = build(
        model="m",
        served_name="m",
        adapters=[],
        host="0.0.0.0",
        port=8000,
        api_key=PRIMARY,
        secondary_api_key=SECONDARY,
        gpus=1,
    )
    assert argv[2] == API_SERVER_MODULE == "aitk_serve.api_server"
    assert PRIMARY not in " ".join(argv) and SECONDARY not in " ".join(argv)
    assert env["VLLM_API_KEY"] == PRIMARY and env[SECONDARY_API_KEY_ENV] == SECONDARY


def test_the_launcher_reads_the_secondary_and_check_shows_neither(tmp_path, monkeypatch, capsys):
    share = tmp_path / "share"
    write_model(share / "model-cache" / "org" / "tiny-llama")
    monkeypatch.chdir(share)
    env = {
        "AITK_MOUNT": str(share),
        "AITK_API_KEY": PRIMARY,
        "AITK_API_KEY_SECONDARY": SECONDARY,
        "CUDA_VISIBLE_DEVICES": "",
    }
    calls = []
    assert cli.main([], env=env, execve=lambda exe, argv, e: calls.append((argv, e))) == 0
    argv, e = calls[0]
    assert e["VLLM_API_KEY"] == PRIMARY and e[SECONDARY_API_KEY_ENV] == SECONDARY
    assert cli.main(["--check"], env=env) == 0
    out, err = capsys.readouterr()
    assert PRIMARY not in out + err and SECONDARY not in out + err
    assert json.loads(out)["env"][SECONDARY_API_KEY_ENV] == "<redacted>"
    # Only the secondary set: it is the one key.
    calls.clear()
    cli.main([], env={**env, "AITK_API_KEY": ""}, execve=lambda exe, argv, e: calls.append((argv, e)))
    assert calls[0][1]["VLLM_API_KEY"] == SECONDARY and SECONDARY_API_KEY_ENV not in calls[0][1]


def test_vllms_own_parser_gets_abbreviated_arg_keys_from_the_environment(tmp_path, monkeypatch):
    """`-- --api-k K1 K2` (argparse's abbreviation): the argv the launcher execs, parsed by vLLM's
    own parser with the hook, has no key on it, yet vLLM's args.api_key is [K1, K2], and the
    non-default args vLLM logs hold no api_key at all."""
    from vllm.entrypoints.launchers import cli_args
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.entrypoints.serve.utils.api_utils import get_non_default_args
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    share = tmp_path / "share"
    write_model(share / "model-cache" / "org" / "tiny-llama")
    monkeypatch.chdir(share)
    env = {"AITK_MOUNT": str(share), "AITK_API_KEY": PRIMARY, "CUDA_VISIBLE_DEVICES": ""}
    calls = []
    argv_in = ["--", "--api-k", "arg-key-1", "arg-key-2", "--max-model-len", "64"]
    assert cli.main(argv_in, env=env, execve=lambda exe, argv, e: calls.append((argv, e))) == 0
    argv, exec_env = calls[0]
    assert not any("arg-key" in a for a in argv)
    monkeypatch.setattr(cli_args, "validate_parsed_serve_args", cli_args.validate_parsed_serve_args)
    api_server.install(exec_env)
    args = make_arg_parser(FlexibleArgumentParser()).parse_args(argv[3:])  # after `python -m module`
    assert args.max_model_len == 64 and args.api_key is None  # nothing on the command line
    assert "api_key" not in get_non_default_args(args)
    cli_args.validate_parsed_serve_args(args)
    assert args.api_key == ["arg-key-1", "arg-key-2"]  # the argument's keys replace $AITK_API_KEY
