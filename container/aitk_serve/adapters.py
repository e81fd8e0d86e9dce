"""Inspect the base model and each LoRA adapter before vLLM starts.

Pure functions over files: read config.json, adapter_config.json and the safetensors headers
(8-byte little-endian header length, then a JSON header; the weights are never loaded). Every
problem vLLM would hit later (often after a long start-up and a long traceback) becomes a
LaunchError with one clear line; harmless differences become warnings.
"""

import os
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import LaunchError
from . import validate as v
from .layout import ADAPTER_CONFIG_FILE, ADAPTER_WEIGHT_FILES

# vLLM 0.32: `--max-lora-rank` must be one of these (vllm/config/lora.py, MaxLoRARanks).
ALLOWED_MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# vLLM 0.32 (vllm/lora/peft_helper.py): modules_to_save may only name classification heads.
SERVABLE_MODULES_TO_SAVE = ("classifier", "score")
# peft init_lora_weights values that leave a plain LoRA adapter (peft_helper._init_is_supported).
SUPPORTED_STRING_INITS = ("gaussian", "eva", "orthogonal", "mica", "lora_ga")
# Embedding layers vLLM can put a LoRA on (LlamaForCausalLM.embedding_modules and the like).
EMBEDDING_MODULES = ("embed_tokens", "lm_head")
# Architectures whose Hugging Face checkpoints hold packed projections (q/k/v, gate/up).
PACKED_MODEL_TYPES = ("phi3",)

_LORA_KEY = re.compile(
    r"^(?P<module>.+?)\.(?P<kind>lora_A|lora_B|lora_embedding_A|lora_embedding_B)"
    r"(?:\.(?!(?:weight|bias)$)(?P<adapter>[^.]+))?(?:\.(?P<param>weight|bias))?$"
)
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")
# peft's LoRA on fused MoE expert parameters (LoraConfig target_parameters; what peft makes of
# expert targets on transformers 5's fused experts): `<layer>.mlp.experts.base_layer.lora_A/B`
# for gate_up_proj and `<layer>.mlp.experts.lora_A/B` for down_proj, each A (rank x experts, in).
_FUSED_EXPERTS = re.compile(r"(?:^|\.)experts(?:\.base_layer)?$")
# vLLM 0.32's models whose MoE LoRA layer takes that layout (SupportsLoRA.is_3d_moe_weight True in
# vllm/model_executor/models/{gpt_oss,qwen3_vl_moe,qwen3_5,qwen3_omni_moe_thinker,interns1_pro}.py);
# any other MoE model refuses such an adapter when it loads (lora/model_manager.py,
# _validate_moe_lora_format), after the whole start.
FUSED_EXPERT_LORA_ARCHITECTURES = (
    "GptOssForCausalLM",
    "Qwen3VLMoeForConditionalGeneration",
    "Qwen3_5MoeForConditionalGeneration",
    "Qwen3OmniMoeThinkerForConditionalGeneration",
    "InternS1ProForConditionalGeneration",
)
# config.json's expert count, by model family.
EXPERT_COUNT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")
# A causal LM's decoder layers and embedding, as Hugging Face checkpoints name them.
_MODEL_LAYER = re.compile(r"^model\.layers\.(\d+)\.")
_MODEL_EMBEDDING = "model.embed_tokens.weight"
# config.json's dimensions (of the text model): each a positive integer when present.
DIMENSIONS = (
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "vocab_size",
    "num_hidden_layers",
)
_PEFT_PREFIX = "base_model.model."
# The quantized checkpoints vLLM 0.32 loads: config.json's quantization_config.quant_method (or
# compressed-tensors' compression_config), lower-cased (vllm/model_executor/layers/quantization/
# __init__.py, QuantizationMethods; vllm/config/model.py, _verify_quantization refuses any other
# with "Unknown quantization method" only once the engine starts). bitsandbytes, hqq, aqlm, eetq
# and the like are not among them.
VLLM_QUANTIZATION_METHODS = (
    "awq", "auto_awq", "fp8", "fbgemm_fp8", "fp_quant", "modelopt", "modelopt_fp4", "modelopt_mxfp8",
    "modelopt_mixed", "auto_gptq", "gptq", "gptq_marlin", "awq_marlin", "humming", "compressed-tensors",
    "experts_int8", "quark", "moe_wna16", "torchao", "inc", "mxfp4", "gpt_oss_mxfp4", "deepseek_v4_fp8",
    "online", "fp8_per_tensor", "fp8_per_block", "fp8_per_channel", "int8_per_channel_weight_only",
    "nvfp4_per_token", "mxfp8",
)  # fmt: skip
# Loaded only with --allow-deprecated-quantization (the same _verify_quantization).
DEPRECATED_QUANTIZATION_METHODS = ("fbgemm_fp8", "fp_quant")


# Bytes per element of each safetensors dtype (the safetensors format's Dtype); a dtype not here
# (a packed sub-byte float) is only checked for where its data lies, not for its size.
SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2,
    "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
# (bytes per value, exponent mask) of each float dtype: a value whose exponent bits are all set is
# infinite or NaN (for F8_E4M3, which has no infinity, only S.1111.111 is NaN).
_NON_FINITE_BITS = {
    "F64": (8, 0x7FF0000000000000),
    "F32": (4, 0x7F800000),
    "F16": (2, 0x7C00),
    "BF16": (2, 0x7F80),
    "F8_E5M2": (1, 0x7C),
    "F8_E4M3": (1, 0x7F),
}


def _safetensors_layout(path: str) -> tuple[dict[str, dict[str, Any]], int]:
    """(header as written, offset of the data) of a .safetensors file, with the header's
    data_offsets checked to cover the data exactly: one tensor after the other from the first
    byte to the last, each as long as its dtype and shape say. A file cut short by an upload in
    progress, or with bytes no tensor owns, is refused here (safetensors itself refuses it only
    when vLLM loads it, inside the engine)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise ValueError("file shorter than 8 bytes")
            (length,) = struct.unpack("<Q", raw)
            size = os.fstat(f.fileno()).st_size
            if length > min(size - 8, 100 * 1024 * 1024):
                raise ValueError(f"header length {length} does not fit a {size}-byte file")
            raw = f.read(length)
    except (OSError, ValueError) as e:
        raise LaunchError(f"{path} is not a readable safetensors file ({e})") from None
    where = f"{path} is not a readable safetensors file: header"
    header = v.parse_json(raw, where)
    if not isinstance(header, dict):
        raise LaunchError(f"{path} is not a readable safetensors file (header is not an object)")
    header.pop("__metadata__", None)
    spans = []
    for name, meta in header.items():
        if not isinstance(meta, dict):
            raise LaunchError(
                f"{path} is not a readable safetensors file: tensor {name!r} is "
                f"described by {v.shown(meta)}, not an object"
            )
        meta["shape"] = v.shape(meta.get("shape"), f"{path}: tensor {name!r}")
        spans.append((_data_span(path, name, meta), name))
    _check_coverage(path, sorted(spans), size - 8 - length)
    return header, 8 + length


def _data_span(path: str, name: str, meta: dict[str, Any]) -> tuple[int, int]:
    offsets = meta.get("data_offsets")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise LaunchError(
            f"{path} is not a readable safetensors file: tensor {name!r} has data_offsets "
            f"{v.shown(offsets)}, not [begin, end]"
        )
    width = SAFETENSORS_DTYPE_BYTES.get(str(meta.get("dtype")))
    if width is not None:
        count = 1
        for d in meta["shape"]:
            count *= d
        if count * width != offsets[1] - offsets[0]:
            raise LaunchError(
                f"{path} is not a readable safetensors file: tensor {name!r} ({meta.get('dtype')} "
                f"{meta['shape']}) needs {count * width} bytes but its data_offsets span {offsets[1] - offsets[0]}"
            )
    return offsets[0], offsets[1]


def _check_coverage(path: str, spans: list[tuple[tuple[int, int], str]], data_size: int) -> None:
    at = 0
    for (begin, end), name in spans:
        if begin != at:
            what = "overlaps the tensor before it" if begin < at else f"leaves bytes {at}-{begin} unowned"
            raise LaunchError(f"{path} is not a readable safetensors file: tensor {name!r} {what}")
        at = end
    if at != data_size:
        if at > data_size:
            raise LaunchError(
                f"{path} is cut short: its header places tensors up to byte {at} of the data but the "
                f"file holds {data_size} (an upload in progress or interrupted); upload it again"
            )
        raise LaunchError(f"{path} is not a readable safetensors file: {data_size - at} bytes after the last tensor")


def read_safetensors_header(path: str) -> dict[str, dict[str, Any]]:
    """Return {tensor name: {"dtype", "shape", ...}} from a .safetensors file's header, once the
    header is known to describe the whole file (_safetensors_layout)."""
    return _safetensors_layout(path)[0]


def _any_non_finite(data: bytes, width: int, mask: int) -> bool:
    """Whether any little-endian value of `width` bytes in `data` has all the exponent bits of
    `mask` set (infinite or NaN). Stdlib only (az's own Python has no numpy): the exponent lies in
    the top two bytes of every float format, so each of those bytes is mapped to 0/1 by a
    translation table (C speed) and the flags of the two bytes are combined as big integers."""
    flags = []
    for k in range(width):
        part = (mask >> (8 * k)) & 0xFF
        if part:
            table = bytes(1 if b & part == part else 0 for b in range(256))
            flags.append(data[k::width].translate(table))
    if len(flags) == 1:
        return b"\x01" in flags[0]
    combined = -1
    for f in flags:
        combined &= int.from_bytes(f, "little")
    return combined != 0


def check_finite_safetensors(path: str) -> None:
    """Refuse a .safetensors file holding an infinite or NaN float (what a diverged training run
    saves): one such adapter in a batch would spoil other requests' answers. Reads the data
    (adapters are small); only the exponent bits are looked at."""
    header, start = _safetensors_layout(path)
    try:
        with open(path, "rb") as f:
            for name, meta in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
                bits = _NON_FINITE_BITS.get(str(meta.get("dtype")))
                if bits is None:
                    continue
                begin, end = meta["data_offsets"]
                f.seek(start + begin)
                data = f.read(end - begin)
                if len(data) != end - begin:
                    raise LaunchError(f"{path} is cut short (it changed while it was read); upload it again")
                if _any_non_finite(data, *bits):
                    raise LaunchError(
                        f"{path}: tensor {name!r} holds infinite or NaN values (a diverged training "
                        f"run saves such weights); train again, or serve an earlier checkpoint"
                    )
    except OSError as e:
        raise LaunchError(f"cannot read {path}: {e.strerror}") from None


def smallest_max_lora_rank(rank: int) -> int:
    """The smallest `--max-lora-rank` vLLM accepts that fits an adapter of this rank."""
    for allowed in ALLOWED_MAX_LORA_RANKS:
        if rank <= allowed:
            return allowed
    raise LaunchError(
        f"LoRA rank {rank} is above the largest rank vLLM {_vllm()} serves ({ALLOWED_MAX_LORA_RANKS[-1]})"
    )


def _vllm() -> str:
    from . import VLLM_VERSION

    return VLLM_VERSION


def _read_json(path: str, what: str) -> dict:
    return v.load_json(path, what)


# ---------------------------------------------------------------------------------------------
# The base model


@dataclass
class ModelInfo:  # pylint: disable=too-many-instance-attributes  # what config.json and the weights say
    path: str
    config: dict
    model_type: str
    vocab_size: int | None
    num_layers: int | None
    num_heads: int | None
    # module name suffix (q_proj, lm_head, ...) -> the (out, in) shapes its weight has
    shapes: dict = field(default_factory=dict)
    # suffixes of modules that exist but hold no 2-D weight (norms, ...): never LoRA targets
    other_modules: set = field(default_factory=set)


def _text_config(config: dict) -> dict:
    # Multimodal configs nest the language model's numbers.
    text = config.get("text_config")
    return text if isinstance(text, dict) else config


def check_quantization(config: dict, where: str = "config.json", vllm_args: Iterable[str] | None = None) -> str | None:
    """The checkpoint's quantization method (None for a float checkpoint); refused in one line
    when vLLM cannot load it (VLLM_QUANTIZATION_METHODS), before a start that would fail; with
    `vllm_args` (the arguments after --), also a deprecated method they do not allow."""
    for c, prefix in ((config, ""), (_text_config(config), "text_config.")):
        for key in ("quantization_config", "compression_config"):
            quant = c.get(key)
            if quant is None:
                continue
            if not isinstance(quant, dict):
                raise LaunchError(f'{where}: "{prefix}{key}" is {v.shown(quant)}, not an object')
            producer = quant.get("producer")
            if isinstance(producer, dict) and producer.get("name") == "modelopt":
                return "modelopt"  # vLLM derives the method from ModelOpt's quant_algo
            method = quant.get("quant_method", "compressed-tensors" if key == "compression_config" else "")
            if not isinstance(method, str):
                raise LaunchError(f'{where}: "{prefix}{key}.quant_method" is {v.shown(method)}, not a name')
            method = method.lower().replace("compressed_tensors", "compressed-tensors")
            if not method:
                return None
            if method not in VLLM_QUANTIZATION_METHODS:
                raise LaunchError(
                    f"{where}: the checkpoint is quantized with {method!r}, which vLLM {_vllm()} cannot load "
                    f"(it loads {', '.join(sorted(VLLM_QUANTIZATION_METHODS))}); serve the unquantized "
                    f"model (a LoRA adapter trained on a quantized base, as QLoRA does, applies to it)"
                )
            deprecated = method in DEPRECATED_QUANTIZATION_METHODS
            if deprecated and vllm_args is not None and "--allow-deprecated-quantization" not in vllm_args:
                raise LaunchError(
                    f"{where}: the checkpoint is quantized with {method!r}, which vLLM {_vllm()} loads only "
                    f"with --allow-deprecated-quantization; pass it after --"
                )
            return method
    return None


def model_dimensions(config: dict, where: str = "config.json") -> dict[str, int | None]:
    """config.json's DIMENSIONS (of the text model), each a positive int or None when absent;
    anything else (a string, 0, a list, a bool, infinity) is refused."""
    c = _text_config(config)
    prefix = "text_config." if c is not config else ""
    dims = {key: v.integer(c, key, where, label=f'"{prefix}{key}"') for key in DIMENSIONS}
    v.string(c, "model_type", where)
    return dims


def config_shapes(config: dict, where: str = "config.json") -> dict[str, set[tuple[int, int]]]:
    """(out, in) shape of each linear/embedding module, from config.json's dimensions."""
    c = _text_config(config)
    dims = model_dimensions(config, where)
    hidden, heads = dims["hidden_size"], dims["num_attention_heads"]
    if hidden is None or heads is None:
        return {}
    kv = dims["num_key_value_heads"] or heads
    if heads % kv:
        raise LaunchError(
            f"{where}: num_attention_heads {heads} is not a multiple of "
            f"num_key_value_heads {kv} (each key/value head serves whole groups)"
        )
    head_dim = dims["head_dim"] or hidden // heads
    if not head_dim:
        raise LaunchError(
            f"{where}: no head_dim and hidden_size {hidden} is smaller than "
            f"num_attention_heads {heads}, so the heads would be empty"
        )
    shapes = {"o_proj": {(hidden, heads * head_dim)}}
    if dims["intermediate_size"]:
        inter = dims["intermediate_size"]
        shapes["down_proj"] = {(hidden, inter)}
        if c.get("model_type") in PACKED_MODEL_TYPES:
            shapes["gate_up_proj"] = {(2 * inter, hidden)}
        else:
            shapes["gate_proj"] = shapes["up_proj"] = {(inter, hidden)}
    if c.get("model_type") in PACKED_MODEL_TYPES:
        shapes["qkv_proj"] = {((heads + 2 * kv) * head_dim, hidden)}
    else:
        shapes["q_proj"] = {(heads * head_dim, hidden)}
        shapes["k_proj"] = shapes["v_proj"] = {(kv * head_dim, hidden)}
    if dims["vocab_size"]:
        vocab = dims["vocab_size"]
        # embed_tokens is stored (vocab, hidden): as a "linear" it maps vocab -> hidden.
        shapes["embed_tokens"] = {(hidden, vocab)}
        shapes["lm_head"] = {(vocab, hidden)}
    return shapes


def _model_weight_headers(model_dir: str) -> dict[str, dict[str, Any]]:
    """Headers of the model's safetensors files (the shards named by the index, or every
    *.safetensors file); {} when it has none (e.g. only pytorch_model.bin)."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.isfile(index):
        files = index_shards(index)
    else:
        files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    headers = {}
    for name in files:
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            headers.update(read_safetensors_header(path))
    return headers


def index_shards(index: str) -> list[str]:
    """The shard files a model.safetensors.index.json names; each must exist beside it (vLLM
    loads exactly these and fails on a missing one only after a long start)."""
    where = f"model weight index {index}"
    weight_map = v.mapping(v.load_json(index, "model weight index"), "weight_map", where)
    if not weight_map:
        raise LaunchError(f'{where} has no "weight_map" naming the weight files')
    bad = [(k, f) for k, f in weight_map.items() if not isinstance(f, str) or not f]
    if bad:
        raise LaunchError(f'{where}: "weight_map"[{bad[0][0]!r}] is {v.shown(bad[0][1])}, not a file name')
    folder = os.path.dirname(index)
    for name in sorted(set(weight_map.values())):
        path = os.path.normpath(os.path.join(folder, name))
        rel = os.path.relpath(path, folder)
        if os.path.isabs(name) or rel == os.pardir or rel.startswith(os.pardir + os.sep):
            raise LaunchError(f'{where}: "weight_map" names {name!r}, outside the model folder')
        if not os.path.isfile(path):
            raise LaunchError(
                f'{where}: "weight_map" names {name!r}, which does not exist '
                f"in {folder}; copy the missing shard (or the whole model) again"
            )
    return sorted(set(weight_map.values()))


def header_shapes(headers: Mapping[str, Any]) -> tuple[dict[str, set[tuple[int, int]]], set[str]]:
    """From weight headers: ({suffix: {(out, in)}} of 2-D weights, {suffixes of other modules})."""
    shapes: dict[str, set[tuple[int, int]]] = {}
    others: set[str] = set()
    for name, meta in headers.items():
        if not name.endswith(".weight") or not isinstance(meta, dict):
            continue
        suffix = name[: -len(".weight")].rsplit(".", 1)[-1]
        shape = meta["shape"]
        if len(shape) == 2:
            out_dim, in_dim = shape
            if suffix == "embed_tokens":
                out_dim, in_dim = in_dim, out_dim  # stored (vocab, hidden)
            shapes.setdefault(suffix, set()).add((int(out_dim), int(in_dim)))
        else:
            others.add(suffix)
    return shapes, others - set(shapes)


def inspect_model(path: str) -> ModelInfo:
    """Check that `path` is a Hugging Face model folder and learn its dimensions."""
    if not os.path.isdir(path):
        raise LaunchError(f"model folder {path} does not exist")
    config_file = os.path.join(path, "config.json")
    if not os.path.isfile(config_file):
        raise LaunchError(f"model folder {path} has no config.json (not a Hugging Face model folder)")
    config = _read_json(config_file, "model config")
    return model_info(path, config, _model_weight_headers(path), f"model config {config_file}")


def model_info(path: str, config: dict, headers: Mapping[str, Any], where: str) -> ModelInfo:
    """The base model's ModelInfo from its config.json and safetensors headers, wherever they were
    read (a local folder; `az aitk inference deploy` reads them from the share), with the same
    checks as at start."""
    c = _text_config(config)
    dims = model_dimensions(config, where)
    check_quantization(config, where)
    shapes = config_shapes(config, where)
    if c is config:
        check_config_against_weights(config, dims, headers, where)
    hshapes, others = header_shapes(headers)
    shapes.update(hshapes)  # the checkpoint's own shapes win over the derived ones
    return ModelInfo(
        path=path,
        config=config,
        model_type=str(c.get("model_type") or config.get("model_type")),
        vocab_size=dims["vocab_size"],
        num_layers=dims["num_hidden_layers"],
        num_heads=dims["num_attention_heads"],
        shapes=shapes,
        other_modules=others,
    )


def check_config_against_weights(
    config: dict, dims: Mapping[str, int | None], headers: Mapping[str, Any], where: str
) -> None:
    """Refuse a causal LM's config.json whose hidden size or layer count is not its weights'
    (a config copied from another size of the model): vLLM would build the wrong network and
    fail loading the weights after a long start."""
    fix = "config.json and the weights come from different models; download the model again"
    embedding = headers.get(_MODEL_EMBEDDING, {}).get("shape")
    if dims["hidden_size"] and embedding and len(embedding) == 2 and embedding[1] != dims["hidden_size"]:
        raise LaunchError(
            f"{where} says hidden_size {dims['hidden_size']} but the weights' "
            f"{_MODEL_EMBEDDING} is {embedding[0]}x{embedding[1]}: {fix}"
        )
    layers = {int(m.group(1)) for m in map(_MODEL_LAYER.match, headers) if m}
    if dims["num_hidden_layers"] and layers:
        # Multi-token-prediction layers are stored after the decoder layers (DeepSeek-V3).
        extra = v.integer(config, "num_nextn_predict_layers", where, minimum=0) or 0
        if max(layers) + 1 not in (dims["num_hidden_layers"], dims["num_hidden_layers"] + extra):
            raise LaunchError(
                f"{where} says num_hidden_layers {dims['num_hidden_layers']} but "
                f"the weights hold {max(layers) + 1} layers: {fix}"
            )


# ---------------------------------------------------------------------------------------------
# Adapters


@dataclass
class AdapterInfo:
    name: str
    path: str
    rank: int
    modules: list  # LoRA target module suffixes found in the weights, sorted
    weights_file: str
    warnings: list = field(default_factory=list)
    source: str = ""  # the folder it was read from, when `path` is a snapshot of it (snapshot.py)


def _adapter_tensor_shapes(weights_file: str) -> dict[str, list[int]]:
    if weights_file.endswith(".safetensors"):
        check_finite_safetensors(weights_file)
        return {k: meta["shape"] for k, meta in read_safetensors_header(weights_file).items()}
    try:  # legacy peft format: a pickle of tensors (small); needs torch, which vLLM has
        import torch

        state = torch.load(weights_file, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure means the same thing to the user
        # torch's own message is several lines of advice about weights_only, which is not what
        # went wrong here: the file is not a tensor pickle. Name the error class only.
        raise LaunchError(
            f"cannot read adapter weights {weights_file}: not a PyTorch state dict "
            f"({e.__class__.__name__}); save the adapter again (peft writes "
            f"adapter_model.safetensors)"
        ) from None
    if not isinstance(state, dict):
        raise LaunchError(
            f"cannot read adapter weights {weights_file}: it holds {type(state).__name__}, not a state dict of tensors"
        )
    for k, t in state.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise LaunchError(
                f"{weights_file}: tensor {str(k)!r} holds infinite or NaN values (a diverged training "
                f"run saves such weights); train again, or serve an earlier checkpoint"
            )
    return {str(k): [int(d) for d in t.shape] for k, t in state.items() if hasattr(t, "shape")}


def check_adapter_config(config: dict, where: str) -> int:
    """Refuse LoRA features vLLM cannot serve (mirrors vllm/lora/peft_helper.py) and values of
    the wrong type (vLLM reads r, lora_alpha and target_modules unchecked). Returns the rank."""
    file = f"{where}: {ADAPTER_CONFIG_FILE}"
    peft_type = v.string(config, "peft_type", file) or "LORA"
    if peft_type.upper() != "LORA":
        raise LaunchError(f"{where}: peft_type is {peft_type}, vLLM serves only LoRA adapters")
    r = v.integer(config, "r", file, required=True, label="rank r")
    v.number(config, "lora_alpha", file, required=True)
    v.strings(config, "target_modules", file, required=True)
    ranks = v.mapping(config, "rank_pattern", file)
    for key in ranks:
        v.integer(ranks, key, file, required=True, label=f"rank_pattern[{key!r}]")
    alphas = v.mapping(config, "alpha_pattern", file)
    for key in alphas:
        v.number(alphas, key, file, required=True, label=f"alpha_pattern[{key!r}]")
    v.string(config, "base_model_name_or_path", file)
    saved = v.strings(config, "modules_to_save", file) or []
    bad = [m for m in saved if m not in SERVABLE_MODULES_TO_SAVE]
    if bad:
        raise LaunchError(
            f"{where}: modules_to_save {bad} cannot be served: vLLM {_vllm()} only serves LoRA "
            f"deltas (modules_to_save may only be {list(SERVABLE_MODULES_TO_SAVE)}); retrain "
            f"without modules_to_save, or merge the adapter into the base model"
        )
    unsupported = []
    if config.get("use_dora"):
        unsupported.append("DoRA (use_dora)")
    bias = v.string(config, "bias", file) or "none"  # peft's default; null means the same
    if bias != "none":
        unsupported.append(f"bias={bias!r}")
    if config.get("lora_bias"):
        unsupported.append("lora_bias")
    init = config.get("init_lora_weights", True)
    if isinstance(init, str) and init.lower() not in SUPPORTED_STRING_INITS:
        unsupported.append(f"init_lora_weights={init!r} (it changes the base weights)")
    for key, label in (
        ("alora_invocation_tokens", "Activated LoRA"),
        ("layer_replication", "layer_replication"),
        ("use_bdlora", "block-diagonal LoRA"),
        ("use_qalora", "QALoRA"),
        # peft's trainable tokens (new rows of embed_tokens, `token_adapter.trainable_tokens_delta`):
        # vllm/lora reads LoRA matrices and modules_to_save only
        ("trainable_token_indices", "trainable tokens (trainable_token_indices)"),
    ):
        if config.get(key):
            unsupported.append(label)
    if unsupported:
        raise LaunchError(f"{where}: vLLM {_vllm()} cannot serve {', '.join(unsupported)}")
    return max([r, *ranks.values()])


def _same_base(declared: str | None, model_path: str | None, served_name: str | None) -> bool:
    if not declared:
        return True
    tail = declared.rstrip("/").rsplit("/", 1)[-1]
    names = {os.path.basename(os.path.normpath(model_path)) if model_path else None, served_name}
    return tail in names or declared in names


def _check_fits_model(where: str, key: str, module: str, *, kind: str, shape: list[int], model: ModelInfo) -> None:
    """Refuse a LoRA tensor that does not fit the base model: a layer it lacks, a module that is
    not a linear layer of it, or a shape none of that module's weights has."""
    suffix = module.rsplit(".", 1)[-1]
    is_a = kind.endswith("A")
    layer = _LAYER.search(module)
    if layer and model.num_layers is not None and int(layer.group(1)) >= model.num_layers:
        raise LaunchError(
            f"{where}: has weights for layer {layer.group(1)} but the base model "
            f"{model.path} has {model.num_layers} layers; it was trained for a "
            f"different base model"
        )
    if suffix not in model.shapes:
        what = "is not a linear layer" if suffix in model.other_modules else "is not a module of this model"
        raise LaunchError(
            f"{where}: targets {suffix!r}, which {what}; vLLM {_vllm()} "
            f"serves LoRA only on linear and embedding layers "
            f"(this model has: {', '.join(sorted(model.shapes))})"
        )
    fits = False
    for out_dim, in_dim in model.shapes[suffix]:
        if kind == "lora_embedding_A":  # peft stores embedding LoRA A as (r, vocab)
            want = in_dim
            got = shape[1]
        elif kind == "lora_embedding_B":  # (hidden, r)
            want, got = out_dim, shape[0]
        elif is_a:
            want, got = in_dim, shape[1]
        else:
            want, got = out_dim, shape[0]
        if want == got:
            fits = True
            break
    if not fits:
        vocab_dim = (
            suffix in EMBEDDING_MODULES
            and model.vocab_size is not None
            and (
                (kind in ("lora_embedding_A",) and suffix == "embed_tokens")
                or (kind == "lora_B" and suffix == "lm_head")
            )
        )
        if vocab_dim:
            raise LaunchError(
                f"{where}: vocabulary size mismatch: {key} is sized for a "
                f"vocabulary of {got}, the base model {model.path} has "
                f"{model.vocab_size}; it was trained for a different base model"
            )
        dims = " or ".join(f"{o}x{i}" for o, i in sorted(model.shapes[suffix]))
        raise LaunchError(
            f"{where}: tensor {key} has shape {shape}, which does not fit the "
            f"base model's {suffix} ({dims}, out x in); it was trained for a "
            f"different base model"
        )


def inspect_adapter(
    name: str,
    path: str,
    model: ModelInfo | None = None,
    *,
    model_ref: str | None = None,
    served_name: str | None = None,
) -> AdapterInfo:
    """Check one adapter folder against the base model (ModelInfo, or None when the model is
    not a local folder) and return an AdapterInfo. Raises LaunchError on the first problem."""
    where = f"adapter {name!r} ({path})"
    if not os.path.isdir(path):
        raise LaunchError(f"{where}: folder does not exist")
    config_file = os.path.join(path, ADAPTER_CONFIG_FILE)
    if not os.path.isfile(config_file):
        raise LaunchError(f"{where}: no {ADAPTER_CONFIG_FILE} (not a peft adapter folder)")
    weights = [os.path.join(path, f) for f in ADAPTER_WEIGHT_FILES if os.path.isfile(os.path.join(path, f))]
    if not weights:
        raise LaunchError(f"{where}: no adapter weights ({' or '.join(ADAPTER_WEIGHT_FILES)})")
    config = _read_json(config_file, "adapter config")
    rank = check_adapter_config(config, where)
    tensors = _adapter_tensor_shapes(weights[0])

    modules, found_rank, warnings = set(), 0, []
    for key, shape in sorted(tensors.items()):
        bare = key[len(_PEFT_PREFIX) :] if key.startswith(_PEFT_PREFIX) else key
        m = _LORA_KEY.match(bare)
        if not m:
            if "lora_magnitude_vector" in bare:
                raise LaunchError(f"{where}: vLLM {_vllm()} cannot serve DoRA (use_dora)")
            if "trainable_tokens_" in bare:
                raise LaunchError(f"{where}: vLLM {_vllm()} cannot serve trainable tokens ({key})")
            # A full weight (modules_to_save left in the file, e.g. lm_head.weight).
            if not bare.endswith("base_layer.weight"):
                raise LaunchError(
                    f"{where}: holds full weights {key!r} (modules_to_save), which "
                    f"vLLM {_vllm()} cannot serve; retrain without modules_to_save"
                )
            continue
        if m.group("param") == "bias":
            raise LaunchError(f"{where}: vLLM {_vllm()} cannot serve LoRA bias ({key})")
        module, kind = m.group("module"), m.group("kind")
        suffix = module.rsplit(".", 1)[-1]
        shape = list(shape or [])
        if len(shape) != 2:
            raise LaunchError(f"{where}: tensor {key} has shape {shape}, not a LoRA matrix")
        is_a = kind.endswith("A")
        if _FUSED_EXPERTS.search(module):
            found_rank = max(found_rank, _fused_expert_rank(where, config, shape, is_a, model))
            modules.add("experts")
            continue
        r_here = shape[0] if is_a else shape[1]
        found_rank = max(found_rank, r_here)
        modules.add(suffix)
        if model is not None:
            _check_fits_model(where, key, module, kind=kind, shape=shape, model=model)
    if not modules:
        raise LaunchError(f"{where}: {os.path.basename(weights[0])} holds no LoRA weights")
    rank = max(rank, found_rank)
    declared = config.get("base_model_name_or_path")
    if not _same_base(declared, model_ref, served_name):
        warnings.append(f"adapter {name!r} was trained on {declared!r}; serving it on {model_ref!r} (its shapes fit)")
    return AdapterInfo(
        name=name, path=path, rank=rank, modules=sorted(modules), weights_file=weights[0], warnings=warnings
    )


def _fused_expert_rank(where: str, adapter_config: dict, shape: list[int], is_a: bool, model: ModelInfo | None) -> int:
    """The rank of one fused-expert LoRA tensor (see _FUSED_EXPERTS), refusing the adapter when
    the base model's vLLM implementation cannot load that layout."""
    targets = adapter_config.get("target_parameters") or ["experts"]
    if model is None:
        return int(adapter_config.get("r") or 0)
    architectures = model.config.get("architectures") or []
    if not any(a in FUSED_EXPERT_LORA_ARCHITECTURES for a in architectures):
        raise LaunchError(
            f"{where}: holds LoRA on the fused MoE expert parameters ({v.shown(targets)}), which vLLM "
            f"{_vllm()} loads only for {', '.join(FUSED_EXPERT_LORA_ARCHITECTURES)}, not for this "
            f"{model.model_type} model; retrain with LoRA on the attention projections only "
            f"(no experts in target_modules or target_parameters)"
        )
    c = _text_config(model.config)
    experts = next((c[k] for k in EXPERT_COUNT_KEYS if isinstance(c.get(k), int) and c[k] > 0), 1)
    stacked = shape[0] if is_a else shape[1]
    if stacked % experts:
        raise LaunchError(
            f"{where}: a fused expert LoRA tensor of shape {shape} does not split over "
            f"the base model's {experts} experts"
        )
    return stacked // experts


def check_unique_names(pairs: Iterable[tuple[str, str]], base_name: str | None = None) -> None:
    """Refuse two adapters with one name, or an adapter named like the base model."""
    seen: dict[str, str] = {}
    for name, path in pairs:
        if name in seen:
            raise LaunchError(
                f"two adapters are named {name!r} ({seen[name]} and {path}); give each adapter its own name"
            )
        seen[name] = path
        if base_name is not None and name == base_name:
            raise LaunchError(
                f"adapter {name!r} ({path}) has the same name as the base model; rename it or pass --served-model-name"
            )
