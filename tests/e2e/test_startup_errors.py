"""Issue 23, "Start-up failures that say why", as a user meets it: the real az, the real launcher
and vLLM on CPU behind the stand-in. A `vllm_args` vLLM does not know passes deploy's local checks
(only vLLM knows its flags); the replica then exits 2 after vLLM's usage text. `deploy`, `status`
and `chat` name vLLM's own line ("unrecognized arguments: --no-such-flag"), not only the exit code,
and chat's wake ends as soon as the start-up failure is known instead of waiting out --wait."""

import json

import pytest

from aitk_testkit.az_harness import one_error
from aitk_testkit.scenario import RESOURCE_GROUP, seed_finetuning_leftovers

from .conftest import signed_in_world

pytestmark = pytest.mark.slow

VLLM_LINE = "unrecognized arguments: --no-such-flag"


@pytest.fixture(scope="module")
def broken(tmp_path_factory, aitk_wheel):
    """init, a serve.json with a flag vLLM does not know, provision (scale to zero)."""
    yield from signed_in_world(tmp_path_factory, aitk_wheel, "e2e-startup", seed_finetuning_leftovers)


def test_a_bad_vllm_arg_is_named_by_deploy_status_and_chat(broken):
    az, ws = broken.az, broken.workspace
    az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
    serve_path = ws / "inference" / "serve.json"
    serve = json.loads(serve_path.read_text())
    serve["vllm_args"] = [*serve.get("vllm_args", []), "--no-such-flag"]
    serve_path.write_text(json.dumps(serve, indent=2))
    az.run("aitk", "inference", "provision", "-g", RESOURCE_GROUP, "-o", "none", cwd=ws)

    deploy = az("aitk", "inference", "deploy", "--timeout", "1200", cwd=ws, timeout=1300)
    error = one_error(deploy, VLLM_LINE, in_line=True)
    assert "did not start" in error

    status = json.loads(az.run("aitk", "inference", "status", "-o", "json", cwd=ws, capture=True).stdout)
    assert VLLM_LINE in (status.get("startupError") or "") + (status.get("error") or ""), status

    # the default --wait is 900 s: the failure, known from the system log, ends it long before
    chat = az("aitk", "inference", "chat", "--message", "hi", cwd=ws, timeout=600)
    one_error(chat, VLLM_LINE, in_line=True)
