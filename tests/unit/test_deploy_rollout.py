"""core/deploy_rollout.decide: how the server picks up what a deploy changed."""

from aitk_serve import layout
from azext_aitk.core.deploy import deploy_rollout as r


def test_nothing_the_server_reads_changed():
    assert r.decide([], ["a1"], 1) == r.Rollout(r.NONE)


def test_new_adapters_are_served_on_demand_at_any_replica_count():
    changed = [layout.adapter_dir("b") + "/adapter_model.safetensors", layout.adapter_dir("a") + "/x"]
    before = [layout.adapter_dir("c") + "/adapter_config.json", layout.LAUNCHER_DIR + "/aitk_serve/cli.py"]
    for replicas in (1, 3, 10):
        assert r.decide(changed, ["b", "a", "c"], replicas, before) == r.Rollout(r.ON_DEMAND, ("a", "b"))


def test_a_replaced_adapter_on_one_replica_is_reloaded():
    changed = [layout.adapter_dir("a") + "/adapter_model.safetensors", layout.adapter_dir("b") + "/x"]
    before = [layout.adapter_dir("a") + "/adapter_model.safetensors"]
    assert r.decide(changed, ["a", "b"], 1, before) == r.Rollout(r.HOT_LOAD, ("a", "b"))


def test_a_replaced_adapter_on_more_than_one_replica_restarts():
    changed = [layout.adapter_dir("a") + "/adapter_config.json"]
    before = [layout.adapter_dir("a") + "/adapter_config.json"]
    assert r.decide(changed, ["a"], 3, before) == r.Rollout(r.RESTART, ("a",))


def test_launcher_or_inference_changes_restart():
    assert r.decide([layout.LAUNCHER_DIR + "/aitk_serve/cli.py"], [], 1).action == r.RESTART
    assert r.decide([layout.SERVE_CONFIG_FILE, layout.adapter_dir("a") + "/x"], ["a"], 1) == r.Rollout(
        r.RESTART, ("a",)
    )


def test_a_path_is_under_an_adapter_only_by_whole_segments():
    changed = [layout.adapter_dir("ab") + "/x"]
    assert r.changed_adapters(changed, ["a", "ab"]) == ("ab",)
    assert not r.serving_changed([layout.AITK_DIR + "/launcherX/y"])
    before = [layout.adapter_dir("ab") + "/x"]
    assert r.decide([layout.adapter_dir("a") + "/x"], ["a"], 2, before) == r.Rollout(r.ON_DEMAND, ("a",))
