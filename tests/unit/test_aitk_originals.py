"""AI Toolkit's original inference files (tests/fixtures/aitk_workspaces, written from the
configs of microsoft/windows-ai-studio-templates) are recognised by content and migrated by init."""

import json
import shutil
from pathlib import Path

import pytest
from azext_aitk.azure import resource_ids
from azext_aitk.core import gpu_profiles
from azext_aitk.core import workspace as w
from azext_aitk.core.delete import teardown_plan
from azext_aitk.core.errors import EnvironmentProfileError, WorkspaceError
from azext_aitk.core.init import aitk_originals, init_files, shipped_templates
from azext_aitk.core.provision import finetuning_reuse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aitk_workspaces"
CONFIGS = ["Phi-3-mini-4k-instruct", "llama-v3-8b", "Phi-3-mini-4k-instruct-finetuned"]


def _copy(config, tmp_path):
    dest = tmp_path / config
    shutil.copytree(FIXTURES / config, dest)
    return w.Workspace(dest)


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


@pytest.mark.parametrize("config", CONFIGS)
def test_the_originals_are_found_by_content(config, tmp_path):
    ws = _copy(config, tmp_path)
    assert [o.file for o in aitk_originals.find_originals(ws)] == [
        w.BICEP_FILE,
        w.PARAMETERS_FILE,
        w.INFERENCE_CONFIG_FILE,
    ]
    # by content, not by name: the same bicep under any name is the original; ours never is
    text = ws.bicep_file.read_text()
    assert aitk_originals.is_original_bicep(text)
    assert not aitk_originals.is_original_bicep(shipped_templates.BICEP.read_text())
    # a user's own port still leaves it AI Toolkit's; a template with two of its marks is not
    assert aitk_originals.is_original_bicep(text.replace("7860", "8000"))
    two_marks = text.replace("join(defaultCommands", "x(").replace("7860", "8000").replace("aiacaapp", "myapp")
    assert not aitk_originals.is_original_bicep(two_marks)
    before = _snapshot(ws.root)
    with pytest.raises(WorkspaceError, match="AI Toolkit's original inference files") as e:
        aitk_originals.check_migrated(ws)
    assert "az aitk inference init" in e.value.recommendation
    assert _snapshot(ws.root) == before


@pytest.mark.parametrize(
    "commands, shell",
    [
        (["python3", "-m", "aitk_serve"], False),
        (["python3", "/mount/fake_server.py"], False),
        (["/bin/bash", "-c", "cd /mount && python3 -m aitk_serve"], False),
        (["cd /mount", "python3 ./gradio_chat.py"], True),
        (["python3", "./gradio_chat.py"], True),
        ([], False),
        ("cd /mount", False),
    ],
)
def test_shell_lines_are_told_from_an_argv(commands, shell):
    assert aitk_originals.is_shell_command(commands) is shell


@pytest.mark.parametrize("config", CONFIGS)
def test_init_migrates_keeping_the_users_values(config, tmp_path):
    ws = _copy(config, tmp_path)
    params = json.loads(ws.parameters_file.read_text())
    params["parameters"]["location"] = {"value": "westus3"}
    params["parameters"]["acaAppName"] = {"value": "my-llm"}
    params["parameters"]["maximumInstanceCount"] = {"value": 3}
    ws.parameters_file.write_text(json.dumps(params))
    original = {rel: ws.path(rel).read_bytes() for rel in (w.BICEP_FILE, w.PARAMETERS_FILE, w.INFERENCE_CONFIG_FILE)}
    results = {r["file"]: r for r in init_files.init_workspace(ws)}
    for rel, content in original.items():
        assert results[rel]["action"] == "migrated"
        backup = ws.path(results[rel]["backup"])
        assert backup.read_bytes() == content and backup.parent == ws.path(rel).parent
        assert not backup.is_relative_to(ws.inference_dir)
    assert ws.bicep_file.read_bytes() == shipped_templates.BICEP.read_bytes()
    new = json.loads(ws.parameters_file.read_text())["parameters"]
    assert "defaultCommands" not in new
    assert new["location"] == {"value": "westus3"} and new["acaAppName"] == {"value": "my-llm"}
    assert new["maximumInstanceCount"] == {"value": 3} and new["storageAccountName"] == {"value": None}
    cfg = json.loads(ws.inference_config_file.read_text())
    assert "COMMANDS" not in cfg and set(cfg) == set(w.INFERENCE_CONFIG_KEYS)
    assert results[w.SERVE_FILE]["action"] == "created"
    assert aitk_originals.find_originals(ws) == []
    lines = [init_files.describe(r) for r in results.values()]
    assert all("\n" not in line for line in lines)
    assert any(line.startswith(f"Migrated {w.PARAMETERS_FILE}: dropped the Gradio start command") for line in lines)
    # a second init changes nothing more
    again = {r["file"]: r["action"] for r in init_files.init_workspace(ws)}
    assert again[w.BICEP_FILE] == "unchanged" and again[w.PARAMETERS_FILE] == "kept"


def test_a_provisioned_config_keeps_its_values_and_gets_a_url(tmp_path):
    ws = _copy("llama-v3-8b", tmp_path)
    cfg = json.loads(ws.inference_config_file.read_text())
    filled = {
        "SUBSCRIPTION_ID": "sub",
        "RESOURCE_GROUP_NAME": "rg",
        "STORAGE_ACCOUNT_NAME": "aistorageabcde",
        "FILE_SHARE_NAME": "aifileshareabcde",
        "ACA_APP_NAME": "aiacaappabcde",
        "ACA_APP_ENDPOINT": "aiacaappabcde.nicebeach-1234.westus3.azurecontainerapps.io",
    }
    ws.inference_config_file.write_text(json.dumps({**cfg, **filled}))
    init_files.init_workspace(ws)
    migrated = json.loads(ws.inference_config_file.read_text())
    assert migrated == {**filled, "ACA_APP_ENDPOINT": "https://" + filled["ACA_APP_ENDPOINT"]}


def test_a_set_resource_suffix_is_written_into_the_names():
    data = {
        "parameters": {
            "defaultCommands": {"value": ["cd /mount", "python3 ./gradio_chat.py"]},
            "resourceSuffix": {"value": "xyz12"},
            "acaAppName": {"value": "mine"},
            "fileShareName": {"value": None},
        }
    }
    new, changes = aitk_originals.migrate_parameters(data)
    p = new["parameters"]
    assert "resourceSuffix" not in p and p["acaAppName"] == {"value": "mine"}
    assert p["fileShareName"] == {"value": "aifilesharexyz12"} and p["acaEnvironmentName"] == {"value": "aienvxyz12"}
    assert any("xyz12" in c for c in changes)


FT_ENV = finetuning_reuse.Environment("aienvabcde", (("Consumption", "Consumption"), ("GPU", "NC24-A100")))


def test_fine_tunings_environment_takes_a_serverless_profile_or_says_what_to_do():
    t4 = gpu_profiles.get("T4")
    assert finetuning_reuse.fit(FT_ENV, t4) == finetuning_reuse.ProfileFit(t4.workload_profile_name, t4)
    assert finetuning_reuse.fit(FT_ENV, gpu_profiles.get("NC24-A100")) == finetuning_reuse.ProfileFit("GPU", None)
    with pytest.raises(EnvironmentProfileError, match="dedicated profiles can only be added") as e:
        finetuning_reuse.fit(FT_ENV, gpu_profiles.get("NC96-A100"))
    assert "--gpu-profile NC24-A100" in e.value.recommendation and "acaEnvironmentName=" in e.value.recommendation
    v1 = finetuning_reuse.Environment("v1env", ())
    with pytest.raises(EnvironmentProfileError, match="Consumption-only environment, which has no GPUs") as e:
        finetuning_reuse.fit(v1, t4)
    assert "--gpu-profile" not in e.value.recommendation
    err = finetuning_reuse.add_failed(FT_ENV, t4, "The workload profile type is not supported in\\n region 'x'.")
    assert "\n" not in str(err) and "aienvabcde" in str(err)


def test_the_original_environment_is_found_by_its_scheme_only_when_unambiguous():
    assert finetuning_reuse.original_environment(["aitk-env-abcde", "aienvk2x9q"]) == "aienvk2x9q"
    assert finetuning_reuse.original_environment(["aienvk2x9q", "aienvzzzzz"]) is None
    assert finetuning_reuse.original_environment(["aienv-other", "myenv"]) is None


SUB = "00000000-0000-0000-0000-000000000001"


def _env_id(sub, group, name="aienvabcde"):
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.App/managedEnvironments/{name}"


def test_the_jobs_environment_in_another_group_or_subscription_is_told_apart():
    assert finetuning_reuse.environment_elsewhere(resource_ids.parse(_env_id(SUB, "rg-inf")), SUB, "rg-inf") is None
    assert (
        finetuning_reuse.environment_elsewhere(resource_ids.parse(_env_id(SUB.upper(), "RG-Inf") + "/"), SUB, "rg-inf")
        is None
    )
    assert finetuning_reuse.environment_elsewhere(resource_ids.parse(None), SUB, "rg-inf") is None
    assert finetuning_reuse.environment_elsewhere(resource_ids.parse("not an id"), SUB, "rg-inf") is None
    job_id = f"/subscriptions/{SUB}/resourceGroups/rg-ft/providers/Microsoft.App/jobs/aiacajobabcde"
    assert finetuning_reuse.environment_elsewhere(resource_ids.parse(job_id), SUB, "rg-inf") is None
    other_group = finetuning_reuse.environment_elsewhere(resource_ids.parse(_env_id(SUB, "rg-ft")), SUB, "rg-inf")
    assert other_group == finetuning_reuse.ElsewhereEnvironment("aienvabcde", "rg-ft", SUB, False)
    other_sub = "11111111-1111-1111-1111-111111111111"
    elsewhere = finetuning_reuse.environment_elsewhere(resource_ids.parse(_env_id(other_sub, "rg-inf")), SUB, "rg-inf")
    assert elsewhere == finetuning_reuse.ElsewhereEnvironment("aienvabcde", "rg-inf", other_sub, True)


def test_the_not_reused_line_names_the_environment_its_group_and_the_parameter():
    line = finetuning_reuse.not_reused_line(
        finetuning_reuse.ElsewhereEnvironment("aienvabcde", "rg-ft", SUB, False), "aiacajobabcde", "rg-inf"
    )
    assert "\n" not in line
    assert "'aienvabcde'" in line and "aiacajobabcde" in line and "'rg-ft'" in line and "'rg-inf'" in line
    assert "--parameters acaEnvironmentName=" in line
    assert SUB not in line  # the same subscription is not named
    other = finetuning_reuse.not_reused_line(
        finetuning_reuse.ElsewhereEnvironment("aienvabcde", "rg-inf", "other-sub", True), "aiacajobabcde", "rg-inf"
    )
    assert "subscription other-sub" in other


def test_the_summary_names_what_is_reused_and_what_is_new():
    values = {
        "storageAccountName": "aistorageabcde",
        "fileShareName": "aifileshareabcde",
        "acaEnvironmentName": "aienvabcde",
        "acaLogAnalyticsName": "ailogabcde",
        "storageAccountExists": True,
        "fileShareExists": True,
        "acaEnvironmentExists": True,
        "acaLogAnalyticsExists": True,
    }
    env = finetuning_reuse.Environment("aienvabcde", FT_ENV.profiles, "ailogabcde", "the job aiacajobabcde")
    lines = finetuning_reuse.summary(values, env, gpu_profiles.get("T4"))
    assert lines[0].startswith("Reuses: storage account aistorageabcde, file share aifileshareabcde")
    assert "Container Apps environment aienvabcde (fine-tuning's, found by the job aiacajobabcde)" in lines[0]
    assert "Log Analytics workspace ailogabcde" in lines[0]
    assert lines[1] == "New or updated: container app (the template's default name)"
    assert "gpu-t4 (Consumption-GPU-NC8as-T4)" in lines[2]
    fresh = finetuning_reuse.summary({"acaEnvironmentExists": False}, None, None)
    assert fresh[0] == "Reuses: nothing" and "Container Apps environment" in fresh[1]


def test_delete_keeps_fine_tunings_environment_even_with_a_default_name():
    env = "/subscriptions/s/resourceGroups/g/providers/Microsoft.App/managedEnvironments/aitk-env-abcde"
    items = teardown_plan.plan(
        env.replace("managedEnvironments/aitk-env-abcde", "containerApps/app"),
        env,
        [],
        None,
        {},
        logs_workspace_id="/x/aitk-logs-abcde",
        finetuning_env_id=env,
    )
    by_type = {i["type"]: i for i in items}
    assert by_type["Microsoft.App/managedEnvironments"]["action"] == "keep"
    assert "fine-tuning" in by_type["Microsoft.App/managedEnvironments"]["reason"]
    assert by_type["Microsoft.OperationalInsights/workspaces"]["action"] == "keep"
    # without it, the same environment would go: the keep comes from the fine-tuning job
    items = teardown_plan.plan(
        env.replace("managedEnvironments/aitk-env-abcde", "containerApps/app"), env, [], None, {}, provisioned=[env]
    )
    assert {i["type"]: i["action"] for i in items}["Microsoft.App/managedEnvironments"] == "delete"


def test_the_finetuned_fixture_has_final_adapter_and_checkpoints():
    layout = json.loads((FIXTURES / "Phi-3-mini-4k-instruct-finetuned" / "share-layout.json").read_text())
    assert layout["final_adapter"].endswith("/adapter")
    assert all("checkpoint-" in c for c in layout["checkpoints"])
    settings = json.loads((FIXTURES / "Phi-3-mini-4k-instruct" / "setup" / "project-settings.json").read_text())
    fields = {f["replaceToken"]: f["defaultValue"] for g in settings for f in g["fields"]}
    assert fields["<output_dir>"] == "models/checkpoints"


# Older AI Toolkit configs (phi-2, zephyr-7b-beta, mistral-7b before Llama 3): 'wais' resource names,
# a transformers image, no inference.config.json (phi-2) or one of nulls without COMMANDS (zephyr).
OLDER_CONFIGS = {"zephyr-7b-beta": [w.BICEP_FILE, w.PARAMETERS_FILE], "phi-2": [w.BICEP_FILE, w.PARAMETERS_FILE]}


@pytest.mark.parametrize("config", sorted(OLDER_CONFIGS))
def test_older_originals_are_found_and_migrated(config, tmp_path):
    ws = _copy(config, tmp_path)
    assert [o.file for o in aitk_originals.find_originals(ws)] == OLDER_CONFIGS[config]
    before = json.loads(ws.parameters_file.read_text())["parameters"]
    results = {r["file"]: r for r in init_files.init_workspace(ws)}
    assert [f for f, r in results.items() if r["action"] == "migrated"] == OLDER_CONFIGS[config]
    after = json.loads(ws.parameters_file.read_text())["parameters"]
    assert after == {k: v for k, v in before.items() if k != "defaultCommands"}
    assert aitk_originals.find_originals(ws) == []


def test_the_names_a_suffix_made_follow_the_original_templates_own_prefixes(tmp_path):
    for config, prefix in (("zephyr-7b-beta", "wais"), ("llama-v3-8b", "ai")):
        ws = _copy(config, tmp_path / config)
        params = json.loads(ws.parameters_file.read_text())
        params["parameters"]["resourceSuffix"] = {"value": "k2x9q"}
        ws.parameters_file.write_text(json.dumps(params))
        init_files.init_workspace(ws)
        new = json.loads(ws.parameters_file.read_text())["parameters"]
        assert new["storageAccountName"] == {"value": f"{prefix}storagek2x9q"}, config
        assert new["acaEnvironmentName"] == {"value": f"{prefix}envk2x9q"}, config
        assert new["acaAppName"] == {"value": f"{prefix}acaappk2x9q"}, config
    # a template that says nothing of its names falls back to the current scheme
    assert aitk_originals.name_prefixes(None) == aitk_originals.ORIGINAL_NAME_PREFIXES
    assert aitk_originals.name_prefixes("param acaAppName string = 'x${resourceSuffix}'")["acaAppName"] == "x"


def test_the_older_fine_tuning_environment_is_found_by_its_scheme():
    assert finetuning_reuse.original_environment(["aitk-env-abcde", "waisenvk2x9q"]) == "waisenvk2x9q"
    assert finetuning_reuse.original_environment(["waisenvk2x9q", "aienvzzzzz"]) is None


def test_a_config_of_nulls_is_not_a_provisioned_one(tmp_path):
    """AI Toolkit's inference.config.json before its first provision: provision records where it
    is about to create resources (so a failed run can be retried or deleted), keeping added keys."""
    ws = _copy("zephyr-7b-beta", tmp_path)
    data = json.loads(ws.inference_config_file.read_text())
    assert not w.is_complete(data)
    ws.inference_config_file.write_text(json.dumps({**data, "MY_NOTE": "kept"}))
    assert ws.write_partial_inference_config({"SUBSCRIPTION_ID": "sub", "RESOURCE_GROUP_NAME": "rg"}, "eastus")
    partial = json.loads(ws.inference_config_file.read_text())
    assert w.is_incomplete(partial) and partial["RESOURCE_GROUP_NAME"] == "rg" and partial["MY_NOTE"] == "kept"
    complete = {k: "x" for k in w.INFERENCE_CONFIG_KEYS}
    ws.inference_config_file.write_text(json.dumps(complete))
    assert not ws.write_partial_inference_config({"RESOURCE_GROUP_NAME": "rg"}, None)
    assert json.loads(ws.inference_config_file.read_text()) == complete


def test_the_fine_tuning_config_beside_its_bicep_is_read(tmp_path):
    """Newer fine-tuning templates keep finetuning.config.json in infra/provision/, with
    LOG_ANALYTICS_NAME, ARGS and no COMMANDS; infra/finetuning.config.json wins when both exist."""
    ws = _copy("aion-instruct-1.1-lora", tmp_path)
    beside = ws.path(w.FINETUNING_CONFIG_FILE_BESIDE_BICEP)
    data = json.loads(beside.read_text())
    beside.write_text(json.dumps({**data, "RESOURCE_GROUP_NAME": "ft-rg"}))
    assert ws.finetuning_config_file == beside and ws.read_finetuning_config()["RESOURCE_GROUP_NAME"] == "ft-rg"
    ws.path(w.FINETUNING_CONFIG_FILE).write_text(json.dumps({"RESOURCE_GROUP_NAME": "other"}))
    assert ws.read_finetuning_config()["RESOURCE_GROUP_NAME"] == "other"
    assert aitk_originals.find_originals(ws) == []


def test_the_newer_fine_tuning_environment_of_one_serverless_gpu_is_reused():
    """Newer fine-tuning templates (finetuning_configs/...) make an environment with only a
    serverless Consumption-GPU-NC24-A100 profile named GPU: the A100 profile runs on it, the T4
    one is added beside it (serverless profiles can be added later)."""
    env = finetuning_reuse.Environment("aienvk2x9q", (("GPU", "Consumption-GPU-NC24-A100"),))
    assert finetuning_reuse.fit(env, gpu_profiles.get("A100")) == finetuning_reuse.ProfileFit("GPU", None)
    t4 = gpu_profiles.get("T4")
    assert finetuning_reuse.fit(env, t4) == finetuning_reuse.ProfileFit(t4.workload_profile_name, t4)
    with pytest.raises(EnvironmentProfileError, match="dedicated profiles can only be added"):
        finetuning_reuse.fit(env, gpu_profiles.get("NC24-A100"))


PROVISIONED = {
    "SUBSCRIPTION_ID": "sub",
    "RESOURCE_GROUP_NAME": "rg",
    "STORAGE_ACCOUNT_NAME": "waisstoragek2x9q",
    "FILE_SHARE_NAME": "waisfilesharek2x9q",
    "ACA_APP_NAME": "waisacaappk2x9q",
    "ACA_APP_ENDPOINT": "waisacaappk2x9q.nicebeach-1234.eastus.azurecontainerapps.io",
}


def test_an_older_provisioned_config_is_aitks_once_migrated_and_its_app_is_kept(tmp_path):
    """The older templates output no COMMANDS: their provisioned config is told by the bare FQDN
    (aitk writes a URL). init writes the endpoint as a URL and names the provisioned app in the
    parameters, so provision replaces that Gradio app instead of leaving it running beside a new one."""
    ws = _copy("zephyr-7b-beta", tmp_path)
    ws.inference_config_file.write_text(json.dumps(PROVISIONED))
    assert [o.file for o in aitk_originals.find_originals(ws)][-1] == w.INFERENCE_CONFIG_FILE
    results = {r["file"]: r for r in init_files.init_workspace(ws)}
    assert results[w.INFERENCE_CONFIG_FILE]["action"] == "migrated"
    cfg = json.loads(ws.inference_config_file.read_text())
    assert cfg == {**PROVISIONED, "ACA_APP_ENDPOINT": "https://" + PROVISIONED["ACA_APP_ENDPOINT"]}
    params = json.loads(ws.parameters_file.read_text())["parameters"]
    assert params["acaAppName"] == {"value": "waisacaappk2x9q"}
    assert any("waisacaappk2x9q" in c for c in results[w.PARAMETERS_FILE]["changes"])
    assert aitk_originals.find_originals(ws) == []


def test_a_users_own_app_name_wins_over_the_provisioned_one(tmp_path):
    ws = _copy("zephyr-7b-beta", tmp_path)
    ws.inference_config_file.write_text(json.dumps(PROVISIONED))
    params = json.loads(ws.parameters_file.read_text())
    params["parameters"]["acaAppName"] = {"value": "my-llm"}
    ws.parameters_file.write_text(json.dumps(params))
    init_files.init_workspace(ws)
    assert json.loads(ws.parameters_file.read_text())["parameters"]["acaAppName"] == {"value": "my-llm"}
    # a config of nulls names no app: the parameter stays unset (aitk's default name)
    ws2 = _copy("zephyr-7b-beta", tmp_path / "nulls")
    init_files.init_workspace(ws2)
    assert json.loads(ws2.parameters_file.read_text())["parameters"]["acaAppName"] == {"value": None}


def test_a_bare_endpoint_beside_aitks_template_or_none_is_aitks_config(tmp_path):
    """Only AI Toolkit's own template marks a bare-FQDN config as its provisioning's: a user who
    edits aitk's config to a bare host keeps an aitk workspace (the commands read the host as the
    app's address)."""
    ws = _copy("zephyr-7b-beta", tmp_path)
    init_files.init_workspace(ws)  # aitk's template replaces AI Toolkit's
    ws.inference_config_file.write_text(json.dumps(PROVISIONED))
    assert aitk_originals.find_originals(ws) == []
    ws.bicep_file.unlink()  # no template in the workspace: aitk's shipped one is used
    assert aitk_originals.find_originals(ws) == []
    assert aitk_originals.is_original_inference_config(PROVISIONED, beside_original_template=True)
    assert not aitk_originals.is_original_inference_config(PROVISIONED)
