"""ARM expression semantics of the stand-in's evaluator, each case as Azure Resource Manager
documents it (learn.microsoft.com template-functions-* examples): an independent check of
azure_standin.arm.template, written without looking at how it implements them."""

import re

import pytest

from azure_standin.arm.expressions import TemplateError
from azure_standin.arm.template import Context, Template

SUB = "00000000-0000-0000-0000-0000000000aa"
RG = "rg-sem"


class Ctx(Context):
    def resource_group(self):
        return {
            "id": f"/subscriptions/{SUB}/resourceGroups/{RG}",
            "name": RG,
            "location": "eastus",
            "type": "Microsoft.Resources/resourceGroups",
            "properties": {"provisioningState": "Succeeded"},
        }

    def subscription(self):
        return {"id": f"/subscriptions/{SUB}", "subscriptionId": SUB, "tenantId": "t", "displayName": "stand-in"}


def ev(expr, params=None, decls=None):
    t = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": decls or {},
        "resources": [],
        "outputs": {"o": {"type": "object", "value": {"v": expr}}},
    }
    return Template(t, params or {}, Ctx()).outputs()["o"]["value"]["v"]


@pytest.mark.parametrize(
    "expr,want",
    [
        ("[concat('a', 'b', 'c')]", "abc"),
        ("[concat(createArray(1, 2), createArray(3))]", [1, 2, 3]),
        ("[format('{0}-{1}', 'a', 'b')]", "a-b"),
        ("[substring('hello', 1, 3)]", "ell"),
        ("[substring('hello', 3)]", "lo"),
        ("[toLower('AbC')]", "abc"),
        ("[toUpper('abc')]", "ABC"),
        ("[join(createArray('a', 'b', 'c'), ',')]", "a,b,c"),
        ("[if(equals(1, 1), 'yes', 'no')]", "yes"),
        ("[if(true(), 'a', parameters('doesNotExist'))]", "a"),  # only the taken branch evaluates
        ("[empty('')]", True),
        ("[empty(createArray())]", True),
        ("[empty(json('{}'))]", True),
        ("[empty('x')]", False),
        ("[not(equals('a', 'b'))]", True),
        ("[json('{\"a\": [1, 2]}').a[1]]", 2),
        ("[string(json('{\"a\": 1}'))]", '{"a":1}'),
        ("[string(createArray('a', 'b'))]", '["a","b"]'),
        ("[string(5)]", "5"),
        ("[int('4')]", 4),
        ("[length('abc')]", 3),
        ("[length(createArray(1, 2))]", 2),
        ("[take('abcdef', 2)]", "ab"),
        ("[skip('abcdef', 4)]", "ef"),
        ("[replace('a-b-c', '-', '')]", "abc"),
        ("[split('a,b', ',')]", ["a", "b"]),
        ("[startsWith('abcdef', 'AB')]", True),  # case-insensitive in ARM
        ("[endsWith('abcdef', 'EF')]", True),
        ("[indexOf('abcdef', 'CD')]", 2),
        ("[indexOf('abcdef', 'z')]", -1),
        ("[contains('OneTwoThree', 'e')]", True),
        ("[contains(json('{\"one\": \"a\"}'), 'one')]", True),
        ("[contains(createArray('one', 'two'), 'three')]", False),
        ("[coalesce(null(), 'x')]", "x"),
        ("[union(json('{\"a\": 1}'), json('{\"b\": 2}'))]", {"a": 1, "b": 2}),
        ("[createObject('k', 'v')]", {"k": "v"}),
        ("[first(createArray(1, 2))]", 1),
        ("[last('abc')]", "c"),
        ("[add(1, 2)]", 3),
        ("[bool('true')]", True),
        ("[array('a')]", ["a"]),
        ("[resourceGroup().name]", RG),
        ("[resourceGroup().location]", "eastus"),
        ("[subscription().subscriptionId]", SUB),
        (
            "[resourceId('Microsoft.Storage/storageAccounts', 'sa1')]",
            f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/sa1",
        ),
        (
            "[resourceId('Microsoft.Storage/storageAccounts/fileServices/shares', 'sa1', 'default', 'models')]",
            f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/sa1"
            "/fileServices/default/shares/models",
        ),
        (
            "[resourceId('other-rg', 'Microsoft.App/managedEnvironments', 'env')]",
            f"/subscriptions/{SUB}/resourceGroups/other-rg/providers/Microsoft.App/managedEnvironments/env",
        ),
        ("[[notAnExpression]", "[notAnExpression]"),
        ("[toLower(resourceGroup().name)]", RG),
    ],
)
def test_arm_function_semantics(expr, want):
    assert ev(expr) == want


def test_format_numeric_specifier_is_right_or_refused_by_name():
    # .NET composite format: ARM gives '005'; a stand-in that does not know the specifier must
    # say so (never a silent guess)
    try:
        assert ev("[format('{0:D3}', 5)]") == "005"
    except TemplateError as e:
        assert "D3" in e.message


def test_unique_string_shape_and_determinism():
    a = ev("[uniqueString(resourceGroup().id)]")
    assert re.fullmatch(r"[a-z2-7]{13}", a)
    assert ev("[uniqueString(resourceGroup().id)]") == a
    assert ev("[uniqueString(resourceGroup().id, 'x')]") != a
    # the separator is '-': ('a-b') and ('a', 'b') hash the same input
    assert ev("[uniqueString('a-b')]") == ev("[uniqueString('a', 'b')]")


def test_parameters_defaults_allowed_values_and_types():
    decls = {
        "gpu": {
            "type": "string",
            "defaultValue": "Consumption-GPU-NC8as-T4",
            "allowedValues": ["Consumption-GPU-NC8as-T4", "Consumption-GPU-NC24-A100"],
        },
        "n": {"type": "int", "defaultValue": 1},
        "prefix": {"type": "string", "defaultValue": "[concat('p', parameters('gpu'))]"},
    }
    assert ev("[parameters('gpu')]", decls=decls) == "Consumption-GPU-NC8as-T4"
    assert ev("[parameters('prefix')]", decls=decls) == "pConsumption-GPU-NC8as-T4"
    assert (
        ev("[parameters('gpu')]", {"gpu": {"value": "Consumption-GPU-NC24-A100"}}, decls) == "Consumption-GPU-NC24-A100"
    )
    with pytest.raises(TemplateError):
        ev("[parameters('gpu')]", {"gpu": {"value": "NC6"}}, decls)  # not an allowed value
    with pytest.raises(TemplateError):
        ev("[parameters('n')]", {"n": {"value": "many"}}, decls)  # not an int
    with pytest.raises(TemplateError):
        ev("[parameters('gpu')]", {"nope": {"value": 1}}, decls)  # undeclared parameter
    with pytest.raises(TemplateError):
        ev("[parameters('x')]", {}, {"x": {"type": "string"}})  # no value, no default


@pytest.mark.parametrize(
    "expr,mentions",
    [
        ("[frobnicate('a')]", "frobnicate"),
        ("[substring('abc', 2, 5)]", None),
        ("[parameters('missing')]", "missing"),
        ("[createArray(1)[3]]", None),
    ],
)
def test_errors_name_what_failed(expr, mentions):
    with pytest.raises(TemplateError) as e:
        ev(expr)
    if mentions:
        assert mentions in e.value.message
