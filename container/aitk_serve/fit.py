"""Fit a model to a GPU before anything starts: dtype, context length, LoRA slots, memory split.

Pure functions (stdlib only, no torch): the launcher calls `plan()` with what it read from the
model folder and the visible GPU; `az aitk inference provision` can call the same functions with
headers read from the share by byte ranges (`read_headers`) and a GPU from `gpus.PROFILES`.

vLLM 0.32 fixes the context itself at start-up (the launcher passes `--max-model-len auto`: it
measures what its profiling run leaves and takes the model's whole context or the largest that
fits). The plan keeps what must be decided before anything runs: which GPU profile provision
picks, --max-loras, the refusal when even a useful context cannot fit, and the range of context to
expect. It follows vLLM 0.32's start-up accounting (source files named beside each rule):

    budget      = CUDA total x gpu_memory_utilization               (v1/worker/utils.py,
                                                                     request_memory)
    KV pool     = budget - weights - LoRA slots - activation peak - non-torch and CUDA graphs
                                                                    (v1/worker/gpu_worker.py,
                                                                     determine_available_memory)
    fits(len)   = KV pool - one block >= KV bytes of ONE request of `len` tokens
                                                                    (v1/core/kv_cache_utils.py,
                                                                     get_kv_cache_configs)

Weights are exact (dtype x shape of every tensor in the safetensors headers). KV bytes per token
are exact for the cache layout vLLM uses (full attention, sliding window, MLA). The budget starts
from the total CUDA reports (smaller than nvidia-smi's, gpus.py). The activation peak and the
non-torch/CUDA-graph memory are what vLLM *measures*; here they are modelled per GPU class from
vLLM's profiling run (the batch it profiles, the sampler it runs on every sequence slot) and
checked against published start-up logs (benchmarks/data/vllm_startup_logs.json, bench_fit.py),
and a safety margin is held back on top: the plan may under-estimate the context that fits,
never over-estimate it. The range it reports runs from that conservative figure to the figure
without the margin and the non-torch reserve.
"""

import json
import math
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from . import LaunchError
from . import validate as v
from .adapters import DIMENSIONS, check_quantization, model_dimensions, smallest_max_lora_rank
from .gpus import GIB, PROFILES, GpuSpec, WorkloadProfile

# safetensors dtype -> bytes per element (https://github.com/huggingface/safetensors, Dtype).
SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E8M0": 1,
    "F4": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
FLOAT_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64"}
VLLM_DTYPE_BYTES = {"float16": 2, "half": 2, "bfloat16": 2, "float32": 4, "float": 4}
# config.json's torch_dtype (transformers 5 writes "dtype") -> vLLM's --dtype spelling.
CONFIG_DTYPES = {
    "float16": "float16",
    "bfloat16": "bfloat16",
    "float32": "float32",
    "half": "float16",
    "float": "float32",
}
INDEX_FILE = "model.safetensors.index.json"  # a sharded checkpoint's tensor -> shard map
HEADER_LIMIT = 100 * 1024 * 1024  # a header larger than this is not a real checkpoint

# vLLM 0.32 defaults (vllm/config/cache.py CacheConfig.gpu_memory_utilization = 0.92; KV block
# size 16). engine/arg_utils.py get_batch_defaults sets the batch vLLM's profiling run uses, per
# GPU class, from the CUDA total and the device name (OpenAI server): 2,048 tokens and 256
# sequences under 70 GiB or on any A100; 8,192 and 1,024 from 70 GiB (H100, H200); 16,384 and
# 1,024 from 160 GiB. `batch_defaults` returns them.
DEFAULT_GPU_MEMORY_UTILIZATION = 0.92
MAX_NUM_BATCHED_TOKENS = 2048
MAX_NUM_SEQS = 256
BLOCK_SIZE = 16
# On CPU vLLM 0.32 caches in blocks of 128 tokens (vllm/platforms/cpu.py, check_and_update_config).
CPU_BLOCK_SIZE = 128
LARGE_BATCH_FROM = 70 * GIB
LARGEST_BATCH_FROM = 160 * GIB
# The activation peak of vLLM's profiling run (v1/worker/gpu_model_runner.py, profile_run: one
# forward pass of max_num_batched_tokens, then _dummy_sampler_run on logits for max_num_seqs
# rows). Forward, per batched token: the q/k/v outputs, gate/up outputs and the activated MLP
# (3 x intermediate) and two hidden-size buffers, in the model dtype. Sampler, per row and vocab
# entry: the logits in float32, then top-k/top-p's probabilities, sorted copy and int64 sort
# indices (v1/sample/ops/topk_topp_sampler.py) and the allocator's slack: 40 bytes, enough for
# every activation peak in the logs table (0.90 GiB logged for Llama-3.2-3B on a T4 by 0.8.2) and
# for the 1.44 GiB issue 20 of this project reports for Llama-3.1-8B on an A100 under vLLM 0.31.
SAMPLER_BYTES_PER_LOGIT = 40
# Memory outside torch's activation peak that vLLM 0.32 takes from the budget before the KV
# cache: cuBLAS/NCCL workspaces and the CUDA context's growth (non_torch_memory), and the CUDA
# graphs it captures, whose measured size it subtracts by default
# (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1, gpu_worker.determine_available_memory). Per GPU
# class: the logs show 0.05 GiB non-torch + 0.17 GiB of graphs on a T4, up to 1.79 GiB non-torch
# on an A100 80 GB.
RUNTIME_RESERVE_SMALL_GPU = GIB // 2
RUNTIME_RESERVE_LARGE_GPU = 2 * GIB
LARGE_GPU_FROM = 40 * GIB
# Held back on top, so that the plan errs on the safe side: 2 % of the budget (covers the spread
# of the CUDA total between boards of one kind, e.g. A100 80 GB PCIe and SXM, and a profiling run
# a little heavier than the model above).
SAFETY_MARGIN = 0.02

# Below this many tokens a chat model is not useful: refuse instead of starting.
USEFUL_CONTEXT = 2048
CONTEXT_STEP = 1024
# How many different adapters one batch may mix (--max-loras); every slot reserves GPU memory.
MAX_LORAS_CAP = 4
DEFAULT_MAX_LORA_RANK = 16
# config.json keys vLLM reads the model's maximum length from; it takes the smallest present
# (vllm/transformers_utils/model_arch_config_convertor.py, possible_keys).
MAX_LEN_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "model_max_length",
    "max_target_positions",
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)
# RoPE types whose max_position_embeddings is already scaled (vllm/config/model.py,
# _get_and_verify_max_len); any other type's `factor` multiplies it.
PRESCALED_ROPE_TYPES = ("su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling")
# config.json keys the plan reads besides adapters.DIMENSIONS: each a positive integer when present.
PLAN_DIMENSIONS = ("kv_lora_rank", "qk_rope_head_dim", "sliding_window") + MAX_LEN_KEYS
# Above these no config.json describes a real model (the largest have ~130 layers and 10M-token
# contexts); the plan refuses them rather than computing for hours (it walks every layer).
DIMENSION_LIMIT = 1 << 26
LAYER_LIMIT = 4096
# Models whose config.json leaves layer_types out although only some layers use the sliding
# window: (model types, the pattern key, its default): every pattern-th layer is full attention,
# the others slide (transformers' Gemma2Config / Gemma3TextConfig / Cohere2Config build
# layer_types so; vLLM reads the config through them). Gemma 2 alternates.
SLIDING_PATTERNS = (
    (("gemma2",), None, 2),
    (("gemma3", "gemma3_text"), "sliding_window_pattern", 6),
    (("cohere2",), "sliding_window_pattern", 4),
)
# Models whose max_position_embeddings is already scaled by their RoPE factor (vllm/config/model.py,
# _get_and_verify_max_len: "Gemma3's max_model_len (128K) is already scaled by RoPE scaling").
PRESCALED_MODEL_TYPES = ("gemma3",)
# Compute capability (major x 10 + minor) vLLM 0.32 needs for a quantization method, where it is
# above the T4's 75 (each method's get_min_capability in vllm/model_executor/layers/quantization/;
# vllm/config/vllm.py refuses a lower GPU only when the engine starts).
QUANTIZATION_MIN_CAPABILITY = {"fbgemm_fp8": 80, "experts_int8": 80, "mxfp4": 80, "gpt_oss_mxfp4": 80, "fp_quant": 100}
# Stored dtypes of packed quantized linear weights (several low-bit values per element).
PACKED_DTYPES = ("U8", "I32", "U32")
PACKED_SUFFIXES = (".qweight", ".weight_packed")
# Packed projections in a checkpoint: vLLM keeps one LoRA A per packed slice.
PACKED_SLICES = {"qkv_proj": 3, "gate_up_proj": 2, "query_key_value": 3}

RangeReader = Callable[[str, int, int], bytes]  # (file name, offset, length) -> bytes


@dataclass(frozen=True)
class AdapterShape:
    """What the plan needs of an adapter: vLLM sizes every slot by --max-lora-rank."""

    name: str
    rank: int


@dataclass(frozen=True)
class KvLayout:
    """How vLLM caches K/V for this model, per GPU."""

    bytes_per_token: int
    kind: str  # "full", "sliding window 4096", "MLA"
    sliding_window: int | None = None
    in_flight: int = MAX_NUM_BATCHED_TOKENS  # tokens one step may add (max_num_batched_tokens)
    block: int = BLOCK_SIZE  # tokens per cache block (CPU_BLOCK_SIZE on CPU)

    def tokens_held(self, context: int) -> int:
        """Tokens one request of `context` tokens keeps in the cache (block-rounded).
        A sliding window holds window - 1 + the in-flight tokens, plus one block because the
        window may not start on a block boundary (vllm/v1/kv_cache_interface.py,
        SlidingWindowSpec.max_admission_blocks_per_request)."""
        if self.sliding_window is None:
            return math.ceil(context / self.block) * self.block
        held = min(self.sliding_window - 1 + self.in_flight, context)
        return (math.ceil(held / self.block) + 1) * self.block

    def request_bytes(self, context: int) -> int:
        return self.tokens_held(context) * self.bytes_per_token


@dataclass
class FitPlan:  # pylint: disable=too-many-instance-attributes
    """The launcher's decisions for one GPU, with the memory split behind them (bytes per GPU)."""

    gpu: GpuSpec
    dtype: str
    checkpoint_dtype: str
    max_model_len: int
    model_max_len: int
    max_loras: int
    max_cpu_loras: int
    max_lora_rank: int
    gpu_memory_utilization: float
    tensor_parallel_size: int
    budget_bytes: int
    weight_bytes: int
    lora_bytes: int
    activation_bytes: int
    runtime_reserve_bytes: int
    kv_pool_bytes: int
    kv: KvLayout
    largest_fitting_len: int  # before rounding down to CONTEXT_STEP; 0 when none
    margin_bytes: int = 0
    # the context that fits without the safety margin and the runtime reserve: the top of the range
    optimistic_len: int = 0
    user_max_model_len: int | None = None
    fits: bool = True
    problem: str = ""  # why it does not fit (one line), when fits is False
    notes: list[str] = field(default_factory=list)

    @property
    def fixed_bytes(self) -> int:
        return (
            self.weight_bytes + self.lora_bytes + self.activation_bytes + self.runtime_reserve_bytes + self.margin_bytes
        )

    def expected_context(self) -> tuple[int, int]:
        """(low, high): the context vLLM's auto-fit is expected to choose. Low is the plan's
        conservative figure, high the one without the margin and the runtime reserve."""
        return (self.largest_fitting_len, max(self.largest_fitting_len, self.optimistic_len))

    def expected_text(self) -> str:
        low, high = self.expected_context()
        if low >= self.model_max_len:
            return f"the model's whole {self.model_max_len:,} tokens"
        if high >= self.model_max_len:
            return f"{low:,} tokens up to the model's whole {self.model_max_len:,}"
        return f"{low:,}-{high:,} tokens"

    @property
    def kv_bytes(self) -> int:
        """KV bytes one request at max_model_len holds (what vLLM checks at start-up)."""
        return self.kv.request_bytes(self.max_model_len) if self.max_model_len else 0

    def needed_bytes(self, context: int) -> int:
        """Budget needed to serve one request of `context` tokens."""
        return self.fixed_bytes + self.kv.request_bytes(context) + self.kv.bytes_per_token * self.kv.block

    def split(self) -> dict:
        """The memory split as --check and provision's --what-if print it."""
        return {
            "gpu": self.gpu.describe(),
            "budget_bytes": self.budget_bytes,
            "weights_bytes": self.weight_bytes,
            "lora_slots_bytes": self.lora_bytes,
            "activation_bytes": self.activation_bytes,
            "runtime_reserve_bytes": self.runtime_reserve_bytes,
            "safety_margin_bytes": self.margin_bytes,
            "kv_pool_bytes": self.kv_pool_bytes,
            "kv_bytes_per_token": self.kv.bytes_per_token,
            "kv_layout": self.kv.kind,
            "kv_bytes_at_max_model_len": self.kv_bytes,
        }

    def as_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("gpu", "kv", "notes")}
        out["memory"] = self.split()
        return out


# ---------------------------------------------------------------------------------------------
# Safetensors headers, read by byte ranges


def read_header(read: Callable[[int, int], bytes], where: str, size: int | None = None) -> dict:
    """A safetensors header: 8-byte little-endian length, then that many bytes of JSON.
    `read(offset, length)` returns bytes (a local file, or a ranged GET on Azure Files)."""
    try:
        raw = read(0, 8)
        if len(raw) != 8:
            raise ValueError("file shorter than 8 bytes")
        (length,) = struct.unpack("<Q", raw)
        if length > HEADER_LIMIT or (size is not None and length > size - 8):
            raise ValueError(f"header length {length} does not fit the file")
        header = json.loads(read(8, length))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise LaunchError(f"{where} is not a readable safetensors file ({e})") from None
    if not isinstance(header, dict):
        raise LaunchError(f"{where} is not a readable safetensors file (header is not an object)")
    header.pop("__metadata__", None)
    return header


def weight_files(names: Iterable[str], index: dict | None = None) -> list[str]:
    """The checkpoint's safetensors files: the shards model.safetensors.index.json names, else
    every *.safetensors file of the folder."""
    if index is not None:
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict):
            raise LaunchError("model.safetensors.index.json has no weight_map")
        return sorted(set(map(str, weight_map.values())))
    return sorted(n for n in names if n.endswith(".safetensors"))


def read_headers(read_range: RangeReader, files: Iterable[str], sizes: dict[str, int] | None = None) -> list[dict]:
    """One header per file, through `read_range(name, offset, length)`; nothing else is read."""

    def reader(name: str) -> Callable[[int, int], bytes]:
        return lambda offset, length: read_range(name, offset, length)

    return [read_header(reader(name), name, (sizes or {}).get(name)) for name in files]


def read_headers_from_dir(path: str) -> list[dict]:
    """Headers of a local model folder's safetensors files ([] when it has none)."""
    index_path = os.path.join(path, INDEX_FILE)
    # the launcher's reader: one line for a file that is not a JSON object (a list, bad syntax), a BOM allowed
    index = v.load_json(index_path, "model weight index") if os.path.isfile(index_path) else None
    files = [n for n in weight_files(os.listdir(path), index) if os.path.isfile(os.path.join(path, n))]

    def read_range(name: str, offset: int, length: int) -> bytes:
        with open(os.path.join(path, name), "rb") as f:
            f.seek(offset)
            return f.read(length)

    return read_headers(read_range, files, {n: os.path.getsize(os.path.join(path, n)) for n in files})


# ---------------------------------------------------------------------------------------------
# What the config and headers say


def text_config(config: dict) -> dict:
    """Multimodal configs nest the language model's numbers."""
    nested = config.get("text_config")
    return nested if isinstance(nested, dict) else config


def _int(c: dict, key: str) -> int | None:
    value = c.get(key)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def check_dimensions(config: dict, where: str = "config.json") -> None:
    """Refuse (one line) a config.json whose numbers the plan cannot use: the dimensions
    (adapters.DIMENSIONS, PLAN_DIMENSIONS) must be positive integers when present, and below
    DIMENSION_LIMIT (LAYER_LIMIT layers); a quantization vLLM cannot load is refused too."""
    model_dimensions(config, where)
    check_quantization(config, where)
    c = text_config(config)
    prefix = "text_config." if c is not config else ""
    for key in PLAN_DIMENSIONS:
        # transformers writes sliding_window 0 for "no window" (Qwen2-MoE with use_sliding_window false)
        v.integer(c, key, where, minimum=0 if key == "sliding_window" else 1, label=f'"{prefix}{key}"')
    types = c.get("layer_types")
    if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
        raise LaunchError(f'{where}: "{prefix}layer_types" is {v.shown(types)}, not a list of attention types')
    for rope in _rope_parameters(c):
        factor = rope.get("factor")
        if factor is not None and (
            isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < DIMENSION_LIMIT
        ):
            raise LaunchError(f"{where}: the RoPE scaling factor is {v.shown(factor)}, not a positive number")
    for key in DIMENSIONS + PLAN_DIMENSIONS:
        value = c.get(key)
        limit = LAYER_LIMIT if key == "num_hidden_layers" else DIMENSION_LIMIT
        if isinstance(value, int) and value > limit:
            raise LaunchError(f'{where}: "{prefix}{key}" is {value:,}, above {limit:,}: not a real model\'s config')


def _tensors(headers: list[dict]) -> Iterable[tuple[str, str, list[int]]]:
    for header in headers:
        for name, meta in header.items():
            if isinstance(meta, dict) and isinstance(meta.get("shape"), list):
                yield name, str(meta.get("dtype", "")), [int(d) for d in meta["shape"]]


def checkpoint_dtype(config: dict, headers: list[dict]) -> str:
    """The checkpoint's float dtype: config.json's torch_dtype/dtype, else the float dtype that
    holds most bytes in the headers, else float16."""
    c = text_config(config)
    for key in ("torch_dtype", "dtype"):
        value = c.get(key) or config.get(key)
        if isinstance(value, str) and value.replace("torch.", "") in CONFIG_DTYPES:
            return CONFIG_DTYPES[value.replace("torch.", "")]
    totals: dict[str, int] = {}
    for _, dtype, shape in _tensors(headers):
        if dtype in FLOAT_DTYPES:
            totals[dtype] = totals.get(dtype, 0) + math.prod(shape) * SAFETENSORS_DTYPE_BYTES[dtype]
    if totals:
        return FLOAT_DTYPES[max(totals, key=totals.__getitem__)]
    return "float16"


def served_dtype(checkpoint: str, gpu: GpuSpec) -> str:
    """vLLM's --dtype: the checkpoint's, but float16 for bfloat16 on a GPU without bfloat16, and
    half precision for float32 checkpoints (vLLM's "auto" downcasts those too:
    vllm/config/model.py, _resolve_auto_dtype)."""
    if checkpoint == "float32":
        return "bfloat16" if gpu.has_bf16 else "float16"
    if checkpoint == "bfloat16" and not gpu.has_bf16:
        return "float16"
    return checkpoint


def weight_bytes(headers: list[dict], dtype: str) -> int:
    """Bytes of all weights once loaded: float tensors in the served dtype, others as stored."""
    size = VLLM_DTYPE_BYTES[dtype]
    total = 0
    for _, stored, shape in _tensors(headers):
        total += math.prod(shape) * (size if stored in FLOAT_DTYPES else SAFETENSORS_DTYPE_BYTES.get(stored, 2))
    return total


def config_tensors(config: dict) -> list[dict]:
    """A header-like view of a dense decoder's weights derived from config.json, for checkpoints
    without safetensors (pytorch_model.bin); dtype is filled in by weight_bytes' caller."""
    c = text_config(config)
    hidden, heads = _int(c, "hidden_size"), _int(c, "num_attention_heads")
    layers, vocab, inter = _int(c, "num_hidden_layers"), _int(c, "vocab_size"), _int(c, "intermediate_size")
    if not (hidden and heads and layers and vocab and inter):
        raise LaunchError(
            "config.json lacks hidden_size, num_attention_heads, num_hidden_layers, "
            "vocab_size or intermediate_size, and the model has no safetensors "
            "headers: cannot size its weights"
        )
    kv = _int(c, "num_key_value_heads") or heads
    head_dim = _int(c, "head_dim") or hidden // heads
    t = {"model.embed_tokens.weight": [vocab, hidden]}
    if not c.get("tie_word_embeddings", config.get("tie_word_embeddings", False)):
        t["lm_head.weight"] = [vocab, hidden]
    for n in range(layers):
        p = f"model.layers.{n}."
        t[p + "self_attn.qkv_proj.weight"] = [(heads + 2 * kv) * head_dim, hidden]
        t[p + "self_attn.o_proj.weight"] = [hidden, heads * head_dim]
        t[p + "mlp.gate_up_proj.weight"] = [2 * inter, hidden]
        t[p + "mlp.down_proj.weight"] = [hidden, inter]
    return [{k: {"dtype": "F16", "shape": s} for k, s in t.items()}]


def model_max_len(config: dict) -> int:
    """The model's own maximum context, as vLLM derives it (smallest length key, RoPE factor)."""
    c = text_config(config)
    lengths = [v for v in (_int(c, k) for k in MAX_LEN_KEYS) if v]
    if not lengths:
        return USEFUL_CONTEXT  # vLLM assumes 2,048 too, with a warning
    # Command-R / Cohere 2: model_max_length replaces the others (model_arch_config_convertor.py)
    length = _int(c, "model_max_length") or min(lengths)
    model_type = str(c.get("model_type") or config.get("model_type") or "")
    if any(t in model_type for t in PRESCALED_MODEL_TYPES):
        return length
    factor = 1.0
    for rope in _rope_parameters(c):
        kind = rope.get("rope_type") or rope.get("type") or "default"
        value = rope.get("factor")
        if kind not in PRESCALED_ROPE_TYPES and kind != "default" and isinstance(value, (int, float)):
            factor = value  # vLLM: "assumes all layer types have the same scaling factor"
    return max(1, int(length * factor))


def _rope_parameters(c: dict) -> list[dict]:
    """The RoPE settings of config.json: rope_scaling, or transformers 5's rope_parameters, which
    may hold one dict per layer type ({"full_attention": {...}, "sliding_attention": {...}})."""
    rope = c.get("rope_scaling") or c.get("rope_parameters")
    if not isinstance(rope, dict):
        return []
    nested = [r for r in rope.values() if isinstance(r, dict)]
    return nested if nested and len(nested) == len(rope) else [rope]


def layer_types(config: dict) -> list[str] | None:
    """config.json's layer_types, or the ones transformers derives for SLIDING_PATTERNS models
    that leave them out; None when the config says nothing per layer."""
    c = text_config(config)
    types = c.get("layer_types")
    if isinstance(types, list):
        return [str(t) for t in types]
    layers = _int(c, "num_hidden_layers")
    model_type = str(c.get("model_type") or config.get("model_type") or "")
    for model_types, key, default in SLIDING_PATTERNS:
        if model_type in model_types and layers and _int(c, "sliding_window"):
            pattern = (_int(c, key) if key else None) or default
            return ["full_attention" if (n + 1) % pattern == 0 else "sliding_attention" for n in range(layers)]
    return None


def kv_layout(config: dict, dtype: str, tp: int = 1, in_flight: int = MAX_NUM_BATCHED_TOKENS) -> KvLayout:
    """KV-cache bytes per token per GPU: layers x KV heads x head_dim x 2 (K and V) x dtype size
    (GQA: num_key_value_heads; heads are split over `tp` GPUs, replicated when tp > KV heads),
    or layers x (kv_lora_rank + qk_rope_head_dim) x dtype size for MLA (DeepSeek-V2/V3: one
    latent vector per token, no separate V, not split by tensor parallelism)."""
    c = text_config(config)
    size = VLLM_DTYPE_BYTES[dtype]
    layers = _int(c, "num_hidden_layers")
    if not layers:
        raise LaunchError("config.json has no num_hidden_layers: cannot size the KV cache")
    kv_lora_rank = _int(c, "kv_lora_rank")
    if kv_lora_rank:
        latent = kv_lora_rank + (_int(c, "qk_rope_head_dim") or 0)
        return KvLayout(layers * latent * size, "MLA")
    heads, hidden = _int(c, "num_attention_heads"), _int(c, "hidden_size")
    head_dim = _int(c, "head_dim") or (hidden // heads if heads and hidden else None)
    if not heads or not head_dim:
        raise LaunchError("config.json has no num_attention_heads/hidden_size: cannot size the KV cache")
    kv_heads = _int(c, "num_key_value_heads") or heads
    per_gpu = max(1, kv_heads // max(tp, 1))
    per_token = layers * per_gpu * head_dim * 2 * size
    window = _int(c, "sliding_window")
    types = layer_types(config)
    all_sliding = types is None or all(t == "sliding_attention" for t in types)
    # vLLM applies config.sliding_window to every layer only when no layer_types say otherwise
    # (vllm/engine/arg_utils.py, create_engine_config); mixed models are sized as full attention.
    if window and all_sliding and c.get("use_sliding_window", True) is not False:
        return KvLayout(per_token, f"sliding window {window}", window, in_flight)
    return KvLayout(per_token, "full")


def lora_slot_bytes(headers: list[dict], max_loras: int, rank: int, dtype: str, tp: int = 1) -> int:
    """GPU bytes vLLM reserves for LoRA slots: max_loras x rank x (in x A slices + out) x dtype
    size over every linear layer of the decoder. vLLM wraps all supported modules, not only the
    adapters' targets (vllm/config/lora.py: target_modules None = "all supported LoRA modules")."""
    per_rank = 0
    for name, _, shape in _tensors(headers):
        if len(shape) != 2 or ".layers." not in name or not name.endswith(".weight"):
            continue
        suffix = name[: -len(".weight")].rsplit(".", 1)[-1]
        if "norm" in suffix or "embed" in suffix:
            continue
        out_dim, in_dim = shape
        per_rank += in_dim * PACKED_SLICES.get(suffix, 1) + out_dim
    return max_loras * rank * per_rank * VLLM_DTYPE_BYTES[dtype] // max(tp, 1)


def packed_quantized(headers: list[dict]) -> bool:
    """Whether the checkpoint packs its linear weights (AWQ/GPTQ `qweight` int32,
    compressed-tensors `weight_packed`, 4-bit uint8 `weight` [n, 1]): their stored shapes are not
    the layers' (out, in)."""
    for name, dtype, shape in _tensors(headers):
        if ".layers." not in name:
            continue
        if name.endswith(PACKED_SUFFIXES) or (name.endswith(".weight") and len(shape) == 2 and dtype in PACKED_DTYPES):
            return True
    return False


def lora_headers(config: dict, headers: list[dict]) -> list[dict]:
    """The headers LoRA slots are sized from: the checkpoint's, or for a packed quantized one the
    dense shapes config.json implies (vLLM's LoRA layers take the logical (out, in) shapes)."""
    if headers and packed_quantized(headers):
        try:
            return config_tensors(config)
        except LaunchError:
            return headers
    return headers


def batch_defaults(gpu: GpuSpec) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) vLLM 0.32's OpenAI server takes on `gpu`
    (engine/arg_utils.py, get_batch_defaults): its profiling run uses them."""
    if gpu.memory_bytes >= LARGEST_BATCH_FROM:
        return 16384, 1024
    if gpu.memory_bytes >= LARGE_BATCH_FROM and "a100" not in gpu.name.lower():
        return 8192, 1024
    return MAX_NUM_BATCHED_TOKENS, MAX_NUM_SEQS


def runtime_reserve(gpu: GpuSpec) -> int:
    """Non-torch memory and CUDA graphs per GPU class (see RUNTIME_RESERVE_*)."""
    return RUNTIME_RESERVE_LARGE_GPU if gpu.memory_bytes >= LARGE_GPU_FROM else RUNTIME_RESERVE_SMALL_GPU


def activation_bytes(
    config: dict, dtype: str, tp: int = 1, tokens: int = MAX_NUM_BATCHED_TOKENS, seqs: int = MAX_NUM_SEQS
) -> int:
    """The profiling run's activation peak per GPU for a batch of `tokens` and `seqs` (see
    SAMPLER_BYTES_PER_LOGIT)."""
    c = text_config(config)
    hidden = _int(c, "hidden_size") or 0
    heads = _int(c, "num_attention_heads") or 1
    kv_heads = _int(c, "num_key_value_heads") or heads
    head_dim = _int(c, "head_dim") or (hidden // heads if hidden else 0)
    inter = _int(c, "intermediate_size") or 4 * hidden
    vocab = _int(c, "vocab_size") or 0
    per_token = ((heads + 2 * kv_heads) * head_dim + 3 * inter) // max(tp, 1) + 2 * hidden
    forward = tokens * per_token * VLLM_DTYPE_BYTES[dtype]
    sampler = SAMPLER_BYTES_PER_LOGIT * seqs * vocab
    return forward + sampler


def tensor_parallel_size(config: dict, gpus: int) -> int:
    """The largest GPU count <= gpus that divides the attention heads (vLLM needs that)."""
    heads = _int(text_config(config), "num_attention_heads")
    for n in range(max(gpus, 1), 0, -1):
        if heads is None or heads % n == 0:
            return n
    return 1


# ---------------------------------------------------------------------------------------------
# The plan


def _gib(n: int) -> str:
    return f"{n:,} bytes ({n / GIB:.2f} GiB)"


def plan(
    config: dict,
    weight_headers: list[dict],
    gpu: GpuSpec,
    adapters: list[AdapterShape],
    user_max_model_len: int | None = None,
    *,
    user_dtype: str | None = None,
    gpu_memory_utilization: float | None = None,
    max_loras: int | None = None,
    max_lora_rank: int | None = None,
) -> FitPlan:
    """Decide dtype, context, LoRA slots and memory use for `gpu`. Never raises for a model
    that does not fit: the plan says so (fits False, problem) and the caller refuses."""
    check_dimensions(config)
    ckpt = checkpoint_dtype(config, weight_headers)
    dtype = user_dtype or served_dtype(ckpt, gpu)
    if dtype not in VLLM_DTYPE_BYTES:
        raise LaunchError(
            f"--dtype {dtype} is not one the launcher can plan for ({', '.join(sorted(VLLM_DTYPE_BYTES))})"
        )
    tp = tensor_parallel_size(config, gpu.count)
    util = gpu_memory_utilization or DEFAULT_GPU_MEMORY_UTILIZATION
    loras = max_loras or max(1, min(len(adapters), MAX_LORAS_CAP))
    rank = max_lora_rank or (
        smallest_max_lora_rank(max(a.rank for a in adapters)) if adapters else DEFAULT_MAX_LORA_RANK
    )
    headers = weight_headers or config_tensors(config)
    kv = kv_layout(config, dtype, tp, batch_defaults(gpu)[0])
    budget = math.ceil(gpu.memory_bytes * util)
    p = FitPlan(
        gpu=gpu,
        dtype=dtype,
        checkpoint_dtype=ckpt,
        max_model_len=0,
        model_max_len=model_max_len(config),
        max_loras=loras,
        max_cpu_loras=max(len(adapters), loras),
        max_lora_rank=rank,
        gpu_memory_utilization=util,
        tensor_parallel_size=tp,
        budget_bytes=budget,
        weight_bytes=weight_bytes(headers, dtype) // tp,
        lora_bytes=lora_slot_bytes(lora_headers(config, headers), loras, rank, dtype, tp),
        activation_bytes=activation_bytes(config, dtype, tp, *batch_defaults(gpu)),
        runtime_reserve_bytes=runtime_reserve(gpu),
        kv_pool_bytes=0,
        kv=kv,
        largest_fitting_len=0,
        margin_bytes=math.ceil(budget * SAFETY_MARGIN),
        user_max_model_len=user_max_model_len,
    )
    p.kv_pool_bytes = budget - p.fixed_bytes
    p.largest_fitting_len = largest_fitting_len(p.kv_pool_bytes, kv, p.model_max_len)
    p.optimistic_len = largest_fitting_len(
        p.kv_pool_bytes + p.margin_bytes + p.runtime_reserve_bytes, kv, p.model_max_len
    )
    if user_dtype == "bfloat16" and not gpu.has_bf16:
        p.fits = False
        p.problem = (
            f"--dtype bfloat16 cannot run on {gpu.describe()}: vLLM needs compute "
            f"capability 8.0 for bfloat16; use --dtype float16"
        )
        return p
    method = check_quantization(config)
    need = QUANTIZATION_MIN_CAPABILITY.get(method or "")
    major, minor = gpu.compute_capability
    if need and major * 10 + minor < need:
        p.fits = False
        p.problem = (
            f"the checkpoint's {method} quantization needs compute capability {need // 10}.{need % 10}, "
            f"the {gpu.name} has {major}.{minor}"
        )
        return p
    if user_max_model_len is not None and user_max_model_len > p.model_max_len:
        p.max_model_len = user_max_model_len
        p.fits = False
        p.problem = (
            f"--max-model-len {user_max_model_len:,} is above the model's own maximum "
            f"{p.model_max_len:,}; vLLM refuses it"
        )
        return p
    planned = p.largest_fitting_len // CONTEXT_STEP * CONTEXT_STEP
    if p.largest_fitting_len >= p.model_max_len:
        planned = p.model_max_len
    if planned < min(USEFUL_CONTEXT, p.model_max_len):
        p.fits = False
        p.max_model_len = planned
        p.problem = (
            f"the model does not fit {gpu.describe()} with a useful context "
            f"({min(USEFUL_CONTEXT, p.model_max_len):,} tokens): it needs "
            f"{_gib(p.needed_bytes(min(USEFUL_CONTEXT, p.model_max_len)))}, "
            f"{_gib(budget)} available at gpu-memory-utilization {util}"
        )
        return p
    if user_max_model_len is not None:
        p.max_model_len = user_max_model_len
        if user_max_model_len > p.optimistic_len:
            p.notes.append(
                f"warning: --max-model-len {user_max_model_len:,} is above the {p.expected_text()} the plan "
                f"expects to fit {gpu.describe()}; if vLLM refuses it for memory, the launcher restarts it "
                f"once with vLLM's own estimate"
            )
        return p
    p.max_model_len = planned
    if planned < p.model_max_len:
        p.notes.append(
            f"warning: the model's {p.model_max_len:,} tokens of context do not fit {gpu.describe()}: "
            f"expected {p.expected_text()} (one request of {p.model_max_len:,} tokens needs "
            f"{_gib(kv.request_bytes(p.model_max_len))} of KV cache, {_gib(p.kv_pool_bytes)} is left after "
            f"weights, reserves and the safety margin); vLLM fixes the exact context at start"
        )
    return p


def logged_run_kv_pool(
    config: dict,
    weight_headers: list[dict],
    *,
    gpu: GpuSpec,
    utilization: float,
    dtype: str,
    batch: tuple[int, int],
) -> FitPlan:
    """The plan for a start-up someone logged: `gpu` at `utilization`, served in `dtype`, its
    profiling run at `batch` (max_num_batched_tokens, max_num_seqs) as that vLLM version and its
    flags had it, without LoRA (the logged runs had none). Its kv_pool_bytes is the planner's
    figure for the KV cache vLLM logged (bench_fit.py, the logs table)."""
    p = plan(config, weight_headers, gpu, [], user_dtype=dtype, gpu_memory_utilization=utilization)
    tokens, seqs = batch
    activation = activation_bytes(config, dtype, p.tensor_parallel_size, tokens, seqs)
    p.kv_pool_bytes += p.lora_bytes + p.activation_bytes - activation
    p.lora_bytes, p.activation_bytes = 0, activation
    return p


def largest_fitting_len(kv_pool: int, kv: KvLayout, limit: int) -> int:
    """The largest context (<= limit) whose one request fits the KV pool after vLLM's null block
    (vllm/v1/core/kv_cache_utils.py: the pool permanently holds back one block)."""
    usable = kv_pool - kv.bytes_per_token * kv.block
    if usable < kv.request_bytes(1):
        return 0
    if kv.request_bytes(limit) <= usable:
        return limit
    lo, hi = 1, limit  # request_bytes grows with the context: bisect
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if kv.request_bytes(mid) <= usable:
            lo = mid
        else:
            hi = mid - 1
    return lo


def cpu_context(config: dict, kv_space_bytes: int, dtype: str | None) -> tuple[int, int]:
    """(low, high): the context one request can hold in a CPU KV space of `kv_space_bytes`
    (VLLM_CPU_KVCACHE_SPACE or --kv-cache-memory-bytes: vLLM takes it as given, no profiling),
    at `dtype`, or from float32 (low) to half precision (high) when vLLM picks the dtype."""
    check_dimensions(config)
    limit = model_max_len(config)
    sizes = [dtype] if dtype in VLLM_DTYPE_BYTES else ["float32", "float16"]
    found = []
    for size in sizes:
        kv = kv_layout(config, size)
        kv = KvLayout(kv.bytes_per_token, kv.kind, kv.sliding_window, block=CPU_BLOCK_SIZE)
        found.append(largest_fitting_len(kv_space_bytes, kv, limit))
    return min(found), max(found)


def cpu_refusal(config: dict, kv_space_bytes: int, dtype: str | None, where: str) -> str | None:
    """One line when even the shortest useful context cannot fit the CPU KV space, else None."""
    _, high = cpu_context(config, kv_space_bytes, dtype)
    need = min(USEFUL_CONTEXT, model_max_len(config))
    if high >= need:
        return None
    return (
        f"the model does not fit the CPU KV cache space of {kv_space_bytes:,} bytes ({where}) with a useful "
        f"context ({need:,} tokens): at most {high:,} tokens fit; give the cache more space or serve a smaller model"
    )


def smallest_fitting_profile(
    config: dict,
    weight_headers: list[dict],
    adapters: list[AdapterShape],
    min_context: int = USEFUL_CONTEXT,
    profiles: Iterable[WorkloadProfile] = PROFILES,
    **plan_options: Any,
) -> tuple[WorkloadProfile, FitPlan] | None:
    """The first (cheapest) profile whose plan fits with at least `min_context` tokens, and that
    plan; None when none does."""
    for profile in profiles:
        p = plan(config, weight_headers, profile.gpu, adapters, **plan_options)
        if p.fits and p.max_model_len >= min(min_context, p.model_max_len):
            return profile, p
    return None


def decision_lines(p: FitPlan) -> list[str]:
    """One log line per decision, with the numbers."""
    kv = p.kv
    if p.user_max_model_len:
        context = f"--max-model-len {p.max_model_len:,} (yours; the plan expects {p.expected_text()} to fit"
    else:
        context = (
            f"--max-model-len auto: vLLM fixes the context at start from its own memory profiling; the "
            f"plan expects {p.expected_text()}"
        )
    return [
        (
            f"fit: {p.gpu.describe()} from {p.gpu.source}; budget {_gib(p.budget_bytes)} = total x "
            f"{p.gpu_memory_utilization}: weights {_gib(p.weight_bytes)}, LoRA slots {_gib(p.lora_bytes)}, "
            f"activations {_gib(p.activation_bytes)}, non-torch and CUDA graphs {_gib(p.runtime_reserve_bytes)}, "
            f"safety margin {_gib(p.margin_bytes)}, KV pool {_gib(p.kv_pool_bytes)}"
        ),
        (
            f"--dtype {p.dtype} (checkpoint {p.checkpoint_dtype}; {p.gpu.name} compute "
            f"{'.'.join(map(str, p.gpu.compute_capability))}: "
            f"{'has bfloat16' if p.gpu.has_bf16 else 'no bfloat16, needs 8.0'})"
        ),
        (
            f"{context}; model maximum {p.model_max_len:,}; KV {kv.bytes_per_token:,} bytes/token, {kv.kind})"
            if p.user_max_model_len
            else f"{context} (model maximum {p.model_max_len:,}; KV {kv.bytes_per_token:,} bytes/token, {kv.kind})"
        ),
        (
            f"--max-loras {p.max_loras} --max-cpu-loras {p.max_cpu_loras} (--max-lora-rank "
            f"{p.max_lora_rank}; {_gib(p.lora_bytes)} of GPU memory for the slots)"
        ),
        (
            f"--gpu-memory-utilization {p.gpu_memory_utilization} (budget {_gib(p.budget_bytes)} of "
            f"{_gib(p.gpu.memory_bytes)} per GPU)"
        ),
    ]


def refusal(p: FitPlan, config: dict, weight_headers: list[dict], adapters: list[AdapterShape]) -> str:
    """The one-line refusal: the problem and the profile that would fit (with the context the
    user asked for, else a useful one)."""
    if p.user_max_model_len and p.user_max_model_len > p.model_max_len:
        return (
            f"{p.problem}; pass at most {p.model_max_len:,} or leave --max-model-len out (vLLM then takes "
            f"the most that fits)"
        )
    found = smallest_fitting_profile(
        config, weight_headers, adapters, min_context=p.user_max_model_len or USEFUL_CONTEXT
    )
    if found:
        profile, fit = found
        hint = f"the profile that would fit: {profile.name} ({profile.gpu.describe()}, {fit.max_model_len:,} tokens)"
    else:
        hint = "no Azure Container Apps GPU profile fits it"
    return f"{p.problem}; {hint}"
