"""Help for every command, as a user asks for it."""

import pytest

COMMANDS = ["init", "provision", "deploy", "endpoint", "wait"]


def test_group_help_lists_every_command(az):
    proc = az("aitk", "inference", "--help")
    assert proc.returncode == 0, proc.stderr
    for c in COMMANDS:
        assert c in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_has_examples(az, command):
    proc = az("aitk", "inference", command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Examples" in proc.stdout
    assert f"az aitk inference {command}" in proc.stdout
    # no example line was wrapped by az's help renderer (they must paste as they are)
    examples = proc.stdout.split("Examples", 1)[1]
    assert all(len(line) <= 100 for line in examples.splitlines())


def test_endpoint_help_has_ready_to_paste_curl_and_openai_examples(az):
    out = az("aitk", "inference", "endpoint", "--help").stdout
    assert 'curl -fsS "$URL/v1/chat/completions" -H @- <<< "Authorization: Bearer $KEY"' in out
    assert "export AITK_API_KEY=$(az aitk inference endpoint --show-key --query apiKey -o tsv)" in out
    assert "from openai import OpenAI" in out and "client.chat.completions.create(" in out


def test_provision_help_documents_the_arguments(az):
    out = az("aitk", "inference", "provision", "--help").stdout
    for arg in (
        "--resource-group -g",
        "--location -l",
        "--parameters -p",
        "--gpu-profile",
        "--min-replicas",
        "--max-replicas",
        "--image",
        "--what-if",
        "--no-wait",
    ):
        assert arg in out
    for profile in ("T4", "A100", "NC24-A100", "NC48-A100", "NC96-A100"):
        assert profile in out
