"""Real vLLM (CPU, float32) started through the launcher: models, correctness against
transformers + peft, auth, runtime adapter loading. Two servers for the whole module."""

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aitk_testkit.tiny_models import reference_generate
from serve.conftest import API_KEY, SECONDARY_API_KEY

pytestmark = pytest.mark.slow

MAX_TOKENS = 12
PROMPTS = ["Hello, how are you", "The quick brown fox", "Azure Container Apps serves"]


def prompt_ids(model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    return [tok(p)["input_ids"] for p in PROMPTS]


def completion(server, model, ids):
    """(status, body) of a greedy completion of `ids` with the token ids returned."""
    return server.api(
        "POST",
        "/v1/completions",
        {
            "model": model,
            "prompt": ids,
            "max_tokens": MAX_TOKENS,
            "temperature": 0,
            "ignore_eos": True,
            "return_token_ids": True,
        },
    )


def complete(server, model, ids):
    status, body = completion(server, model, ids)
    assert status == 200, body
    return body["choices"][0]["token_ids"]


def served_tokens(server, jobs):
    """Send (model, prompt ids) jobs at once, so vLLM batches them."""
    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(lambda job: complete(server, *job), jobs))


def check_against_reference(server, model_dir, names_to_adapters):
    """Every model's prompts in one concurrent batch: base rows decode beside adapter rows
    (vLLM 0.32's CPU LoRA op got those wrong; aitk_serve.cpu_server fixes it)."""
    ids = prompt_ids(model_dir)
    jobs = [(name, p) for name in names_to_adapters for p in ids]
    got = dict(zip([(n, tuple(p)) for n, p in jobs], served_tokens(server, jobs), strict=True))
    for name, adapter in names_to_adapters.items():
        for p in ids:
            want = reference_generate(model_dir, p, MAX_TOKENS, adapter)
            assert got[(name, tuple(p))] == want, f"{name} on prompt {p}"
    return got, ids


def model_ids(server):
    status, body = server.api("GET", "/v1/models")
    assert status == 200, body
    return {m["id"]: m.get("parent") for m in body["data"]}


# --- Llama, by discovery ----------------------------------------------------------------------


def test_discovery_serves_the_base_and_every_adapter(llama_server):
    assert model_ids(llama_server) == {"tiny-llama": None, "run-q": "tiny-llama", "run-all64": "tiny-llama"}


def test_the_launcher_runs_the_server_as_its_child(llama_server):
    """The launcher execs its supervisor (aitk_serve.vllm_start), which stays vLLM's parent to read
    back the context vLLM chose."""
    pid = llama_server.proc.pid
    assert b"aitk_serve.vllm_start" in Path(f"/proc/{pid}/cmdline").read_bytes()
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    (cmdline,) = [Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0") for c in children]
    assert b"aitk_serve.cpu_server" in cmdline  # vLLM's server, with the CPU LoRA fix
    assert b"--max-lora-rank" in cmdline and cmdline[cmdline.index(b"--max-lora-rank") + 1] == b"64"


def test_llama_greedy_tokens_equal_transformers_and_peft(llama_server, tiny):
    got, ids = check_against_reference(
        llama_server, tiny["llama"], {"tiny-llama": None, "run-q": tiny["llama-q"], "run-all64": tiny["llama-all64"]}
    )
    for adapter in ("run-q", "run-all64"):
        assert any(got[(adapter, tuple(p))] != got[("tiny-llama", tuple(p))] for p in ids)


def test_batches_of_one_kind_take_the_cpu_fixs_shortcuts_and_stay_exact(llama_server, tiny):
    """Batches where no row has an adapter (the fix skips the expands' product) and where every
    row has the same one (it skips the fill), after adapters took the slots: the same tokens as
    transformers (+ peft)."""
    check_against_reference(llama_server, tiny["llama"], {"run-q": tiny["llama-q"]})
    check_against_reference(llama_server, tiny["llama"], {"tiny-llama": None})
    check_against_reference(llama_server, tiny["llama"], {"run-all64": tiny["llama-all64"]})


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v1/models"),
        ("POST", "/v1/completions"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/invocations"),
        ("POST", "/v1/load_lora_adapter"),
        ("GET", "/metrics"),
        ("OPTIONS", "/metrics"),
    ],
)
def test_the_api_needs_the_key(llama_server, method, path):
    body = {"model": "tiny-llama", "prompt": "hi", "max_tokens": 1} if method == "POST" else None
    assert llama_server.api(method, path, body, key=None)[0] == 401
    assert llama_server.api(method, path, body, key=API_KEY + "x")[0] == 401


def test_health_and_the_page_are_open(llama_server):
    assert llama_server.api("GET", "/health", key=None)[0] == 200
    status, page = llama_server.api("GET", "/", key=None)
    assert status == 200 and "<title>aitk chat</title>" in page
    status, body = llama_server.api(
        "POST",
        "/v1/chat/completions",
        {"model": "run-q", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
    )
    assert status == 200 and body["model"] == "run-q"


def test_a_runtime_loaded_adapter_serves_correct_tokens(llama_server, tiny):
    """Deploy's hot-load: copy to <mount>/aitk/adapters/NAME, load by share-relative path."""
    shutil.copytree(tiny["llama-mlp16"], llama_server.mount / "aitk" / "adapters" / "late")
    request = {"lora_name": "late", "lora_path": "aitk/adapters/late"}
    assert llama_server.api("POST", "/v1/load_lora_adapter", request, key=None)[0] == 401
    status, body = llama_server.api("POST", "/v1/load_lora_adapter", request)
    assert status == 200, body
    assert "late" in model_ids(llama_server)
    got, ids = check_against_reference(llama_server, tiny["llama"], {"late": tiny["llama-mlp16"]})
    base = served_tokens(llama_server, [("tiny-llama", p) for p in ids])
    assert any(got[("late", tuple(p))] != b for p, b in zip(ids, base, strict=True))


def test_the_secondary_key_works_in_vllms_check_and_ours(llama_server):
    """/v1 is vLLM's own check (args.api_key filled by aitk_serve.api_server), /tokenize ours."""
    assert llama_server.api("GET", "/v1/models", key=SECONDARY_API_KEY)[0] == 200
    body = {"model": "tiny-llama", "prompt": "hi", "max_tokens": 1}
    assert llama_server.api("POST", "/v1/completions", body, key=SECONDARY_API_KEY)[0] == 200
    assert (
        llama_server.api("POST", "/tokenize", {"model": "tiny-llama", "prompt": "hi"}, key=SECONDARY_API_KEY)[0] == 200
    )
    assert llama_server.api("POST", "/tokenize", {"model": "tiny-llama", "prompt": "hi"}, key="nope")[0] == 401


def test_the_key_never_reaches_the_logs(llama_server):
    logs = llama_server.logs()
    assert "aitk_serve: start [" in logs and "Application startup complete" in logs
    assert API_KEY not in logs and SECONDARY_API_KEY not in logs


# --- Phi-3, by flags, packed qkv_proj / gate_up_proj ------------------------------------------


def test_phi3_serves_the_base_and_both_adapters(phi3_server):
    assert model_ids(phi3_server) == {"tiny-phi3": None, "packed": "tiny-phi3", "all16": "tiny-phi3"}


def test_an_abbreviated_api_key_after_the_separator_is_off_the_command_line_and_works(phi3_server):
    """`-- --api-ke=KEY`: the running vLLM's command line (/proc, what `ps` shows) and the logs hold
    no key; vLLM's check takes that key, which replaced the variable's pair (the secondary is refused)."""
    pid = phi3_server.proc.pid
    supervisor = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    assert "aitk_serve.vllm_start" in supervisor and not any(API_KEY in a for a in supervisor), supervisor
    (child,) = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    cmdline = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
    assert "aitk_serve.cpu_server" in cmdline and not any(a.startswith("--api") for a in cmdline), cmdline
    assert not any(API_KEY in a for a in cmdline)
    assert API_KEY not in phi3_server.logs() and "non-default args" in phi3_server.logs()
    assert phi3_server.api("GET", "/v1/models")[0] == 200
    assert phi3_server.api("GET", "/v1/models", key=SECONDARY_API_KEY)[0] == 401
    assert phi3_server.api("GET", "/v1/models", key="nope")[0] == 401


def test_phi3_greedy_tokens_equal_transformers_and_peft(phi3_server, tiny):
    got, ids = check_against_reference(
        phi3_server, tiny["phi3"], {"tiny-phi3": None, "packed": tiny["phi3-packed"], "all16": tiny["phi3-all"]}
    )
    for adapter in ("packed", "all16"):
        assert any(got[(adapter, tuple(p))] != got[("tiny-phi3", tuple(p))] for p in ids)
