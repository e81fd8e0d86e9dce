"""core/provision_plan.plan: the parameters provision deploys, decided from plain values."""

import pytest
from azext_aitk.core import gpu_profiles
from azext_aitk.core import workspace as w
from azext_aitk.core.errors import EnvironmentProfileError
from azext_aitk.core.provision import provision_plan

# The shipped template's parameters (types as template_parameter_types gives them).
TYPES = {
    n: t
    for n, t in {
        "location": "string",
        "storageAccountName": "string",
        "fileShareName": "string",
        "acaEnvironmentName": "string",
        "acaAppName": "string",
        "maximumInstanceCount": "int",
        "apiKey": "securestring",
        "apiKeySecondary": "securestring",
        "image": "string",
        "workloadProfileName": "string",
        "workloadProfileType": "string",
        "cpu": "string",
        "memory": "string",
        "minReplicas": "int",
        "workloadProfileDedicated": "bool",
        "storageAccountExists": "bool",
        "fileShareExists": "bool",
        "acaEnvironmentExists": "bool",
        "acaLogAnalyticsExists": "bool",
    }.items()
}


def _values(p):
    return {k: e["value"] for k, e in p.parameters.items()}


def _no_key():
    raise AssertionError("a key was made although the app has one")


def test_new_app_gets_a_new_key_the_default_profile_and_scale_to_zero():
    p = provision_plan.plan({}, TYPES, new_key=lambda: "aitk-new")
    v = _values(p)
    t4 = gpu_profiles.get("T4")
    assert p.new_key and v["apiKey"] == "aitk-new"
    assert p.profile == t4 and (v["workloadProfileType"], v["cpu"], v["memory"]) == (
        t4.workload_profile_type,
        t4.cpu,
        t4.memory,
    )
    assert v["workloadProfileDedicated"] is False
    assert v["minReplicas"] == 0 and v["maximumInstanceCount"] == 1


def test_the_apps_key_and_profile_are_kept():
    a100 = gpu_profiles.get("A100")
    p = provision_plan.plan(
        {}, TYPES, existing_key="aitk-old", existing_secondary_key="aitk-old-2", current_profile=a100, new_key=_no_key
    )
    assert not p.new_key and _values(p)["apiKey"] == "aitk-old" and _values(p)["apiKeySecondary"] == "aitk-old-2"
    assert p.profile == a100 and _values(p)["workloadProfileType"] == "Consumption-GPU-NC24-A100"


def test_profile_precedence_flag_then_parameters_then_the_app():
    current = gpu_profiles.get("A100")
    entries = {"workloadProfileType": {"value": "NC48-A100"}}
    by_params = provision_plan.plan(entries, TYPES, existing_key="k", current_profile=current)
    assert by_params.profile.key == "NC48-A100" and _values(by_params)["cpu"] == "48.0"
    by_flag = provision_plan.plan(entries, TYPES, existing_key="k", current_profile=current, gpu_profile="t4")
    assert by_flag.profile.key == "T4" and _values(by_flag)["workloadProfileType"] == "Consumption-GPU-NC8as-T4"


def test_a_computed_profile_fills_in_only_what_the_parameters_leave_out():
    entries = {"cpu": {"value": "4.0"}}
    v = _values(provision_plan.plan(entries, TYPES, existing_key="k"))
    assert v["cpu"] == "4.0" and v["memory"] == gpu_profiles.get("T4").memory


def test_an_unknown_workload_profile_type_is_left_as_the_user_gave_it():
    entries = {"workloadProfileType": {"value": "Custom-GPU"}}
    p = provision_plan.plan(entries, TYPES, existing_key="k", current_profile=gpu_profiles.get("A100"))
    v = _values(p)
    assert p.profile is None and v["workloadProfileType"] == "Custom-GPU" and "cpu" not in v


def test_replica_flags_win_and_defaults_fill_in():
    entries = {"maximumInstanceCount": {"value": 4}, "minReplicas": {"value": 2}}
    kept = _values(provision_plan.plan(entries, TYPES, existing_key="k"))
    assert kept["maximumInstanceCount"] == 4 and kept["minReplicas"] == 2
    flags = _values(provision_plan.plan(entries, TYPES, existing_key="k", min_replicas=1, max_replicas=2))
    assert flags["maximumInstanceCount"] == 2 and flags["minReplicas"] == 1


def test_location_image_and_exists_flags_are_set():
    exists = {
        "storageAccountExists": True,
        "fileShareExists": True,
        "acaEnvironmentExists": False,
        "acaLogAnalyticsExists": False,
    }
    v = _values(
        provision_plan.plan(
            {}, TYPES, existing_key="k", location="swedencentral", image="example.io/vllm:1", exists=exists
        )
    )
    assert v["location"] == "swedencentral" and v["image"] == "example.io/vllm:1"
    assert {n: v[n] for n in exists} == exists


def test_only_parameters_the_template_declares():
    types = {"maximumInstanceCount": "int", "extra": "int"}
    p = provision_plan.plan(
        {"maximumInstanceCount": {"value": 3}},
        types,
        new_key=lambda: "aitk-new",
        exists={"acaEnvironmentExists": True},
        location="westus3",
    )
    assert p.parameters == {"maximumInstanceCount": {"value": 3}}


def test_an_existing_environment_gets_its_own_profile_name_or_the_serverless_one_added():
    entries = {"acaEnvironmentName": {"value": "myenv"}}
    exists = {"acaEnvironmentExists": True}
    p = provision_plan.plan(
        entries,
        TYPES,
        existing_key="k",
        exists=exists,
        environment_profiles=lambda: [("Consumption", "Consumption"), ("gpu", "Consumption-GPU-NC8as-T4")],
    )
    assert _values(p)["workloadProfileName"] == "gpu" and p.add_profile is None
    p = provision_plan.plan(
        entries,
        TYPES,
        existing_key="k",
        exists=exists,
        gpu_profile="A100",
        environment_profiles=lambda: [("Consumption", "Consumption"), ("gpu-a100", "D4")],
    )
    assert p.add_profile is not None and p.add_profile.workload_profile_type == "Consumption-GPU-NC24-A100"
    # the profile's usual name is taken by another profile: it gets a free one
    assert p.add_profile.workload_profile_name == _values(p)["workloadProfileName"] == "gpu-a100-1"
    with pytest.raises(EnvironmentProfileError, match="no NC48-A100 workload profile") as e:
        provision_plan.plan(
            entries,
            TYPES,
            existing_key="k",
            exists=exists,
            gpu_profile="NC48-A100",
            environment_profiles=lambda: [("Consumption", "Consumption"), ("GPU", "NC24-A100")],
        )
    assert "(it has: Consumption (Consumption), GPU (NC24-A100))" in str(e.value)
    assert "only be added when an environment is created" in str(e.value)
    assert "`--gpu-profile NC24-A100`" in e.value.recommendation
    assert "acaEnvironmentName=<new name>" in e.value.recommendation
    assert e.value.az_error == "ValidationError"


def test_environment_profiles_are_read_only_for_an_existing_environment():
    def unexpected():
        raise AssertionError("read the profiles of an environment that does not exist")

    entries = {"acaEnvironmentName": {"value": "newenv"}}
    p = provision_plan.plan(
        entries, TYPES, existing_key="k", exists={"acaEnvironmentExists": False}, environment_profiles=unexpected
    )
    assert _values(p)["workloadProfileName"] == gpu_profiles.get("T4").workload_profile_name
    unknown = provision_plan.plan(
        entries, TYPES, existing_key="k", exists={"acaEnvironmentExists": True}, environment_profiles=lambda: None
    )
    assert _values(unknown)["workloadProfileName"] == gpu_profiles.get("T4").workload_profile_name


def test_app_to_reuse(tmp_path):
    ws = w.Workspace(tmp_path)
    assert provision_plan.app_to_reuse({"acaAppName": "named"}, ws, "rg", "sub") == "named"
    assert provision_plan.app_to_reuse({}, ws, "rg", "sub") is None  # no config yet
    ws.write_inference_config(
        {
            "SUBSCRIPTION_ID": "sub",
            "RESOURCE_GROUP_NAME": "rg",
            "STORAGE_ACCOUNT_NAME": "s",
            "FILE_SHARE_NAME": "f",
            "ACA_APP_NAME": "mine",
            "ACA_APP_ENDPOINT": "https://x",
        }
    )
    assert provision_plan.app_to_reuse({}, ws, "rg", "sub") == "mine"
    assert provision_plan.app_to_reuse({}, ws, "other-rg", "sub") is None
    assert provision_plan.app_to_reuse({}, ws, "rg", "other-sub") is None
