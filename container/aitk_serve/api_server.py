"""vLLM's OpenAI server, accepting every API key the launcher passes in the environment:
`python -m aitk_serve.api_server ARGS` = `python -m vllm.entrypoints.openai.api_server ARGS`, with
`args.api_key` set to the keys in VLLM_API_KEY and SECONDARY_API_KEY_ENV when ARGS give no --api-key.

Why: vLLM's own check accepts several keys (`--api-key` is nargs="+", and
vllm/entrypoints/serve/middleware/register.py hands the list to its AuthenticationMiddleware), but
its environment variable holds one, and a key on the command line would show in `ps`. During a key
rotation both the primary and the secondary key must work, so the launcher passes both in the
environment and `install()` puts them into the parsed arguments before vLLM builds its app. vLLM
logs `api_key` redacted (vllm/entrypoints/serve/utils/api_utils.py, redact_sensitive_args).
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .env_names import ARG_API_KEYS_ENV, SECONDARY_API_KEY_ENV, VLLM_API_KEY_ENV

if TYPE_CHECKING:
    from argparse import Namespace

VLLM_SERVER_MODULE = "vllm.entrypoints.openai.api_server"


def _arg_keys(env: Mapping[str, str]) -> list[str]:
    try:
        keys = json.loads(env.get(ARG_API_KEYS_ENV) or "[]")
    except ValueError:
        return []
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []


def keys_from_env(env: Mapping[str, str]) -> list[str]:
    """The keys the launcher passed: those of an --api-key argument, else primary then secondary;
    empty values are no key."""
    keys = _arg_keys(env) or [env.get(VLLM_API_KEY_ENV) or "", env.get(SECONDARY_API_KEY_ENV) or ""]
    return [k for i, k in enumerate(keys) if k and k not in keys[:i]]


def with_env_keys(validate: Callable[[Namespace], Any], env: Mapping[str, str]) -> Callable[[Namespace], Any]:
    """vLLM's validate_parsed_serve_args, first filling `args.api_key` from `env` (an --api-key
    in the arguments wins, as it does over VLLM_API_KEY in vLLM itself)."""

    def validate_parsed_serve_args(args: Namespace) -> Any:
        if not getattr(args, "api_key", None):
            args.api_key = keys_from_env(env) or None
        return validate(args)

    validate_parsed_serve_args.aitk_keys = True  # type: ignore[attr-defined]
    return validate_parsed_serve_args


def install(env: Mapping[str, str] | None = None) -> None:
    """Hook the keys into vLLM's argument check, which its server's main() imports when it runs
    (vllm/entrypoints/launchers/api_server/entry.py). Idempotent."""
    from vllm.entrypoints.launchers import cli_args

    if getattr(cli_args.validate_parsed_serve_args, "aitk_keys", False):
        return
    hooked = with_env_keys(cli_args.validate_parsed_serve_args, os.environ if env is None else env)
    setattr(cli_args, "validate_parsed_serve_args", hooked)  # noqa: B010  (mypy: a function replaced)


def run() -> None:
    install()
    sys.argv[0] = VLLM_SERVER_MODULE
    runpy.run_module(VLLM_SERVER_MODULE, run_name="__main__", alter_sys=False)


if __name__ == "__main__":
    run()
