"""The pure decisions behind issue 13: resource group names, which group provision targets,
next steps, deployment progress lines, probe noise in the log, and network failures."""

import json
import shlex
from types import SimpleNamespace

import pytest
from azext_aitk.core import names, next_steps
from azext_aitk.core.errors import InvalidNameError
from azext_aitk.core.monitor import console_log
from azext_aitk.core.provision import deployment_progress, target


@pytest.mark.parametrize("name", ["a", "my-rg", "rg_1.(test)", "grupo-ñandú", "资源组", "x" * 90])
def test_valid_resource_group_names(name):
    assert names.resource_group_problem(name) is None and names.check_resource_group(name) == name


@pytest.mark.parametrize(
    "name, why", [("", "empty"), ("x" * 91, "91"), ("a b", "' '"), ("rg!", "'!'"), ("rg.", "period"), ("a/b", "'/'")]
)
def test_invalid_resource_group_names(name, why):
    with pytest.raises(InvalidNameError) as e:
        names.check_resource_group(name, "infra/finetuning.config.json")
    assert why in str(e.value) and "infra/finetuning.config.json" in str(e.value)


def test_command_and_curl_paste_as_one_word_each():
    assert shlex.split(names.command("az", "group", "create", "-n", "rg (1)")) == [
        "az",
        "group",
        "create",
        "-n",
        "rg (1)",
    ]
    line = names.curl_chat("https://h/", "m'odel")
    words = shlex.split(line.split(" | ", 1)[1])
    assert words[:5] == ["curl", "-fsS", "https://h/v1/chat/completions", "-H", "@-"]
    assert json.loads(words[-1])["model"] == "m'odel"
    assert "$AITK_API_KEY" in line and "Bearer" not in " ".join(words)  # the key is not on curl's line


INF = {"RESOURCE_GROUP_NAME": "rg-inf", "SUBSCRIPTION_ID": "sub-inf"}
FT = {"RESOURCE_GROUP_NAME": "rg-ft", "SUBSCRIPTION_ID": "sub-ft"}


@pytest.mark.parametrize(
    "flag, default, inf, ft, expected",
    [
        ("rg-flag", "rg-def", INF, FT, ("rg-flag", "sub-ft", target.FROM_FLAG)),
        ("rg-inf", "rg-def", INF, FT, ("rg-inf", "sub-inf", target.FROM_FLAG)),
        (None, "rg-def", INF, FT, ("rg-inf", "sub-inf", target.FROM_INFERENCE_CONFIG)),
        (None, "rg-def", {}, FT, ("rg-ft", "sub-ft", target.FROM_FINETUNING_CONFIG)),
        (None, "rg-def", {}, {}, ("rg-def", None, target.FROM_AZ_DEFAULTS)),
        (None, None, {"RESOURCE_GROUP_NAME": " "}, {}, (None, None, None)),
    ],
)
def test_target_order(flag, default, inf, ft, expected):
    t = target.resolve(flag, default, inf, ft)
    assert (t.resource_group, t.subscription, t.source) == expected


def test_next_steps_quote_the_workspace():
    lines = next_steps.after("deploy", "/tmp/my ws")
    assert lines[0] == "Next:" and all("--workspace '/tmp/my ws'" in line for line in lines[1:])
    assert "provision -g my-rg" in "".join(next_steps.after("init"))
    assert "provision -g" not in "".join(next_steps.after("init", group_known=True))
    assert next_steps.after("status") == []


def test_deployment_progress_reports_each_resource_once():
    def op(state, rtype, name):
        return SimpleNamespace(
            properties=SimpleNamespace(
                provisioning_state=state,
                target_resource=SimpleNamespace(resource_type=rtype, resource_name=name) if rtype else None,
            )
        )

    seen = set()
    ops = [op("Succeeded", "Microsoft.Storage/storageAccounts", "s"), op("Running", "Microsoft.App/containerApps", "a")]
    assert deployment_progress.completed(ops, seen) == [("Microsoft.Storage/storageAccounts s", "Succeeded")]
    ops[1] = op("Failed", "Microsoft.App/containerApps", "a")
    dict_op = {"properties": {"provisioningState": "Succeeded", "targetResource": None}}
    assert deployment_progress.completed(ops + [dict_op], seen) == [("Microsoft.App/containerApps a", "Failed")]
    assert deployment_progress.line("x", "Succeeded", 12.4) == "  (  12 s) x: done"
    link = deployment_progress.portal_link("https://portal.azure.com/", "/subscriptions/s/x")
    assert link.endswith("/overview/id/%2Fsubscriptions%2Fs%2Fx") and deployment_progress.portal_link(None, "x") is None


@pytest.mark.parametrize(
    "line, noise",
    [
        ('INFO:     10.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK', True),
        ('127.0.0.1 - - [01/Jan/2026 00:00:00] "GET /ping HTTP/1.0" 204 -', True),
        ('INFO:     10.0.0.1:5000 - "GET /health HTTP/1.1" 503 Service Unavailable', False),
        ('INFO:     10.0.0.1:5000 - "POST /v1/chat/completions HTTP/1.1" 200 OK', False),
        ("INFO: /health answered 200 after start-up", False),
    ],
)
def test_probe_noise(line, noise):
    assert console_log.is_probe_noise(line) is noise


def test_connection_refused_becomes_one_line():
    import requests
    from azext_aitk._exception_handler import exception_handler
    from azure.cli.core.azclierror import AzureConnectionError

    raw = requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='127.0.0.1', port=9): Max retries exceeded (Connection refused)"
    )
    try:
        try:
            raise raw
        except requests.exceptions.ConnectionError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as wrapped:
        with pytest.raises(AzureConnectionError) as e:
            exception_handler(wrapped)
    assert str(e.value) == "could not reach Azure (127.0.0.1:9): the connection was refused"
    with pytest.raises(ValueError):
        exception_handler(ValueError("other"))
