"""From findings to vLLM's command line (aitk_serve.vllm_args): pure functions."""

import json
import os
from types import SimpleNamespace

import pytest
from aitk_serve.adapters import AdapterInfo
from aitk_serve.vllm_args import (
    API_SERVER_MODULE,
    CPU_SERVER_MODULE,
    MIDDLEWARE,
    REDACTED,
    SHARE_MIDDLEWARE,
    api_keys_in_args,
    build,
    count_gpus,
    flag_value,
    has_flag,
    redact_args,
    redact_env,
    tensor_parallel_size,
)
from hypothesis import given
from hypothesis import strategies as st


def adapter(name, rank):
    return AdapterInfo(name=name, path=f"/mount/models/{name}/adapter", rank=rank, modules=["q_proj"], weights_file="w")


def make(adapters=(), gpus=0, extra=(), env=None, api_key=None, num_heads=32):
    return build(
        model="/mount/model-cache/o/m",
        served_name="m",
        adapters=list(adapters),
        host="0.0.0.0",
        port=8000,
        api_key=api_key,
        gpus=gpus,
        num_heads=num_heads,
        extra_args=list(extra),
        env=env or {},
        python="python3",
    )


def value(argv, flag):
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize(
    "visible,want", [("", 0), ("-1", 0), ("0", 1), ("0,1", 2), ("GPU-a,GPU-b,GPU-c", 3), ("0,", 1)]
)
def test_cuda_visible_devices_decides_when_set(tmp_path, visible, want):
    (tmp_path / "nvidia0").touch()
    assert count_gpus({"CUDA_VISIBLE_DEVICES": visible}, dev_dir=str(tmp_path)) == want


def test_device_files_count_when_nothing_is_set(tmp_path):
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-modeset"):
        (tmp_path / name).touch()
    assert count_gpus({}, dev_dir=str(tmp_path), nvidia_smi="") == 2


def test_nvidia_smi_counts_when_there_are_no_device_files(tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA A100 (UUID: x)'\necho 'GPU 1: NVIDIA A100 (UUID: y)'\n")
    smi.chmod(0o755)
    assert count_gpus({}, dev_dir=str(tmp_path), nvidia_smi=str(smi)) == 2
    assert count_gpus({}, dev_dir=str(tmp_path), nvidia_smi="") == 0


@given(st.integers(1, 16), st.integers(1, 128))
def test_tensor_parallel_size_divides_the_heads(gpus, heads):
    tp = tensor_parallel_size(gpus, heads)
    assert 1 <= tp <= gpus and heads % tp == 0
    assert all(heads % n for n in range(tp + 1, gpus + 1))


def test_flags_are_found_in_every_spelling():
    assert has_flag(["--dtype", "x", "--gpu-memory-utilization", "0.5"], "--gpu-memory-utilization")
    assert has_flag(["--gpu_memory_utilization=0.5"], "--gpu-memory-utilization")
    assert not has_flag(["--gpu-memory-utilization-x"], "--gpu-memory-utilization")


def test_adapters_become_one_lora_modules_flag_with_the_smallest_rank():
    argv, env, _ = make([adapter("a", 8), adapter("b", 64), adapter("c", 20)])
    assert argv[:3] == ["python3", "-m", CPU_SERVER_MODULE]
    assert value(argv, "--max-lora-rank") == "64" and value(argv, "--max-loras") == "3"
    assert argv.count("--lora-modules") == 1 and "--enable-lora" in argv
    i = argv.index("--lora-modules")
    mods = [json.loads(x) for x in argv[i + 1 : i + 4]]
    assert mods == [{"name": n, "path": f"/mount/models/{n}/adapter", "base_model_name": "m"} for n in "abc"]
    assert value(argv, "--served-model-name") == "m"
    # The share's adapters first: vLLM runs the last --middleware first, and the key check must.
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--middleware"] == [SHARE_MIDDLEWARE, MIDDLEWARE]
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"


def test_without_adapters_lora_stays_on_for_runtime_loading():
    argv, _, _ = make([])
    assert "--enable-lora" in argv and "--lora-modules" not in argv
    assert value(argv, "--max-lora-rank") == "16" and value(argv, "--max-loras") == "1"


def test_cpu_defaults_apply_without_a_gpu_and_yield_to_the_user():
    argv, env, notes = make(gpus=0)
    assert value(argv, "--gpu-memory-utilization") == "0.3" and env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert any("no GPU visible" in n for n in notes)
    argv, env, notes = make(gpus=0, extra=["--gpu-memory-utilization", "0.5"], env={"VLLM_CPU_KVCACHE_SPACE": "4"})
    assert argv.count("--gpu-memory-utilization") == 1 and argv[-1] == "0.5"
    assert "VLLM_CPU_KVCACHE_SPACE" not in env
    assert not any("CPU defaults" in n for n in notes)


def test_gpus_set_tensor_parallelism_and_no_cpu_defaults():
    argv, env, _ = make(gpus=4)
    assert argv[:3] == ["python3", "-m", API_SERVER_MODULE]
    assert value(argv, "--tensor-parallel-size") == "4"
    assert "--gpu-memory-utilization" not in argv and "VLLM_CPU_KVCACHE_SPACE" not in env
    argv, _, notes = make(gpus=3, num_heads=32)
    assert value(argv, "--tensor-parallel-size") == "2" and "3 GPUs visible" in notes[0]
    argv, _, _ = make(gpus=1)
    assert "--tensor-parallel-size" not in argv
    argv, _, _ = make(gpus=4, extra=["--tensor-parallel-size", "2"])
    assert argv.count("--tensor-parallel-size") == 1


def test_extra_arguments_come_last_so_they_win():
    argv, _, _ = make([adapter("a", 8)], extra=["--max-lora-rank", "32", "--dtype", "float32"])
    assert argv[-4:] == ["--max-lora-rank", "32", "--dtype", "float32"]


def test_the_api_key_goes_to_the_environment_not_the_command_line():
    argv, env, _ = make(api_key="s3cret")
    assert "s3cret" not in " ".join(argv) and "--api-key" not in argv
    assert env["VLLM_API_KEY"] == "s3cret"
    assert "VLLM_API_KEY" not in make()[1]


def test_the_launcher_stays_importable_for_the_middleware():
    _, env, _ = make(env={"PYTHONPATH": "/a:/b"})
    here = os.path.dirname(os.path.dirname(os.path.abspath(__import__("aitk_serve").__file__)))
    assert env["PYTHONPATH"] == os.pathsep.join([here, "/a", "/b"])


def test_secrets_are_redacted():
    assert redact_args(["x", "--api-key", "k1", "--api_key=k2", "--port", "1"]) == [
        "x",
        "--api-key",
        REDACTED,
        f"--api_key={REDACTED}",
        "--port",
        "1",
    ]
    assert redact_env({"VLLM_API_KEY": "k", "HF_TOKEN": "t", "VLLM_CPU_KVCACHE_SPACE": "1"}) == {
        "VLLM_API_KEY": REDACTED,
        "HF_TOKEN": REDACTED,
        "VLLM_CPU_KVCACHE_SPACE": "1",
    }


def test_flag_values_are_read_in_every_spelling_and_the_last_wins():
    assert flag_value(["--max-model-len", "4096"], "--max-model-len") == "4096"
    assert flag_value(["--max_model_len=8192", "--max-model-len", "2048"], "--max-model-len") == "2048"
    assert flag_value(["--max-model-len"], "--max-model-len") is None
    assert flag_value(["--dtype", "half"], "--max-model-len") is None


def test_a_fit_plan_sets_gpu_flags_and_the_users_own_still_win():
    plan = SimpleNamespace(
        dtype="float16", max_model_len=14336, gpu_memory_utilization=0.92, max_loras=4, max_cpu_loras=10
    )
    argv, _, _ = build(
        model="m",
        served_name="m",
        adapters=[adapter(f"a{i}", 8) for i in range(10)],
        host="0.0.0.0",
        port=8000,
        api_key=None,
        gpus=1,
        extra_args=["--dtype", "float32"],
        python="python3",
        fit=plan,
    )
    # vLLM fixes the context itself (--max-model-len auto); the plan's dtype and utilization are passed
    assert (value(argv, "--max-model-len"), value(argv, "--gpu-memory-utilization")) == ("auto", "0.92")
    assert (value(argv, "--max-loras"), value(argv, "--max-cpu-loras")) == ("4", "10")
    assert argv.count("--dtype") == 1 and argv[-2:] == ["--dtype", "float32"]


def test_every_value_after_every_api_key_flag_is_redacted():
    argv = [
        "x",
        "--api-key",
        "k1",
        "k2",
        "-5",
        "--dtype",
        "float32",
        "--api_key",
        "k3",
        "--api-key=k4",
        "k5",
        "-tp",
        "2",
    ]
    assert redact_args(argv) == [
        "x",
        "--api-key",
        REDACTED,
        REDACTED,
        REDACTED,
        "--dtype",
        "float32",
        "--api_key",
        REDACTED,
        f"--api-key={REDACTED}",
        REDACTED,
        "-tp",
        "2",
    ]
    assert api_keys_in_args(argv) == ["k1", "k2", "-5", "k3", "k4", "k5"]
    assert api_keys_in_args(["--dtype", "half", "--api-key-file", "f"]) == []


@given(
    st.lists(st.sampled_from(["--api-key", "--api_key", "--port", "1", "-tp", "k", "--x=y"]), max_size=12),
    st.lists(st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1), min_size=1, max_size=4),
)
def test_no_key_survives_redaction(prefix, keys):
    """Whatever surrounds them, the values vLLM would take as keys never survive redaction."""
    secret = [f"SECRET{k}" for k in keys]
    argv = [*prefix, "--api-key", *secret, *prefix, f"--api-key={secret[0]}"]
    out = redact_args(argv)
    assert len(out) == len(argv) and not any("SECRET" in a for a in out)
    assert set(secret) <= set(api_keys_in_args(argv))
