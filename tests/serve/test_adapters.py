"""Adapter and model inspection (aitk_serve.adapters): pure functions, no server."""

import json
import struct

import numpy as np
import pytest
from aitk_serve import LaunchError
from aitk_serve.adapters import (
    ALLOWED_MAX_LORA_RANKS,
    check_unique_names,
    config_shapes,
    inspect_adapter,
    inspect_model,
    read_safetensors_header,
    smallest_max_lora_rank,
)
from hypothesis import given
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import save_file

from serve.fakes import LLAMA, PHI3, lora_tensors, write_adapter, write_model

# --- safetensors headers ----------------------------------------------------------------------


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_.]{0,30}", fullmatch=True),
        st.lists(st.integers(1, 5), min_size=0, max_size=3),
        min_size=1,
        max_size=6,
    )
)
def test_header_reader_agrees_with_the_safetensors_library(tmp_path_factory, tensors):
    path = tmp_path_factory.mktemp("st") / "t.safetensors"
    save_file({k: np.zeros(s, np.float16) for k, s in tensors.items()}, str(path), metadata={"format": "pt"})
    header = read_safetensors_header(path)
    with safe_open(str(path), framework="np") as f:
        assert set(header) == set(f.keys())
        for k in f.keys():
            assert header[k]["shape"] == list(f.get_slice(k).get_shape())
            assert header[k]["dtype"] == "F16"


@pytest.mark.parametrize(
    "content",
    [b"", b"\x01\x02", struct.pack("<Q", 10**9) + b"{}", struct.pack("<Q", 4) + b"nope", struct.pack("<Q", 2) + b"[]"],
)
def test_header_reader_refuses_what_is_not_safetensors(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(LaunchError, match="not a readable safetensors file"):
        read_safetensors_header(path)


# --- ranks ------------------------------------------------------------------------------------


@given(st.integers(1, ALLOWED_MAX_LORA_RANKS[-1]))
def test_smallest_max_lora_rank_is_the_least_allowed_rank_that_fits(rank):
    got = smallest_max_lora_rank(rank)
    assert got in ALLOWED_MAX_LORA_RANKS and got >= rank
    assert all(r < rank for r in ALLOWED_MAX_LORA_RANKS if r < got)


@pytest.mark.parametrize(
    "rank,want", [(1, 1), (2, 8), (8, 8), (9, 16), (64, 64), (65, 128), (300, 320), (321, 512), (512, 512)]
)
def test_smallest_max_lora_rank_examples(rank, want):
    assert smallest_max_lora_rank(rank) == want


@given(st.integers(513, 10**6))
def test_ranks_above_vllms_limit_are_refused(rank):
    with pytest.raises(LaunchError, match=f"LoRA rank {rank} is above the largest rank"):
        smallest_max_lora_rank(rank)


# --- the model's shapes -----------------------------------------------------------------------


@pytest.mark.parametrize("arch,kv_heads", [("llama", 2), ("llama", 1), ("phi3", 2), ("phi3", 1)])
def test_config_shapes_match_what_transformers_builds(arch, kv_heads):
    """The shapes derived from config.json equal the real modules' weight shapes."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Phi3Config

    cls = LlamaConfig if arch == "llama" else Phi3Config
    cfg = cls(
        vocab_size=320,
        hidden_size=128,
        intermediate_size=192,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=kv_heads,
        tie_word_embeddings=False,
        pad_token_id=0,
        bos_token_id=0,
        eos_token_id=0,
    )
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    real = {}
    for name, p in model.named_parameters():
        if p.dim() == 2:
            suffix = name.rsplit(".", 2)[-2]
            shape = tuple(p.shape)
            real[suffix] = {shape[::-1] if suffix == "embed_tokens" else shape}
    assert config_shapes(cfg.to_dict()) == real


def test_inspect_model_reads_config_and_checkpoint(tmp_path):
    info = inspect_model(str(write_model(tmp_path / "m", PHI3)))
    assert (info.vocab_size, info.num_layers, info.num_heads) == (512, 2, 2)
    assert info.shapes["qkv_proj"] == {(384, 128)} and info.shapes["gate_up_proj"] == {(512, 128)}
    assert "q_proj" not in info.shapes
    assert {"input_layernorm", "norm"} <= info.other_modules


def test_checkpoint_shapes_win_over_the_config(tmp_path):
    """A config that lies about a dimension: the safetensors header is the truth."""
    model = write_model(tmp_path / "m")
    cfg = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps(dict(cfg, intermediate_size=999)))
    assert inspect_model(str(model)).shapes["down_proj"] == {(128, 256)}


def test_without_a_checkpoint_the_config_decides(tmp_path):
    info = inspect_model(str(write_model(tmp_path / "m", weights=False)))
    assert info.shapes["down_proj"] == {(128, 256)} and info.shapes["lm_head"] == {(512, 128)}


def test_missing_model_folder_and_config_are_refused(tmp_path):
    with pytest.raises(LaunchError, match="does not exist"):
        inspect_model(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(LaunchError, match="has no config.json"):
        inspect_model(str(tmp_path / "empty"))
    (tmp_path / "empty" / "config.json").write_text("{oops")
    with pytest.raises(LaunchError, match="not valid JSON"):
        inspect_model(str(tmp_path / "empty"))


# --- adapters ---------------------------------------------------------------------------------


@pytest.fixture
def llama(tmp_path):
    return inspect_model(str(write_model(tmp_path / "tiny-llama")))


@pytest.fixture
def phi3(tmp_path):
    return inspect_model(str(write_model(tmp_path / "tiny-phi3", PHI3)))


def test_a_fitting_adapter_reports_rank_and_modules(tmp_path, llama):
    a = write_adapter(tmp_path / "a", targets=("q_proj", "v_proj", "down_proj"), rank=8)
    info = inspect_adapter("a", str(a), llama, model_ref=llama.path, served_name="tiny-llama")
    assert (info.rank, info.modules, info.warnings) == (8, ["down_proj", "q_proj", "v_proj"], [])


def test_packed_phi3_modules_and_embeddings_fit(tmp_path, phi3):
    targets = ("qkv_proj", "gate_up_proj", "embed_tokens", "lm_head")
    a = write_adapter(tmp_path / "a", model_config=PHI3, targets=targets, rank=16)
    info = inspect_adapter("a", str(a), phi3)
    assert info.rank == 16 and info.modules == sorted(targets)


def test_rank_pattern_raises_the_rank(tmp_path, llama):
    t = lora_tensors(LLAMA, ("q_proj",), 8)
    t.update({k: s for k, s in lora_tensors(LLAMA, ("v_proj",), 32).items()})
    a = write_adapter(tmp_path / "a", t, rank=8, rank_pattern={"v_proj": 32})
    assert inspect_adapter("a", str(a), llama).rank == 32


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(config=False), "no adapter_config.json"),
        (dict(weights=False), "no adapter weights"),
        (dict(modules_to_save=["lm_head"]), r"modules_to_save \['lm_head'\] cannot be served"),
        (dict(modules_to_save=["embed_tokens", "score"]), r"modules_to_save \['embed_tokens'\]"),
        (dict(use_dora=True), "cannot serve DoRA"),
        (dict(bias="all"), "cannot serve bias='all'"),
        (dict(init_lora_weights="pissa"), "init_lora_weights='pissa'"),
        (dict(peft_type="IA3"), "peft_type is IA3"),
        (dict(r=0), "no positive integer rank"),
        (dict(r="8"), "no positive integer rank"),
    ],
)
def test_adapter_config_refusals(tmp_path, llama, kwargs, message):
    a = write_adapter(tmp_path / "a", **kwargs)
    with pytest.raises(LaunchError, match=message):
        inspect_adapter("a", str(a), llama)


def test_a_missing_adapter_folder_is_refused(tmp_path, llama):
    with pytest.raises(LaunchError, match="folder does not exist"):
        inspect_adapter("a", str(tmp_path / "nope"), llama)


def test_lora_on_a_norm_layer_is_refused(tmp_path, llama):
    t = {
        "base_model.model.model.layers.0.input_layernorm.lora_A.weight": (8, 128),
        "base_model.model.model.layers.0.input_layernorm.lora_B.weight": (128, 8),
    }
    a = write_adapter(tmp_path / "a", t, targets=("input_layernorm",))
    with pytest.raises(LaunchError, match="'input_layernorm', which is not a linear layer"):
        inspect_adapter("a", str(a), llama)


def test_unpacked_names_on_phi3_are_refused(tmp_path, phi3):
    """A Llama-style adapter (q_proj, ...) cannot apply to Phi-3's packed qkv_proj."""
    a = write_adapter(tmp_path / "a", targets=("q_proj", "v_proj"))
    with pytest.raises(LaunchError, match="'q_proj', which is not a module of this model"):
        inspect_adapter("a", str(a), phi3)


def test_an_adapter_for_a_wider_model_is_refused(tmp_path, llama):
    wide = dict(LLAMA, hidden_size=256)
    a = write_adapter(tmp_path / "a", model_config=wide, targets=("q_proj",))
    with pytest.raises(LaunchError, match=r"does not fit the base model's q_proj \(128x128"):
        inspect_adapter("a", str(a), llama)


def test_an_adapter_for_a_different_mlp_is_refused(tmp_path, llama):
    a = write_adapter(tmp_path / "a", model_config=dict(LLAMA, intermediate_size=512), targets=("down_proj",))
    with pytest.raises(LaunchError, match="different base model"):
        inspect_adapter("a", str(a), llama)


def test_an_adapter_for_a_deeper_model_is_refused(tmp_path, llama):
    a = write_adapter(tmp_path / "a", model_config=dict(LLAMA, num_hidden_layers=4))
    with pytest.raises(LaunchError, match="weights for layer 2 but the base model .* has 2 layers"):
        inspect_adapter("a", str(a), llama)


@pytest.mark.parametrize("target", ["lm_head", "embed_tokens"])
def test_a_vocabulary_size_mismatch_is_refused(tmp_path, llama, target):
    a = write_adapter(tmp_path / "a", model_config=dict(LLAMA, vocab_size=640), targets=(target,))
    with pytest.raises(LaunchError, match="vocabulary size mismatch: .* vocabulary of 640, the base model .* has 512"):
        inspect_adapter("a", str(a), llama)


def test_full_weights_in_the_file_are_refused(tmp_path, llama):
    t = dict(lora_tensors(LLAMA, ("q_proj",), 8))
    t["base_model.model.lm_head.weight"] = (512, 128)
    a = write_adapter(tmp_path / "a", t)
    with pytest.raises(LaunchError, match="holds full weights .*lm_head.weight"):
        inspect_adapter("a", str(a), llama)


def test_lora_bias_tensors_are_refused(tmp_path, llama):
    t = dict(lora_tensors(LLAMA, ("q_proj",), 8))
    t["base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias"] = (128,)
    a = write_adapter(tmp_path / "a", t)
    with pytest.raises(LaunchError, match="LoRA bias"):
        inspect_adapter("a", str(a), llama)


def test_an_empty_weights_file_is_refused(tmp_path, llama):
    a = write_adapter(tmp_path / "a", {"unrelated.base_layer.weight": (2, 2)})
    with pytest.raises(LaunchError, match="holds no LoRA weights"):
        inspect_adapter("a", str(a), llama)


def test_a_differing_base_name_only_warns(tmp_path, llama):
    a = write_adapter(tmp_path / "a", base_model_name_or_path="/old/place/other-model")
    info = inspect_adapter("a", str(a), llama, model_ref=llama.path, served_name="tiny-llama")
    assert len(info.warnings) == 1 and "'/old/place/other-model'" in info.warnings[0]
    same = write_adapter(tmp_path / "b", base_model_name_or_path="/elsewhere/tiny-llama")
    assert inspect_adapter("b", str(same), llama, model_ref=llama.path, served_name="tiny-llama").warnings == []


def test_without_a_local_model_only_the_adapter_itself_is_checked(tmp_path):
    a = write_adapter(tmp_path / "a", model_config=dict(LLAMA, hidden_size=4096), rank=32)
    assert inspect_adapter("a", str(a), None).rank == 32
    bad = write_adapter(tmp_path / "b", modules_to_save=["lm_head"])
    with pytest.raises(LaunchError, match="modules_to_save"):
        inspect_adapter("b", str(bad), None)


def test_a_legacy_bin_adapter_is_read(tmp_path, llama):
    import torch

    a = write_adapter(tmp_path / "a", weights=False, rank=8)
    torch.save(
        {k: torch.zeros(s) for k, s in lora_tensors(LLAMA, ("q_proj", "v_proj"), 8).items()}, a / "adapter_model.bin"
    )
    assert inspect_adapter("a", str(a), llama).modules == ["q_proj", "v_proj"]
    wide = write_adapter(tmp_path / "w", weights=False)
    torch.save(
        {k: torch.zeros(s) for k, s in lora_tensors(dict(LLAMA, hidden_size=256), ("q_proj",), 8).items()},
        wide / "adapter_model.bin",
    )
    with pytest.raises(LaunchError, match="different base model"):
        inspect_adapter("w", str(wide), llama)


def test_names_must_be_unique_and_differ_from_the_base():
    check_unique_names([("a", "/x"), ("b", "/y")], base_name="base")
    with pytest.raises(LaunchError, match="two adapters are named 'a' \\(/x and /z\\)"):
        check_unique_names([("a", "/x"), ("b", "/y"), ("a", "/z")])
    with pytest.raises(LaunchError, match="same name as the base model"):
        check_unique_names([("base", "/x")], base_name="base")
