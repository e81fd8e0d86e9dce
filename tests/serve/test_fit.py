"""Fitting real models to T4 and A100 (aitk_serve.fit, aitk_serve.gpus): every expected number
below is hand arithmetic from the published config.json values, spelled out, not taken from the
code under test. The checkpoints are sparse files (real headers, holes for the data)."""

import json
import math
import os

import pytest
from aitk_serve import LaunchError, fit, gpus

from aitk_testkit.real_models import MODELS, write_sparse_model, write_sparse_shard
from serve.conftest import run_launcher

MIB = 1024**2
GIB = 1024**3
# CUDA's totals as vLLM logged them for these boards (nvidia-smi says 15,360 and 81,920 MiB)
T4_TOTAL = round(14.74 * GIB)
A100_TOTAL = round(79.22 * GIB)
T4_BUDGET = math.ceil(T4_TOTAL * 0.92)  # vLLM requests total x gpu_memory_utilization
A100_BUDGET = math.ceil(A100_TOTAL * 0.92)
RESERVE = {"T4": GIB // 2, "A100": 2 * GIB}  # non-torch memory and CUDA graphs, per GPU class
TOKENS, SEQS = 2048, 256  # vLLM's batched tokens and sequences on a T4 and on an A100


def margin(budget):
    return math.ceil(budget * 0.02)  # the safety margin: 2 % of the budget


def sampler(vocab):
    return 40 * SEQS * vocab  # float32 logits, probabilities, sorted copy, int64 indices, slack


# ---- Phi-3-mini (both variants): hidden 3072, intermediate 8192, 32 layers, 32 heads = 32 KV
# heads, head_dim 96, vocab 32064, untied, bf16; q/k/v and gate/up packed.
PHI3_MINI_LAYER = (
    9216 * 3072  # qkv_proj: (32 + 2*32) * 96 = 9216 out
    + 3072 * 3072  # o_proj
    + 16384 * 3072  # gate_up_proj: 2 * 8192 out
    + 3072 * 8192  # down_proj
    + 2 * 3072
)  # two RMS norms
PHI3_MINI_WEIGHTS = 2 * (2 * 32064 * 3072 + 32 * PHI3_MINI_LAYER + 3072)  # 2 bytes each
# LoRA A/B per rank per layer: qkv 3 slices of 3072 in + 9216 out; o 3072 + 3072;
# gate_up 2 slices of 3072 + 16384; down 8192 + 3072.
PHI3_MINI_LORA = 1 * 16 * 32 * (3 * 3072 + 9216 + 3072 + 3072 + 2 * 3072 + 16384 + 8192 + 3072) * 2
PHI3_MINI_ACT = TOKENS * (9216 + 3 * 8192 + 2 * 3072) * 2 + sampler(32064)
PHI3_MINI_KV = 32 * 32 * 96 * 2 * 2  # per token

# ---- Phi-3-medium-4k: hidden 5120, intermediate 17920, 40 layers, 40 heads, 10 KV heads,
# head_dim 128, vocab 32064.
PHI3_MEDIUM_LAYER = 7680 * 5120 + 5120 * 5120 + 35840 * 5120 + 5120 * 17920 + 2 * 5120
PHI3_MEDIUM_WEIGHTS = 2 * (2 * 32064 * 5120 + 40 * PHI3_MEDIUM_LAYER + 5120)
PHI3_MEDIUM_LORA = 16 * 40 * (3 * 5120 + 7680 + 5120 + 5120 + 2 * 5120 + 35840 + 17920 + 5120) * 2
PHI3_MEDIUM_ACT = TOKENS * (7680 + 3 * 17920 + 2 * 5120) * 2 + sampler(32064)
PHI3_MEDIUM_KV = 40 * 10 * 128 * 2 * 2

# ---- Llama-3-8B / Mistral-7B: hidden 4096, intermediate 14336, 32 layers, 32 heads, 8 KV heads,
# head_dim 128; vocab 128256 / 32000; q, k, v, gate, up separate.
LLAMA_LAYER = 4096 * 4096 + 2 * 1024 * 4096 + 4096 * 4096 + 3 * 14336 * 4096 + 2 * 4096
LLAMA3_WEIGHTS = 2 * (2 * 128256 * 4096 + 32 * LLAMA_LAYER + 4096)
MISTRAL_WEIGHTS = 2 * (2 * 32000 * 4096 + 32 * LLAMA_LAYER + 4096)
# per rank per layer: q 4096+4096, k 4096+1024, v 4096+1024, o 4096+4096, gate/up 4096+14336,
# down 14336+4096
LLAMA_LORA = 16 * 32 * (8192 + 5120 + 5120 + 8192 + 3 * 18432) * 2
LLAMA_FORWARD = TOKENS * (6144 + 3 * 14336 + 2 * 4096) * 2
LLAMA_KV = 32 * 8 * 128 * 2 * 2


def sliding_tokens(window, context):
    """vLLM's sliding-window hold: window - 1 + in-flight tokens, block-rounded, plus a block."""
    return (-(-min(window - 1 + TOKENS, context) // 16) + 1) * 16


# (model, GPU) -> dtype, context, weights, LoRA slots, activations, KV bytes/token, and the
# bytes one request at the planned context holds.
EXPECTED = {
    ("Phi-3-mini-4k-instruct", "T4"): (
        "float16",
        4096,
        PHI3_MINI_WEIGHTS,
        PHI3_MINI_LORA,
        PHI3_MINI_ACT,
        PHI3_MINI_KV,
        sliding_tokens(2047, 4096) * PHI3_MINI_KV,
    ),
    ("Phi-3-mini-4k-instruct", "A100"): (
        "bfloat16",
        4096,
        PHI3_MINI_WEIGHTS,
        PHI3_MINI_LORA,
        PHI3_MINI_ACT,
        PHI3_MINI_KV,
        sliding_tokens(2047, 4096) * PHI3_MINI_KV,
    ),
    # T4: pool = budget - weights - LoRA - activations - reserve - margin, less one null block;
    # one request holds (ceil(L/16) + 1) blocks of 16 x 393,216 bytes: 879 blocks fit, so
    # L <= 878 * 16 = 14,048, planned at the multiple of 1,024 below: 13,312.
    ("Phi-3-mini-128k-instruct", "T4"): (
        "float16",
        13 * 1024,
        PHI3_MINI_WEIGHTS,
        PHI3_MINI_LORA,
        PHI3_MINI_ACT,
        PHI3_MINI_KV,
        (13312 // 16 + 1) * 16 * PHI3_MINI_KV,
    ),
    ("Phi-3-mini-128k-instruct", "A100"): (
        "bfloat16",
        131072,
        PHI3_MINI_WEIGHTS,
        PHI3_MINI_LORA,
        PHI3_MINI_ACT,
        PHI3_MINI_KV,
        (131072 // 16 + 1) * 16 * PHI3_MINI_KV,
    ),
    ("Phi-3-medium-4k-instruct", "A100"): (
        "bfloat16",
        4096,
        PHI3_MEDIUM_WEIGHTS,
        PHI3_MEDIUM_LORA,
        PHI3_MEDIUM_ACT,
        PHI3_MEDIUM_KV,
        sliding_tokens(2047, 4096) * PHI3_MEDIUM_KV,
    ),
    ("Meta-Llama-3-8B", "A100"): (
        "bfloat16",
        8192,
        LLAMA3_WEIGHTS,
        LLAMA_LORA,
        LLAMA_FORWARD + sampler(128256),
        LLAMA_KV,
        8192 * LLAMA_KV,
    ),
    ("Mistral-7B-v0.1", "A100"): (
        "bfloat16",
        32768,
        MISTRAL_WEIGHTS,
        LLAMA_LORA,
        LLAMA_FORWARD + sampler(32000),
        LLAMA_KV,
        sliding_tokens(4096, 32768) * LLAMA_KV,
    ),
}
# Too big for a T4 at 2,048 tokens: weights alone (Phi-3-medium 27.9 GB, Llama-3-8B 16.1 GB,
# Mistral-7B 14.48 GB) exceed the 14.56 GB budget.
TOO_BIG_FOR_T4 = {
    "Phi-3-medium-4k-instruct": PHI3_MEDIUM_WEIGHTS,
    "Meta-Llama-3-8B": LLAMA3_WEIGHTS,
    "Mistral-7B-v0.1": MISTRAL_WEIGHTS,
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("real-models")
    return {name: write_sparse_model(root / name, config, shards) for name, (config, shards) in MODELS.items()}


def test_sparse_checkpoints_use_no_disk(models):
    for folder in models.values():
        for f in folder.glob("*.safetensors"):
            assert f.stat().st_size > 1e9 and f.stat().st_blocks * 512 < 4 * MIB, f


@pytest.mark.parametrize("name,gpu", sorted(EXPECTED))
def test_the_plan_matches_hand_arithmetic(models, name, gpu):
    dtype, context, weights, lora, act, kv_per_token, kv_request = EXPECTED[name, gpu]
    budget = T4_BUDGET if gpu == "T4" else A100_BUDGET
    headers = fit.read_headers_from_dir(str(models[name]))
    p = fit.plan(MODELS[name][0], headers, gpus.GPUS[gpu], [])
    assert p.fits, p.problem
    assert (p.dtype, p.max_model_len) == (dtype, context)
    assert (p.budget_bytes, p.weight_bytes, p.lora_bytes, p.activation_bytes) == (budget, weights, lora, act)
    assert p.kv.bytes_per_token == kv_per_token and p.kv_bytes == kv_request
    assert p.kv_pool_bytes == budget - weights - lora - act - RESERVE[gpu] - margin(budget)
    assert p.kv_bytes + 16 * kv_per_token <= p.kv_pool_bytes  # vLLM's start-up check
    assert p.gpu_memory_utilization == 0.92 and (p.max_loras, p.max_cpu_loras, p.max_lora_rank) == (1, 1, 16)


def test_phi3_mini_128k_on_a_t4_is_cut_with_a_warning(models):
    p = fit.plan(
        MODELS["Phi-3-mini-128k-instruct"][0],
        fit.read_headers_from_dir(str(models["Phi-3-mini-128k-instruct"])),
        gpus.GPUS["T4"],
        [],
    )
    pool = T4_BUDGET - PHI3_MINI_WEIGHTS - PHI3_MINI_LORA - PHI3_MINI_ACT - RESERVE["T4"] - margin(T4_BUDGET)
    blocks = (pool - 16 * PHI3_MINI_KV) // (16 * PHI3_MINI_KV)  # 879
    assert p.largest_fitting_len == (blocks - 1) * 16 == 14048
    # the top of the range: the same without the margin and the reserve
    top = (pool + margin(T4_BUDGET) + RESERVE["T4"] - 16 * PHI3_MINI_KV) // (16 * PHI3_MINI_KV) - 1
    assert p.expected_context() == (14048, top * 16) == (14048, 16160)
    assert any(
        "the model's 131,072 tokens of context do not fit T4" in n
        and "expected 14,048-16,160 tokens" in n
        and "vLLM fixes the exact context at start" in n
        for n in p.notes
    )


@pytest.mark.parametrize("name", sorted(TOO_BIG_FOR_T4))
def test_too_big_for_a_t4_is_not_a_fit_and_an_a100_profile_is_named(models, name):
    headers = fit.read_headers_from_dir(str(models[name]))
    p = fit.plan(MODELS[name][0], headers, gpus.GPUS["T4"], [])
    assert not p.fits and p.weight_bytes == TOO_BIG_FOR_T4[name]
    assert f"{T4_BUDGET:,} bytes" in p.problem
    profile, a100 = fit.smallest_fitting_profile(MODELS[name][0], headers, [])
    assert profile.name == "Consumption-GPU-NC24-A100" and a100.fits


def test_the_smallest_profile_is_the_t4_when_it_fits_with_enough_context(models):
    name = "Phi-3-mini-128k-instruct"
    headers = fit.read_headers_from_dir(str(models[name]))
    profile, p = fit.smallest_fitting_profile(MODELS[name][0], headers, [], min_context=4096)
    assert profile.name == "Consumption-GPU-NC8as-T4" and p.max_model_len == 13312
    profile, _ = fit.smallest_fitting_profile(MODELS[name][0], headers, [], min_context=32768)
    assert profile.name == "Consumption-GPU-NC24-A100"


def test_a_model_no_profile_holds_gets_none_and_config_only_sizing():
    # No headers: weights from config.json. 126 layers of hidden 16384 / intermediate 53248 is
    # about 2 * 126 * (4 * 16384^2 ... ) > 800 GB in bf16: more than 4 x A100 80 GB.
    huge = dict(
        MODELS["Meta-Llama-3-8B"][0],
        hidden_size=16384,
        intermediate_size=53248,
        num_hidden_layers=126,
        num_attention_heads=128,
    )
    assert fit.smallest_fitting_profile(huge, [], []) is None
    p = fit.plan(huge, [], gpus.GPUS["A100"], [])
    layer = (128 + 16) * 128 * 16384 + 16384 * 16384 + 2 * 53248 * 16384 + 16384 * 53248
    assert p.weight_bytes == 2 * (2 * 128256 * 16384 + 126 * layer)


def test_lora_slots_are_capped_and_every_adapter_stays_loadable(models):
    name = "Meta-Llama-3-8B"
    adapters = [fit.AdapterShape(f"run-{i}", 8 if i else 40) for i in range(10)]
    p = fit.plan(MODELS[name][0], fit.read_headers_from_dir(str(models[name])), gpus.GPUS["A100"], adapters)
    assert (p.max_loras, p.max_cpu_loras, p.max_lora_rank) == (4, 10, 64)
    assert p.lora_bytes == LLAMA_LORA // 16 * 4 * 64  # 4 slots of rank 64, not 10


def test_mla_and_explicit_head_dim_and_mixed_sliding_layers():
    # DeepSeek-V2-Lite: 27 layers, one latent of kv_lora_rank 512 + rope 64 per token, no V.
    deepseek = {
        "num_hidden_layers": 27,
        "hidden_size": 2048,
        "num_attention_heads": 16,
        "kv_lora_rank": 512,
        "qk_rope_head_dim": 64,
    }
    kv = fit.kv_layout(deepseek, "bfloat16")
    assert (kv.bytes_per_token, kv.kind) == (27 * (512 + 64) * 2, "MLA")
    # head_dim from config (not hidden / heads), GQA, interleaved sliding layers = full attention.
    gemma_like = {
        "num_hidden_layers": 26,
        "hidden_size": 2304,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "sliding_window": 4096,
        "layer_types": ["sliding_attention", "full_attention"] * 13,
    }
    kv = fit.kv_layout(gemma_like, "bfloat16")
    assert (kv.bytes_per_token, kv.sliding_window) == (26 * 4 * 256 * 2 * 2, None)
    # Tensor parallelism splits KV heads: 8 KV heads over 2 GPUs.
    assert fit.kv_layout(MODELS["Meta-Llama-3-8B"][0], "float16", tp=2).bytes_per_token == LLAMA_KV // 2


def test_the_model_maximum_follows_vllms_rope_rules():
    phi128 = MODELS["Phi-3-mini-128k-instruct"][0]
    assert fit.model_max_len(phi128) == 131072  # longrope: already scaled
    linear = dict(MODELS["Meta-Llama-3-8B"][0], rope_scaling={"type": "linear", "factor": 2.0})
    assert fit.model_max_len(linear) == 16384
    assert fit.model_max_len({"n_positions": 1024, "max_position_embeddings": 2048}) == 1024


def test_a_users_max_model_len_wins_and_is_checked(models):
    name = "Phi-3-mini-128k-instruct"
    config, headers = MODELS[name][0], fit.read_headers_from_dir(str(models[name]))
    fits = fit.plan(config, headers, gpus.GPUS["T4"], [], 8192)
    assert fits.fits and fits.max_model_len == 8192 and not fits.notes
    # above the plan's range: vLLM decides (and the launcher retries with its estimate), a warning
    long = fit.plan(config, headers, gpus.GPUS["T4"], [], 65536)
    assert long.fits and long.max_model_len == 65536
    assert any("--max-model-len 65,536 is above the 14,048-16,160 tokens" in n for n in long.notes)
    above = fit.plan(config, headers, gpus.GPUS["A100"], [], 262144)
    assert not above.fits and "above the model's own maximum 131,072" in above.problem
    # A lower utilization shrinks the budget and so the context.
    low = fit.plan(config, headers, gpus.GPUS["T4"], [], gpu_memory_utilization=0.8)
    assert low.budget_bytes == math.ceil(T4_TOTAL * 0.8) and low.max_model_len < 13312


def test_headers_are_read_by_byte_ranges_only(models):
    """What provision does on Azure Files: ranged reads of each shard's header, nothing more."""
    folder = models["Meta-Llama-3-8B"]
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    files = fit.weight_files(os.listdir(folder), index)
    assert files == [f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)]
    reads = []

    def read_range(name, offset, length):
        reads.append((name, offset, length))
        with open(folder / name, "rb") as f:
            f.seek(offset)
            return f.read(length)

    headers = fit.read_headers(read_range, files)
    assert headers == fit.read_headers_from_dir(str(folder))
    sizes = {f: (folder / f).stat().st_size for f in files}
    assert sum(n for _, _, n in reads) < 1 * MIB < min(sizes.values())
    assert all(off in (0, 8) for _, off, _ in reads)


def test_bad_headers_are_one_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(LaunchError, match="bad.safetensors is not a readable safetensors file"):
        fit.read_headers_from_dir(str(tmp_path))


def test_nvidia_smi_rows_and_unknown_capabilities():
    rows = gpus.parse_nvidia_smi("Tesla T4, 15360, 7.5\nNVIDIA A100 80GB PCIe, 81920, [N/A]\n")
    assert rows == [("Tesla T4", 15360 * MIB, (7, 5)), ("NVIDIA A100 80GB PCIe", 81920 * MIB, (8, 0))]
    assert gpus.lookup("consumption-gpu-nc8as-t4") == gpus.GPUS["T4"]
    assert gpus.lookup("NC48-A100").count == 2


# ---------------------------------------------------------------------------------------------
# Through the launcher process


def refused(result, *parts):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert result.stdout == "" and len(lines) == 1, result.stderr
    assert lines[0].startswith("aitk_serve: error: ") and "Traceback" not in result.stderr
    for part in parts:
        assert part in lines[0], lines[0]


def check(mount, *args, **env):
    r = run_launcher(["--check", *args], mount, **env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    return out, out["command"]


def value(argv, flag):
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize("name", sorted(TOO_BIG_FOR_T4))
def test_the_launcher_refuses_a_model_too_big_for_a_t4(models, tmp_path, name):
    r = run_launcher(["--check", "--gpu", "T4", "--model", str(models[name])], tmp_path)
    refused(
        r,
        f"{name}: the model does not fit T4",
        f"{T4_BUDGET:,} bytes (13.56 GiB) available",
        "needs",
        "the profile that would fit: Consumption-GPU-NC24-A100",
    )


def test_the_launcher_plans_a_t4_and_an_a100(models, tmp_path):
    model = str(models["Phi-3-mini-128k-instruct"])
    out, argv = check(tmp_path, "--gpu", "T4", "--model", model)
    assert argv[2] == "aitk_serve.api_server"
    assert (
        value(argv, "--dtype"),
        value(argv, "--max-model-len"),
        value(argv, "--gpu-memory-utilization"),
        value(argv, "--max-loras"),
        value(argv, "--max-cpu-loras"),
    ) == ("float16", "auto", "0.92", "1", "1")
    assert out["fit"]["memory"]["weights_bytes"] == PHI3_MINI_WEIGHTS
    assert out["expected_context"] == "14,048-16,160 tokens" and out["user_max_model_len"] is None
    assert any(n.startswith("--dtype float16 (checkpoint bfloat16; T4 compute 7.5: no bfloat16") for n in out["notes"])
    assert any(
        n.startswith(
            "--max-model-len auto: vLLM fixes the context at start from its own memory profiling; the plan "
            "expects 14,048-16,160 tokens"
        )
        for n in out["notes"]
    )
    out, argv = check(tmp_path, "--gpu", "A100", "--model", model)
    assert (value(argv, "--dtype"), value(argv, "--max-model-len")) == ("bfloat16", "auto")
    assert out["expected_context"] == "the model's whole 131,072 tokens"
    _, argv = check(tmp_path, "--gpu", "NC48-A100", "--model", model)
    assert value(argv, "--tensor-parallel-size") == "2"


def test_the_launcher_checks_a_users_max_model_len(models, tmp_path):
    model = str(models["Phi-3-mini-128k-instruct"])
    out, argv = check(tmp_path, "--gpu", "T4", "--model", model, "--", "--max-model-len", "8k")
    assert argv.count("--max-model-len") == 1 and argv[-1] == "8k" and out["user_max_model_len"] == 8000
    refused(
        run_launcher(["--check", "--gpu", "T4", "--model", model, "--", "--max-model-len", "256K"], tmp_path),
        "--max-model-len 262,144 is above the model's own maximum 131,072",
        "pass at most 131,072 or leave --max-model-len out",
    )
    refused(
        run_launcher(["--check", "--gpu", "T4", "--model", model, "--", "--max-model-len", "lots"], tmp_path),
        "--max-model-len 'lots' after -- is not a number",
    )
    refused(
        run_launcher(["--check", "--gpu", "T4", "--model", model, "--", "--dtype", "bfloat16"], tmp_path),
        "--dtype bfloat16 cannot run on T4",
        "use --dtype float16",
    )


def test_gpu_memory_plans_for_other_gpus_and_gpu_options_need_check(models, tmp_path):
    model = str(models["Meta-Llama-3-8B"])
    out, argv = check(tmp_path, "--gpu-memory", "24", "--model", model)  # e.g. an L4 / A10
    assert value(argv, "--dtype") == "bfloat16" and out["fit"]["budget_bytes"] == math.ceil(24 * GIB * 0.92)
    small = str(models["Phi-3-mini-4k-instruct"])
    refused(
        run_launcher(["--check", "--gpu", "T4", "--gpu-memory", "8", "--model", small], tmp_path),
        "does not fit T4 (8.0 GiB",
    )
    refused(run_launcher(["--gpu", "T4", "--model", model], tmp_path), "use them with --check")
    refused(run_launcher(["--check", "--gpu", "V100", "--model", model], tmp_path), "--gpu 'V100' is not a GPU")
    refused(run_launcher(["--check", "--gpu-memory", "0", "--model", model], tmp_path), "--gpu-memory 0 is not")


def test_the_visible_gpus_real_memory_wins_over_the_table(models, tmp_path):
    """A fake nvidia-smi on PATH reports an A10 (24 GiB, compute 8.6): the plan uses it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA A10, 23028, 8.6'\n")
    smi.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    out, argv = check(tmp_path, "--model", str(models["Phi-3-mini-128k-instruct"]), CUDA_VISIBLE_DEVICES="0", PATH=path)
    # a board the table does not know: CUDA's total is taken as nvidia-smi's less 2 %
    assert out["fit"]["memory"]["gpu"] == "NVIDIA A10 (22.0 GiB, compute 8.6)"
    assert out["fit"]["budget_bytes"] == math.ceil(int(23028 * MIB * 0.98) * 0.92)
    assert value(argv, "--dtype") == "bfloat16"
    assert any("from nvidia-smi" in n for n in out["notes"])


def test_a_real_start_on_a_t4_too_small_for_the_model_is_one_line_before_vllm_starts(models, tmp_path):
    """No --check: a fake nvidia-smi reports a T4; the 26 GiB model is refused, nothing is started
    (one line on stderr, none of vLLM's)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'Tesla T4, 15360, 7.5'\n")
    smi.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    r = run_launcher(
        ["--model", str(models["Phi-3-medium-4k-instruct"])], tmp_path, CUDA_VISIBLE_DEVICES="0", PATH=path
    )
    refused(
        r,
        "Phi-3-medium-4k-instruct: the model does not fit Tesla T4 (14.7 GiB, compute 7.5)",
        "the profile that would fit: Consumption-GPU-NC24-A100",
    )


def test_the_cpu_path_keeps_its_defaults(models, tmp_path):
    out, argv = check(tmp_path, "--model", str(models["Phi-3-mini-4k-instruct"]))
    assert argv[2] == "aitk_serve.cpu_server" and out["fit"] is None
    assert value(argv, "--gpu-memory-utilization") == "0.3" and out["env"]["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert "--dtype" not in argv and value(argv, "--max-model-len") == "auto" and "--max-cpu-loras" not in argv
    # vLLM picks the dtype: 1 GiB less one 128-token block holds 1,237 tokens of 786,432 bytes
    # (float32) or 2,602 of 393,216 (half); a request also holds one block more than its 128-token
    # blocks (sliding window 2,047): 8 or 19 blocks, 1,024 or 2,432 tokens
    assert out["expected_context"] == "1,024-2,432 tokens"


def test_a_real_shard_header_round_trips(tmp_path):
    """The sparse writer's headers read back exactly through the launcher's reader."""
    shard = write_sparse_shard(tmp_path / "model.safetensors", {"a.weight": [3, 5], "b": [7]}, "F16")
    (header,) = fit.read_headers_from_dir(str(tmp_path))
    assert header["a.weight"]["shape"] == [3, 5] and header["b"]["dtype"] == "F16"
    assert fit.weight_bytes([header], "float16") == (15 + 7) * 2 and shard.stat().st_size > 8
