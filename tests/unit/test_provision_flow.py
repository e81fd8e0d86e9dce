"""provision's orchestration with Azure replaced by fakes: which template, which parameters
(user's, computed, *Exists flags, API key reuse), and the config file written from the outputs."""

import json
from types import SimpleNamespace

import pytest
from azext_aitk._exception_handler import exception_handler
from azext_aitk.azure import resource_group
from azext_aitk.core import gpu_profiles
from azext_aitk.core import workspace as w
from azext_aitk.core.init import shipped_templates
from azext_aitk.operations import provision as _provision

TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {
        n: {"type": t}
        for n, t in {
            "location": "string",
            "storageAccountName": "string",
            "fileShareName": "string",
            "acaEnvironmentName": "string",
            "acaEnvironmentStorageName": "string",
            "acaAppName": "string",
            "acaLogAnalyticsName": "string",
            "defaultCommands": "array",
            "maximumInstanceCount": "int",
            "apiKey": "securestring",
            "apiKeySecondary": "securestring",
            "workloadProfileName": "string",
            "workloadProfileType": "string",
            "cpu": "string",
            "memory": "string",
            "minReplicas": "int",
            "scaleConcurrentRequests": "int",
            "storageAccountExists": "bool",
            "fileShareExists": "bool",
            "acaEnvironmentExists": "bool",
            "acaLogAnalyticsExists": "bool",
        }.items()
    }
    | {"image": {"type": "string", "defaultValue": "vllm/vllm-openai:v0.32.0"}},
    "resources": [],
    "outputs": {},
}
BICEP = "param location string = resourceGroup().location\n"


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    d = tmp_path / "templates"
    d.mkdir()
    (d / "inference.bicep").write_text(BICEP)
    (d / "inference.json").write_text(json.dumps(TEMPLATE))
    (d / "inference.parameters.json").write_text(
        json.dumps(
            {
                "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
                "contentVersion": "1.0.0.0",
                "parameters": {
                    "storageAccountName": {"value": None},
                    "fileShareName": {"value": None},
                    "acaAppName": {"value": None},
                    "maximumInstanceCount": {"value": 1},
                },
            }
        )
    )
    monkeypatch.setattr(shipped_templates, "BICEP", d / "inference.bicep")
    monkeypatch.setattr(shipped_templates, "ARM_JSON", d / "inference.json")
    monkeypatch.setattr(shipped_templates, "PARAMETERS", d / "inference.parameters.json")
    return d


class FakeAzure:
    def __init__(self, monkeypatch, existing=None, app=None, model=None):
        self.deployed = []
        self.existing = existing or {}
        self.app = app
        self.region_checks = []  # (location, profile key) provision asked about
        import azure.cli.command_modules.resource.custom as rc
        import azure.cli.core._profile as profile
        import azure.cli.core.commands.client_factory as cf

        monkeypatch.setattr(cf, "get_subscription_id", lambda ctx: ctx.data.get("subscription_id") or "sub-default")
        monkeypatch.setattr(
            profile,
            "Profile",
            lambda cli_ctx: SimpleNamespace(get_subscription=lambda sub: {"id": sub}),  # every one is visible
        )
        self.group = SimpleNamespace(location="westus3")  # None: the group does not exist
        monkeypatch.setattr(_provision.resource_group, "find", lambda *a: self.group)
        self.created_groups = []
        monkeypatch.setattr(
            _provision.resource_group, "create", lambda ctx, sub, group, loc: self.created_groups.append((group, loc))
        )
        monkeypatch.setattr(_provision.resource_group, "check_providers", lambda *a: None)
        monkeypatch.setattr(
            _provision.storage_account, "exists", lambda *a: bool(self.existing.get("storageAccountExists"))
        )
        monkeypatch.setattr(_provision.storage_account, "resource_group_of", lambda *a: None)
        monkeypatch.setattr(_provision, "existing_resources", self._existing)
        self.finetuning_env = None  # no fine-tuning environment unless a test sets one
        monkeypatch.setattr(_provision, "finetuning_environment", lambda *a: self.finetuning_env)
        monkeypatch.setattr(
            _provision,
            "existing_app",
            lambda ctx, sub, group, name: (
                ((*self.app, None, None) if self.app else ({}, None, None, None)) if name else ({}, None, None, None)
            ),
        )
        monkeypatch.setattr(_provision, "find_base_model", lambda *a, **k: model)
        monkeypatch.setattr(
            _provision, "check_region", lambda ctx, sub, loc, profile: self.region_checks.append((loc, profile.key))
        )
        monkeypatch.setattr(rc, "deploy_arm_template_at_resource_group", self._deploy)
        monkeypatch.setattr(_provision.deployments, "operations", lambda *a: [])

    def _existing(self, ctx, sub, group, names):
        self.names = names
        return {
            k: bool(self.existing.get(k))
            for k in ("storageAccountExists", "fileShareExists", "acaEnvironmentExists", "acaLogAnalyticsExists")
        }

    def _deploy(self, cmd, resource_group_name, template_file, parameters, deployment_name, no_wait, no_prompt):
        params = json.loads(parameters[0][0])
        self.deployed.append((resource_group_name, template_file, params))
        v = {k: e["value"] for k, e in params.items()}
        outputs = {
            "SUBSCRIPTION_ID": "sub-ft",
            "RESOURCE_GROUP_NAME": resource_group_name,
            "STORAGE_ACCOUNT_NAME": v.get("storageAccountName", "aitkstore1"),
            "FILE_SHARE_NAME": v.get("fileShareName", "aitkshare"),
            "ACA_APP_NAME": v.get("acaAppName", "aitk-app-abcde"),
            "ACA_APP_ENDPOINT": "https://app.example",
        }
        deployment = SimpleNamespace(
            properties=SimpleNamespace(outputs={k: {"type": "String", "value": x} for k, x in outputs.items()})
        )
        # an azure-core LROPoller that has finished (provision watches it with done/wait/result)
        return SimpleNamespace(done=lambda: True, wait=lambda timeout=None: None, result=lambda: deployment)


def _run(fn, *args, **kwargs):
    """Call a command function as az does: its errors go through the group's exception handler."""
    try:
        return fn(*args, **kwargs)
    except Exception as ex:  # pylint: disable=broad-except
        return exception_handler(ex)


def _provision_run(cmd, **kwargs):
    return _run(_provision.inference_provision, cmd, **kwargs)


def _cmd():
    return SimpleNamespace(
        cli_ctx=SimpleNamespace(
            data={},
            config=SimpleNamespace(get=lambda *a, **k: None),
            cloud=SimpleNamespace(endpoints=SimpleNamespace(portal="https://portal.example")),
        )
    )


def _finetuning(ws):
    w.write_json_atomic(
        ws / "infra" / "finetuning.config.json",
        {
            "SUBSCRIPTION_ID": "sub-ft",
            "RESOURCE_GROUP_NAME": "rg-ft",
            "STORAGE_ACCOUNT_NAME": "ftstore",
            "FILE_SHARE_NAME": "ftshare",
            "ACA_JOB_NAME": "job",
            "COMMANDS": [],
        },
    )


def test_first_provision_in_a_finetuning_workspace(tmp_path, shipped, monkeypatch):
    _finetuning(tmp_path)
    fake = FakeAzure(monkeypatch, existing={"storageAccountExists": True, "fileShareExists": True})
    result = _provision_run(_cmd(), workspace=str(tmp_path))
    group, template, params = fake.deployed[0]
    assert group == "rg-ft" and template == str(shipped / "inference.json")
    v = {k: e["value"] for k, e in params.items()}
    assert v["storageAccountName"] == "ftstore" and v["fileShareName"] == "ftshare"
    assert "acaAppName" not in v  # null: the template's default name
    assert v["storageAccountExists"] and v["fileShareExists"]
    assert not v["acaEnvironmentExists"] and not v["acaLogAnalyticsExists"]
    assert v["minReplicas"] == 0 and v["maximumInstanceCount"] == 1
    t4 = gpu_profiles.get("T4")
    assert (v["workloadProfileType"], v["cpu"], v["memory"]) == (t4.workload_profile_type, t4.cpu, t4.memory)
    assert v["apiKey"].startswith("aitk-")
    cfg = w.Workspace(tmp_path).read_inference_config()
    assert cfg["ACA_APP_ENDPOINT"] == "https://app.example" and cfg["STORAGE_ACCOUNT_NAME"] == "ftstore"
    assert "apiKey" not in json.dumps(result) and v["apiKey"] not in json.dumps(result)


def test_reprovision_reuses_the_key_and_the_profile(tmp_path, shipped, monkeypatch):
    _finetuning(tmp_path)
    FakeAzure(monkeypatch)
    _provision_run(_cmd(), workspace=str(tmp_path), gpu_profile="A100")
    keys = {"primary": "aitk-existing-key", "secondary": "aitk-existing-second"}
    fake = FakeAzure(monkeypatch, app=(keys, gpu_profiles.get("A100")))
    _provision_run(_cmd(), workspace=str(tmp_path))
    v = {k: e["value"] for k, e in fake.deployed[0][2].items()}
    assert v["apiKey"] == "aitk-existing-key" and v["apiKeySecondary"] == "aitk-existing-second"
    # An app from before the secondary key keeps its key and gets a new secondary.
    fake = FakeAzure(monkeypatch, app=({"primary": "aitk-existing-key", "secondary": None}, gpu_profiles.get("A100")))
    _provision_run(_cmd(), workspace=str(tmp_path))
    v = {k: e["value"] for k, e in fake.deployed[0][2].items()}
    assert v["apiKey"] == "aitk-existing-key" and v["apiKeySecondary"].startswith("aitk-")
    assert v["apiKeySecondary"] != v["apiKey"]
    assert v["workloadProfileType"] == "Consumption-GPU-NC24-A100"


def test_flags_beat_parameters_beat_the_file(tmp_path, shipped, monkeypatch):
    fake = FakeAzure(monkeypatch)
    _provision_run(
        _cmd(),
        workspace=str(tmp_path),
        resource_group_name="rg1",
        location="swedencentral",
        parameters=[["maximumInstanceCount=4", "acaAppName=my-llm"]],
        max_replicas=2,
        min_replicas=1,
        image="example.io/vllm:1",
        gpu_profile="NC48-A100",
        scale_concurrency=3,
        yes=True,  # the always-on cost of --min-replicas 1
    )
    v = {k: e["value"] for k, e in fake.deployed[0][2].items()}
    assert v["maximumInstanceCount"] == 2 and v["minReplicas"] == 1 and v["acaAppName"] == "my-llm"
    assert v["scaleConcurrentRequests"] == 3  # --scale-concurrency
    assert v["location"] == "swedencentral" and v["image"] == "example.io/vllm:1"
    assert (v["workloadProfileType"], v["cpu"], v["memory"]) == ("NC48-A100", "48.0", "440Gi")


def test_edited_bicep_is_deployed_as_bicep(tmp_path, shipped, monkeypatch):
    fake = FakeAzure(monkeypatch)
    bicep = tmp_path / "infra" / "provision" / "inference.bicep"
    bicep.parent.mkdir(parents=True)
    bicep.write_text(BICEP.replace("\n", "\r\n"))  # same text, other line endings: shipped JSON
    _provision_run(_cmd(), workspace=str(tmp_path), resource_group_name="rg1")
    assert fake.deployed[-1][1] == str(shipped / "inference.json")
    bicep.write_text(
        BICEP + "param storageAccountName string = 'x'\nparam fileShareName string = 'x'\n"
        "param acaAppName string = 'x'\nparam maximumInstanceCount int = 1\nparam extra int = 1\n"
    )
    # an edited template is shown and needs a yes: no terminal to ask, one line, nothing deployed
    from azure.cli.core.azclierror import NoTTYError

    deployed = len(fake.deployed)
    with pytest.raises(NoTTYError, match="inference.bicep differs from the template aitk ships") as e:
        _provision_run(_cmd(), workspace=str(tmp_path), resource_group_name="rg1")
    assert "\n" not in str(e.value) and len(fake.deployed) == deployed
    _provision_run(_cmd(), workspace=str(tmp_path), resource_group_name="rg1", yes=True)
    assert fake.deployed[-1][1] == str(bicep)
    # only what it declares: no apiKey, no *Exists, no profile parameters
    assert set(fake.deployed[-1][2]) == {"maximumInstanceCount"}


def test_existing_environment_gets_a_serverless_profile_added_or_a_clear_refusal(tmp_path, shipped, monkeypatch):
    fake = FakeAzure(monkeypatch, existing={"acaEnvironmentExists": True})
    monkeypatch.setattr(
        _provision,
        "environment_profiles",
        lambda *a: [("Consumption", "Consumption"), ("gpu", "Consumption-GPU-NC8as-T4")],
    )
    added = []
    monkeypatch.setattr(
        _provision.managed_environment, "add_workload_profile", lambda ctx, sub, group, env, p: added.append((env, p))
    )
    _provision_run(
        _cmd(), workspace=str(tmp_path), resource_group_name="rg1", parameters=[["acaEnvironmentName=myenv"]]
    )
    v = {k: e["value"] for k, e in fake.deployed[-1][2].items()}
    assert v["workloadProfileName"] == "gpu" and v["acaEnvironmentExists"] is True
    assert v["acaLogAnalyticsExists"] is True  # the environment keeps its own logs
    assert added == []
    # A serverless profile the environment lacks is added first, then the app runs on it.
    _provision_run(
        _cmd(),
        workspace=str(tmp_path),
        resource_group_name="rg1",
        gpu_profile="A100",
        parameters=[["acaEnvironmentName=myenv"]],
    )
    assert [(env, p.workload_profile_type) for env, p in added] == [("myenv", "Consumption-GPU-NC24-A100")]
    v = {k: e["value"] for k, e in fake.deployed[-1][2].items()}
    assert v["workloadProfileName"] == added[0][1].workload_profile_name
    # A dedicated GPU profile cannot be added to an existing environment: one error, nothing deployed.
    from azure.cli.core.azclierror import ValidationError

    deployed = len(fake.deployed)
    with pytest.raises(ValidationError, match="only be added when an environment is created"):
        _provision_run(
            _cmd(),
            workspace=str(tmp_path),
            resource_group_name="rg1",
            gpu_profile="NC48-A100",
            parameters=[["acaEnvironmentName=myenv"]],
        )
    assert len(fake.deployed) == deployed and len(added) == 1


def test_unregistered_provider_says_how_to_register(monkeypatch):
    from azext_aitk import _client_factory
    from azure.cli.core.azclierror import ValidationError

    fake = SimpleNamespace(
        providers=SimpleNamespace(get=lambda ns: SimpleNamespace(registration_state="NotRegistered"))
    )
    monkeypatch.setattr(_client_factory, "cf_resources", lambda *a: fake)
    with pytest.raises(ValidationError) as e:
        _run(resource_group.check_providers, None, "sub")
    assert "Microsoft.App" in str(e.value) and "az provider register -n Microsoft.App" in e.value.recommendations[0]


def test_missing_resource_group_without_a_location_is_resource_not_found(tmp_path, shipped, monkeypatch):
    from azure.cli.core import azclierror

    fake = FakeAzure(monkeypatch)
    fake.group = None
    with pytest.raises(azclierror.ResourceNotFoundError, match="resource group 'rg9' does not exist"):
        _provision_run(_cmd(), workspace=str(tmp_path), resource_group_name="rg9")
    assert fake.created_groups == [] and fake.deployed == []
    # with a location the region is checked first, then the group made, then the deployment runs
    _provision_run(_cmd(), workspace=str(tmp_path), resource_group_name="rg9", location="westus3")
    assert fake.region_checks == [("westus3", "T4")] and fake.created_groups == [("rg9", "westus3")]
    assert len(fake.deployed) == 1


def test_nothing_changes_in_azure_before_the_config_is_known_writable(tmp_path, shipped, monkeypatch):
    """issue 22: the GPU profile was added to the existing environment (a PATCH) before provision
    checked that it could write infra/inference.config.json."""
    from azure.cli.core import azclierror

    fake = FakeAzure(monkeypatch, existing={"acaEnvironmentExists": True})
    monkeypatch.setattr(_provision, "environment_profiles", lambda *a: [("Consumption", "Consumption")])
    added = []
    monkeypatch.setattr(_provision.managed_environment, "add_workload_profile", lambda *a: added.append(a))
    (tmp_path / "infra" / "inference.config.json").mkdir(parents=True)  # a folder where the file goes
    with pytest.raises(azclierror.AzCLIError, match="inference.config.json"):
        _provision_run(
            _cmd(), workspace=str(tmp_path), resource_group_name="rg1", parameters=[["acaEnvironmentName=myenv"]]
        )
    assert added == [] and fake.deployed == [] and fake.created_groups == []


def _llama(tmp_path):
    from aitk_serve import fit
    from azext_aitk.core.provision import profile_fit

    from aitk_testkit import real_models as rm

    config, shards = rm.MODELS["Meta-Llama-3-8B"]
    folder = rm.write_sparse_model(tmp_path / "llama", config, shards)
    return profile_fit.ModelFacts("the share's model-cache/meta/llama", config, fit.read_headers_from_dir(str(folder)))


def test_the_model_picks_the_profile_and_the_region_is_checked_before_deploying(tmp_path, shipped, monkeypatch):
    fake = FakeAzure(monkeypatch, model=_llama(tmp_path))
    result = _provision_run(_cmd(), workspace=str(tmp_path / "ws"), resource_group_name="rg1")
    v = {k: e["value"] for k, e in fake.deployed[-1][2].items()}
    assert v["workloadProfileType"] == "Consumption-GPU-NC24-A100"  # 8 B parameters: not on a T4
    assert result["modelFit"]["gpuProfile"] == "A100" and result["modelFit"]["maxModelLen"] == 8192
    assert fake.region_checks == [("westus3", "A100")]  # the resource group's region


def test_a_profile_the_model_cannot_fit_is_refused_before_anything_is_deployed(tmp_path, shipped, monkeypatch):
    from azure.cli.core.azclierror import ValidationError

    fake = FakeAzure(monkeypatch, model=_llama(tmp_path))
    with pytest.raises(ValidationError, match=r"does not fit T4 \(--gpu-profile\).*would fit: A100") as e:
        _provision_run(_cmd(), workspace=str(tmp_path / "ws"), resource_group_name="rg1", gpu_profile="T4")
    assert "\n" not in str(e.value)
    assert fake.deployed == [] and fake.region_checks == []
