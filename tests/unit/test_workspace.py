import json
import os
import threading

import pytest
from azext_aitk.core import workspace as w
from hypothesis import given, settings
from hypothesis import strategies as st


def test_config_keys_are_the_ai_toolkit_names():
    assert w.INFERENCE_CONFIG_KEYS == (
        "SUBSCRIPTION_ID",
        "RESOURCE_GROUP_NAME",
        "STORAGE_ACCOUNT_NAME",
        "FILE_SHARE_NAME",
        "ACA_APP_NAME",
        "ACA_APP_ENDPOINT",
    )
    assert w.BICEP_FILE == "infra/provision/inference.bicep"
    assert w.PARAMETERS_FILE == "infra/provision/inference.parameters.json"
    assert w.INFERENCE_CONFIG_FILE == "infra/inference.config.json"
    assert w.FINETUNING_CONFIG_FILE == "infra/finetuning.config.json"


def _config(**over):
    cfg = {k: f"v-{k.lower()}" for k in w.INFERENCE_CONFIG_KEYS}
    cfg.update(over)
    return cfg


def test_missing_inference_config_says_run_provision(tmp_path):
    with pytest.raises(w.WorkspaceError) as e:
        w.Workspace(tmp_path).read_inference_config()
    assert e.value.kind == "missing"
    assert "provision" in e.value.recommendation


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "infra" / "inference.config.json"
    path.parent.mkdir()
    path.write_text('{\n  "SUBSCRIPTION_ID": "x",\n  "RESOURCE_GROUP_NAME": \n}\n')
    with pytest.raises(w.WorkspaceError) as e:
        w.Workspace(tmp_path).read_inference_config()
    assert e.value.kind == "malformed"
    assert e.value.line == 4
    assert f"{path}:4:" in str(e.value)


def test_config_with_missing_keys_is_refused(tmp_path):
    ws = w.Workspace(tmp_path)
    w.write_json_atomic(ws.inference_config_file, _config(ACA_APP_ENDPOINT=""))
    with pytest.raises(w.WorkspaceError, match="ACA_APP_ENDPOINT"):
        ws.read_inference_config()


def test_write_then_read_config_keeps_user_keys(tmp_path):
    ws = w.Workspace(tmp_path)
    w.write_json_atomic(ws.inference_config_file, {"MY_NOTE": "keep me", "ACA_APP_NAME": "old"})
    ws.write_inference_config(_config())
    assert ws.read_inference_config() == _config()
    data = json.loads(ws.inference_config_file.read_text())
    assert data["MY_NOTE"] == "keep me" and data["ACA_APP_NAME"] == "v-aca_app_name"


def test_inference_config_as_a_value(tmp_path):
    ws = w.Workspace(tmp_path)
    ws.write_inference_config(
        _config(
            SUBSCRIPTION_ID="sub",
            RESOURCE_GROUP_NAME="rg",
            STORAGE_ACCOUNT_NAME="st",
            ACA_APP_NAME="app",
            ACA_APP_ENDPOINT=" https://app.example/ ",
        )
    )
    cfg = ws.inference_config()
    assert (cfg.subscription_id, cfg.resource_group, cfg.storage_account, cfg.file_share, cfg.app_name) == (
        "sub",
        "rg",
        "st",
        "v-file_share_name",
        "app",
    )
    assert cfg.app_endpoint == "https://app.example/"
    with pytest.raises(AttributeError):
        cfg.app_name = "other"  # frozen: read once, never changed
    with pytest.raises(w.WorkspaceError, match="ACA_APP_ENDPOINT"):
        w.write_json_atomic(ws.inference_config_file, _config(ACA_APP_ENDPOINT=""))
        ws.inference_config()


def test_atomic_write_leaves_no_temp_files_and_readers_never_see_half(tmp_path):
    path = tmp_path / "c.json"
    w.write_json_atomic(path, {"n": 0})
    stop = threading.Event()
    seen_bad = []

    def reader():
        while not stop.is_set():
            try:
                json.loads(path.read_text())
            except ValueError:
                seen_bad.append(1)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        w.write_json_atomic(path, {"n": i, "pad": "x" * 5000})
    stop.set()
    t.join()
    assert not seen_bad
    assert os.listdir(tmp_path) == ["c.json"]


def test_finetuning_config_absent_is_empty(tmp_path):
    assert w.Workspace(tmp_path).read_finetuning_config() == {}


def test_install_file_never_overwrites_a_user_edit(tmp_path):
    dest = tmp_path / "a" / "f.txt"
    assert w.install_file(dest, b"shipped") == ("created", None)
    assert w.install_file(dest, b"shipped") == ("unchanged", None)
    dest.write_bytes(b"user edit")
    assert w.install_file(dest, b"shipped") == ("kept", None)
    assert dest.read_bytes() == b"user edit"
    action, backup = w.install_file(dest, b"shipped", force=True)
    assert action == "reset" and backup.read_bytes() == b"user edit"
    assert dest.read_bytes() == b"shipped"


def test_same_text_ignores_line_endings():
    assert w.same_text("a\r\nb  \n", "a\nb\n")
    assert not w.same_text("a\nb\n", "a\nc\n")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.sampled_from(w.INFERENCE_CONFIG_KEYS), st.text(min_size=1, max_size=30).filter(str.strip)),
    st.dictionaries(st.text(min_size=1, max_size=10), _json_values, max_size=3),
)
def test_config_round_trip_or_clear_error(tmp_path_factory, values, extra):
    ws = w.Workspace(tmp_path_factory.mktemp("ws"))
    w.write_json_atomic(ws.inference_config_file, {**extra, **values})
    if set(values) == set(w.INFERENCE_CONFIG_KEYS):
        assert ws.read_inference_config() == {k: v.strip() for k, v in values.items()}
    else:
        with pytest.raises(w.WorkspaceError):
            ws.read_inference_config()


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_fails_with_a_line(text):
    try:
        json.loads(text)
    except ValueError:
        with pytest.raises(w.WorkspaceError) as e:
            w.parse_json_text(text, "x.json")
        assert e.value.line is not None and f"x.json:{e.value.line}:" in str(e.value)
    else:
        # compared as JSON text: "NaN" parses to a float that equals nothing, itself included
        assert json.dumps(w.parse_json_text(text, "x.json")) == json.dumps(json.loads(text))
