import json

import pytest
from azext_aitk.core.provision import template_parameters as p
from hypothesis import given, settings
from hypothesis import strategies as st

TYPES = {
    "defaultCommands": "array",
    "maximumInstanceCount": "int",
    "location": "string",
    "storageAccountName": "string",
    "fileShareName": "string",
    "acaAppName": "string",
    "apiKey": "securestring",
    "storageAccountExists": "bool",
    "tags": "object",
}


def test_key_value_is_typed_by_the_template():
    got = p.parse_parameter_args(
        [
            [
                "maximumInstanceCount=3",
                "storageAccountExists=True",
                'defaultCommands=["python3", "-m", "x"]',
                "location=westus3",
                "acaAppName=a=b",
            ]
        ],
        TYPES,
    )
    assert got == {
        "maximumInstanceCount": {"value": 3},
        "storageAccountExists": {"value": True},
        "defaultCommands": {"value": ["python3", "-m", "x"]},
        "location": {"value": "westus3"},
        "acaAppName": {"value": "a=b"},
    }


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(p.ParameterError) as e:
        p.parse_parameter_args(["maxInstances=2"], TYPES)
    assert "maxInstances" in str(e.value)
    for name in TYPES:
        assert name in str(e.value)


def test_bad_values_are_explained():
    with pytest.raises(p.ParameterError, match="int"):
        p.parse_parameter_args(["maximumInstanceCount=two"], TYPES)
    with pytest.raises(p.ParameterError, match="bool"):
        p.parse_parameter_args(["storageAccountExists=yes"], TYPES)
    with pytest.raises(p.ParameterError, match="JSON"):
        p.parse_parameter_args(["defaultCommands=[python3"], TYPES)
    with pytest.raises(p.ParameterError, match="cannot parse"):
        p.parse_parameter_args(["justaword"], TYPES)


def test_file_and_json_forms(tmp_path):
    f = tmp_path / "extra.parameters.json"
    f.write_text(
        json.dumps({"$schema": "x", "contentVersion": "1.0.0.0", "parameters": {"acaAppName": {"value": "from-file"}}})
    )
    got = p.parse_parameter_args([[f"@{f}"], ['{"location": {"value": "eastus"}}'], [str(f)]], TYPES)
    assert got == {"acaAppName": {"value": "from-file"}, "location": {"value": "eastus"}}


def test_malformed_parameters_file_names_file_and_line(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{\n "parameters": {\n   "location": {"value": "x"},,\n }\n}')
    with pytest.raises(p.ParameterError, match=r"bad\.json:3:"):
        p.load_parameters_file(f)


def test_later_wins_and_null_means_finetuning_default():
    merged = p.merge(
        {
            "storageAccountName": {"value": None},
            "fileShareName": {"value": None},
            "acaAppName": {"value": None},
            "location": {"value": "eastus"},
        },
        {"location": {"value": "westus3"}},
    )
    ft = {"STORAGE_ACCOUNT_NAME": "ftstore", "FILE_SHARE_NAME": "ftshare"}
    assert p.resolve_defaults(merged, ft) == {
        "storageAccountName": {"value": "ftstore"},
        "fileShareName": {"value": "ftshare"},
        "location": {"value": "westus3"},
    }
    # without fine-tuning, null means the template's default: the entry is dropped
    assert p.resolve_defaults(merged, {}) == {"location": {"value": "westus3"}}


def test_keyvault_references_pass_through():
    got = p.parse_parameter_args(['{"apiKey": {"reference": {"keyVault": {"id": "kv"}, "secretName": "s"}}}'], TYPES)
    assert got == {"apiKey": {"reference": {"keyVault": {"id": "kv"}, "secretName": "s"}}}


def test_bicep_parameter_types():
    text = (
        "@description('x')\nparam location string = resourceGroup().location\n@secure()\nparam apiKey string\n"
        "param defaultCommands array = [\n  'python3'\n]\nparam maximumInstanceCount int = 1\n"
    )
    assert p.bicep_parameter_types(text) == {
        "location": "string",
        "apiKey": "string",
        "defaultCommands": "array",
        "maximumInstanceCount": "int",
    }


# --- property tests -----------------------------------------------------------------------

_names = st.sampled_from(sorted(TYPES))
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)


def _value_for(ptype):
    return {
        "int": st.integers(-(10**6), 10**6),
        "bool": st.booleans(),
        "array": st.lists(st.text(max_size=8), max_size=4),
        "object": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    }.get(ptype, _text)


@st.composite
def _assignments(draw):
    names = draw(st.lists(_names, min_size=0, max_size=6))
    return [(n, draw(_value_for(TYPES[n]))) for n in names]


def _as_key_value(name, value):
    t = TYPES[name]
    if t in ("array", "object"):
        return f"{name}={json.dumps(value)}"
    if t == "bool":
        return f"{name}={'true' if value else 'false'}"
    return f"{name}={value}"


@settings(max_examples=150, deadline=None)
@given(_assignments())
def test_key_value_round_trip_last_wins(assignments):
    got = p.parse_parameter_args([_as_key_value(n, v) for n, v in assignments], TYPES)
    expected = {}
    for n, v in assignments:
        expected[n] = {"value": v}
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(_assignments(), st.booleans())
def test_json_literal_round_trip(assignments, wrapped):
    obj = {n: {"value": v} for n, v in assignments}
    literal = json.dumps({"parameters": obj} if wrapped else obj)
    assert p.parse_parameter_args([literal], TYPES) == obj


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=1, max_size=15).filter(
        lambda s: "=" not in s and s.strip() and s not in TYPES and not s.strip().startswith(("{", "@"))
    ),
    st.text(max_size=10),
)
def test_unknown_names_are_always_refused(name, value):
    with pytest.raises(p.ParameterError):
        p.parse_parameter_args([f"{name}={value}"], TYPES)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(_names, st.one_of(st.none(), st.text(min_size=1, max_size=8)), max_size=6),
    st.dictionaries(_names, st.text(min_size=1, max_size=8), max_size=6),
)
def test_merge_precedence(base, over):
    merged = p.merge({k: {"value": v} for k, v in base.items()}, {k: {"value": v} for k, v in over.items()})
    for k in set(base) | set(over):
        assert merged[k]["value"] == (over[k] if k in over else base[k])
    resolved = p.resolve_defaults(merged, {})
    assert all(e["value"] is not None for e in resolved.values())
