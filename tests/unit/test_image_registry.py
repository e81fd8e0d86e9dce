"""core/provision/image_registry.py (provision --image-registry): ACR's name rules, the image to import and
its tag, reuse or create, the template parameters; the pinned image in step with the launcher's
vLLM; delete's plan for the pull's resources; a refused pull counts as a start-up failure."""

import aitk_serve
import pytest
from azext_aitk.core.delete import teardown_plan
from azext_aitk.core.errors import InvalidNameError, RegistryError
from azext_aitk.core.init import shipped_templates
from azext_aitk.core.monitor import startup_failure
from azext_aitk.core.provision import image_registry as ir


@pytest.mark.parametrize("name", ["abcde", "A" * 50, "myAitkRegistry01", "12345"])
def test_valid_registry_names(name):
    assert ir.name_problem(name) is None
    assert ir.check_name(name) == name


@pytest.mark.parametrize(
    "name, problem",
    [
        ("", "it is empty"),
        ("abcd", "it has 4 characters (5-50)"),
        ("a" * 51, "it has 51 characters (5-50)"),
        ("my-registry", "it contains '-' (only letters and digits)"),
        ("my_reg.istry", "it contains '.', '_' (only letters and digits)"),
        ("régistry1", "it contains 'é' (only letters and digits)"),
    ],
)
def test_invalid_registry_names_say_why_and_what_to_use(name, problem):
    assert ir.name_problem(name) == problem
    with pytest.raises(InvalidNameError) as e:
        ir.check_name(name)
    assert problem in str(e.value) and "5-50 letters and digits" in e.value.recommendation


@pytest.mark.parametrize(
    "image, registry, repository, tag",
    [
        ("vllm/vllm-openai:v0.32.0", "docker.io", "vllm/vllm-openai", "v0.32.0"),
        ("vllm/vllm-openai", "docker.io", "vllm/vllm-openai", "latest"),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27"),
        ("ghcr.io/org/img:1", "ghcr.io", "org/img", "1"),
        ("localhost:5000/img:2", "localhost:5000", "img", "2"),
        ("mcr.microsoft.com/a/b/c", "mcr.microsoft.com", "a/b/c", "latest"),
    ],
)
def test_source_image_reads_a_reference_as_docker_does(image, registry, repository, tag):
    src = ir.source_image(image)
    assert (src.registry, src.repository, src.tag) == (registry, repository, tag)
    assert src.target == f"{repository}:{tag}" and str(src) == f"{registry}/{repository}:{tag}"


@pytest.mark.parametrize("image", ["", "  ", "vllm/vllm-openai@sha256:abc", "a b:1"])
def test_an_image_that_cannot_be_imported_is_refused(image):
    with pytest.raises(RegistryError):
        ir.source_image(image)


def test_the_imported_image_is_the_pinned_vllm_release():
    assert shipped_templates.default_image() == f"vllm/vllm-openai:v{aitk_serve.VLLM_VERSION}"
    assert ir.source_image(shipped_templates.default_image()).target == f"vllm/vllm-openai:v{aitk_serve.VLLM_VERSION}"


def test_plan_creates_a_missing_registry_in_the_apps_group_and_region():
    p = ir.plan("myreg01", None, "rg", "eastus")
    assert (p.create, p.resource_group, p.location, p.login_server, p.provisioned) == (True, "rg", "eastus", None, True)
    assert ir.plan_lines(p, ir.source_image("vllm/vllm-openai:v0.32.0"))[:2] == [
        "Container registry myreg01: new, Basic tier, in resource group 'rg' (eastus); $0.167/day (about $5/month)",
        "Image docker.io/vllm/vllm-openai:v0.32.0: imported into it server-side as vllm/vllm-openai:v0.32.0 "
        "(skipped when that tag is there)",
    ]


def test_plan_reuses_a_registry_of_the_group_whatever_its_region_and_tag():
    found = ir.Found("RG", "westus", "myreg01.azurecr.io", provisioned=False)
    p = ir.plan("myreg01", found, "rg", "eastus")
    assert (p.create, p.resource_group, p.location, p.login_server, p.provisioned) == (
        False,
        "RG",
        "westus",
        "myreg01.azurecr.io",
        False,
    )
    assert "reused (myreg01.azurecr.io, resource group 'RG')" in ir.plan_lines(p, ir.source_image("a/b:1"))[0]


def test_a_registry_of_another_group_is_reused_and_its_group_goes_to_the_template():
    p = ir.plan("myreg01", ir.Found("Other", "westus", "myreg01.azurecr.io", False), "rg", "eastus")
    assert (p.create, p.resource_group, p.provisioned, p.elsewhere) == (False, "Other", False, True)
    values = ir.template_values(p, "myreg01.azurecr.io", ir.source_image("vllm/vllm-openai:v0.32.0"))
    assert values[ir.REGISTRY_GROUP] == "Other"
    line = ir.plan_lines(p, ir.source_image("a/b:1"))[0]
    assert "resource group 'Other'" in line and "nested deployment" in line and "stays in 'rg'" in line
    # a template from before registries of another group: named, and only then
    types = dict.fromkeys(ir.TEMPLATE_PARAMETERS, "string")
    assert ir.missing_parameters(types, p) == [ir.REGISTRY_GROUP]
    assert "predates registries of another resource group" in str(ir.template_too_old("x.bicep", [ir.REGISTRY_GROUP]))
    same = ir.plan("myreg01", ir.Found("RG", "eastus", "myreg01.azurecr.io", False), "rg", "eastus")
    assert ir.missing_parameters(types, same) == [] and not same.elsewhere
    assert ir.REGISTRY_GROUP not in ir.template_values(same, "myreg01.azurecr.io", ir.source_image("a/b:1"))


def test_a_taken_name_says_so():
    assert "is taken" in str(ir.name_taken("someone01", "AlreadyExists", "The registry someone01 is already in use."))
    invalid = ir.name_taken("bad", "Invalid", "The registry name 'bad' is invalid")
    assert "is invalid" in str(invalid) and "is taken" not in str(invalid)


def test_template_values_pull_from_the_login_server():
    p = ir.plan("MyReg01", None, "rg", "eastus")
    values = ir.template_values(p, "myreg01.azurecr.io", ir.source_image("vllm/vllm-openai:v0.32.0"))
    assert values == {
        "imageFromRegistry": True,
        "imageRegistryName": "MyReg01",
        "imageRegistryServer": "myreg01.azurecr.io",
        "image": "myreg01.azurecr.io/vllm/vllm-openai:v0.32.0",
    }


def test_a_template_without_the_pull_parameters_is_named():
    assert ir.missing_parameters({"image": "string", "imageFromRegistry": "bool"}) == [
        "imageRegistryName",
        "imageRegistryServer",
    ]
    assert ir.missing_parameters({p: "string" for p in ir.TEMPLATE_PARAMETERS}) == []
    assert "predates --image-registry" in str(ir.template_too_old("inference.bicep", ["imageFromRegistry"]))


def test_only_an_existing_tag_makes_a_failed_import_a_no_op():
    assert ir.tag_already_there("(Conflict) Tag vllm/vllm-openai:v0.32.0 already exists in target registry.")
    assert not ir.tag_already_there("(NotFound) Source image docker.io/vllm/vllm-openai:v9 not found.")
    assert not ir.tag_already_there("")


def test_delete_removes_the_pull_resources_provision_made_and_keeps_the_users():
    app = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/app"
    reg = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/"
    ident = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aitk-pull-x"
    items = teardown_plan.plan(
        app,
        None,
        [],
        None,
        {},
        image_pull=[
            {"id": reg + "ours01", "type": "Microsoft.ContainerRegistry/registries", "provisioned": True},
            {"id": reg + "yours01", "type": "Microsoft.ContainerRegistry/registries", "provisioned": False},
            {"id": ident, "type": "Microsoft.ManagedIdentity/userAssignedIdentities", "provisioned": True},
        ],
    )
    assert items[0]["id"] == app  # the app goes first
    by_name = {i["name"]: i for i in items}
    assert by_name["ours01"]["action"] == "delete" and "made by provision" in by_name["ours01"]["reason"]
    assert by_name["yours01"]["action"] == "keep" and "(yours)" in by_name["yours01"]["reason"]
    assert by_name["aitk-pull-x"]["action"] == "delete"


def test_a_partial_provision_deletes_the_tagged_registry_and_identity_after_the_app():
    tag = {"aitkProvisioned": "inference"}
    resources = [
        {"id": "/x/registries/r1", "type": "Microsoft.ContainerRegistry/registries", "tags": tag},
        {"id": "/x/userAssignedIdentities/i1", "type": "Microsoft.ManagedIdentity/userAssignedIdentities", "tags": tag},
        {"id": "/x/containerApps/a1", "type": "Microsoft.App/containerApps", "tags": tag},
        {"id": "/x/registries/mine", "type": "Microsoft.ContainerRegistry/registries", "tags": {}},
    ]
    doomed = teardown_plan.plan_partial(resources, lambda r: r.get("tags") == tag)
    assert [d["name"] for d in doomed] == ["a1", "r1", "i1"]


def test_a_refused_pull_is_a_start_up_failure():
    events = [
        {"TimeStamp": "2026-01-01T00:00:01Z", "Reason": "PullingImage", "Msg": "Pulling image"},
        {
            "TimeStamp": "2026-01-01T00:00:02Z",
            "Reason": "ImagePullBackOff",
            "Msg": 'Failed to pull image "r.azurecr.io/a:1": UNAUTHORIZED: no AcrPull',
        },
    ]
    verdict = startup_failure.verdict(events, [])
    assert verdict is not None and verdict.message().endswith("UNAUTHORIZED: no AcrPull")


@pytest.mark.parametrize(
    "image, registries, expected",
    [
        ("myreg01.azurecr.io/vllm/vllm-openai:v0.32.0", [("myreg01.azurecr.io", "/id/pull")], "myreg01"),
        ("MyReg01.AzureCR.io/vllm/vllm-openai:v0.32.0", [("myreg01.azurecr.io", "/id/pull")], "myreg01"),
        # a registry with a password (no identity) is not one provision set up
        ("myreg01.azurecr.io/vllm/vllm-openai:v0.32.0", [("myreg01.azurecr.io", None)], None),
        # the image comes from elsewhere than the registries entry
        ("vllm/vllm-openai:v0.32.0", [("myreg01.azurecr.io", "/id/pull")], None),
        ("ghcr.io/x/y:1", [("myreg01.azurecr.io", "/id/pull")], None),
        (None, [("myreg01.azurecr.io", "/id/pull")], None),
        ("myreg01.azurecr.io/vllm/vllm-openai:v0.32.0", [], None),
        # a host whose first label cannot be a registry name
        ("my-reg.example.com/vllm:1", [("my-reg.example.com", "/id/pull")], None),
    ],
)
def test_the_registry_an_app_pulls_from_is_read_from_its_image_and_registries(image, registries, expected):
    assert ir.registry_in_use(image, registries) == expected


def test_streaming_plans_a_premium_registry_and_its_daily_cost():
    """--image-streaming: ACR artifact streaming is Premium only (Learn, container-registry-artifact-streaming)."""
    p = ir.plan("myreg01", None, "rg", "eastus", streaming=True)
    assert (p.sku, p.streaming, ir.streaming_refusal(p)) == ("Premium", True, None)
    assert ir.cost_line(p) == (
        "Container registry myreg01 (Premium tier, for artifact streaming) costs $1.667/day (about $50/month) "
        "every day it exists, used or not (Basic: $0.167/day (about $5/month))."
    )
    lines = ir.plan_lines(p, ir.source_image("vllm/vllm-openai:v0.32.0"))
    assert lines[0].endswith("(eastus); $1.667/day (about $50/month)")
    assert lines[-1].startswith("Artifact streaming (linux/amd64 images only): after the import the Premium registry")
    assert ir.cost_line(ir.plan("myreg01", None, "rg", "eastus")) is None  # Basic: no question


@pytest.mark.parametrize("sku, refused", [("Basic", True), ("Standard", True), ("Premium", False)])
def test_streaming_on_an_existing_registry_needs_premium(sku, refused):
    found = ir.Found("rg", "eastus", "myreg01.azurecr.io", provisioned=False, sku=sku)
    p = ir.plan("myreg01", found, "rg", "eastus", streaming=True)
    refusal = ir.streaming_refusal(p)
    assert (refusal is not None) == refused and ir.cost_line(p) is None  # a reused registry costs nothing new
    if refused:
        assert f"is {sku} tier: artifact streaming (--image-streaming) needs the Premium tier" in str(refusal)
        assert "az acr update -n myreg01 --sku Premium" in refusal.recommendation
    assert ir.streaming_refusal(ir.plan("myreg01", found, "rg", "eastus")) is None  # no streaming asked


def test_the_daily_prices_are_ordered_by_tier():
    assert ir.daily_price("basic") < ir.daily_price("Standard") < ir.daily_price("PREMIUM")
    assert ir.daily_price("Classic") is None
