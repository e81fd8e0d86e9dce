"""ARM template evaluator: parameters, variables, conditions, `existing`, dependsOn order,
outputs, with the expression language of expressions.py and the functions of functions.py.

Pure: everything outside the template (resource group, subscription, deployed resources, keys)
comes through a context object (see `Context`). Anything the evaluator does not know raises
TemplateError with code InvalidTemplate naming it; it never guesses.
https://learn.microsoft.com/azure/azure-resource-manager/templates/syntax"""

import copy
import re

from .expressions import (
    TemplateError,
    Unresolved,
    arm_equals,
    get_ci,
    is_expression,
    parse_expression,
    to_string,
    type_name,
    walk_calls,
)
from .functions import FUNCTIONS, make_resource_id, names_of


class Context:
    """What a template sees of the world. The deployment engine subclasses it."""

    def resource_group(self) -> dict:
        raise TemplateError("resourceGroup() is not available here")

    def subscription(self) -> dict:
        raise TemplateError("subscription() is not available here")

    def deployment(self) -> dict:
        raise TemplateError("deployment() is not available here")

    def environment(self) -> dict:
        raise TemplateError("environment() is not available here")

    def reference(self, resource_id, api_version, full) -> dict:
        raise TemplateError("reference() is not available here")

    def list_keys(self, resource_id, api_version) -> dict:
        raise TemplateError("listKeys() is not available here")


# ---------------------------------------------------------------------------------------------
# The template
# ---------------------------------------------------------------------------------------------
PARAM_TYPES = {
    "string": str,
    "securestring": str,
    "int": int,
    "bool": bool,
    "object": dict,
    "secureobject": dict,
    "array": list,
}
OUTPUT_TYPE_NAMES = {
    "string": "String",
    "securestring": "SecureString",
    "int": "Int",
    "bool": "Bool",
    "object": "Object",
    "secureobject": "SecureObject",
    "array": "Array",
}


# A record of one template resource's fields, as the evaluator resolves them.
class TemplateResource:  # pylint: disable=too-many-instance-attributes,too-few-public-methods
    def __init__(self, key, raw, index):
        self.key = key  # symbolic name (languageVersion 2.0) or None
        self.raw = raw  # the JSON as written
        self.index = index
        self.type = None
        self.api_version = None
        self.name = None
        self.id = None
        self.condition = True
        self.existing = bool(raw.get("existing"))
        self.depends_on = []  # resolved: list of TemplateResource
        self.scope = raw.get("scope")
        self.nested = None  # a NestedDeployment when type is Microsoft.Resources/deployments


DEPLOYMENTS_TYPE = "microsoft.resources/deployments"


class NestedDeployment:  # pylint: disable=too-few-public-methods
    """A Microsoft.Resources/deployments resource of a template: an inline template deployed to a
    resource group (its own, or another of the subscription: `resourceGroup`, `subscriptionId`).
    https://learn.microsoft.com/azure/azure-resource-manager/templates/linked-templates#nested-template
    https://learn.microsoft.com/azure/azure-resource-manager/templates/deploy-to-resource-group#deploy-to-multiple-resource-groups
    `expressionEvaluationOptions.scope`: "inner" evaluates the nested template on its own, with the
    `parameters` the parent passes and resourceGroup()/subscription() of the nested deployment's
    target; "outer" (the default, also "NotSpecified") evaluates its expressions in the parent
    (the parent's parameters, variables, resourceGroup()) while its resources go to the target group
    (linked-templates#expression-evaluation-scope-in-nested-templates)."""

    def __init__(self, resource_group, inner, template, parameters):
        self.resource_group = resource_group  # the target group's name
        self.inner = inner
        self.template = template
        self.parameters = parameters  # as written in the parent (evaluated in the parent at deploy time)


# One template's evaluation state (the template, its context, bound parameters, caches, resources).
class Template:  # pylint: disable=too-many-instance-attributes
    def __init__(self, template: dict, parameters: dict, ctx: Context, *, what_if=False, outer=None, group=None):
        if not isinstance(template, dict):
            raise TemplateError("The template is not a JSON object.")
        self.t = template
        self.ctx = ctx
        self.what_if = what_if
        # A nested template with outer scope: its expressions are the parent's (`outer`), its
        # resources go to the nested deployment's group (`group`, a name; default the context's).
        self.outer = outer
        self.group = group
        if outer is not None and (template.get("parameters") or template.get("variables")):
            raise TemplateError(
                "A nested template evaluated in the outer scope uses the parent's parameters and variables; "
                "its own 'parameters'/'variables' are not supported by the stand-in (use "
                "expressionEvaluationOptions scope 'inner')."
            )
        self.symbolic = isinstance(template.get("resources"), dict)
        self.functions = {}
        self._var_cache = {}
        self._var_busy = set()
        self._check_unsupported()
        self.check_functions()
        self.params = self._bind_parameters(parameters or {})
        self.resources = self._resources()

    # -- validation --------------------------------------------------------------------------
    def _check_unsupported(self):
        lv = self.t.get("languageVersion")
        if lv not in (None, "1.9-experimental", "2.0"):
            raise TemplateError(f"The template languageVersion '{lv}' is not supported by the stand-in.")
        if self.t.get("functions"):
            raise TemplateError("User-defined template functions ('functions') are not supported by the stand-in.")
        for key, r in self._raw_resources():
            if "copy" in r:
                raise TemplateError(
                    f"Resource copy loops ('copy' on resource '{key or r.get('name')}') are not "
                    "supported by the stand-in."
                )
        if isinstance(self.t.get("variables"), dict) and "copy" in self.t["variables"]:
            raise TemplateError("Variable copy loops are not supported by the stand-in.")

    def _raw_resources(self):
        res = self.t.get("resources", [])
        if isinstance(res, dict):
            return list(res.items())
        if not isinstance(res, list):
            raise TemplateError("The template 'resources' must be an array or (languageVersion 2.0) an object.")
        return [(None, r) for r in res]

    def _strings(self, node, where):
        if isinstance(node, str):
            if is_expression(node):
                yield node, where
        elif isinstance(node, dict):
            for k, v in node.items():
                yield from self._strings(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from self._strings(v, f"{where}[{i}]")

    def check_functions(self):
        """Every expression parses and calls only functions the stand-in knows (ARM's validation)."""
        for section in ("parameters", "variables", "resources", "outputs"):
            for text, where in self._strings(self.t.get(section, {}), section):
                ast = parse_expression(text[1:-1])
                for name, _ in walk_calls(ast):
                    if name.lower() not in FUNCTIONS:
                        raise TemplateError(
                            f"Deployment template validation failed: 'The template function '{name}' is not "
                            f"valid or not supported by the local Azure stand-in (at '{where}').'",
                            target=where,
                        )

    def _bind_parameters(self, given):
        declared = self.t.get("parameters", {}) or {}
        out = {}
        lower_given = {k.lower(): (k, v) for k, v in given.items()}
        for k in given:
            if not any(k.lower() == d.lower() for d in declared):
                raise TemplateError(
                    f"Deployment template validation failed: 'The template parameters '{k}' in the "
                    "parameters file are not valid; they are not present in the original template "
                    "and can therefore not be provided at deployment time. The only supported "
                    f"parameters for this template are '{', '.join(declared)}'.'"
                )
        self.params = out  # defaults may reference earlier parameters
        for name, decl in declared.items():
            ptype = str(decl.get("type", "")).lower()
            if ptype not in PARAM_TYPES:
                raise TemplateError(f"The parameter '{name}' has the type '{decl.get('type')}', which is not valid.")
            if name.lower() in lower_given:
                entry = lower_given[name.lower()][1]
                if isinstance(entry, dict) and "reference" in entry and "value" not in entry:
                    raise TemplateError(
                        f"The parameter '{name}' uses a Key Vault reference, which the stand-in does not support."
                    )
                value = entry.get("value") if isinstance(entry, dict) else entry
            elif "defaultValue" in decl:
                value = self.evaluate(decl["defaultValue"], f"parameters.{name}.defaultValue")
            else:
                raise TemplateError(
                    f"Deployment template validation failed: 'The value for the template parameter "
                    f"'{name}' at line '1' and column '1' is not provided. Please see "
                    "https://aka.ms/arm-create-parameter-file for usage details.'",
                    target=f"parameters.{name}",
                )
            value = self._coerce(name, ptype, value)
            allowed = decl.get("allowedValues")
            if allowed is not None:
                vals = value if ptype == "array" else [value]
                for v in vals:
                    if not any(arm_equals(v, a) for a in allowed):
                        raise TemplateError(
                            f"Deployment template validation failed: 'The provided value '{to_string(v)}' "
                            f"for the template parameter '{name}' is not valid. The parameter value is "
                            f"not part of the allowed value(s): '{','.join(to_string(a) for a in allowed)}'.'",
                            target=f"parameters.{name}",
                        )
            if ptype == "int":
                if "minValue" in decl and value < decl["minValue"]:
                    raise TemplateError(
                        f"Deployment template validation failed: 'The provided value '{value}' for the "
                        f"template parameter '{name}' is not valid. The value must be greater than or "
                        f"equal to '{decl['minValue']}'.'",
                        target=f"parameters.{name}",
                    )
                if "maxValue" in decl and value > decl["maxValue"]:
                    raise TemplateError(
                        f"Deployment template validation failed: 'The provided value '{value}' for the "
                        f"template parameter '{name}' is not valid. The value must be less than or "
                        f"equal to '{decl['maxValue']}'.'",
                        target=f"parameters.{name}",
                    )
            if ptype in ("string", "securestring", "array"):
                if "minLength" in decl and len(value) < decl["minLength"]:
                    raise TemplateError(
                        f"Deployment template validation failed: 'The provided value for the template "
                        f"parameter '{name}' is not valid. The length must be at least "
                        f"'{decl['minLength']}'.'",
                        target=f"parameters.{name}",
                    )
                if "maxLength" in decl and len(value) > decl["maxLength"]:
                    raise TemplateError(
                        f"Deployment template validation failed: 'The provided value for the template "
                        f"parameter '{name}' is not valid. The length must be at most "
                        f"'{decl['maxLength']}'.'",
                        target=f"parameters.{name}",
                    )
            out[name] = value
        return out

    @staticmethod
    def _coerce(name, ptype, value):
        want = PARAM_TYPES[ptype]
        if ptype == "int" and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if ptype == "bool" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if ptype == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
        if not ok:
            expected = {
                "string": "String",
                "securestring": "String",
                "int": "Integer",
                "bool": "Boolean",
                "object": "Object",
                "secureobject": "Object",
                "array": "Array",
            }[ptype]
            raise TemplateError(
                f"Deployment template validation failed: 'Template parameter JToken type is not "
                f"valid. Expected '{expected}'. Actual '{type_name(value)}'. Please see "
                "https://aka.ms/resource-manager-parameter-files for usage details.'",
                target=f"parameters.{name}",
            )
        return value

    def secure_parameters(self):
        return {
            n
            for n, d in (self.t.get("parameters") or {}).items()
            if str(d.get("type", "")).lower() in ("securestring", "secureobject")
        }

    def parameter_types(self):
        return {n: str(d.get("type", "")).lower() for n, d in (self.t.get("parameters") or {}).items()}

    # -- resources ---------------------------------------------------------------------------
    def _resources(self):
        out = []
        for i, (key, raw) in enumerate(self._raw_resources()):
            if not isinstance(raw, dict):
                raise TemplateError(f"Resource #{i} is not an object.")
            r = TemplateResource(key, raw, i)
            where = f"resources[{key if key else i}]"
            r.type = self.evaluate(raw.get("type"), where + ".type")
            r.api_version = self.evaluate(raw.get("apiVersion"), where + ".apiVersion")
            if not isinstance(r.type, str) or not isinstance(r.api_version, str):
                raise TemplateError(f"The resource {where} must have a 'type' and an 'apiVersion'.", target=where)
            r.name = self.evaluate(raw.get("name"), where + ".name")
            if not isinstance(r.name, str):
                raise TemplateError(f"The resource {where} must have a string 'name'.", target=where)
            scope_id = self._scope_id(r, where) if r.scope is not None else None
            if "condition" in raw:
                cond = self.evaluate(raw["condition"], where + ".condition")
                if not isinstance(cond, bool):
                    raise TemplateError(
                        f"The condition of {where} must evaluate to a boolean; got '{type_name(cond)}'.", target=where
                    )
                r.condition = cond
            r.id = self._resource_id(r, where, scope_id)
            out.append(r)
        by_id = {r.id.lower(): r for r in out}
        by_key = {r.key: r for r in out if r.key}
        by_name = {}
        for r in out:
            by_name.setdefault(r.name.lower(), []).append(r)
        self.by_id, self.by_key = by_id, by_key
        for r in out:
            where = f"resources[{r.key or r.index}].dependsOn"
            for dep in r.raw.get("dependsOn", []) or []:
                target = None
                if r.key is not None and dep in by_key:
                    target = by_key[dep]
                else:
                    val = self.evaluate(dep, where)
                    if not isinstance(val, str):
                        raise TemplateError(f"{where}: a dependsOn entry must be a string.", target=where)
                    target = by_id.get(val.lower())
                    if target is None:
                        cands = by_name.get(val.lower()) or [
                            x for x in out if x.name.lower().endswith("/" + val.lower())
                        ]
                        if len(cands) == 1:
                            target = cands[0]
                    if target is None:
                        raise TemplateError(
                            f"Deployment template validation failed: 'The resource '{val}' is not "
                            f"defined in the template.'",
                            target=where,
                        )
                if target is not r:
                    r.depends_on.append(target)
        self._check_cycles(out)
        return out

    def _resource_id(self, r, where, scope_id):
        """r's id (a nested deployment's in its target group, an extension resource's under its scope)."""
        group = self.deploy_group()
        sub = self.ctx.subscription()["subscriptionId"]
        if r.type.lower() == DEPLOYMENTS_TYPE:
            if scope_id is not None:
                raise TemplateError(
                    f"{where}: a nested deployment's 'scope' is not supported by the stand-in; "
                    "use its 'resourceGroup' property.",
                    target=where,
                )
            r.nested = self._nested(r.raw, where, sub)
            group = r.nested.resource_group
        rid = make_resource_id(sub, group, r.type, names_of(r.type, r.name))
        if scope_id is not None:  # an extension resource: {scope}/providers/{type}/{name}
            rid = scope_id + rid.split(f"/resourceGroups/{group}", 1)[1]
        return rid

    def deploy_group(self) -> str:
        """The resource group this template's resources are deployed to."""
        return self.group or self.ctx.resource_group()["name"]

    def _nested(self, raw, where, sub):
        """The nested deployment a Microsoft.Resources/deployments resource describes; what the
        stand-in does not play (linked templates, other subscriptions, modes but Incremental) is
        refused here, before anything is deployed."""
        props = raw.get("properties")
        if not isinstance(props, dict):
            raise TemplateError(f"{where}: a nested deployment needs 'properties'.", target=where)
        if "templateLink" in props or "parametersLink" in props:
            raise TemplateError(
                f"{where}: linked templates (templateLink, parametersLink) are not supported by the stand-in; "
                "inline the template ('template').",
                target=where,
            )
        if not isinstance(props.get("template"), dict):
            raise TemplateError(f"{where}: a nested deployment needs an inline 'template' object.", target=where)
        for key in ("copy", "location"):
            if key in raw:
                raise TemplateError(
                    f"{where}: '{key}' on a nested deployment is not supported by the stand-in.", target=where
                )
        mode = self.evaluate(props.get("mode", "Incremental"), where + ".properties.mode")
        if not isinstance(mode, str) or mode.lower() != "incremental":
            raise TemplateError(
                f"{where}: nested deployment mode '{to_string(mode)}' is not supported by the stand-in "
                "(only Incremental).",
                target=where,
            )
        options = props.get("expressionEvaluationOptions") or {}
        scope = self.evaluate(options.get("scope", "outer") if isinstance(options, dict) else None, where)
        if not isinstance(scope, str) or scope.lower() not in ("inner", "outer", "notspecified"):
            raise TemplateError(
                f"{where}: expressionEvaluationOptions scope must be 'inner' or 'outer'; got '{to_string(scope)}'.",
                target=where,
            )
        target_sub = self.evaluate(raw.get("subscriptionId", sub), where + ".subscriptionId")
        if not isinstance(target_sub, str) or target_sub.lower() != sub.lower():
            raise TemplateError(
                f"{where}: a nested deployment to another subscription ('{to_string(target_sub)}') is not "
                "supported by the stand-in.",
                target=where,
            )
        group = self.evaluate(raw.get("resourceGroup", self.deploy_group()), where + ".resourceGroup")
        if not isinstance(group, str) or not group:
            raise TemplateError(f"{where}: 'resourceGroup' must be a resource group name.", target=where)
        parameters = props.get("parameters") or {}
        inner = scope.lower() == "inner"
        if not inner and parameters:
            raise TemplateError(
                f"{where}: 'parameters' of a nested deployment are passed only with expressionEvaluationOptions "
                "scope 'inner'.",
                target=where,
            )
        Template.check_static(props["template"])
        return NestedDeployment(group, inner, props["template"], parameters)

    @classmethod
    def check_static(cls, template):
        """What can be checked of a nested template before its parameters are known: the features
        the stand-in plays and the functions it knows (so a deployment fails before it starts)."""
        if not isinstance(template, dict):
            raise TemplateError("The nested template is not a JSON object.")
        probe = cls.__new__(cls)
        probe.t = template
        probe._check_unsupported()  # pylint: disable=protected-access
        probe.check_functions()

    def nested_outer(self, r: TemplateResource) -> "Template":
        """The nested template of r when it is evaluated in this (outer) template's scope."""
        return Template(
            r.nested.template, {}, self.ctx, what_if=self.what_if, outer=self, group=r.nested.resource_group
        )

    def nested_parameters(self, r: TemplateResource) -> dict:
        """The parameters an inner-scope nested deployment gets, evaluated here (the parent)."""
        where = f"resources[{r.key or r.index}].properties.parameters"
        values = self.evaluate(r.nested.parameters, where)
        if not isinstance(values, dict):
            raise TemplateError(f"{where} must be an object.", target=where)
        return values

    def _scope_id(self, r, where):
        """The id of the resource an extension resource's `scope` names: a resource id, or the
        relative form 'ns/type/name' Bicep emits for a resource in the same resource group.
        https://learn.microsoft.com/azure/azure-resource-manager/templates/scope-extension-resources"""
        scope = self.evaluate(r.scope, where + ".scope")
        if not isinstance(scope, str) or not scope:
            raise TemplateError(f"The 'scope' of {where} must be a resource id.", target=where)
        if scope.startswith("/"):
            return scope
        parts = scope.split("/")
        rtype = "/".join([parts[0]] + parts[1::2])
        rg = self.deploy_group()
        return make_resource_id(self.ctx.subscription()["subscriptionId"], rg, rtype, parts[2::2])

    @staticmethod
    def _check_cycles(resources):
        state = {}

        def visit(r, stack):
            s = state.get(id(r))
            if s == 1:
                cyc = " -> ".join(x.name for x in stack + [r])
                raise TemplateError(
                    f"Deployment template validation failed: 'Circular dependency detected on resource: {cyc}.'"
                )
            if s == 2:
                return
            state[id(r)] = 1
            for d in r.depends_on:
                visit(d, stack + [r])
            state[id(r)] = 2

        for r in resources:
            visit(r, [])

    def deploy_order(self):
        """Resources to deploy (condition true, not existing) in dependency order; ties keep
        template order. Dependencies on skipped/existing resources are dropped, as ARM does."""
        todo = [r for r in self.resources if r.condition and not r.existing]
        done, order = set(), []
        while todo:
            for r in todo:
                if all(id(d) in done or d not in todo for d in r.depends_on):
                    order.append(r)
                    done.add(id(r))
                    todo.remove(r)
                    break
        return order

    def resource_body(self, r: TemplateResource) -> dict:
        """The request body ARM would PUT for r (all expressions evaluated)."""
        where = f"resources[{r.key or r.index}]"
        body = {}
        for k, v in r.raw.items():
            if k in (
                "type",
                "apiVersion",
                "name",
                "dependsOn",
                "condition",
                "copy",
                "comments",
                "existing",
                "scope",
                "metadata",
            ):
                continue
            body[k] = self.evaluate(v, f"{where}.{k}")
        return body

    def outputs(self):
        res = {}
        for name, decl in (self.t.get("outputs") or {}).items():
            where = f"outputs.{name}"
            if "condition" in decl:
                cond = self.evaluate(decl["condition"], where + ".condition")
                if not cond:
                    continue
            if "copy" in decl:
                raise TemplateError(f"Output copy loops ({where}) are not supported by the stand-in.")
            value = self.evaluate(decl.get("value"), where + ".value")
            otype = str(decl.get("type", "")).lower()
            if otype not in OUTPUT_TYPE_NAMES:
                raise TemplateError(f"The output '{name}' has an invalid type '{decl.get('type')}'.")
            if otype in ("int",) and isinstance(value, bool) or (otype == "int" and not isinstance(value, int)):
                raise TemplateError(f"The output '{name}' of type 'int' evaluated to a '{type_name(value)}'.")
            res[name] = {"type": OUTPUT_TYPE_NAMES[otype], "value": value}
        return res

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self, value, where="template"):
        if isinstance(value, str):
            return self._evaluate_string(value, where)
        if isinstance(value, dict):
            # property names may be expressions too (a user-assigned identity's id as a key)
            return {self._key(k, where): self.evaluate(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.evaluate(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    def _key(self, key, where):
        if not is_expression(key):
            return key
        value = self._evaluate_string(key, f"{where}.{key}")
        if not isinstance(value, str):
            raise TemplateError(f"The property name expression '{key}' must evaluate to a string.", target=where)
        return value

    def _evaluate_string(self, value, where):
        if value.startswith("[[") and value.endswith("]"):
            return value[1:]
        if is_expression(value):
            try:
                return self.eval_node(parse_expression(value[1:-1]))
            except TemplateError as e:
                if not e.target:
                    e.target = where
                raise
            except Unresolved:
                if self.what_if:
                    return value
                raise
        return value

    def eval_node(self, node):
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "prop":
            base = self.eval_node(node[1])
            return self._member(base, node[2])
        if kind == "index":
            base = self.eval_node(node[1])
            idx = self.eval_node(node[2])
            if isinstance(base, list):
                if not isinstance(idx, int) or isinstance(idx, bool):
                    raise TemplateError(f"The language expression property array index '{idx}' is not an integer.")
                if not 0 <= idx < len(base):
                    raise TemplateError(f"The language expression property array index '{idx}' is out of bounds.")
                return base[idx]
            if isinstance(base, dict):
                return self._member(base, to_string(idx))
            raise TemplateError(
                f"The language expression property '{to_string(idx)}' can't be evaluated: "
                f"the value is of type '{type_name(base)}'."
            )
        if kind == "call":
            name = node[1]
            fn = FUNCTIONS.get(name.lower())
            if fn is None:
                raise TemplateError(
                    f"The template function '{name}' is not valid or not supported by the local Azure stand-in."
                )
            lazy, impl = fn
            if lazy:
                return impl(self, name, node[2])
            args = [self.eval_node(a) for a in node[2]]
            return impl(self, name, args)
        raise TemplateError(f"internal: bad node {node!r}")

    @staticmethod
    def _member(base, name):
        if not isinstance(base, dict):
            raise TemplateError(
                f"The language expression property '{name}' can't be evaluated, property "
                f"name must be a string and the value an object; got '{type_name(base)}'."
            )
        found, v = get_ci(base, name)
        if not found:
            raise TemplateError(
                f"The language expression property '{name}' doesn't exist, available properties "
                f"are '{', '.join(base)}'."
            )
        return v

    def variable(self, name):
        if self.outer is not None:
            return self.outer.variable(name)
        variables = self.t.get("variables") or {}
        found, raw = get_ci(variables, name)
        if not found:
            raise TemplateError(
                f"The template variable '{name}' is not found. Please see "
                "https://aka.ms/arm-syntax-variables for usage details."
            )
        key = name.lower()
        if key in self._var_cache:
            return copy.deepcopy(self._var_cache[key])
        if key in self._var_busy:
            raise TemplateError(f"The template variable '{name}' refers to itself.")
        self._var_busy.add(key)
        try:
            val = self.evaluate(raw, f"variables.{name}")
        finally:
            self._var_busy.discard(key)
        self._var_cache[key] = val
        return copy.deepcopy(val)

    def parameter(self, name):
        if self.outer is not None:
            return self.outer.parameter(name)
        found, v = get_ci(self.params, name)
        if not found:
            declared = self.t.get("parameters") or {}
            if any(name.lower() == d.lower() for d in declared):
                raise TemplateError(
                    f"The template parameter '{name}' is used before its value is known "
                    "(a defaultValue refers to a later parameter)."
                )
            raise TemplateError(
                f"The template parameter '{name}' is not found. Please see "
                "https://aka.ms/arm-syntax-parameters for usage details."
            )
        return copy.deepcopy(v)

    def resolve_resource_ref(self, ref):
        """reference()/listKeys() argument -> (resource id, TemplateResource or None)."""
        if not isinstance(ref, str):
            raise TemplateError(f"reference(): the resource must be a string; got '{type_name(ref)}'.")
        if ref.startswith("/"):
            r = getattr(self, "by_id", {}).get(ref.lower())
            return ref, r
        r = getattr(self, "by_key", {}).get(ref)
        if r is not None:
            return r.id, r
        for r in getattr(self, "resources", []) or []:
            if r.name.lower() == ref.lower():
                return r.id, r
        raise TemplateError(
            f"The template resource '{ref}' is not found. Use a resource id "
            "(resourceId(...)) or the name of a resource in this template."
        )
