"""The ARM functions inference.json uses are exactly the list at the top of README.md (the local
ARM evaluator implements that list)."""

import re

from template import _arm


def readme_functions():
    text = (_arm.Path(__file__).resolve().parent / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- arm-functions -->(.*?)<!-- /arm-functions -->", text, re.S).group(1)
    return re.findall(r"`([A-Za-z]+)`", block)


def test_function_list_is_exact(template):
    listed = readme_functions()
    assert listed == sorted(set(listed)), "keep the list sorted, no duplicates"
    assert set(listed) == _arm.arm_functions_used(template)


def test_function_list_within_allowed():
    allowed = {
        "parameters",
        "variables",
        "format",
        "concat",
        "substring",
        "uniqueString",
        "toLower",
        "resourceGroup",
        "subscription",
        "resourceId",
        "reference",
        "listKeys",
        "json",
        "not",
        "if",
        "createArray",
        # the image pull from the user's registry: the role assignment's name, role and id
        "guid",
        "subscriptionResourceId",
        "extensionResourceId",
        # a registry of another resource group: its group, or this one when none is given
        "empty",
        # the HTTP scale rule's concurrentRequests (a string in the API) from an int parameter
        "string",
    }
    assert set(readme_functions()) <= allowed


def test_extractor_sees_functions_not_literals():
    node = {
        "a": "[format('x(y){0}', parameters('p'))]",
        "b": "[[notAnExpression('x')]",
        "c": ["[reference(resourceId('T', 'n'), '1').x]"],
        "d": "plain(text)",
    }
    assert _arm.arm_functions_used(node) == {"format", "parameters", "reference", "resourceId"}
