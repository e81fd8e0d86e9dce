"""provision checks everything before it changes anything, works in one subscription, and delete
removes what provision made by its tag: through the real az against the local Azure stand-in.

Each refusal is one ERROR line, non-zero, with nothing created (asserted through the stand-in's ARM)
and no infra/inference.config.json written."""

import json
import uuid

import pexpect
import pytest

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.az_harness import one_error
from aitk_testkit.scenario import FAKE_COMMAND, FAKE_PARAMETERS, LOCATION

CONFIG = "infra/inference.config.json"
PARAMETERS = "infra/provision/inference.parameters.json"


def _init(az_cloud, ws):
    _ok(az_cloud("aitk", "inference", "init", cwd=ws))


def _set_parameters(ws, **values):
    """The user's (or someone's) edit of the workspace's parameters file."""
    path = ws / PARAMETERS
    data = json.loads(path.read_text())
    for name, value in values.items():
        data["parameters"][name] = {"value": value}
    path.write_text(json.dumps(data, indent=2))


def _types(az_cloud, group):
    return sorted(r["type"] for r in _ok(az_cloud("resource", "list", "-g", group, "-o", "json")))


def _group_exists(az_cloud, group):
    return az_cloud("group", "exists", "-n", group).stdout.strip() == "true"


def _nothing_created(az_cloud, ws, group, before):
    assert _types(az_cloud, group) == before
    deployments = _ok(az_cloud("deployment", "group", "list", "-g", group, "-o", "json"))
    assert "aitk-inference" not in [d["name"] for d in deployments]
    assert not (ws / CONFIG).exists()


# -- issue 22: one subscription; "made by provision" is the tag ---------------------------------


def test_renamed_resources_one_subscription_and_delete_by_tag(az_cloud, standin, fake_finetuning):
    """The workspace's parameters rename the environment and its logs (not the template's default
    names); its config then names a subscription the account cannot see. --subscription names the
    real one: every call goes there (before, the app's ids took the config's and the clients
    --subscription's). Without it: one line naming the file and what to run. delete removes the
    renamed resources, which carry provision's tag."""
    group = "aitk-phases-sub"
    ws, _share = fake_finetuning("phases-sub", group, "aitkphasesub01")
    _init(az_cloud, ws)
    _set_parameters(ws, acaEnvironmentName="team-gpu-env", acaLogAnalyticsName="team-logs")
    _ok(az_cloud("aitk", "inference", "provision", *FAKE_PARAMETERS, "-o", "json", cwd=ws))
    env_id = (
        f"/subscriptions/{standin.subscription_id}/resourceGroups/{group}/providers/"
        "Microsoft.App/managedEnvironments/team-gpu-env"
    )
    assert _ok(az_cloud("resource", "show", "--ids", env_id, "-o", "json"))["tags"] == {"aitkProvisioned": "inference"}

    cfg = json.loads((ws / CONFIG).read_text())
    unseen = str(uuid.uuid4())
    cfg["SUBSCRIPTION_ID"] = unseen
    (ws / CONFIG).write_text(json.dumps(cfg, indent=2))

    line = one_error(az_cloud("aitk", "inference", "status", "-o", "json", cwd=ws), in_line=True)
    assert f"{CONFIG} names the subscription '{unseen}', which the signed-in account cannot see" in line
    proc = az_cloud("aitk", "inference", "status", "-o", "json", cwd=ws)
    assert "az account list" in proc.stderr and "az login" in proc.stderr

    flag = ("--subscription", standin.subscription_id)
    status = az_cloud("aitk", "inference", "status", *flag, "-o", "json", cwd=ws)
    _ok(status)
    said = [line for line in status.stderr.splitlines() if "--subscription" in line]
    assert len(said) == 1 and unseen in said[0], status.stderr

    deleted = _ok(az_cloud("aitk", "inference", "delete", "--yes", *flag, "-o", "json", cwd=ws))
    gone = {i.rsplit("/", 1)[-1] for i in deleted["deleted"]}
    assert {"team-gpu-env", "team-logs", cfg["ACA_APP_NAME"]} <= gone, deleted
    assert "aitkphasesub01" not in gone  # fine-tuning's storage stays
    assert _types(az_cloud, group) == ["Microsoft.Storage/storageAccounts"]


# -- issue 22: every check before any change -----------------------------------------------------


def test_a_config_that_cannot_be_written_stops_provision_before_the_environment_is_patched(
    az_cloud, standin, fake_finetuning, tmp_path
):
    """fine-tuning's environment lacks the GPU profile; provision would add it (a PATCH). When
    infra/inference.config.json cannot be written, it stops first: the environment is unchanged."""
    group = "aitk-phases-order"
    ws, _share = fake_finetuning("phases-order", group, "aitkphaseord01", job_name=None)
    _init(az_cloud, ws)
    env = {
        "type": "Microsoft.App/managedEnvironments",
        "apiVersion": "2024-03-01",
        "name": "aienvorder",
        "location": LOCATION,
        "properties": {"workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"}]},
    }
    template = tmp_path / "env.json"
    template.write_text(
        json.dumps(
            {
                "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0",
                "resources": [env],
            }
        )
    )
    _ok(az_cloud("deployment", "group", "create", "-g", group, "-n", "ftenv", "--template-file", str(template)))
    env_id = (
        f"/subscriptions/{standin.subscription_id}/resourceGroups/{group}/providers/"
        "Microsoft.App/managedEnvironments/aienvorder"
    )
    before = _ok(az_cloud("resource", "show", "--ids", env_id, "-o", "json"))["properties"]["workloadProfiles"]
    (ws / CONFIG).mkdir(parents=True)  # a folder where the config goes: it cannot be written
    proc = az_cloud(
        "aitk", "inference", "provision", "--parameters", "acaEnvironmentName=aienvorder", *FAKE_PARAMETERS, cwd=ws
    )
    line = one_error(proc, CONFIG, in_line=True)
    assert "Adding the workload profile" not in proc.stderr, proc.stderr
    after = _ok(az_cloud("resource", "show", "--ids", env_id, "-o", "json"))["properties"]["workloadProfiles"]
    assert after == before, line
    deployments = _ok(az_cloud("deployment", "group", "list", "-g", group, "-o", "json"))
    assert "aitk-inference" not in [d["name"] for d in deployments]


# -- issue 23: refusals before anything is created ------------------------------------------------


def test_fine_tunings_storage_in_another_group_is_refused_naming_both_groups(az_cloud, fake_finetuning):
    ft_group, group = "aitk-phases-ftsa", "aitk-phases-other"
    ws, _share = fake_finetuning("phases-ftsa", ft_group, "aitkphaseftsa1")
    _init(az_cloud, ws)
    _ok(az_cloud("group", "create", "-n", group, "-l", LOCATION, "-o", "none"))
    proc = az_cloud("aitk", "inference", "provision", "-g", group, *FAKE_PARAMETERS, cwd=ws)
    line = one_error(proc, in_line=True)
    assert "fine-tuning's storage account 'aitkphaseftsa1'" in line
    assert f"resource group '{ft_group}', not '{group}'" in line
    assert f"-g {ft_group}" in proc.stderr and "storageAccountName=<new name>" in proc.stderr
    _nothing_created(az_cloud, ws, group, [])
    assert "StorageAccountAlreadyTaken" not in proc.stderr


def test_replica_counts_outside_azures_limits_are_refused(az_cloud, fake_finetuning):
    group = "aitk-phases-replicas"
    ws, _share = fake_finetuning("phases-replicas", group, "aitkphaserep01")
    _init(az_cloud, ws)
    line = one_error(
        az_cloud("aitk", "inference", "provision", "--min-replicas", "1000", "--max-replicas", "100000", cwd=ws),
        in_line=True,
    )
    assert "--max-replicas is 100000; Azure Container Apps allows 1-1000" in line
    line = one_error(az_cloud("aitk", "inference", "provision", "--min-replicas", "1001", cwd=ws), in_line=True)
    assert "--min-replicas is 1001; Azure Container Apps allows 0-1000" in line
    # the parameters file is held to the same limits
    _set_parameters(ws, maximumInstanceCount=5000)
    line = one_error(az_cloud("aitk", "inference", "provision", *FAKE_PARAMETERS, cwd=ws), in_line=True)
    assert "maximumInstanceCount is 5000 in the deployment's parameters" in line
    _nothing_created(az_cloud, ws, group, ["Microsoft.Storage/storageAccounts"])


def test_an_always_on_minimum_shows_its_cost_and_asks(az_cloud, fake_finetuning):
    group = "aitk-phases-cost"
    ws, _share = fake_finetuning("phases-cost", group, "aitkphasecst01")
    _init(az_cloud, ws)
    args = ("aitk", "inference", "provision", "--min-replicas", "2", "--max-replicas", "2", "--gpu-profile", "A100")
    args += FAKE_PARAMETERS
    # no terminal to ask: one line with the cost, nothing created
    proc = az_cloud(*args, cwd=ws)
    line = one_error(proc, in_line=True)
    assert "--min-replicas 2 keeps 2 replicas of A100 running even when idle: about $4.68/hour" in line
    assert "--yes" in proc.stderr
    _nothing_created(az_cloud, ws, group, ["Microsoft.Storage/storageAccounts"])
    # at a terminal: the cost, the question; "n" changes nothing
    child = az_cloud.spawn(*args, cwd=ws, timeout=120)
    child.expect(r"about \$4\.68/hour")
    child.expect(r"Keep the replicas running\? \(y/N\): ")
    child.sendline("n")
    child.expect("Nothing was changed")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus != 0
    _nothing_created(az_cloud, ws, group, ["Microsoft.Storage/storageAccounts"])


def test_a_new_group_in_an_unknown_location_is_refused_before_it_is_created(az_cloud, fake_finetuning):
    ws, _share = fake_finetuning("phases-mars", "aitk-phases-mars-ft", "aitkphasemars1")
    _init(az_cloud, ws)
    group = "aitk-phases-mars-new"
    storage = ("--parameters", "storageAccountName=aitkphasemarsn")  # a storage account of its own
    proc = az_cloud("aitk", "inference", "provision", "-g", group, "--location", "mars", *storage, cwd=ws)
    line = one_error(proc, in_line=True)
    assert "location 'mars' is not a region where Azure Container Apps can run" in line
    assert "Creating resource group" not in proc.stderr
    assert [x for x in proc.stderr.splitlines() if x.startswith("ERROR")] == [line]
    assert not _group_exists(az_cloud, group) and not (ws / CONFIG).exists()
    # the parameters file's location is where a new group goes: checked the same way, not ignored
    _set_parameters(ws, location="mars")
    proc = az_cloud("aitk", "inference", "provision", "-g", group, *storage, cwd=ws)
    assert "location 'mars' is not a region" in one_error(proc, in_line=True)
    assert not _group_exists(az_cloud, group)
    # --location wins over it, and says so
    proc = az_cloud(
        "aitk", "inference", "provision", "-g", group, "--location", LOCATION, "--what-if", *storage, cwd=ws
    )
    _ok(proc, parse=False)
    assert f"--location {LOCATION} wins over location 'mars' of {PARAMETERS}" in proc.stderr
    assert not _group_exists(az_cloud, group)


def test_the_parameters_file_is_checked_against_the_template_locally(az_cloud, fake_finetuning):
    group = "aitk-phases-types"
    ws, _share = fake_finetuning("phases-types", group, "aitkphasetyp01")
    _init(az_cloud, ws)
    _set_parameters(ws, maximumInstanceCount="two")
    line = one_error(az_cloud("aitk", "inference", "provision", cwd=ws), in_line=True)
    assert line == (
        f"ERROR: {PARAMETERS}: parameter 'maximumInstanceCount' must be a whole number (int), not the string \"two\""
    )
    path = ws / PARAMETERS
    data = json.loads(path.read_text())
    data["parameters"] = [{"maximumInstanceCount": {"value": 1}}]
    path.write_text(json.dumps(data))
    line = one_error(az_cloud("aitk", "inference", "provision", cwd=ws), in_line=True)
    assert '"parameters" must be a JSON object' in line and "not a list" in line and PARAMETERS in line
    _nothing_created(az_cloud, ws, group, ["Microsoft.Storage/storageAccounts"])


def test_a_subscription_in_finetunings_config_the_account_cannot_see_names_the_file(az_cloud, fake_finetuning):
    ws, _share = fake_finetuning("phases-ftsub", "aitk-phases-ftsub", "aitkphaseftsb1")
    _init(az_cloud, ws)
    path = ws / "infra" / "finetuning.config.json"
    ft = json.loads(path.read_text())
    ft["SUBSCRIPTION_ID"] = unseen = str(uuid.uuid4())
    path.write_text(json.dumps(ft))
    proc = az_cloud("aitk", "inference", "provision", *FAKE_PARAMETERS, cwd=ws)
    line = one_error(proc, in_line=True)
    assert f"infra/finetuning.config.json names the subscription '{unseen}'" in line
    assert "az account list" in proc.stderr and "az login" in proc.stderr


# -- issue 21, item 7: what the workspace changes about the container -----------------------------


@pytest.mark.parametrize("answer", ["refuse", "n"])
def test_a_workspace_start_command_is_shown_and_needs_a_yes(az_cloud, fake_finetuning, answer):
    group = f"aitk-phases-cmd-{answer}"
    ws, _share = fake_finetuning(
        f"phases-cmd-{answer}", group, {"refuse": "aitkphcmdref01", "n": "aitkphcmdno01"}[answer]
    )
    _init(az_cloud, ws)
    _set_parameters(ws, defaultCommands=json.loads(FAKE_COMMAND), image="example.io/someone/else:1")
    if answer == "refuse":  # no terminal to ask
        proc = az_cloud("aitk", "inference", "provision", cwd=ws)
        line = one_error(proc, in_line=True)
        assert f"{PARAMETERS} sets the container's start command (defaultCommands)" in line
        assert "image (image) to example.io/someone/else:1" in line and "no terminal" in line
        assert "--yes" in proc.stderr
    else:
        child = az_cloud.spawn("aitk", "inference", "provision", cwd=ws, timeout=120)
        child.expect(r"sets the container's start command \(defaultCommands\) to \[\"python3\"")
        child.expect("API keys in its environment")
        child.expect(r"Deploy the container as the workspace sets it\? \(y/N\): ")
        child.sendline("n")
        child.expect("Nothing was changed")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus != 0
    _nothing_created(az_cloud, ws, group, ["Microsoft.Storage/storageAccounts"])


def test_with_yes_the_workspace_start_command_is_deployed(az_cloud, fake_finetuning, standin):
    group = "aitk-phases-cmd-yes"
    ws, _share = fake_finetuning("phases-cmd-yes", group, "aitkphcmdyes01")
    _init(az_cloud, ws)
    _set_parameters(ws, defaultCommands=json.loads(FAKE_COMMAND))
    proc = az_cloud("aitk", "inference", "provision", "--yes", "-o", "json", cwd=ws)
    _ok(proc)
    shown = [line for line in proc.stderr.splitlines() if "sets the container's start command" in line]
    assert len(shown) == 1 and shown[0].startswith("WARNING:"), proc.stderr
    cfg = json.loads((ws / CONFIG).read_text())
    app_id = (
        f"/subscriptions/{standin.subscription_id}/resourceGroups/{group}/providers/"
        f"Microsoft.App/containerApps/{cfg['ACA_APP_NAME']}"
    )
    app = _ok(az_cloud("resource", "show", "--ids", app_id, "-o", "json"))
    assert app["properties"]["template"]["containers"][0]["command"] == json.loads(FAKE_COMMAND)
