"""(2) inference.bicep, parsed by pycep-parser and compiled by _bicep.py, equals inference.json."""

import re

import pytest

from template import _arm, _bicep


def _sorted_deps(resource):
    r = dict(resource)
    if "dependsOn" in r:
        r["dependsOn"] = sorted(r["dependsOn"])
    return r


def test_parameters(compiled, template):
    bicep = compiled.parameters()
    assert list(bicep) == list(template["parameters"])
    for name, spec in template["parameters"].items():
        assert bicep[name] == spec, name
    assert bicep["apiKey"]["type"] == "securestring"


def test_variables(compiled, template):
    assert compiled.variables() == template["variables"]


def test_resources(compiled, template):
    bicep = list(compiled.arm_resources().values())
    assert [(r["type"], r["apiVersion"]) for r in bicep] == [
        (r["type"], r["apiVersion"]) for r in template["resources"]
    ]
    for b, j in zip(bicep, template["resources"], strict=True):
        assert b.get("condition") == j.get("condition"), j["type"]
        assert _sorted_deps(b) == _sorted_deps(j), j["type"]


def test_existing_symbols_mirror_conditions(compiled, template):
    """Each conditional resource has an `existing` twin (same type, API version, name) that the
    rest of the Bicep reads, so reads work whether it was deployed or reused."""
    existing = sorted(v for v in compiled.existing().values() if v[0] not in IMAGE_PULL_EXISTING)
    conditional = sorted(
        (r["type"], r["apiVersion"], r["name"])
        for r in template["resources"]
        if "condition" in r and not r["type"].endswith("/shares") and r["type"] not in IMAGE_PULL_TYPES
    )
    assert existing == conditional
    # the image pull's resources exist only with imageFromRegistry; the registry is only read
    assert {r["type"] for r in template["resources"] if r.get("condition") == "[parameters('imageFromRegistry')]"} == (
        IMAGE_PULL_TYPES
    )
    assert {v[0] for v in compiled.existing().values()} >= IMAGE_PULL_EXISTING


# The registry pull (provision --image-registry): deployed only with imageFromRegistry, never reused
# as it is (the identity and its role assignment are idempotent PUTs); the registry is created by
# provision itself (the import needs it first), so the template only reads it.
# The AcrPull role is deployed by a module (a nested deployment) in the registry's resource group.
IMAGE_PULL_TYPES = {"Microsoft.ManagedIdentity/userAssignedIdentities", "Microsoft.Resources/deployments"}
IMAGE_PULL_EXISTING = {"Microsoft.ContainerRegistry/registries"}


def test_outputs(compiled, template):
    assert compiled.outputs() == template["outputs"]


def test_no_literal_shadows_a_symbol(bicep_tree):
    """_bicep reads a str equal to a symbol name as that symbol; no quoted literal may be one."""
    text = _arm.BICEP.read_text(encoding="utf-8")
    symbols = set(bicep_tree["parameters"]) | set(bicep_tree["variables"]) | set(bicep_tree["resources"])
    literals = set(re.findall(r"'((?:[^'\\]|\\.)*)'", text))
    assert not (literals & symbols)


def test_compiler_can_fail(bicep_tree, template):
    """A changed property in the Bicep tree shows up as a difference."""
    import copy

    tree = copy.deepcopy(bicep_tree)
    body = tree["resources"]["app"]["config"]
    body["properties"]["configuration"]["ingress"]["allowInsecure"] = True
    from template.conftest import parse_module

    text = _arm.BICEP.read_text(encoding="utf-8")
    changed = list(_bicep.Compiler(tree, text, parse_module).arm_resources().values())[-1]
    assert _sorted_deps(changed) != _sorted_deps(template["resources"][-1])
    with pytest.raises(_bicep.Unsupported):
        _bicep.Compiler(tree).expr({"operator": {"type": "modulo", "operands": {}}})
