import pytest
from azext_aitk.core import api_key
from azext_aitk.core.deploy import adapter_specs as a


def test_parse_forms():
    assert a.parse("my-adapter=./x/adapter") == ("my-adapter", "./x/adapter")
    assert a.parse(" n = /abs/p=q ") == ("n", "/abs/p=q")
    for bad in ("noequals", "=path", "name=", "bad/name=./x", "../x=./y"):
        with pytest.raises(a.AdapterSpecError):
            a.parse(bad)


def test_folder_checks(tmp_path):
    d = tmp_path / "ad"
    d.mkdir()
    with pytest.raises(a.AdapterSpecError, match="adapter_config.json"):
        a.parse_all([f"x={d}"])
    (d / "adapter_config.json").write_text("{}")
    with pytest.raises(a.AdapterSpecError, match="adapter_model"):
        a.parse_all([f"x={d}"])
    (d / "adapter_model.safetensors").write_bytes(b"0")
    assert a.parse_all(["x=ad"], base_dir=tmp_path) == {"x": d.resolve()}
    with pytest.raises(a.AdapterSpecError, match="twice"):
        a.parse_all([f"x={d}", f"x={d}"])


def test_api_key():
    k1, k2 = api_key.generate(), api_key.generate()
    assert k1 != k2 and len(k1) > 40
    secrets = [{"name": "other", "value": "no"}, {"name": "api-key", "value": k1}]
    assert api_key.from_secrets(secrets) == k1
    assert api_key.from_secrets([]) is None
    assert k1 not in api_key.mask(k1)


def test_two_keys_and_rotated_secrets():
    listed = [
        {"name": "api-key", "value": "p1"},
        {"name": "api-key-secondary", "value": "s1"},
        {"name": "x", "value": "v"},
    ]
    assert api_key.keys_from_secrets(listed) == {"primary": "p1", "secondary": "s1"}
    assert api_key.keys_from_secrets(listed[:1]) == {"primary": "p1", "secondary": None}
    assert api_key.rotated_secrets(listed, "secondary", "s2") == [
        {"name": "api-key", "value": "p1"},
        {"name": "api-key-secondary", "value": "s2"},
        {"name": "x", "value": "v"},
    ]
    assert api_key.rotated_secrets(listed[:1], "secondary", "s2")[-1] == {"name": "api-key-secondary", "value": "s2"}
    assert api_key.rotated_secrets(listed, "primary", "p2")[0] == {"name": "api-key", "value": "p2"}
