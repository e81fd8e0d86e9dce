"""The ARM evaluator (azure_standin.arm.template) on its own: functions, parameters, conditions,
`existing`, symbolic names, dependsOn order, outputs, and errors that name what failed."""

import json

import pytest

from aitk_testkit.scenario import FINETUNING_STORAGE_TEMPLATE
from azure_standin.arm.expressions import TemplateError, Unresolved
from azure_standin.arm.template import Context, Template
from azure_standin.uniquestring import unique_string
from standin.conftest import INFERENCE_TEMPLATE

SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-eval"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"


class Ctx(Context):
    def __init__(self, existing=None, what_if=False):
        self.existing = {k.lower(): v for k, v in (existing or {}).items()}
        self.calls = []
        self.what_if = what_if

    def resource_group(self):
        return {
            "id": RG_ID,
            "name": RG,
            "type": "Microsoft.Resources/resourceGroups",
            "location": "eastus",
            "tags": {},
            "properties": {"provisioningState": "Succeeded"},
        }

    def subscription(self):
        return {"id": f"/subscriptions/{SUB}", "subscriptionId": SUB, "tenantId": "t-1", "displayName": "sub"}

    def deployment(self):
        return {"name": "dep1", "properties": {"template": {"contentVersion": "1.0.0.0"}}}

    def reference(self, rid, api_version, full):
        self.calls.append(("reference", rid, api_version, full))
        body = self.existing.get(rid.lower())
        if body is None:
            if self.what_if:
                raise Unresolved(rid)
            raise TemplateError(f"The Resource '{rid}' was not found.", code="ResourceNotFound")
        return body if full else body["properties"]

    def list_keys(self, rid, api_version):
        self.calls.append(("listKeys", rid, api_version))
        return {"keys": [{"keyName": "key1", "value": "K1"}, {"keyName": "key2", "value": "K2"}]}


def template(outputs=None, parameters=None, variables=None, resources=None, **extra):
    t = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": parameters or {},
        "variables": variables or {},
        "resources": resources if resources is not None else [],
        "outputs": outputs or {},
    }
    t.update(extra)
    return t


def ev(expr, params=None, decls=None, variables=None, ctx=None):
    t = template(outputs={"o": {"type": "object", "value": {"v": expr}}}, parameters=decls, variables=variables)
    return Template(t, params or {}, ctx or Ctx()).outputs()["o"]["value"]["v"]


# -- uniqueString -----------------------------------------------------------------------------
# Vectors from a public reimplementation that states it was verified against Bicep's
# uniqueString() (uniquestring.sh, "Self-test: verified against Bicep uniqueString() output").
@pytest.mark.parametrize(
    "args,want",
    [
        (["test"], "rbgf3xv4ufgzg"),
        (["hello", "world"], "a7wkljktk6wne"),
        (["abc"], "cgtzqvhu4i23s"),
        (["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg"], "bmg7c6xu4tw46"),
        (["foo", "bar", "baz"], "xzi4ioaxtmth4"),
        # A unit test that runs Microsoft's own Azure.Deployments.Expression library
        # (ExpressionBuiltInFunctions.EvaluateFunction("uniqueString", ...)) on a resource id from an
        # ARM deployment's output asserts this value (Modm.Tests.UnitTests.ArmFunctionsTests):
        (
            [
                "/subscriptions/31e9f9a0-9fd2-4294-a0a3-0101246d9700/resourceGroups/rg-modm201-20230913120256/"
                "providers/Microsoft.Compute/virtualMachines/bobjacmodm201"
            ],
            "yvjxno3je5on2",
        ),
    ],
)
def test_unique_string_known_vectors(args, want):
    assert unique_string(*args) == want
    quoted = ", ".join(f"'{a}'" for a in args)
    assert ev(f"[uniqueString({quoted})]") == want


def test_unique_string_all_tail_lengths():
    seen = set()
    for n in range(0, 20):
        s = unique_string("x" * n)
        assert len(s) == 13 and set(s) <= set("abcdefghijklmnopqrstuvwxyz234567")
        seen.add(s)
    assert len(seen) == 20
    assert unique_string("a", "b") == unique_string("a-b")  # joined with '-'
    assert unique_string("ABC") != unique_string("abc")  # case-sensitive


# -- functions --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expr,want",
    [
        ("[concat('a', 'b', 'c')]", "abc"),
        ("[concat(createArray(1, 2), createArray(3))]", [1, 2, 3]),
        ("[format('{0}/default/{1}', 'acct', 'share')]", "acct/default/share"),
        ("[format('{{literal}} {0}', 1)]", "{literal} 1"),
        ("[format('{0}', true())]", "True"),
        ("[substring('hello', 1, 3)]", "ell"),
        ("[substring('hello', 2)]", "llo"),
        ("[toLower('AbC')]", "abc"),
        ("[toUpper('abc')]", "ABC"),
        ("[replace('a-b-c', '-', '')]", "abc"),
        ("[take('hello', 2)]", "he"),
        ("[take(createArray(1, 2, 3), 2)]", [1, 2]),
        ("[skip('hello', 3)]", "lo"),
        ("[skip(createArray(1, 2, 3), 5)]", []),
        ("[length('abc')]", 3),
        ("[length(createArray(1, 2))]", 2),
        ("[length(json('{\"a\":1}'))]", 1),
        ("[join(createArray('a', 'b'), '-')]", "a-b"),
        ("[split('a,b;c', createArray(',', ';'))]", ["a", "b", "c"]),
        ("[split('a/b', '/')]", ["a", "b"]),
        ("[contains('Hello', 'ell')]", True),
        ("[contains(createArray('a', 'b'), 'b')]", True),
        ("[contains(json('{\"Key\": 1}'), 'key')]", True),
        ("[empty('')]", True),
        ("[empty(createArray())]", True),
        ("[empty(json('{}'))]", True),
        ("[empty(null())]", True),
        ("[empty('x')]", False),
        ("[equals(1, 1)]", True),
        ("[equals('a', 'b')]", False),
        ("[equals(createArray(1, 'a'), createArray(1, 'a'))]", True),
        ("[not(false())]", True),
        ("[and(true(), true(), false())]", False),
        ("[or(false(), true())]", True),
        ("[if(equals(1, 2), 'yes', 'no')]", "no"),
        ("[if(true(), 'taken', parameters('missing'))]", "taken"),  # lazy
        ("[coalesce(null(), null(), 'x')]", "x"),
        ("[createObject('a', 1, 'b', createArray(2))]", {"a": 1, "b": [2]}),
        ("[array('x')]", ["x"]),
        ('[json(\'{"a": [1, {"b": 2}]}\').a[1].b]', 2),
        ("[json('{\"a\": {\"b-c\": 3}}').a['b-c']]", 3),
        ("[json('8.0')]", 8.0),
        ("[string(json('{\"a\": 1}'))]", '{"a":1}'),
        ("[string(true())]", "True"),
        ("[string(12)]", "12"),
        ("[int('42')]", 42),
        ("[bool('true')]", True),
        ('[union(json(\'{"a":1,"b":{"x":1}}\'), json(\'{"b":2}\'))]', {"a": 1, "b": 2}),
        ("[union(createArray(1, 2), createArray(2, 3))]", [1, 2, 3]),
        ("[first(createArray('a', 'b'))]", "a"),
        ("[last('abc')]", "c"),
        ("[min(3, 1, 2)]", 1),
        ("[max(createArray(3, 7))]", 7),
        ("[resourceGroup().name]", RG),
        ("[resourceGroup().location]", "eastus"),
        ("[subscription().subscriptionId]", SUB),
        ("[deployment().name]", "dep1"),
        (
            "[resourceId('Microsoft.Storage/storageAccounts', 'sa1')]",
            f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/sa1",
        ),
        (
            "[resourceId('Microsoft.Storage/storageAccounts/fileServices/shares', 'sa1', 'default', 's')]",
            f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/sa1/fileServices/default/shares/s",
        ),
        (
            "[resourceId('other-rg', 'Microsoft.App/containerApps', 'app')]",
            f"/subscriptions/{SUB}/resourceGroups/other-rg/providers/Microsoft.App/containerApps/app",
        ),
        (
            "[resourceId('sub2', 'rg2', 'Microsoft.App/containerApps', 'app')]",
            "/subscriptions/sub2/resourceGroups/rg2/providers/Microsoft.App/containerApps/app",
        ),
        ("[substring(uniqueString(resourceGroup().id), 0, 5)]", unique_string(RG_ID)[:5]),
    ],
)
def test_functions(expr, want):
    got = ev(expr)
    assert got == want and type(got) is type(want)


def test_string_escapes_and_literals():
    t = template(
        outputs={
            "lit": {"type": "string", "value": "[[not an expression]"},
            "quote": {"type": "string", "value": "[concat('it''s', ' ok')]"},
            "plain": {"type": "string", "value": "plain [x] text"},
        }
    )
    out = Template(t, {}, Ctx()).outputs()
    assert out["lit"]["value"] == "[not an expression]"
    assert out["quote"]["value"] == "it's ok"
    assert out["plain"]["value"] == "plain [x] text"
    assert out["lit"]["type"] == "String"


def test_reference_and_listkeys_go_through_the_context():
    rid = f"{RG_ID}/providers/Microsoft.App/containerApps/app"
    ctx = Ctx({rid: {"id": rid, "properties": {"configuration": {"ingress": {"fqdn": "127.0.0.1:1"}}}}})
    assert (
        ev(
            "[reference(resourceId('Microsoft.App/containerApps', 'app'), '2025-07-01').configuration.ingress.fqdn]",
            ctx=ctx,
        )
        == "127.0.0.1:1"
    )
    assert ev("[reference(resourceId('Microsoft.App/containerApps', 'app'), '2025-07-01', 'Full').id]", ctx=ctx) == rid
    assert (
        ev("[listKeys(resourceId('Microsoft.Storage/storageAccounts', 'sa'), '2025-06-01').keys[0].value]", ctx=ctx)
        == "K1"
    )
    assert ("reference", rid, "2025-07-01", True) in ctx.calls


# -- parameters -------------------------------------------------------------------------------
DECLS = {
    "name": {"type": "string", "defaultValue": "[format('n-{0}', resourceGroup().name)]"},
    "size": {"type": "int", "defaultValue": 2, "minValue": 1, "maxValue": 4},
    "sku": {"type": "string", "defaultValue": "S", "allowedValues": ["S", "M"]},
    "flag": {"type": "bool", "defaultValue": False},
    "secret": {"type": "securestring"},
    "obj": {"type": "secureObject", "defaultValue": {}},
    "later": {"type": "string", "defaultValue": "[concat(parameters('name'), '-x')]"},
}


def test_parameter_defaults_types_and_secure():
    t = Template(template(parameters=DECLS), {"secret": {"value": "s3"}}, Ctx())
    assert t.params["name"] == f"n-{RG}" and t.params["size"] == 2 and t.params["later"] == f"n-{RG}-x"
    assert t.secure_parameters() == {"secret", "obj"}
    t2 = Template(
        template(parameters=DECLS), {"secret": {"value": "s"}, "size": {"value": "3"}, "flag": {"value": "true"}}, Ctx()
    )
    assert t2.params["size"] == 3 and t2.params["flag"] is True


@pytest.mark.parametrize(
    "given,mentions",
    [
        ({}, "secret"),  # required, not given
        ({"secret": {"value": "s"}, "size": {"value": 9}}, "less than or equal to '4'"),
        ({"secret": {"value": "s"}, "size": {"value": 0}}, "greater than or equal to '1'"),
        ({"secret": {"value": "s"}, "sku": {"value": "XL"}}, "allowed value"),
        ({"secret": {"value": "s"}, "size": {"value": "many"}}, "Expected 'Integer'"),
        ({"secret": {"value": "s"}, "nope": {"value": 1}}, "nope"),
    ],
)
def test_parameter_errors(given, mentions):
    with pytest.raises(TemplateError) as e:
        Template(template(parameters=DECLS), given, Ctx())
    assert e.value.code == "InvalidTemplate" and mentions in e.value.message


# -- resources: conditions, existing, dependsOn, symbolic names ---------------------------------
def _res(rtype, name, **kw):
    r = {"type": rtype, "apiVersion": "2025-07-01", "name": name}
    r.update(kw)
    return r


def test_conditions_order_and_dropped_dependencies():
    t = template(
        parameters={"skipStorage": {"type": "bool", "defaultValue": True}},
        resources=[
            _res(
                "Microsoft.App/containerApps",
                "app",
                dependsOn=[
                    "[resourceId('Microsoft.App/managedEnvironments', 'env')]",
                    "[resourceId('Microsoft.Storage/storageAccounts', 'sa')]",
                ],
                properties={
                    "x": "[reference(resourceId('Microsoft.App/managedEnvironments', 'env'), '2025-07-01').defaultDomain]"
                },
            ),
            _res(
                "Microsoft.Storage/storageAccounts",
                "sa",
                condition="[not(parameters('skipStorage'))]",
                properties={"y": "[parameters('doesNotExist')]"},
            ),  # never evaluated: condition false
            _res("Microsoft.App/managedEnvironments", "env", dependsOn=["sa"]),
        ],
    )
    tpl = Template(t, {}, Ctx())
    assert [r.name for r in tpl.deploy_order()] == ["env", "app"]
    sa = next(r for r in tpl.resources if r.name == "sa")
    assert sa.condition is False
    tpl2 = Template(t, {"skipStorage": {"value": False}}, Ctx())
    assert [r.name for r in tpl2.deploy_order()] == ["sa", "env", "app"]


def test_existing_and_symbolic_names():
    acct_id = f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/sa"
    ctx = Ctx({acct_id: {"id": acct_id, "properties": {"primaryEndpoints": {"file": "https://x/sa/"}}}})
    t = template(
        languageVersion="2.0",
        resources={
            "sa": {
                "type": "Microsoft.Storage/storageAccounts",
                "apiVersion": "2025-06-01",
                "name": "sa",
                "existing": True,
            },
            "share": {
                "type": "Microsoft.Storage/storageAccounts/fileServices/shares",
                "apiVersion": "2025-06-01",
                "name": "sa/default/s",
                "dependsOn": ["sa"],
                "properties": {"endpoint": "[reference('sa').primaryEndpoints.file]"},
            },
        },
        outputs={
            "file": {"type": "string", "value": "[reference('sa').primaryEndpoints.file]"},
            "hidden": {"type": "string", "condition": "[equals(1, 2)]", "value": "[parameters('x')]"},
        },
    )
    tpl = Template(t, {}, ctx)
    order = tpl.deploy_order()
    assert [r.key for r in order] == ["share"]  # existing: not deployed
    assert tpl.resource_body(order[0])["properties"]["endpoint"] == "https://x/sa/"
    out = tpl.outputs()
    assert out == {"file": {"type": "String", "value": "https://x/sa/"}}  # conditional output left out


def test_what_if_keeps_unresolved_references_as_text():
    t = template(
        resources=[
            _res(
                "Microsoft.App/containerApps",
                "app",
                properties={
                    "env": "[reference(resourceId('Microsoft.App/managedEnvironments', 'env'), '2025-07-01').x]"
                },
            )
        ]
    )
    tpl = Template(t, {}, Ctx(what_if=True), what_if=True)
    body = tpl.resource_body(tpl.resources[0])
    assert body["properties"]["env"].startswith("[reference(")


def test_real_templates_evaluate():
    ft = json.loads(FINETUNING_STORAGE_TEMPLATE.read_text())
    tpl = Template(ft, {"storageAccountName": {"value": "sa1"}, "fileShareName": {"value": "share"}}, Ctx())
    assert [r.type for r in tpl.deploy_order()] == [
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Storage/storageAccounts/fileServices/shares",
    ]
    assert tpl.resource_body(tpl.resources[0])["location"] == "eastus"
    inf = json.loads(INFERENCE_TEMPLATE.read_text())
    tpl = Template(inf, {"apiKey": {"value": "k"}, "apiKeySecondary": {"value": "k2"}}, Ctx())
    types = [r.type for r in tpl.deploy_order()]
    assert types.index("Microsoft.App/containerApps") == len(types) - 1
    assert types.index("Microsoft.OperationalInsights/workspaces") < types.index("Microsoft.App/managedEnvironments")


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expr,mentions",
    [
        ("[dateTimeAdd(utcNow(), 'PT1H')]", "dateTimeAdd"),  # unknown to the stand-in: refused by name
        ("[frobnicate('x')]", "frobnicate"),
        ("[parameters('nope')]", "nope"),
        ("[variables('nope')]", "nope"),
        ("[substring('abc', 2, 5)]", "length"),
        ("[json('{\"a\":1}').b]", "'b'"),
        ("[createArray(1)[3]]", "out of bounds"),
        ("[concat('a', ]", "not valid"),
        ("[format('{1}', 'a')]", "{1}"),
        ("[uniqueString(1)]", "uniqueString"),
        ("[resourceId('Microsoft.Storage/storageAccounts/fileServices/shares', 'a')]", "resource name argument"),
    ],
)
def test_errors_are_invalid_template_and_name_the_cause(expr, mentions):
    with pytest.raises(TemplateError) as e:
        ev(expr)
    assert e.value.code == "InvalidTemplate"
    assert mentions in e.value.message


def test_unknown_function_fails_validation_before_anything_runs():
    t = template(
        resources=[
            _res("Microsoft.App/containerApps", "app", condition="[equals(1, 2)]", properties={"x": "[newGuid()]"})
        ]
    )
    with pytest.raises(TemplateError) as e:
        Template(t, {}, Ctx())
    assert "newGuid" in e.value.message and "resources" in (e.value.target or "")


@pytest.mark.parametrize(
    "bad",
    [
        {
            "resources": [
                {
                    "type": "Microsoft.Storage/storageAccounts",
                    "apiVersion": "x",
                    "name": "a",
                    "copy": {"name": "c", "count": 2},
                }
            ]
        },
        {"functions": [{"namespace": "n", "members": {}}]},
        {"resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "x", "name": "nested"}]},
        {
            "resources": [
                _res(
                    "Microsoft.App/containerApps", "a", dependsOn=["[resourceId('Microsoft.App/containerApps', 'b')]"]
                ),
                _res(
                    "Microsoft.App/containerApps", "b", dependsOn=["[resourceId('Microsoft.App/containerApps', 'a')]"]
                ),
            ]
        },
        {"resources": [_res("Microsoft.App/containerApps", "a", dependsOn=["ghost"])]},
    ],
)
def test_unsupported_or_broken_templates_are_refused(bad):
    with pytest.raises(TemplateError) as e:
        Template(template(**bad), {}, Ctx())
    assert e.value.code == "InvalidTemplate" and e.value.message
