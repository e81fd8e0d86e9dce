"""The template functions the stand-in knows, registered by name in FUNCTIONS (case-insensitive, as ARM's).
Each takes the evaluating Template, the name as written and its arguments (evaluated, or AST nodes when lazy).
https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions"""

import copy
import json
import re
import uuid

from ..uniquestring import unique_string
from .expressions import TemplateError, arm_equals, format_value, get_ci, to_string, type_name


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
            spec = fmt[i + 1 : j]
            idx, _, fmtspec = spec.partition(":")
            idx, _, align = idx.partition(",")
            try:
                n = int(idx)
            except ValueError:
                raise TemplateError(f"format(): invalid placeholder {{{spec}}} in {fmt!r}") from None
            if n >= len(args):
                raise TemplateError(f"format(): placeholder {{{n}}} has no argument (format string {fmt!r})")
            v = args[n]
            if fmtspec or align:
                raise TemplateError(f"format(): the format specifier '{{{spec}}}' is not supported by the stand-in")
            out.append(format_value(v))
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
    if not lo <= len(args) <= (hi if hi >= 0 else 10**9):
        want = f"{lo}" if lo == hi else (f"at least {lo}" if hi < 0 else f"{lo} to {hi}")
        raise TemplateError(f"The template function '{name}' expects {want} parameter(s); got {len(args)}.")


def _want(name, v, *types, what=None):
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
        raise TemplateError(
            f"The template function '{name}' expects {what or '/'.join(t.__name__ for t in types)} "
            f"parameters; got a value of type '{type_name(v)}'."
        )
    return v


def split_type(resource_type):
    parts = resource_type.split("/")
    if len(parts) < 2:
        raise TemplateError(
            f"The resource type '{resource_type}' is not valid: it must be '{{namespace}}/{{type}}[/{{childType}}...]'."
        )
    return parts[0], parts[1:]


def make_resource_id(sub, rg, resource_type, names):
    ns, types = split_type(resource_type)
    if len(names) != len(types):
        raise TemplateError(
            f"Unable to evaluate template language function 'resourceId': the type "
            f"'{resource_type}' requires '{len(types)}' resource name argument(s)."
        )
    path = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))
    prefix = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg is not None else "")
    return f"{prefix}/providers/{ns}/{path}"


def names_of(resource_type, name):
    """'a/default/b' for type X/y/z/w -> ['a','default','b'] with a count check."""
    _, types = split_type(resource_type)
    parts = name.split("/")
    if len(parts) != len(types):
        raise TemplateError(
            f"The resource name '{name}' of type '{resource_type}' is not valid: "
            f"it must have {len(types)} segment(s), one per type segment.",
            code="InvalidTemplate",
        )
    return parts


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
def _concat(_t, _name, a):
    if not a:
        return ""
    if all(isinstance(x, list) for x in a if x is not None):
        return [i for x in a if x is not None for i in x]
    if any(isinstance(x, (list, dict)) for x in a):
        raise TemplateError("The template function 'concat' expects all parameters to be strings (or all arrays).")
    return "".join(to_string(x) for x in a)


@fn("format")
def _format(_t, name, a):
    _need(name, a, 1, -1)
    return _net_format(_want(name, a[0], str), a[1:])


@fn("uniqueString")
def _unique(_t, name, a):
    _need(name, a, 1, -1)
    for x in a:
        if not isinstance(x, str):
            raise TemplateError(
                "The template function 'uniqueString' expects its parameters to be of type "
                f"string; got '{type_name(x)}'."
            )
    return unique_string(*a)


@fn("substring")
def _substring(_t, name, a):
    _need(name, a, 1, 3)
    s = _want(name, a[0], str)
    start = _want(name, a[1], int) if len(a) > 1 else 0
    length = _want(name, a[2], int) if len(a) > 2 else len(s) - start
    if start < 0 or start > len(s):
        raise TemplateError(f"The index parameter of 'substring' is out of range: {start} (string length {len(s)}).")
    if length < 0 or start + length > len(s):
        raise TemplateError(
            "The index and length parameters must refer to a location within the string. The index "
            f"parameter: '{start}', the length parameter: '{length}', the length of the string "
            f"parameter: '{len(s)}'. Please see https://aka.ms/arm-function-substring for usage details."
        )
    return s[start : start + length]


@fn("toLower")
def _tolower(_t, name, a):
    _need(name, a, 1)
    return _want(name, a[0], str).lower()


@fn("toUpper")
def _toupper(_t, name, a):
    _need(name, a, 1)
    return _want(name, a[0], str).upper()


@fn("trim")
def _trim(_t, name, a):
    _need(name, a, 1)
    return _want(name, a[0], str).strip()


@fn("replace")
def _replace(_t, name, a):
    _need(name, a, 3)
    return _want(name, a[0], str).replace(_want(name, a[1], str), _want(name, a[2], str))


@fn("startsWith")
def _startswith(_t, name, a):
    _need(name, a, 2)
    return _want(name, a[0], str).lower().startswith(_want(name, a[1], str).lower())


@fn("endsWith")
def _endswith(_t, name, a):
    _need(name, a, 2)
    return _want(name, a[0], str).lower().endswith(_want(name, a[1], str).lower())


@fn("take")
def _take(_t, name, a):
    _need(name, a, 2)
    v, n = _want(name, a[0], str, list), _want(name, a[1], int)
    return v[: max(n, 0)]


@fn("skip")
def _skip(_t, name, a):
    _need(name, a, 2)
    v, n = _want(name, a[0], str, list), _want(name, a[1], int)
    return v[max(n, 0) :]


@fn("length")
def _length(_t, name, a):
    _need(name, a, 1)
    return len(_want(name, a[0], str, list, dict))


@fn("join")
def _join(_t, name, a):
    _need(name, a, 2)
    arr, sep = _want(name, a[0], list), _want(name, a[1], str)
    for x in arr:
        if isinstance(x, (list, dict)):
            raise TemplateError("The template function 'join' expects an array of strings, numbers or booleans.")
    return sep.join(to_string(x) for x in arr)


@fn("split")
def _split(_t, name, a):
    _need(name, a, 2)
    s, d = _want(name, a[0], str), a[1]
    delims = [d] if isinstance(d, str) else _want(name, d, list)
    parts = [s]
    for delim in delims:
        parts = [p2 for p in parts for p2 in p.split(delim)]
    return parts


@fn("contains")
def _contains(_t, name, a):
    _need(name, a, 2)
    c, x = a
    if isinstance(c, str):
        return to_string(x) in c
    if isinstance(c, list):
        return any(arm_equals(i, x) for i in c)
    if isinstance(c, dict):
        return get_ci(c, to_string(x))[0]
    raise TemplateError(f"The template function 'contains' expects a string, array or object; got '{type_name(c)}'.")


@fn("indexOf")
def _indexof(_t, name, a):
    _need(name, a, 2)
    if isinstance(a[0], list):
        for i, v in enumerate(a[0]):
            if arm_equals(v, a[1]):
                return i
        return -1
    return _want(name, a[0], str).lower().find(_want(name, a[1], str).lower())


@fn("empty")
def _empty(_t, name, a):
    _need(name, a, 1)
    v = a[0]
    if v is None:
        return True
    return len(_want(name, v, str, list, dict)) == 0


@fn("equals")
def _equals(_t, name, a):
    _need(name, a, 2)
    return arm_equals(a[0], a[1])


@fn("not")
def _not(_t, name, a):
    _need(name, a, 1)
    return not _want(name, a[0], bool)


@fn("and")
def _and(_t, name, a):
    _need(name, a, 2, -1)
    return all(_want(name, x, bool) for x in a)


@fn("or")
def _or(_t, name, a):
    _need(name, a, 2, -1)
    checked = [_want(name, x, bool) for x in a]  # every argument is type-checked, not only up to the first true
    return any(checked)


@fn("greater")
def _greater(_t, name, a):
    _need(name, a, 2)
    return a[0] > a[1]


@fn("less")
def _less(_t, name, a):
    _need(name, a, 2)
    return a[0] < a[1]


@fn("greaterOrEquals")
def _ge(_t, name, a):
    _need(name, a, 2)
    return a[0] >= a[1]


@fn("lessOrEquals")
def _le(_t, name, a):
    _need(name, a, 2)
    return a[0] <= a[1]


@fn("if", lazy=True)
def _if(t, name, nodes):
    _need(name, nodes, 3)
    cond = t.eval_node(nodes[0])
    if not isinstance(cond, bool):
        raise TemplateError(
            f"The template function 'if' expects its first parameter to be a boolean; got '{type_name(cond)}'."
        )
    return t.eval_node(nodes[1] if cond else nodes[2])


@fn("coalesce")
def _coalesce(_t, name, a):
    _need(name, a, 1, -1)
    for x in a:
        if x is not None:
            return x
    return None


@fn("null")
def _null(_t, name, a):
    _need(name, a, 0)


@fn("true")
def _true(_t, name, a):
    _need(name, a, 0)
    return True


@fn("false")
def _false(_t, name, a):
    _need(name, a, 0)
    return False


@fn("createArray")
def _createarray(_t, _name, a):
    return list(a)


@fn("createObject")
def _createobject(_t, name, a):
    if len(a) % 2:
        raise TemplateError("The template function 'createObject' expects an even number of parameters.")
    out = {}
    for k, v in zip(a[0::2], a[1::2], strict=True):
        out[_want(name, k, str)] = v
    return out


@fn("array")
def _array(_t, name, a):
    _need(name, a, 1)
    return a[0] if isinstance(a[0], list) else [a[0]]


@fn("json")
def _json(_t, name, a):
    _need(name, a, 1)
    s = _want(name, a[0], str)
    try:
        return json.loads(s)
    except ValueError as e:
        raise TemplateError(f"The template function 'json' got a string that is not valid JSON: {e}.") from e


@fn("string")
def _string(_t, name, a):
    _need(name, a, 1)
    return to_string(a[0])


@fn("int")
def _int(_t, name, a):
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
    raise TemplateError(f"The template function 'int' cannot convert '{to_string(v)}' to an integer.")


@fn("bool")
def _bool(_t, name, a):
    _need(name, a, 1)
    v = a[0]
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    if isinstance(v, int):
        return v != 0
    raise TemplateError(f"The template function 'bool' cannot convert '{to_string(v)}' to a boolean.")


@fn("union")
def _union(_t, name, a):
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
                if not any(arm_equals(v, o) for o in out):
                    out.append(copy.deepcopy(v))
        return out
    raise TemplateError("The template function 'union' expects all parameters to be objects or all arrays.")


@fn("first")
def _first(_t, name, a):
    _need(name, a, 1)
    v = _want(name, a[0], str, list)
    return v[0] if v else (None if isinstance(v, list) else "")


@fn("last")
def _last(_t, name, a):
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
def _min(_t, name, a):
    return min(_nums(name, a))


@fn("max")
def _max(_t, name, a):
    return max(_nums(name, a))


@fn("add")
def _add(_t, name, a):
    _need(name, a, 2)
    return _want(name, a[0], int) + _want(name, a[1], int)


@fn("sub")
def _sub(_t, name, a):
    _need(name, a, 2)
    return _want(name, a[0], int) - _want(name, a[1], int)


@fn("mul")
def _mul(_t, name, a):
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


# guid(): a UUID v5 of the arguments joined by '-' in the namespace ARM (and Bicep) use, so the
# same arguments give the same GUID on every deployment.
# https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-string#guid
_GUID_NAMESPACE = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")


@fn("guid")
def _guid(_t, name, a):
    _need(name, a, 1, -1)
    for x in a:
        _want(name, x, str)
    return str(uuid.uuid5(_GUID_NAMESPACE, "-".join(a)))


@fn("resourceId")
def _resourceid(t, name, a):
    _need(name, a, 2, -1)
    for x in a:
        _want(name, x, str)
    # The first argument that is a type ('ns/type') splits off the optional scope arguments.
    ti = next((i for i, x in enumerate(a[:3]) if "/" in x and "." in x.split("/")[0]), None)
    if ti is None:
        raise TemplateError(
            f"Unable to evaluate template language function 'resourceId': no resource type among "
            f"the first three arguments {a[:3]}."
        )
    sub = t.ctx.subscription()["subscriptionId"]
    rg = t.ctx.resource_group()["name"]
    if ti == 1:
        rg = a[0]
    elif ti == 2:
        sub, rg = a[0], a[1]
    return make_resource_id(sub, rg, a[ti], a[ti + 1 :])


@fn("extensionResourceId")
def _extresourceid(_t, name, a):
    """{resourceId}/providers/{type}/{names}: the id of an extension resource.
    https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-resource#extensionresourceid"""
    _need(name, a, 3, -1)
    for x in a:
        _want(name, x, str)
    ns, types = split_type(a[1])
    if len(a) - 2 != len(types):
        raise TemplateError(f"extensionResourceId: the type '{a[1]}' requires {len(types)} name argument(s).")
    path = "/".join(f"{t}/{n}" for t, n in zip(types, a[2:], strict=True))
    return f"{a[0]}/providers/{ns}/{path}"


@fn("subscriptionResourceId")
def _subresourceid(t, name, a):
    _need(name, a, 2, -1)
    ti = 1 if "/" in a[1] and "/" not in a[0] and len(a) > 2 and "." in a[1] else 0
    sub = a[0] if ti == 1 else t.ctx.subscription()["subscriptionId"]
    return make_resource_id(sub, None, a[ti], a[ti + 1 :])


@fn("reference")
def _reference(t, name, a):
    _need(name, a, 1, 3)
    rid, res = t.resolve_resource_ref(a[0])
    api = a[1] if len(a) > 1 else (res.api_version if res else None)
    full = len(a) > 2 and isinstance(a[2], str) and a[2].lower() == "full"
    if len(a) > 2 and not full:
        raise TemplateError(f"The third parameter of 'reference' must be 'Full'; got '{to_string(a[2])}'.")
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
