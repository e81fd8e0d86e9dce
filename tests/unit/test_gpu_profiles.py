import pytest
from azext_aitk.core import gpu_profiles as g


def test_table_matches_the_published_profiles():
    t4, a100 = g.get("T4"), g.get("A100")
    assert (t4.workload_profile_type, t4.cpu, t4.memory, t4.serverless) == (
        "Consumption-GPU-NC8as-T4",
        "8.0",
        "56Gi",
        True,
    )
    assert (a100.workload_profile_type, a100.cpu, a100.memory, a100.serverless) == (
        "Consumption-GPU-NC24-A100",
        "24.0",
        "220Gi",
        True,
    )
    dedicated = {k: (p.cpu, p.memory, p.gpu_count) for k, p in g.PROFILES.items() if not p.serverless}
    assert dedicated == {
        "NC24-A100": ("24.0", "220Gi", 1),
        "NC48-A100": ("48.0", "440Gi", 2),
        "NC96-A100": ("96.0", "880Gi", 4),
    }
    assert g.DEFAULT_PROFILE == "T4"


def test_lookup_by_key_or_type_any_case():
    assert g.get("consumption-gpu-nc24-a100").key == "A100"
    assert g.get("nc48-a100").key == "NC48-A100"
    assert g.get(None).key == g.DEFAULT_PROFILE
    assert g.by_type("NC96-A100").key == "NC96-A100"
    assert g.by_type("D4") is None
    with pytest.raises(KeyError):
        g.get("H100")


def test_template_parameters_and_quota_names():
    for p in g.PROFILES.values():
        params = g.template_parameters(p)
        assert set(params) == {
            "workloadProfileName",
            "workloadProfileType",
            "cpu",
            "memory",
            "workloadProfileDedicated",
        }
        assert params["workloadProfileDedicated"] is not p.serverless
        assert params["memory"].endswith("Gi") and float(params["cpu"]) > 0
        assert len(params["workloadProfileName"]) <= 15
        assert p.quota.lower().endswith(" gpus")
    # spelled as the serverless GPU page's quota request steps spell them
    assert g.get("T4").quota == "Managed Environment Consumption T4 Gpus"
    assert g.get("A100").quota == "Managed Environment Consumption NCA100 Gpus"


def test_the_gpu_facts_are_the_launchers_table():
    from aitk_serve import gpus

    assert [p.workload_profile_type for p in g.PROFILES.values()] == [wp.name for wp in gpus.PROFILES]
    for wp in gpus.PROFILES:
        profile = g.by_type(wp.name)
        assert (profile.serverless, profile.gpu_count, profile.gpu) == (
            wp.serverless,
            wp.gpu.count,
            f"NVIDIA {wp.gpu.name}",
        )


def test_one_precedence_option_then_parameters_then_the_apps_current():
    a100, nc48 = g.get("A100"), g.get("NC48-A100")
    assert g.named("T4", "NC48-A100", a100) == g.NamedProfile(g.get("T4"), "--gpu-profile")
    assert g.named(None, "nc48-a100", a100) == g.NamedProfile(nc48, "the parameters' workloadProfileType")
    assert g.named(None, "Consumption", a100) == g.NamedProfile(None, "the parameters' workloadProfileType")
    assert g.named(None, None, a100) == g.NamedProfile(a100, "the container app's current profile")
    assert g.named(None, None, None) is None
    with pytest.raises(KeyError):
        g.named("V100", None, None)
