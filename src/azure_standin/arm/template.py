"""ARM template evaluator: parameters, variables, conditions, `existing`, dependsOn order,
outputs, and the template expression language with the functions our templates use.

Pure: everything outside the template (resource group, subscription, deployed resources, keys)
comes through a context object (see `Context`). Anything the evaluator does not know raises
TemplateError with code InvalidTemplate naming it; it never guesses."""
import copy
import json
import re

from .uniquestring import unique_string


class TemplateError(Exception):
    def __init__(self, message, code="InvalidTemplate", target=None):
        super().__init__(message)
        self.code, self.message, self.target = code, message, target

    def to_error(self):
        e = {"code": self.code, "message": self.message}
        if self.target:
            e["target"] = self.target
        return e


class Unresolved(Exception):
    """reference()/listKeys() of a resource that does not exist yet (what-if keeps the text)."""


class Context:
    """What a template sees of the world. The deployment engine subclasses it."""
    def resource_group(self) -> dict: raise TemplateError("resourceGroup() is not available here")
    def subscription(self) -> dict: raise TemplateError("subscription() is not available here")
    def deployment(self) -> dict: raise TemplateError("deployment() is not available here")
    def environment(self) -> dict: raise TemplateError("environment() is not available here")
    def reference(self, resource_id, api_version, full) -> dict: raise TemplateError("reference() is not available here")
    def list_keys(self, resource_id, api_version) -> dict: raise TemplateError("listKeys() is not available here")


# ---------------------------------------------------------------------------------------------
# Expression language
# ---------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?(?=\s*\())
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>[(),.\[\]])
""", re.X)


def _tokenize(text):
    pos, out = 0, []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise TemplateError(f"The template language expression '{text}' is not valid: "
                                f"unexpected character at position {pos}: {text[pos]!r}.")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        val = m.group(kind)
        if kind == "string":
            val = val[1:-1].replace("''", "'")
        out.append((kind, val))
    return out


# AST nodes: ("lit", value) | ("call", name, [args]) | ("prop", node, name) | ("index", node, node)
class _Parser:
    def __init__(self, text):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def err(self, msg):
        raise TemplateError(f"The template language expression '{self.text}' is not valid: {msg}")

    def peek(self, off=0):
        j = self.i + off
        return self.toks[j] if j < len(self.toks) else (None, None)

    def take(self, kind=None, val=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind) or (val is not None and tok[1] != val):
            self.err(f"expected {val or kind} at token {self.i}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self):
        node = self.expr()
        if self.i != len(self.toks):
            self.err(f"unexpected {self.peek()[1]!r} after the end of the expression")
        return node

    def expr(self):
        kind, val = self.peek()
        if kind == "string":
            self.i += 1
            node = ("lit", val)
        elif kind == "number":
            self.i += 1
            node = ("lit", float(val) if "." in val else int(val))
        elif kind == "ident":
            self.i += 1
            self.take("punct", "(")
            args = []
            if self.peek() != ("punct", ")"):
                while True:
                    args.append(self.expr())
                    if self.peek() == ("punct", ","):
                        self.i += 1
                        continue
                    break
            self.take("punct", ")")
            node = ("call", val, args)
        else:
            self.err(f"unexpected {val!r}")
        while True:
            kind, val = self.peek()
            if (kind, val) == ("punct", "."):
                self.i += 1
                k2, v2 = self.peek()
                if k2 not in ("name", "ident"):
                    self.err("expected a property name after '.'")
                self.i += 1
                node = ("prop", node, v2)
            elif (kind, val) == ("punct", "["):
                self.i += 1
                idx = self.expr()
                self.take("punct", "]")
                node = ("index", node, idx)
            else:
                return node


def is_expression(value):
    return isinstance(value, str) and len(value) >= 2 and value[0] == "[" and value[-1] == "]" \
        and not value.startswith("[[")


def parse_expression(text):
    return _Parser(text).parse()


def walk_calls(node):
    if node[0] == "call":
        yield node[1], node
        for a in node[2]:
            yield from walk_calls(a)
    elif node[0] == "prop":
        yield from walk_calls(node[1])
    elif node[0] == "index":
        yield from walk_calls(node[1])
        yield from walk_calls(node[2])


# ---------------------------------------------------------------------------------------------
# Helpers with ARM semantics
# ---------------------------------------------------------------------------------------------
def _type_name(v):
    if isinstance(v, bool):
        return "Boolean"
    if isinstance(v, int):
        return "Integer"
    if isinstance(v, float):
        return "Float"
    if isinstance(v, str):
        return "String"
    if isinstance(v, list):
        return "Array"
    if isinstance(v, dict):
        return "Object"
    return "Null"


def _get_ci(obj, key):
    if key in obj:
        return True, obj[key]
    lk = key.lower()
    for k, v in obj.items():
        if k.lower() == lk:
            return True, v
    return False, None


def _arm_equals(a, b):
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        if len(a) != len(b):
            return False
        for k, v in a.items():
            found, w = _get_ci(b, k)
            if not found or not _arm_equals(v, w):
                return False
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_arm_equals(x, y) for x, y in zip(a, b))
    return type(a) == type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float))
                                              and not isinstance(a, bool) and a == b)


def _to_string(v):
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "True" if v else "False"
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def _format_value(v):
    if isinstance(v, bool):
        return "True" if v else "False"
    return _to_string(v)


def _net_format(fmt, args):
    out, i = [], 0
    while i < len(fmt):
        c = fmt[i]
        if c == "{":
            if fmt.startswith("{{", i):
                out.append("{")
                i += 2
                continue
            j = fmt.find("}", i)
            if j < 0:
                raise TemplateError(f"format(): unbalanced '{{' in {fmt!r}")
            spec = fmt[i + 1:j]
            idx, _, fmtspec = spec.partition(":")
            idx, _, align = idx.partition(",")
            try:
                n = int(idx)
            except ValueError:
                raise TemplateError(f"format(): invalid placeholder {{{spec}}} in {fmt!r}")
            if n >= len(args):
                raise TemplateError(f"format(): placeholder {{{n}}} has no argument (format string {fmt!r})")
            v = args[n]
            if fmtspec or align:
                raise TemplateError(f"format(): the format specifier '{{{spec}}}' is not supported by the stand-in")
            out.append(_format_value(v))
            i = j + 1
        elif c == "}":
            if fmt.startswith("}}", i):
                out.append("}")
                i += 2
                continue
            raise TemplateError(f"format(): unbalanced '}}' in {fmt!r}")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _need(name, args, lo, hi=None):
    hi = lo if hi is None else hi
    if not (lo <= len(args) <= (hi if hi >= 0 else 10 ** 9)):
        want = f"{lo}" if lo == hi else (f"at least {lo}" if hi < 0 else f"{lo} to {hi}")
        raise TemplateError(f"The template function '{name}' expects {want} parameter(s); got {len(args)}.")


def _want(name, v, *types, what=None):
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
        raise TemplateError(f"The template function '{name}' expects {what or '/'.join(t.__name__ for t in types)} "
                            f"parameters; got a value of type '{_type_name(v)}'.")
    return v


def split_type(resource_type):
    parts = resource_type.split("/")
    if len(parts) < 2:
        raise TemplateError(f"The resource type '{resource_type}' is not valid: it must be "
                            "'{namespace}/{type}[/{childType}...]'.")
    return parts[0], parts[1:]


def make_resource_id(sub, rg, resource_type, names):
    ns, types = split_type(resource_type)
    if len(names) != len(types):
        raise TemplateError(f"Unable to evaluate template language function 'resourceId': the type "
                            f"'{resource_type}' requires '{len(types)}' resource name argument(s).")
    path = "/".join(f"{t}/{n}" for t, n in zip(types, names))
    prefix = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg is not None else "")
    return f"{prefix}/providers/{ns}/{path}"


def names_of(resource_type, name):
    """'a/default/b' for type X/y/z/w -> ['a','default','b'] with a count check."""
    ns, types = split_type(resource_type)
    parts = name.split("/")
    if len(parts) != len(types):
        raise TemplateError(f"The resource name '{name}' of type '{resource_type}' is not valid: "
                            f"it must have {len(types)} segment(s), one per type segment.",
                            code="InvalidTemplate")
    return parts


# ---------------------------------------------------------------------------------------------
# The template
# ---------------------------------------------------------------------------------------------
PARAM_TYPES = {"string": str, "securestring": str, "int": int, "bool": bool, "object": dict,
               "secureobject": dict, "array": list}
OUTPUT_TYPE_NAMES = {"string": "String", "securestring": "SecureString", "int": "Int", "bool": "Bool",
                     "object": "Object", "secureobject": "SecureObject", "array": "Array"}


class TemplateResource:
    def __init__(self, key, raw, index):
        self.key = key            # symbolic name (languageVersion 2.0) or None
        self.raw = raw            # the JSON as written
        self.index = index
        self.type = None
        self.api_version = None
        self.name = None
        self.id = None
        self.condition = True
        self.existing = bool(raw.get("existing"))
        self.depends_on = []      # resolved: list of TemplateResource
        self.scope = raw.get("scope")


class Template:
    def __init__(self, template: dict, parameters: dict, ctx: Context, *, what_if=False):
        if not isinstance(template, dict):
            raise TemplateError("The template is not a JSON object.")
        self.t = template
        self.ctx = ctx
        self.what_if = what_if
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
                raise TemplateError(f"Resource copy loops ('copy' on resource '{key or r.get('name')}') are not "
                                    "supported by the stand-in.")
            if r.get("type", "").lower() == "microsoft.resources/deployments":
                raise TemplateError("Nested deployments (Microsoft.Resources/deployments) are not supported "
                                    "by the stand-in.")
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
                            f"valid or not supported by the local Azure stand-in (at '{where}').'", target=where)

    def _bind_parameters(self, given):
        declared = self.t.get("parameters", {}) or {}
        out = {}
        lower_given = {k.lower(): (k, v) for k, v in given.items()}
        for k in given:
            if not any(k.lower() == d.lower() for d in declared):
                raise TemplateError(f"Deployment template validation failed: 'The template parameters '{k}' in the "
                                    "parameters file are not valid; they are not present in the original template "
                                    "and can therefore not be provided at deployment time. The only supported "
                                    f"parameters for this template are '{', '.join(declared)}'.'")
        self.params = out     # defaults may reference earlier parameters
        for name, decl in declared.items():
            ptype = str(decl.get("type", "")).lower()
            if ptype not in PARAM_TYPES:
                raise TemplateError(f"The parameter '{name}' has the type '{decl.get('type')}', which is not valid.")
            if name.lower() in lower_given:
                entry = lower_given[name.lower()][1]
                if isinstance(entry, dict) and "reference" in entry and "value" not in entry:
                    raise TemplateError(f"The parameter '{name}' uses a Key Vault reference, which the stand-in "
                                        "does not support.")
                value = entry.get("value") if isinstance(entry, dict) else entry
            elif "defaultValue" in decl:
                value = self.evaluate(decl["defaultValue"], f"parameters.{name}.defaultValue")
            else:
                raise TemplateError(f"Deployment template validation failed: 'The value for the template parameter "
                                    f"'{name}' at line '1' and column '1' is not provided. Please see "
                                    "https://aka.ms/arm-create-parameter-file for usage details.'",
                                    target=f"parameters.{name}")
            value = self._coerce(name, ptype, value)
            allowed = decl.get("allowedValues")
            if allowed is not None:
                vals = value if ptype == "array" else [value]
                for v in vals:
                    if not any(_arm_equals(v, a) for a in allowed):
                        raise TemplateError(f"Deployment template validation failed: 'The provided value '{_to_string(v)}' "
                                            f"for the template parameter '{name}' is not valid. The parameter value is "
                                            f"not part of the allowed value(s): '{','.join(_to_string(a) for a in allowed)}'.'",
                                            target=f"parameters.{name}")
            if ptype == "int":
                if "minValue" in decl and value < decl["minValue"]:
                    raise TemplateError(f"Deployment template validation failed: 'The provided value '{value}' for the "
                                        f"template parameter '{name}' is not valid. The value must be greater than or "
                                        f"equal to '{decl['minValue']}'.'", target=f"parameters.{name}")
                if "maxValue" in decl and value > decl["maxValue"]:
                    raise TemplateError(f"Deployment template validation failed: 'The provided value '{value}' for the "
                                        f"template parameter '{name}' is not valid. The value must be less than or "
                                        f"equal to '{decl['maxValue']}'.'", target=f"parameters.{name}")
            if ptype in ("string", "securestring", "array"):
                if "minLength" in decl and len(value) < decl["minLength"]:
                    raise TemplateError(f"Deployment template validation failed: 'The provided value for the template "
                                        f"parameter '{name}' is not valid. The length must be at least "
                                        f"'{decl['minLength']}'.'", target=f"parameters.{name}")
                if "maxLength" in decl and len(value) > decl["maxLength"]:
                    raise TemplateError(f"Deployment template validation failed: 'The provided value for the template "
                                        f"parameter '{name}' is not valid. The length must be at most "
                                        f"'{decl['maxLength']}'.'", target=f"parameters.{name}")
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
            expected = {"string": "String", "securestring": "String", "int": "Integer", "bool": "Boolean",
                        "object": "Object", "secureobject": "Object", "array": "Array"}[ptype]
            raise TemplateError(f"Deployment template validation failed: 'Template parameter JToken type is not "
                                f"valid. Expected '{expected}'. Actual '{_type_name(value)}'. Please see "
                                "https://aka.ms/resource-manager-parameter-files for usage details.'",
                                target=f"parameters.{name}")
        return value

    def secure_parameters(self):
        return {n for n, d in (self.t.get("parameters") or {}).items()
                if str(d.get("type", "")).lower() in ("securestring", "secureobject")}

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
            if r.scope is not None:
                raise TemplateError(f"The 'scope' property ({where}) is not supported by the stand-in.")
            if "condition" in raw:
                cond = self.evaluate(raw["condition"], where + ".condition")
                if not isinstance(cond, bool):
                    raise TemplateError(f"The condition of {where} must evaluate to a boolean; got "
                                        f"'{_type_name(cond)}'.", target=where)
                r.condition = cond
            rg = self.ctx.resource_group()
            sub = self.ctx.subscription()["subscriptionId"]
            r.id = make_resource_id(sub, rg["name"], r.type, names_of(r.type, r.name))
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
                        cands = by_name.get(val.lower()) or [x for x in out if x.name.lower().endswith("/" + val.lower())]
                        if len(cands) == 1:
                            target = cands[0]
                    if target is None:
                        raise TemplateError(f"Deployment template validation failed: 'The resource '{val}' is not "
                                            f"defined in the template.'", target=where)
                if target is not r:
                    r.depends_on.append(target)
        self._check_cycles(out)
        return out

    @staticmethod
    def _check_cycles(resources):
        state = {}

        def visit(r, stack):
            s = state.get(id(r))
            if s == 1:
                cyc = " -> ".join(x.name for x in stack + [r])
                raise TemplateError(f"Deployment template validation failed: 'Circular dependency detected on "
                                    f"resource: {cyc}.'")
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
            if k in ("type", "apiVersion", "name", "dependsOn", "condition", "copy", "comments", "existing",
                     "scope", "metadata"):
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
                raise TemplateError(f"The output '{name}' of type 'int' evaluated to a '{_type_name(value)}'.")
            res[name] = {"type": OUTPUT_TYPE_NAMES[otype], "value": value}
        return res

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self, value, where="template"):
        if isinstance(value, str):
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
        if isinstance(value, dict):
            return {k: self.evaluate(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.evaluate(v, f"{where}[{i}]") for i, v in enumerate(value)]
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
                return self._member(base, _to_string(idx))
            raise TemplateError(f"The language expression property '{_to_string(idx)}' can't be evaluated: "
                                f"the value is of type '{_type_name(base)}'.")
        if kind == "call":
            name = node[1]
            fn = FUNCTIONS.get(name.lower())
            if fn is None:
                raise TemplateError(f"The template function '{name}' is not valid or not supported by the local "
                                    "Azure stand-in.")
            lazy, impl = fn
            if lazy:
                return impl(self, name, node[2])
            args = [self.eval_node(a) for a in node[2]]
            return impl(self, name, args)
        raise TemplateError(f"internal: bad node {node!r}")

    @staticmethod
    def _member(base, name):
        if not isinstance(base, dict):
            raise TemplateError(f"The language expression property '{name}' can't be evaluated, property "
                                f"name must be a string and the value an object; got '{_type_name(base)}'.")
        found, v = _get_ci(base, name)
        if not found:
            raise TemplateError(f"The language expression property '{name}' doesn't exist, available properties "
                                f"are '{', '.join(base)}'.")
        return v

    def variable(self, name):
        variables = self.t.get("variables") or {}
        found, raw = _get_ci(variables, name)
        if not found:
            raise TemplateError(f"The template variable '{name}' is not found. Please see "
                                "https://aka.ms/arm-syntax-variables for usage details.")
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
        found, v = _get_ci(self.params, name)
        if not found:
            declared = self.t.get("parameters") or {}
            if any(name.lower() == d.lower() for d in declared):
                raise TemplateError(f"The template parameter '{name}' is used before its value is known "
                                    "(a defaultValue refers to a later parameter).")
            raise TemplateError(f"The template parameter '{name}' is not found. Please see "
                                "https://aka.ms/arm-syntax-parameters for usage details.")
        return copy.deepcopy(v)

    def resolve_resource_ref(self, ref):
        """reference()/listKeys() argument -> (resource id, TemplateResource or None)."""
        if not isinstance(ref, str):
            raise TemplateError(f"reference(): the resource must be a string; got '{_type_name(ref)}'.")
        if ref.startswith("/"):
            r = getattr(self, "by_id", {}).get(ref.lower())
            return ref, r
        r = getattr(self, "by_key", {}).get(ref)
        if r is not None:
            return r.id, r
        for r in getattr(self, "resources", []) or []:
            if r.name.lower() == ref.lower():
                return r.id, r
        raise TemplateError(f"The template resource '{ref}' is not found. Use a resource id "
                            "(resourceId(...)) or the name of a resource in this template.")


# ---------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------
FUNCTIONS = {}


def fn(*names, lazy=False):
    def deco(f):
        for n in names:
            FUNCTIONS[n.lower()] = (lazy, f)
        return f
    return deco


@fn("parameters")
def _parameters(t, name, a):
    _need(name, a, 1)
    return t.parameter(_want(name, a[0], str))


@fn("variables")
def _variables(t, name, a):
    _need(name, a, 1)
    return t.variable(_want(name, a[0], str))


@fn("concat")
def _concat(t, name, a):
    if not a:
        return ""
    if all(isinstance(x, list) for x in a if x is not None):
        return [i for x in a if x is not None for i in x]
    if any(isinstance(x, (list, dict)) for x in a):
        raise TemplateError("The template function 'concat' expects all parameters to be strings (or all arrays).")
    return "".join(_to_string(x) for x in a)


@fn("format")
def _format(t, name, a):
    _need(name, a, 1, -1)
    return _net_format(_want(name, a[0], str), a[1:])


@fn("uniqueString")
def _unique(t, name, a):
    _need(name, a, 1, -1)
    for x in a:
        if not isinstance(x, str):
            raise TemplateError("The template function 'uniqueString' expects its parameters to be of type "
                                f"string; got '{_type_name(x)}'.")
    return unique_string(*a)


@fn("substring")
def _substring(t, name, a):
    _need(name, a, 1, 3)
    s = _want(name, a[0], str)
    start = _want(name, a[1], int) if len(a) > 1 else 0
    length = _want(name, a[2], int) if len(a) > 2 else len(s) - start
    if start < 0 or start > len(s):
        raise TemplateError(f"The index parameter of 'substring' is out of range: {start} (string length {len(s)}).")
    if length < 0 or start + length > len(s):
        raise TemplateError("The index and length parameters must refer to a location within the string. The index "
                            f"parameter: '{start}', the length parameter: '{length}', the length of the string "
                            f"parameter: '{len(s)}'. Please see https://aka.ms/arm-function-substring for usage details.")
    return s[start:start + length]


@fn("toLower")
def _tolower(t, name, a):
    _need(name, a, 1)
    return _want(name, a[0], str).lower()


@fn("toUpper")
def _toupper(t, name, a):
    _need(name, a, 1)
    return _want(name, a[0], str).upper()


@fn("trim")
def _trim(t, name, a):
    _need(name, a, 1)
    return _want(name, a[0], str).strip()


@fn("replace")
def _replace(t, name, a):
    _need(name, a, 3)
    return _want(name, a[0], str).replace(_want(name, a[1], str), _want(name, a[2], str))


@fn("startsWith")
def _startswith(t, name, a):
    _need(name, a, 2)
    return _want(name, a[0], str).lower().startswith(_want(name, a[1], str).lower())


@fn("endsWith")
def _endswith(t, name, a):
    _need(name, a, 2)
    return _want(name, a[0], str).lower().endswith(_want(name, a[1], str).lower())


@fn("take")
def _take(t, name, a):
    _need(name, a, 2)
    v, n = _want(name, a[0], str, list), _want(name, a[1], int)
    return v[:max(n, 0)]


@fn("skip")
def _skip(t, name, a):
    _need(name, a, 2)
    v, n = _want(name, a[0], str, list), _want(name, a[1], int)
    return v[max(n, 0):]


@fn("length")
def _length(t, name, a):
    _need(name, a, 1)
    return len(_want(name, a[0], str, list, dict))


@fn("join")
def _join(t, name, a):
    _need(name, a, 2)
    arr, sep = _want(name, a[0], list), _want(name, a[1], str)
    for x in arr:
        if isinstance(x, (list, dict)):
            raise TemplateError("The template function 'join' expects an array of strings, numbers or booleans.")
    return sep.join(_to_string(x) for x in arr)


@fn("split")
def _split(t, name, a):
    _need(name, a, 2)
    s, d = _want(name, a[0], str), a[1]
    delims = [d] if isinstance(d, str) else _want(name, d, list)
    parts = [s]
    for delim in delims:
        parts = [p2 for p in parts for p2 in p.split(delim)]
    return parts


@fn("contains")
def _contains(t, name, a):
    _need(name, a, 2)
    c, x = a
    if isinstance(c, str):
        return _to_string(x) in c
    if isinstance(c, list):
        return any(_arm_equals(i, x) for i in c)
    if isinstance(c, dict):
        return _get_ci(c, _to_string(x))[0]
    raise TemplateError(f"The template function 'contains' expects a string, array or object; got '{_type_name(c)}'.")


@fn("indexOf")
def _indexof(t, name, a):
    _need(name, a, 2)
    if isinstance(a[0], list):
        for i, v in enumerate(a[0]):
            if _arm_equals(v, a[1]):
                return i
        return -1
    return _want(name, a[0], str).lower().find(_want(name, a[1], str).lower())


@fn("empty")
def _empty(t, name, a):
    _need(name, a, 1)
    v = a[0]
    if v is None:
        return True
    return len(_want(name, v, str, list, dict)) == 0


@fn("equals")
def _equals(t, name, a):
    _need(name, a, 2)
    return _arm_equals(a[0], a[1])


@fn("not")
def _not(t, name, a):
    _need(name, a, 1)
    return not _want(name, a[0], bool)


@fn("and")
def _and(t, name, a):
    _need(name, a, 2, -1)
    return all(_want(name, x, bool) for x in a)


@fn("or")
def _or(t, name, a):
    _need(name, a, 2, -1)
    return any([_want(name, x, bool) for x in a])


@fn("greater")
def _greater(t, name, a):
    _need(name, a, 2)
    return a[0] > a[1]


@fn("less")
def _less(t, name, a):
    _need(name, a, 2)
    return a[0] < a[1]


@fn("greaterOrEquals")
def _ge(t, name, a):
    _need(name, a, 2)
    return a[0] >= a[1]


@fn("lessOrEquals")
def _le(t, name, a):
    _need(name, a, 2)
    return a[0] <= a[1]


@fn("if", lazy=True)
def _if(t, name, nodes):
    _need(name, nodes, 3)
    cond = t.eval_node(nodes[0])
    if not isinstance(cond, bool):
        raise TemplateError(f"The template function 'if' expects its first parameter to be a boolean; got "
                            f"'{_type_name(cond)}'.")
    return t.eval_node(nodes[1] if cond else nodes[2])


@fn("coalesce")
def _coalesce(t, name, a):
    _need(name, a, 1, -1)
    for x in a:
        if x is not None:
            return x
    return None


@fn("null")
def _null(t, name, a):
    _need(name, a, 0)
    return None


@fn("true")
def _true(t, name, a):
    _need(name, a, 0)
    return True


@fn("false")
def _false(t, name, a):
    _need(name, a, 0)
    return False


@fn("createArray")
def _createarray(t, name, a):
    return list(a)


@fn("createObject")
def _createobject(t, name, a):
    if len(a) % 2:
        raise TemplateError("The template function 'createObject' expects an even number of parameters.")
    out = {}
    for k, v in zip(a[0::2], a[1::2]):
        out[_want(name, k, str)] = v
    return out


@fn("array")
def _array(t, name, a):
    _need(name, a, 1)
    return a[0] if isinstance(a[0], list) else [a[0]]


@fn("json")
def _json(t, name, a):
    _need(name, a, 1)
    s = _want(name, a[0], str)
    try:
        return json.loads(s)
    except ValueError as e:
        raise TemplateError(f"The template function 'json' got a string that is not valid JSON: {e}.")


@fn("string")
def _string(t, name, a):
    _need(name, a, 1)
    return _to_string(a[0])


@fn("int")
def _int(t, name, a):
    _need(name, a, 1)
    v = a[0]
    if isinstance(v, bool):
        raise TemplateError("The template function 'int' cannot convert a boolean.")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"\s*[-+]?\d+\s*", v):
        return int(v)
    raise TemplateError(f"The template function 'int' cannot convert '{_to_string(v)}' to an integer.")


@fn("bool")
def _bool(t, name, a):
    _need(name, a, 1)
    v = a[0]
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    if isinstance(v, int):
        return v != 0
    raise TemplateError(f"The template function 'bool' cannot convert '{_to_string(v)}' to a boolean.")


@fn("union")
def _union(t, name, a):
    _need(name, a, 1, -1)
    if all(isinstance(x, dict) for x in a):
        out = {}
        for x in a:
            for k, v in x.items():
                found = next((ok for ok in out if ok.lower() == k.lower()), None)
                if found is not None:
                    del out[found]
                out[k] = copy.deepcopy(v)
        return out
    if all(isinstance(x, list) for x in a):
        out = []
        for x in a:
            for v in x:
                if not any(_arm_equals(v, o) for o in out):
                    out.append(copy.deepcopy(v))
        return out
    raise TemplateError("The template function 'union' expects all parameters to be objects or all arrays.")


@fn("first")
def _first(t, name, a):
    _need(name, a, 1)
    v = _want(name, a[0], str, list)
    return v[0] if v else (None if isinstance(v, list) else "")


@fn("last")
def _last(t, name, a):
    _need(name, a, 1)
    v = _want(name, a[0], str, list)
    return v[-1] if v else (None if isinstance(v, list) else "")


def _nums(name, a):
    vals = a[0] if len(a) == 1 and isinstance(a[0], list) else a
    if not vals:
        raise TemplateError(f"The template function '{name}' needs at least one value.")
    for v in vals:
        _want(name, v, int)
    return vals


@fn("min")
def _min(t, name, a):
    return min(_nums(name, a))


@fn("max")
def _max(t, name, a):
    return max(_nums(name, a))


@fn("add")
def _add(t, name, a):
    _need(name, a, 2)
    return _want(name, a[0], int) + _want(name, a[1], int)


@fn("sub")
def _sub(t, name, a):
    _need(name, a, 2)
    return _want(name, a[0], int) - _want(name, a[1], int)


@fn("mul")
def _mul(t, name, a):
    _need(name, a, 2)
    return _want(name, a[0], int) * _want(name, a[1], int)


@fn("resourceGroup")
def _rg(t, name, a):
    _need(name, a, 0)
    return copy.deepcopy(t.ctx.resource_group())


@fn("subscription")
def _subscription(t, name, a):
    _need(name, a, 0)
    return copy.deepcopy(t.ctx.subscription())


@fn("deployment")
def _deployment(t, name, a):
    _need(name, a, 0)
    return copy.deepcopy(t.ctx.deployment())


@fn("environment")
def _environment(t, name, a):
    _need(name, a, 0)
    return copy.deepcopy(t.ctx.environment())


@fn("resourceId")
def _resourceid(t, name, a):
    _need(name, a, 2, -1)
    for x in a:
        _want(name, x, str)
    # The first argument that is a type ('ns/type') splits off the optional scope arguments.
    ti = next((i for i, x in enumerate(a[:3]) if "/" in x and "." in x.split("/")[0]), None)
    if ti is None:
        raise TemplateError(f"Unable to evaluate template language function 'resourceId': no resource type among "
                            f"the first three arguments {a[:3]}.")
    sub = t.ctx.subscription()["subscriptionId"]
    rg = t.ctx.resource_group()["name"]
    if ti == 1:
        rg = a[0]
    elif ti == 2:
        sub, rg = a[0], a[1]
    return make_resource_id(sub, rg, a[ti], a[ti + 1:])


@fn("subscriptionResourceId")
def _subresourceid(t, name, a):
    _need(name, a, 2, -1)
    ti = 1 if "/" in a[1] and "/" not in a[0] and len(a) > 2 and "." in a[1] else 0
    sub = a[0] if ti == 1 else t.ctx.subscription()["subscriptionId"]
    return make_resource_id(sub, None, a[ti], a[ti + 1:])


@fn("reference")
def _reference(t, name, a):
    _need(name, a, 1, 3)
    rid, res = t.resolve_resource_ref(a[0])
    api = a[1] if len(a) > 1 else (res.api_version if res else None)
    full = len(a) > 2 and isinstance(a[2], str) and a[2].lower() == "full"
    if len(a) > 2 and not full:
        raise TemplateError(f"The third parameter of 'reference' must be 'Full'; got '{_to_string(a[2])}'.")
    if api is None:
        raise TemplateError(f"reference('{rid}'): an apiVersion is needed for a resource outside the template.")
    if res is not None and not res.condition and not res.existing:
        pass  # ARM looks the resource up anyway; it fails if it does not exist
    return t.ctx.reference(rid, api, full)


@fn("listKeys")
def _listkeys(t, name, a):
    _need(name, a, 2)
    rid, _ = t.resolve_resource_ref(a[0])
    return t.ctx.list_keys(rid, _want(name, a[1], str))
