"""Helpers shared by the template tests: file paths, schema registry, Bicep parsing and checkov."""

import json
import os
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# AITK_TEMPLATES_DIR: check another copy of the three files (e.g. an edited one) instead.
TEMPLATES = Path(os.environ.get("AITK_TEMPLATES_DIR") or ROOT / "src" / "aitk" / "azext_aitk" / "templates")
BICEP = TEMPLATES / "inference.bicep"
ARM_JSON = TEMPLATES / "inference.json"
PARAMETERS = TEMPLATES / "inference.parameters.json"
# The published ARM schemas, vendored beside these tests (arm-schemas/README.md names their source).
# AITK_ARM_SCHEMAS: check against another copy (e.g. a newer checkout of the schema repository).
SCHEMAS = Path(os.environ.get("AITK_ARM_SCHEMAS") or Path(__file__).with_name("arm-schemas") / "schemas")

API_VERSIONS = {
    "Microsoft.App": "2025-07-01",
    "Microsoft.Storage": "2025-06-01",
    "Microsoft.OperationalInsights": "2025-02-01",
}


def template():
    return json.loads(ARM_JSON.read_text(encoding="utf-8"))


def parameters_file():
    return json.loads(PARAMETERS.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def schema_files():
    """{schema id without '#': parsed schema} for every file under SCHEMAS."""
    out = {}
    for path in SCHEMAS.rglob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        out[doc["id"].rstrip("#")] = doc
    return out


TEMPLATE_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json"
PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json"
# The template envelope: deploymentTemplate.json with its `resource` definition (a oneOf over every
# provider's every API version, most of which are not vendored here) cut down to the
# resourceBase part it always applies; each resource is then checked against its own provider.
ENVELOPE_SCHEMA = "urn:aitk:deploymentTemplate-envelope"


@lru_cache(maxsize=1)
def registry():
    import copy

    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    docs = dict(schema_files())
    envelope = copy.deepcopy(docs[TEMPLATE_SCHEMA])
    envelope["id"] = ENVELOPE_SCHEMA
    envelope["definitions"]["resource"] = {"$ref": "#/definitions/resourceBase"}
    docs[ENVELOPE_SCHEMA] = envelope
    return Registry().with_resources(
        (sid, Resource.from_contents(doc, default_specification=DRAFT4)) for sid, doc in docs.items()
    )


def resource_validator(resource):
    """Validator of one template resource: the envelope's resourceBase and its provider's
    resourceDefinitions entry for its type and apiVersion (what the full schema's oneOf applies)."""
    from jsonschema import Draft4Validator

    rtype, api = resource["type"], resource["apiVersion"]
    name = resource_definition_name(rtype, api)
    return Draft4Validator(
        {
            "allOf": [
                {"$ref": f"{ENVELOPE_SCHEMA}#/definitions/resourceBase"},
                {"$ref": f"{provider_schema_id(rtype, api)}#/resourceDefinitions/{name}"},
            ]
        },
        registry=registry(),
    )


def validator(schema_id, pointer=""):
    """A Draft 4 validator for `schema_id#pointer`, $refs resolved through the local registry."""
    from jsonschema import Draft4Validator

    return Draft4Validator({"$ref": f"{schema_id}#{pointer}"}, registry=registry())


def provider_schema_id(resource_type, api_version):
    namespace = resource_type.split("/")[0]
    return f"https://schema.management.azure.com/schemas/{api_version}/{namespace}.json"


def resource_definition_name(resource_type, api_version):
    """The resourceDefinitions key whose type enum names resource_type."""
    doc = schema_files()[provider_schema_id(resource_type, api_version)]
    for name, definition in doc["resourceDefinitions"].items():
        props = definition.get("properties", {})
        if resource_type in props.get("type", {}).get("enum", []):
            return name
    raise KeyError(f"{resource_type}@{api_version} has no resource definition")


_FUNCTION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_STRING = re.compile(r"'(?:[^']|'')*'")


def _walk_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _walk_strings(k)
            yield from _walk_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk_strings(v)


def arm_expressions(node):
    """Every ARM template expression ("[...]", not an escaped "[[...") in node."""
    for s in _walk_strings(node):
        if s.startswith("[") and s.endswith("]") and not s.startswith("[["):
            yield s[1:-1]


def arm_functions_used(node):
    """Names of the ARM functions called anywhere in node's expressions (string literals ignored)."""
    names = set()
    for expr in arm_expressions(node):
        names.update(_FUNCTION.findall(_STRING.sub("''", expr)))
    return names
