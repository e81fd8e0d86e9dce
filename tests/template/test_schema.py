"""(1) The ARM JSON and the parameters file validate against the published ARM schemas
(vendored in tests/template/arm-schemas from Azure/azure-resource-manager-schemas): the template envelope, then each
resource against its provider file's resourceDefinitions, `$ref`s resolved by the files' ids."""

import copy

import pytest

from template import _arm


def _errors(validator, instance):
    return [f"{e.json_path}: {e.message[:300]}" for e in validator.iter_errors(instance)]


def test_schema_files_present():
    assert (_arm.SCHEMAS / "2019-04-01" / "deploymentTemplate.json").is_file(), _arm.SCHEMAS
    ids = _arm.schema_files()
    assert _arm.TEMPLATE_SCHEMA in ids and _arm.PARAMETERS_SCHEMA in ids
    for namespace, api in _arm.API_VERSIONS.items():
        assert f"https://schema.management.azure.com/schemas/{api}/{namespace}.json" in ids


def test_template_envelope(template):
    assert template["$schema"] == _arm.TEMPLATE_SCHEMA + "#"
    assert template["contentVersion"] == "1.0.0.0"
    assert "languageVersion" not in template, "plain resources array, not languageVersion 2.0"
    assert isinstance(template["resources"], list)
    assert _errors(_arm.validator(_arm.ENVELOPE_SCHEMA), template) == []


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.__setitem__("resources", "nope"),
        lambda t: t["parameters"]["apiKey"].__setitem__("type", "password"),
        lambda t: t["outputs"]["ACA_APP_NAME"].pop("type"),
    ],
)
def test_envelope_check_can_fail(template, mutate):
    bad = copy.deepcopy(template)
    mutate(bad)
    assert _errors(_arm.validator(_arm.ENVELOPE_SCHEMA), bad)


# Provider files not vendored yet (tests/template/arm-schemas/README.md): these resources are checked
# against the envelope's resourceBase only.
NOT_VENDORED = {
    "Microsoft.ManagedIdentity": "2023-01-31",
    "Microsoft.Authorization": "2022-04-01",
    "Microsoft.Resources": "2022-09-01",  # the AcrPull module's nested deployment
}


@pytest.mark.parametrize("index", range(8))
def test_resource_against_provider_schema(template, index):
    assert len(template["resources"]) == 8
    resource = template["resources"][index]
    namespace = resource["type"].split("/")[0]
    if namespace in NOT_VENDORED:
        assert resource["apiVersion"] == NOT_VENDORED[namespace]
        base = _arm.validator(_arm.ENVELOPE_SCHEMA, "/definitions/resourceBase")
        assert _errors(base, resource) == []
        return
    assert resource["apiVersion"] == _arm.API_VERSIONS[namespace]
    assert _errors(_arm.resource_validator(resource), resource) == []


@pytest.mark.parametrize(
    "where, mutate",
    [
        ("storageAccounts", lambda r: r["properties"].__setitem__("minimumTlsVersion", "TLS1_9")),
        ("storageAccounts", lambda r: r.__setitem__("kind", "NotAKind")),
        ("containerApps", lambda r: r["properties"]["configuration"].__setitem__("activeRevisionsMode", "Sometimes")),
        ("containerApps", lambda r: r["properties"]["configuration"]["ingress"].__setitem__("targetPort", "eighty")),
        ("containerApps", lambda r: r["properties"]["template"]["volumes"][0].__setitem__("storageType", "Floppy")),
        ("managedEnvironments", lambda r: r["properties"].__setitem__("workloadProfiles", 5)),
        ("workspaces", lambda r: r["properties"]["sku"].__setitem__("name", "Free4Ever")),
    ],
)
def test_resource_check_can_fail(template, where, mutate):
    bad = copy.deepcopy(next(r for r in template["resources"] if r["type"].endswith("/" + where)))
    mutate(bad)
    assert _errors(_arm.resource_validator(bad), bad)


def test_parameters_file():
    params = _arm.parameters_file()
    assert params["$schema"] == _arm.PARAMETERS_SCHEMA + "#"
    assert params["contentVersion"] == "1.0.0.0"
    assert _errors(_arm.validator(_arm.PARAMETERS_SCHEMA), params) == []
    bad = copy.deepcopy(params)
    bad["parameters"]["acaAppName"] = {"valu": "x"}
    assert _errors(_arm.validator(_arm.PARAMETERS_SCHEMA), bad)
