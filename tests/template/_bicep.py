"""Turn pycep-parser's tree of inference.bicep into the ARM JSON the Bicep compiler emits for it.

Covers exactly the Bicep the template uses (parameters with decorators, variables, conditional and
`existing` resources, `parent`, interpolation, property/function/index accessors, the ternary,
json(), empty(), resourceGroup(), subscription(), guid(), subscriptionResourceId(), `scope:` of an extension
resource, `scope: resourceGroup(x)` of an `existing` resource, local modules scoped to a resource group
(compiled as Bicep does: a Microsoft.Resources/deployments resource with an inner-scope inline template),
interpolated object keys); anything else raises Unsupported, so an edit that
goes beyond it fails the equivalence test loudly instead of passing unchecked.

pycep gives identifiers and string literals the same shape (a Python str); a str that names a
parameter, variable or resource is read as that symbol. The template has no string literal that
equals a symbol name (test_no_literal_shadows_a_symbol checks it in the Bicep source).
"""

import re


class Unsupported(Exception):
    pass


PARAM_TYPES = {"string": "string", "int": "int", "bool": "bool", "array": "array", "object": "object"}
DECORATORS = {"min_value": "minValue", "max_value": "maxValue", "min_length": "minLength", "max_length": "maxLength"}


def q(s):
    return "'" + s.replace("'", "''") + "'"


MODULE_API_VERSION = "2022-09-01"  # what Bicep emits for a module's Microsoft.Resources/deployments


class Compiler:
    def __init__(self, tree, text=None, parse=None):
        """text: the Bicep source (its declaration order orders resources and modules, which the
        tree keeps apart); parse(path) -> tree of a module file (relative to the Bicep's folder)."""
        self.tree = tree
        self.params = tree.get("parameters") or {}
        self.vars = tree.get("variables") or {}
        self.resources = tree.get("resources") or {}
        self.modules = tree.get("modules") or {}
        self.order = re.findall(r"^(?:resource|module)\s+(\w+)", text or "", re.M)
        self.parse = parse

    # ---------- symbols ----------
    def resource_body(self, sym):
        res = self.resources[sym]
        cfg = res["config"]
        if "condition" in cfg and "config" in cfg:
            return cfg["condition"], cfg["config"]
        return None, cfg

    def resource_id(self, sym):
        if sym in self.modules:
            _, body = self.module_body(sym)
            group = f"format('/subscriptions/{{0}}/resourceGroups/{{1}}', subscription().subscriptionId, {self.group(body)})"
            return f"extensionResourceId({group}, 'Microsoft.Resources/deployments', {self.expr(body['name'])})"
        res = self.resources[sym]
        _, body = self.resource_body(sym)
        segments = self.name_segments(body)
        group = self.group(body)
        if group is not None:  # an `existing` resource of another resource group
            return f"resourceId({group}, {q(res['type'])}, {', '.join(segments)})"
        if "scope" in body:  # an extension resource (a role assignment on a registry)
            return f"extensionResourceId({self.resource_id(body['scope'])}, {q(res['type'])}, {', '.join(segments)})"
        return f"resourceId({q(res['type'])}, {', '.join(segments)})"

    def module_body(self, sym):
        cfg = self.modules[sym]["config"]
        if "condition" in cfg and "config" in cfg:
            return cfg["condition"], cfg["config"]
        return None, cfg

    def group(self, body):
        """The resource group expression of `scope: resourceGroup(x)`, else None."""
        fn = (body.get("scope") or {}).get("function") if isinstance(body.get("scope"), dict) else None
        if not fn or fn.get("type") != "resource_group":
            return None
        p = fn.get("parameters") or {}
        if p.get("subscription_id") is not None or p.get("resource_group_name") is None:
            raise Unsupported(f"scope {fn}")
        return self.expr(p["resource_group_name"])

    def module(self, sym):
        """A local module scoped to a resource group, as Bicep compiles it."""
        mod = self.modules[sym]
        if mod.get("type") != "local" or mod.get("decorators"):
            raise Unsupported(f"module {sym}")
        condition, body = self.module_body(sym)
        unknown = set(body) - {"name", "scope", "params", "dependsOn"}
        if unknown or self.group(body) is None:
            raise Unsupported(f"module {sym}: {unknown or 'scope'}")
        inner = Compiler(self.parse(mod["detail"]["path"]), text=None, parse=self.parse)
        if inner.modules or inner.tree.get("outputs"):
            raise Unsupported(f"module {sym}: nested modules or outputs")
        arm = {}
        if condition is not None:
            arm["condition"] = "[" + self.expr(condition) + "]"
        arm.update(
            {
                "type": "Microsoft.Resources/deployments",
                "apiVersion": MODULE_API_VERSION,
                "name": self.value(body["name"]),
                "resourceGroup": "[" + self.group(body) + "]",
                "properties": {
                    "expressionEvaluationOptions": {"scope": "inner"},
                    "mode": "Incremental",
                    "parameters": {k: {"value": self.value(v)} for k, v in (body.get("params") or {}).items()},
                    "template": {
                        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                        "contentVersion": "1.0.0.0",
                        "parameters": inner.parameters(),
                        "resources": list(inner.arm_resources().values()),
                    },
                },
            }
        )
        deps = [f"[{self.resource_id(d)}]" for d in body.get("dependsOn") or [] if not self.is_existing(d)]
        if deps:
            arm["dependsOn"] = deps
        return arm

    def is_existing(self, sym):
        return sym in self.resources and bool(self.resources[sym].get("existing"))

    def scope(self, sym):
        """`scope: symbol` of a resource in the same resource group, as Bicep emits it: 'ns/type/name'."""
        ns, rtype = self.resources[sym]["type"].split("/", 1)
        _, body = self.resource_body(sym)
        return "[format(" + q(f"{ns}/{rtype}/{{0}}") + ", " + ", ".join(self.name_segments(body)) + ")]"

    def name_segments(self, body):
        """The resourceId name segments of a resource body (parent chain or a 'a/b/c' name)."""
        own = body["name"]
        if "parent" in body:
            _, parent_body = self.resource_body(body["parent"])
            return self.name_segments(parent_body) + [self.expr(own)]
        if isinstance(own, str) and own in self.vars and "/" in str(self.vars[own]["value"]):
            own = self.vars[own]["value"]  # a full child name kept in a variable
        if isinstance(own, str) and "/" in own and own not in self.params:
            return [self.expr(part) for part in own.split("/")]
        return [self.expr(own)]

    def full_name(self, body):
        if "parent" in body:
            _, parent_body = self.resource_body(body["parent"])
            parts = self.name_segments(parent_body) + [self.expr(body["name"])]
            return "[format(" + q("/".join(f"{{{i}}}" for i in range(len(parts)))) + ", " + ", ".join(parts) + ")]"
        return self.value(body["name"])

    def api(self, sym):
        return q(self.resources[sym]["api_version"])

    # ---------- expressions ----------
    def value(self, node):
        """A JSON value as it appears in the ARM template (literal or "[expression]")."""
        if isinstance(node, bool) or isinstance(node, (int, float)) or node is None:
            return node
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if isinstance(node, str) and not self.is_symbol(node) and "${" not in node:
            return node
        if isinstance(node, dict) and not ({"function", "operator"} & set(node)):
            return {self.key(k): self.value(v) for k, v in node.items()}
        return "[" + self.expr(node) + "]"

    def key(self, k):
        """An object key: a name, or an interpolated string ('${x.id}') that compiles to an expression."""
        if k.startswith("'") and k.endswith("'") and "${" in k:
            return "[" + self.interpolation(k[1:-1]) + "]"
        return k

    def is_symbol(self, s):
        return s in self.params or s in self.vars or s in self.resources

    def expr(self, node):
        if isinstance(node, bool):
            return "true()" if node else "false()"
        if isinstance(node, int):
            return str(node)
        if isinstance(node, str):
            if node in self.params:
                return f"parameters({q(node)})"
            if node in self.vars:
                return f"variables({q(node)})"
            if node in self.resources:
                raise Unsupported(f"bare resource symbol {node}")
            if "${" in node:
                return self.interpolation(node)
            return q(node)
        if isinstance(node, dict) and "function" in node:
            return self.function(node["function"])
        if isinstance(node, dict) and "operator" in node:
            return self.operator(node["operator"])
        if isinstance(node, dict) and "bool_value" in node:
            return self.expr(node["bool_value"])
        raise Unsupported(repr(node)[:200])

    def function(self, fn):
        t, p = fn["type"], fn.get("parameters") or {}
        if t == "json":
            out = f"json({self.expr(p['arg_1'])})"
        elif t == "empty":
            out = f"empty({self.expr(p['item_to_test'])})"
        elif t == "string" and len([v for v in p.values() if v is not None]) == 1:
            out = "string(" + ", ".join(self.expr(v) for v in p.values() if v is not None) + ")"
        elif t == "resource_group" and not any(p.values()):
            out = "resourceGroup()"
        elif t == "subscription" and not any(p.values()):
            out = "subscription()"
        elif t == "guid":
            out = "guid(" + ", ".join(self.expr(v) for v in p.values() if v is not None) + ")"
        elif t == "subscription_resource_id" and p.get("subscription_id") is None:
            names = [p[k] for k in sorted(p) if k.startswith("resource_name_") and p[k] is not None]
            out = f"subscriptionResourceId({self.expr(p['resource_type'])}, {', '.join(self.expr(n) for n in names)})"
        else:
            raise Unsupported(f"function {t}")
        if fn.get("property_name"):
            out += "." + fn["property_name"]
        return out

    def operator(self, op):
        t, o = op["type"], op["operands"]
        if t == "not":
            return f"not({self.expr(o)})"
        if t == "conditional":
            return f"if({self.expr(o['condition'])}, {self.expr(o['true_value'])}, {self.expr(o['false_value'])})"
        if t in ("property_accessor", "function_accessor", "index_accessor"):
            return self.accessor(op)
        raise Unsupported(f"operator {t}")

    def chain(self, op):
        """Flatten nested accessors into [head, ('.', name) | ('[]', index) | ('()', func)]."""
        t, o = op["type"], op["operands"]
        if t == "function_accessor":
            return [o["operand_1"], ("()", o["func_name"])]
        first = o["operand_1"]
        head = self.chain(first["operator"]) if isinstance(first, dict) and "operator" in first else [first]
        second = o["operand_2"]
        if t == "index_accessor":
            return head + [("[]", second)]
        if isinstance(second, dict) and "operator" in second:
            rest = self.chain(second["operator"])
            return head + [("." if isinstance(rest[0], str) else "?", rest[0])] + rest[1:]
        return head + [(".", second)]

    def accessor(self, op):
        parts = self.chain(op)
        return self.compile_chain(parts)

    def compile_chain(self, parts):
        head, rest = parts[0], parts[1:]
        if isinstance(head, str) and head in self.resources:
            if rest and rest[0] == (".", "id"):
                out, rest = self.resource_id(head), rest[1:]
            elif rest and rest[0] == (".", "properties"):
                out, rest = f"reference({self.resource_id(head)}, {self.api(head)})", rest[1:]
            elif rest and rest[0] == ("()", "listKeys"):
                out, rest = f"listKeys({self.resource_id(head)}, {self.api(head)})", rest[1:]
            else:
                raise Unsupported(f"resource access {parts}")
        else:
            out = self.expr(head)
        for kind, item in rest:
            if kind == ".":
                out += "." + item
            elif kind == "[]":
                out += f"[{self.expr(item)}]"
            else:
                raise Unsupported(f"accessor {kind}")
        return out

    # ---------- interpolation ----------
    _TOKEN = re.compile(r"'(?:[^'\\]|\\.)*'|[A-Za-z_][A-Za-z0-9_]*|\S")

    def text_expr(self, text):
        """A Bicep expression given as source text (inside ${…}); only what the template uses."""
        text = text.strip()
        m = re.fullmatch(r"([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)+)", text)
        if m and m.group(1) in self.resources:
            names = m.group(2)[1:].split(".")
            return self.compile_chain([m.group(1)] + [(".", n) for n in names])
        out = []
        tokens = self._TOKEN.findall(text)
        for i, tok in enumerate(tokens):
            prev = tokens[i - 1] if i else ""
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            if prev != "." and nxt != "(" and (tok in self.params or tok in self.vars):
                out.append(self.expr(tok))
            elif tok in self.resources:
                raise Unsupported(f"resource symbol in interpolation: {text}")
            else:
                out.append(tok)
        joined = ""
        for tok in out:  # ARM's spacing: ", " after commas, nothing else
            joined += tok + (" " if tok == "," else "")
        return joined

    def interpolation(self, s):
        pieces, args, pos = [], [], 0
        for m in re.finditer(r"\$\{", s):
            if m.start() < pos:
                continue
            depth, i = 1, m.end()
            while depth:
                depth += {"{": 1, "}": -1}.get(s[i], 0)
                i += 1
            pieces.append(s[pos : m.start()].replace("{", "{{").replace("}", "}}"))
            pieces.append(f"{{{len(args)}}}")
            args.append(self.text_expr(s[m.end() : i - 1]))
            pos = i
        pieces.append(s[pos:])
        if "".join(pieces) == "{0}":  # '${x}' compiles to x itself
            return args[0]
        return f"format({q(''.join(pieces))}, {', '.join(args)})"

    # ---------- whole template ----------
    def parameters(self):
        out = {}
        for name, p in self.params.items():
            decorators = {d["type"]: d.get("argument") for d in p.get("decorators") or []}
            unknown = set(decorators) - set(DECORATORS) - {"description", "secure"}
            if unknown:
                raise Unsupported(f"decorators {unknown}")
            ptype = PARAM_TYPES[p["type"]]
            if "secure" in decorators:
                ptype = "secure" + ptype
            spec = {"type": ptype}
            if p.get("default") is not None:
                spec["defaultValue"] = self.value(p["default"])
            for d, key in DECORATORS.items():
                if d in decorators:
                    spec[key] = decorators[d]
            if "description" in decorators:
                spec["metadata"] = {"description": decorators["description"].replace("\\'", "'")}
            out[name] = spec
        return out

    def variables(self):
        return {name: self.value(v["value"]) for name, v in self.vars.items()}

    def arm_resources(self):
        """{symbol: ARM resource} for the deployed (not `existing`) resources."""
        out = {}
        symbols = self.order or [*self.resources, *self.modules]
        for sym in symbols:
            if sym in self.modules:
                out[sym] = self.module(sym)
                continue
            res = self.resources[sym]
            if res.get("existing"):
                continue
            condition, body = self.resource_body(sym)
            arm = {}
            if condition is not None:
                arm["condition"] = "[" + self.expr(condition) + "]"
            arm["type"] = res["type"]
            arm["apiVersion"] = res["api_version"]
            arm["name"] = self.full_name(body)
            for key, v in body.items():
                if key in ("name", "parent", "dependsOn"):
                    continue
                arm[key] = self.scope(v) if key == "scope" else self.value(v)
            deps = [f"[{self.resource_id(d)}]" for d in body.get("dependsOn") or [] if not self.is_existing(d)]
            if deps:
                arm["dependsOn"] = deps
            out[sym] = arm
        return out

    def existing(self):
        """{symbol: (type, apiVersion, name value)} of the `existing` resources."""
        return {
            sym: (r["type"], r["api_version"], self.full_name(self.resource_body(sym)[1]))
            for sym, r in self.resources.items()
            if r.get("existing")
        }

    def outputs(self):
        return {
            name: {"type": o["type"], "value": self.value(o["value"])}
            for name, o in (self.tree.get("outputs") or {}).items()
        }
