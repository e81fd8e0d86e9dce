"""Hostile files on the share: every one is one line naming the file and the key, exit 2, no
traceback; and what vLLM would only fail on after a long start is refused before it starts.
Pure functions for the classes of input (with hypothesis), the real launcher for the exits."""

import json
import math
import struct
import subprocess
import sys

import pytest
from aitk_serve import LaunchError
from aitk_serve.adapters import (
    DIMENSIONS,
    check_adapter_config,
    config_shapes,
    inspect_adapter,
    inspect_model,
    read_safetensors_header,
)
from aitk_serve.discovery import load_serve_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from serve.conftest import ROOT, launcher_env, left_out, refused, run_launcher
from serve.fakes import LLAMA, lora_tensors, write_adapter, write_model

DEEP = "[" * 200_000 + "]" * 200_000  # deeper than any recursion limit
DEEP_OBJECT = '{"a": ' + DEEP + "}"


def one_line_error(excinfo, *needles):
    text = str(excinfo.value)
    assert "\n" not in text, text
    for needle in needles:
        assert str(needle) in text, text
    return text


def write_header(path, header):
    raw = (header if isinstance(header, str) else json.dumps(header)).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return path


@pytest.fixture
def model(tmp_path):
    return write_model(tmp_path / "tiny-llama")


# --- JSON nested deeper than the recursion limit ---------------------------------------------


def test_a_deep_safetensors_header_is_one_line(tmp_path):
    path = write_header(tmp_path / "x.safetensors", DEEP_OBJECT)
    with pytest.raises(LaunchError) as e:
        read_safetensors_header(path)
    one_line_error(e, path, "nested too deeply")


def test_a_deep_config_json_is_one_line(model):
    (model / "config.json").write_text(DEEP_OBJECT)
    with pytest.raises(LaunchError) as e:
        inspect_model(str(model))
    one_line_error(e, model / "config.json", "nested too deeply")


def test_a_deep_adapter_config_is_one_line(tmp_path, model):
    a = write_adapter(tmp_path / "a")
    (a / "adapter_config.json").write_text(DEEP)
    with pytest.raises(LaunchError) as e:
        inspect_adapter("a", str(a), inspect_model(str(model)))
    one_line_error(e, a / "adapter_config.json", "nested too deeply")


def test_a_deep_serve_json_is_one_line(tmp_path):
    cfg = tmp_path / "serve.json"
    cfg.write_text(DEEP_OBJECT)
    with pytest.raises(LaunchError) as e:
        load_serve_config(str(cfg), required=True)
    one_line_error(e, cfg, "nested too deeply")


def test_a_deep_weight_index_is_one_line(model):
    (model / "model.safetensors.index.json").write_text(DEEP_OBJECT)
    with pytest.raises(LaunchError) as e:
        inspect_model(str(model))
    one_line_error(e, "model.safetensors.index.json", "nested too deeply")


# --- tensor shapes ---------------------------------------------------------------------------

BAD_SHAPES = ["ab", [None, 128], 8, ["a", "b"], [-1, 128], [True, 128], {"a": 1}, [1.5, 2], None, [[8], [128]]]


@pytest.mark.parametrize("shape", BAD_SHAPES, ids=repr)
def test_a_shape_that_is_not_a_list_of_non_negative_ints_is_refused(tmp_path, shape):
    path = write_header(
        tmp_path / "x.safetensors",
        {
            "__metadata__": {"format": "pt"},
            "ok.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
            "bad.weight": {"dtype": "F32", "shape": shape, "data_offsets": [16, 16]},
        },
    )
    with pytest.raises(LaunchError) as e:
        read_safetensors_header(path)
    one_line_error(e, path, "'bad.weight'", "not a list of non-negative integers")


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
        max_leaves=8,
    )
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=80)
def test_any_shape_value_is_read_or_refused_in_one_line(tmp_path, shape):
    path = write_header(tmp_path / "x.safetensors", {"t": {"dtype": "F32", "shape": shape}})
    try:
        assert read_safetensors_header(path)["t"]["shape"] == shape
        assert all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    except LaunchError as e:
        assert "\n" not in str(e) and str(path) in str(e)


def test_a_bad_shape_in_the_model_weights_is_refused_too(model):
    write_header(model / "model.safetensors", {"model.norm.weight": {"dtype": "F32", "shape": "ab"}})
    with pytest.raises(LaunchError) as e:
        inspect_model(str(model))
    one_line_error(e, model / "model.safetensors", "'model.norm.weight'")


# --- config.json dimensions ------------------------------------------------------------------

BAD_DIMENSIONS = ["128", 0, -2, [128], True, False, 1e400, math.nan, 12.5, {"n": 1}]


@pytest.mark.parametrize("key", DIMENSIONS)
@pytest.mark.parametrize("value", BAD_DIMENSIONS, ids=repr)
def test_a_config_dimension_that_is_not_a_positive_int_is_refused(model, key, value):
    (model / "config.json").write_text(json.dumps(dict(LLAMA, **{key: value})))
    with pytest.raises(LaunchError) as e:
        inspect_model(str(model))
    one_line_error(e, model / "config.json", f'"{key}"', "positive integer")


def test_a_nested_text_config_is_checked_the_same_way(model):
    (model / "config.json").write_text(
        json.dumps({"model_type": "llava", "text_config": dict(LLAMA, hidden_size="wide")})
    )
    with pytest.raises(LaunchError) as e:
        inspect_model(str(model))
    one_line_error(e, '"text_config.hidden_size"')


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 600) | st.floats(allow_nan=True) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@given(st.dictionaries(st.sampled_from([*DIMENSIONS, "model_type", "text_config"]), JSON_VALUES, max_size=6))
def test_any_config_values_give_shapes_or_one_line(changes):
    try:
        shapes = config_shapes(dict(LLAMA, **changes), "config.json")
    except LaunchError as e:
        assert "\n" not in str(e) and "config.json" in str(e)
    else:
        assert all(isinstance(d, int) and d > 0 for dims in shapes.values() for s in dims for d in s)


# --- config.json against its own weights -----------------------------------------------------


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(hidden_size=256), "says hidden_size 256 but the weights' model.embed_tokens.weight is 512x128"),
        (dict(num_hidden_layers=3), "says num_hidden_layers 3 but the weights hold 2 layers"),
        (dict(num_hidden_layers=1), "says num_hidden_layers 1 but the weights hold 2 layers"),
    ],
)
def test_a_config_that_disagrees_with_its_weights_is_refused(model, change, message):
    (model / "config.json").write_text(json.dumps(dict(LLAMA, **change)))
    with pytest.raises(LaunchError) as e:
        inspect_model(str(model))
    one_line_error(e, model / "config.json", message, "download the model again")


def test_a_config_that_agrees_with_its_weights_passes(model):
    info = inspect_model(str(model))
    assert (info.num_layers, info.shapes["o_proj"]) == (2, {(128, 128)})


# --- the weight index ------------------------------------------------------------------------


def sharded(model):
    """Split the model's weights into two shards named by an index, as Hugging Face does."""
    from safetensors.numpy import load_file

    tensors = load_file(str(model / "model.safetensors"))
    (model / "model.safetensors").unlink()
    names = sorted(tensors)
    half = len(names) // 2
    weight_map = {}
    for i, part in enumerate((names[:half], names[half:])):
        shard = f"model-0000{i + 1}-of-00002.safetensors"
        save_file({n: tensors[n] for n in part}, str(model / shard))
        weight_map.update({n: shard for n in part})
    return weight_map


def write_index(model, weight_map):
    (model / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def test_a_sharded_model_is_read_through_its_index(model):
    write_index(model, sharded(model))
    assert inspect_model(str(model)).shapes["q_proj"] == {(128, 128)}


@pytest.mark.parametrize(
    "weight_map,message",
    [
        (["model-00001-of-00002.safetensors"], '"weight_map" is not a JSON object'),
        ({"model.norm.weight": 3}, "\"weight_map\"['model.norm.weight'] is 3, not a file name"),
        ({"model.norm.weight": None}, "\"weight_map\"['model.norm.weight'] is None, not a file name"),
        ({"model.norm.weight": ["a"]}, "not a file name"),
        ({}, 'has no "weight_map"'),
        (
            {"model.norm.weight": "model-00003-of-00003.safetensors"},
            "names 'model-00003-of-00003.safetensors', which does not exist",
        ),
        ({"model.norm.weight": "../elsewhere.safetensors"}, "outside the model folder"),
    ],
)
def test_a_bad_weight_index_is_refused(model, weight_map, message):
    shards = sharded(model)
    write_index(model, dict(shards, **weight_map) if isinstance(weight_map, dict) and weight_map else weight_map)
    with pytest.raises(LaunchError) as e:
        inspect_model(str(model))
    one_line_error(e, "model.safetensors.index.json", message)


# --- adapter_config.json ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(rank_pattern=["q_proj", 8]), '"rank_pattern" is not a JSON object'),
        (dict(rank_pattern={"q_proj": "8"}), "positive integer rank_pattern['q_proj']"),
        (dict(rank_pattern={"q_proj": True}), "positive integer rank_pattern['q_proj']"),
        (dict(modules_to_save=3), '"modules_to_save" is not a string or a list of strings'),
        (dict(modules_to_save=[None]), '"modules_to_save" is not a string or a list of strings'),
        (dict(lora_alpha="16"), '"lora_alpha" is not a finite number'),
        (dict(lora_alpha=math.inf), '"lora_alpha" is not a finite number'),
        (dict(lora_alpha=True), '"lora_alpha" is not a finite number'),
        (dict(alpha_pattern={"q_proj": "x"}), "alpha_pattern['q_proj'] is not a finite number"),
        (dict(alpha_pattern={"q_proj": None}), "no number alpha_pattern['q_proj']"),
        (dict(alpha_pattern=[1]), '"alpha_pattern" is not a JSON object'),
        (dict(r=None), "no positive integer rank r"),
        (dict(lora_alpha=None), 'no number "lora_alpha"'),
        (dict(target_modules=None), 'no "target_modules"'),
        (dict(target_modules=[]), 'no "target_modules"'),
        (dict(target_modules=7), '"target_modules" is not a string or a list of strings'),
        (dict(bias=0), '"bias" is not a string'),
        (dict(peft_type=["LORA"]), '"peft_type" is not a string'),
        (dict(base_model_name_or_path=12), '"base_model_name_or_path" is not a string'),
    ],
)
def test_a_bad_adapter_config_value_is_refused(tmp_path, model, change, message):
    a = write_adapter(tmp_path / "a")
    cfg = json.loads((a / "adapter_config.json").read_text())
    cfg.update(change)
    cfg = {k: val for k, val in cfg.items() if val is not None or k not in change}
    (a / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(LaunchError) as e:
        inspect_adapter("a", str(a), inspect_model(str(model)))
    one_line_error(e, a, "adapter_config.json", message)


@pytest.mark.parametrize("key", ["r", "lora_alpha", "target_modules"])
def test_a_missing_required_adapter_key_is_refused(tmp_path, model, key):
    a = write_adapter(tmp_path / "a")
    cfg = json.loads((a / "adapter_config.json").read_text())
    del cfg[key]
    (a / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(LaunchError) as e:
        inspect_adapter("a", str(a), inspect_model(str(model)))
    one_line_error(e, "adapter_config.json", key)


def test_bias_null_means_no_bias(tmp_path, model):
    a = write_adapter(tmp_path / "a", bias=None)
    assert inspect_adapter("a", str(a), inspect_model(str(model))).rank == 8


ADAPTER_KEYS = [
    "r",
    "lora_alpha",
    "target_modules",
    "rank_pattern",
    "alpha_pattern",
    "modules_to_save",
    "bias",
    "peft_type",
    "base_model_name_or_path",
    "use_dora",
    "init_lora_weights",
    "lora_bias",
]


@given(st.dictionaries(st.sampled_from(ADAPTER_KEYS), JSON_VALUES, max_size=5))
def test_any_adapter_config_values_give_a_rank_or_one_line(changes):
    base = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}
    try:
        rank = check_adapter_config(dict(base, **changes), "adapter 'a' (/p)")
    except LaunchError as e:
        assert "\n" not in str(e) and "adapter 'a' (/p)" in str(e)
    else:
        assert isinstance(rank, int) and not isinstance(rank, bool) and rank > 0


# --- adapter weights -------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"garbage, not a pickle", b"PK\x03\x04 not a zip either", b""])
def test_a_garbage_adapter_bin_is_one_line(tmp_path, model, content):
    a = write_adapter(tmp_path / "a", weights=False)
    (a / "adapter_model.bin").write_bytes(content)
    with pytest.raises(LaunchError) as e:
        inspect_adapter("a", str(a), inspect_model(str(model)))
    one_line_error(e, a / "adapter_model.bin", "not a PyTorch state dict")
    assert "weights_only" not in str(e.value)


def test_an_adapter_bin_holding_something_else_is_one_line(tmp_path, model):
    import torch

    a = write_adapter(tmp_path / "a", weights=False)
    torch.save([torch.zeros(2)], a / "adapter_model.bin")
    with pytest.raises(LaunchError) as e:
        inspect_adapter("a", str(a), inspect_model(str(model)))
    one_line_error(e, "adapter_model.bin", "holds list, not a state dict")


# --- the real launcher: exit 2, one line ---------------------------------------------------


@pytest.fixture
def share(tmp_path):
    m = tmp_path / "share"
    write_model(m / "model-cache" / "org" / "tiny-llama")
    write_adapter(m / "models" / "run-1" / "adapter")
    return m


def _deep_config(share, adapter):
    (share / "model-cache/org/tiny-llama/config.json").write_text(DEEP_OBJECT)


def _deep_adapter(share, adapter):
    (adapter / "adapter_config.json").write_text(DEEP)


def _deep_serve_json(share, adapter):
    (share / "aitk/inference").mkdir(parents=True)
    (share / "aitk/inference/serve.json").write_text(DEEP_OBJECT)


def _bad_shape(share, adapter):
    t = {k: list(s) for k, s in lora_tensors(LLAMA, ("q_proj",), 8).items()}
    header = {k: {"dtype": "F32", "shape": s, "data_offsets": [0, 0]} for k, s in t.items()}
    header[next(iter(header))]["shape"] = [None, 128]
    write_header(adapter / "adapter_model.safetensors", header)


def _rank_pattern_list(share, adapter):
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps(dict(cfg, rank_pattern=[8])))


def _string_dimension(share, adapter):
    (share / "model-cache/org/tiny-llama/config.json").write_text(json.dumps(dict(LLAMA, vocab_size="512")))


def _config_disagrees(share, adapter):
    (share / "model-cache/org/tiny-llama/config.json").write_text(json.dumps(dict(LLAMA, num_hidden_layers=4)))


def _missing_shard(share, adapter):
    model = share / "model-cache/org/tiny-llama"
    write_index(model, dict(sharded(model), **{"model.norm.weight": "model-9.safetensors"}))


def _garbage_bin(share, adapter):
    (adapter / "adapter_model.safetensors").unlink()
    (adapter / "adapter_model.bin").write_bytes(b"\x80\x02garbage")


ADAPTER_SPOILS = (_deep_adapter, _bad_shape, _rank_pattern_list, _garbage_bin)


@pytest.mark.parametrize(
    "spoil,message",
    [
        (_deep_config, "nested too deeply"),
        (_deep_adapter, "nested too deeply"),
        (_deep_serve_json, "nested too deeply"),
        (_bad_shape, "not a list of non-negative integers"),
        (_rank_pattern_list, '"rank_pattern" is not a JSON object'),
        (_string_dimension, 'no positive integer "vocab_size"'),
        (_config_disagrees, "says num_hidden_layers 4 but the weights hold 2 layers"),
        (_missing_shard, "'model-9.safetensors', which does not exist"),
        (_garbage_bin, "not a PyTorch state dict"),
    ],
    ids=lambda x: getattr(x, "__name__", None),
)
def test_the_launcher_refuses_hostile_files_in_one_line(share, spoil, message):
    """A hostile base model or serve.json stops the start; a hostile adapter found on the share
    is left out in one line and the rest serves (named with --adapter, it is refused)."""
    adapter = share / "models/run-1/adapter"
    spoil(share, adapter)
    if spoil in ADAPTER_SPOILS:
        left_out(run_launcher(["--check"], share), "run-1", message)
        refused(run_launcher(["--check", "--adapter", f"x={adapter}"], share), message)
    else:
        refused(run_launcher(["--check"], share), message)


def test_anything_unexpected_is_one_line_and_exit_2(share):
    """The last resort in main(): a failure no check foresaw still starts nothing."""
    code = (
        "import sys, aitk_serve.cli as cli\n"
        "def broken(path):\n    raise TypeError('no\\nway')\n"
        "cli.inspect_model = broken\n"
        "sys.exit(cli.main(['--check']))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], env=launcher_env(share), cwd=str(ROOT), capture_output=True, text=True, timeout=60
    )
    refused(r, "unexpected TypeError: no way while checking the model and adapters")
    assert "nothing was started" in r.stderr
