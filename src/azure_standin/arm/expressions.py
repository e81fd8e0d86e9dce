"""The ARM template expression language: its errors, the tokenizer and parser ("[concat('a', parameters('p'))]"
-> an AST), and the value semantics ARM's functions share (type names, case-insensitive members, equality,
string conversion). https://learn.microsoft.com/azure/azure-resource-manager/templates/template-expressions"""

import json
import re


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


# ---------------------------------------------------------------------------------------------
# Expression language
# ---------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?(?=\s*\())
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>[(),.\[\]])
""",
    re.X,
)


def _tokenize(text):
    pos, out = 0, []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise TemplateError(
                f"The template language expression '{text}' is not valid: "
                f"unexpected character at position {pos}: {text[pos]!r}."
            )
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
    return (
        isinstance(value, str)
        and len(value) >= 2
        and value[0] == "["
        and value[-1] == "]"
        and not value.startswith("[[")
    )


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
# ARM's type names, bool before int (a Python bool is an int).
_TYPE_NAMES = (
    (bool, "Boolean"),
    (int, "Integer"),
    (float, "Float"),
    (str, "String"),
    (list, "Array"),
    (dict, "Object"),
)


def type_name(v):
    return next((name for t, name in _TYPE_NAMES if isinstance(v, t)), "Null")


def get_ci(obj, key):
    if key in obj:
        return True, obj[key]
    lk = key.lower()
    for k, v in obj.items():
        if k.lower() == lk:
            return True, v
    return False, None


def arm_equals(a, b):
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return _objects_equal(a, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(arm_equals(x, y) for x, y in zip(a, b, strict=True))
    return (
        type(a) is type(b)
        and a == b
        or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and a == b)
    )


def _objects_equal(a, b):
    """Same keys (case-insensitive, as ARM's property names) and equal values."""
    if len(a) != len(b):
        return False
    for k, v in a.items():
        found, w = get_ci(b, k)
        if not found or not arm_equals(v, w):
            return False
    return True


def to_string(v):
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "True" if v else "False"
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def format_value(v):
    if isinstance(v, bool):
        return "True" if v else "False"
    return to_string(v)
