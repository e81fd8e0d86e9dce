"""`az aitk inference compare` and `bench`, and deploy's on-demand adapters, through the real az
against the local Azure stand-in, every --help example run as pasted.

The app runs aitk_testkit/fake_server.py from the share (it counts tokens in vLLM's /metrics
names and answers with `usage`, as vLLM does), so the numbers bench reports are checked against
the server's own counters. Real vLLM: tests/e2e/test_flow.py. Own stand-in (`fake_world`),
resource group and workspace."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from aitk_testkit.az_harness import AZ
from aitk_testkit.scenario import FAKE_PARAMETERS
from aitk_testkit.tiny_models import write_lora

from .test_errors import one_clear_error

RESOURCE_GROUP = "aitk-compare"
FT_STORAGE = "aitkftcompare01"
PROMPTS = ["Say hello", "What is <b>bold</b> & <script>alert(1)</script>?", "Count to three"]
CHATS = [
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who are you?"}],
    {"messages": [{"role": "user", "content": "Name a colour"}]},
]


@pytest.fixture(scope="module")
def served(fake_world):
    """init + provision (one warm replica of the fake server) + deploy; an adapter folder on the
    share (the fake server lists aitk/adapters/*) and the prompts files of the help examples."""
    az, ws = fake_world.az, fake_world.workspace
    az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
    az.run(
        "aitk", "inference", "provision", "--min-replicas", "1", "--yes", *FAKE_PARAMETERS,
        "-o", "none", cwd=ws, capture=True,
    )  # fmt: skip
    (fake_world.share / "aitk" / "adapters" / "support-bot").mkdir(parents=True)
    az.json("aitk", "inference", "deploy", "--timeout", "120", cwd=ws)
    (ws / "prompts.txt").write_text("\n".join(PROMPTS) + "\n\n")
    (ws / "chats.jsonl").write_text("\n".join(json.dumps(c) for c in CHATS) + "\n")
    return az.json("aitk", "inference", "endpoint", "--show-key", cwd=ws)


def help_examples(command):
    """The example texts of `az aitk inference COMMAND --help`, as written in _help.py."""
    from azext_aitk._help import helps  # pylint: disable=import-outside-toplevel

    return [e["text"] for e in yaml.safe_load(helps[f"aitk inference {command}"])["examples"]]


def paste(world, text):
    """Run an example in bash in the workspace, as a user pastes it (az on PATH)."""
    env = dict(world.az.env, PATH=f"{Path(AZ).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        ["bash", "-c", text], cwd=world.workspace, env=env, text=True, capture_output=True, timeout=600, check=False
    )


def metrics(world, endpoint):
    """The server's counters (Prometheus text of /metrics), through the app's ingress."""
    text = requests.get(endpoint["url"] + "/metrics", verify=world.azure.ca_bundle, timeout=30).text
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(vllm:[a-z_]+)(\{[^}]*\})? ([0-9.e+]+)$", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out


# -- deploy --adapter: on demand, then one request through the endpoint -------------------------


def test_a_new_adapter_is_served_without_restart_and_checked(fake_world, served, tmp_path):
    azure, az, ws = fake_world.azure, fake_world.az, fake_world.workspace
    adapter = write_lora(tmp_path / "new1")
    mark = len(azure.requests_log)
    before = metrics(fake_world, served)["vllm:request_success_total"]
    first = az.json("aitk", "inference", "deploy", "--adapter", f"new1={adapter}", "--timeout", "120", cwd=ws)
    assert first["action"] == "on-demand" and first["checked"] == ["new1"] and "new1" in first["models"], first
    restarts = [p for m, p, _ in azure.requests_log[mark:] if m == "POST" and p.split("?")[0].endswith("/restart")]
    assert not restarts
    assert metrics(fake_world, served)["vllm:request_success_total"] == before + 1  # the check request

    write_lora(adapter, rank=4, seed=1)
    again = az.json("aitk", "inference", "deploy", "--adapter", f"new1={adapter}", "--timeout", "120", cwd=ws)
    assert again["action"] in ("hot-load", "restart") and again["checked"] == ["new1"], again


# -- compare -----------------------------------------------------------------------------------


def test_compare_help_examples_run_as_pasted(fake_world, served):
    examples = help_examples("compare")
    assert len(examples) == 2
    procs = [paste(fake_world, text) for text in examples]
    for text, proc in zip(examples, procs, strict=True):
        assert proc.returncode == 0, (text, proc.stderr)
    table = procs[0].stdout
    assert "fake-base" in table and "support-bot" in table and "Say hello" in table
    report = (fake_world.workspace / "compare.html").read_text()
    assert "Who are you?" in report and "Name a colour" in report and "echo(support-bot)" in report


def test_compare_json_has_every_answer_with_tokens_and_latency(fake_world, served):
    res = fake_world.az.json("aitk", "inference", "compare", "--prompts", "prompts.txt", cwd=fake_world.workspace)
    assert res["models"] == ["fake-base", "new1", "support-bot"] and res["temperature"] == 0
    assert [p["prompt"] for p in res["prompts"]] == PROMPTS
    for prompt in res["prompts"]:
        assert [a["model"] for a in prompt["answers"]] == res["models"]
        for answer in prompt["answers"]:
            # the fake server echoes the model and the prompt, one token a word
            assert answer["text"].startswith(f"echo({answer['model']}) " + prompt["prompt"].split()[0])
            assert answer["completionTokens"] == len(answer["text"].split()) - 1  # "[turn 1]" is one token
            assert answer["latencySeconds"] > 0 and answer["sameAsBase"] is False


def test_compare_report_escapes_everything(fake_world, served, tmp_path):
    report = tmp_path / "r.html"
    fake_world.az.json(
        "aitk", "inference", "compare", "--prompts", "prompts.txt", "--models", "support-bot",
        "--report", str(report), cwd=fake_world.workspace,
    )  # fmt: skip
    page = report.read_text()
    assert "<script" not in page and "<b>" not in page and "src=" not in page and "<link" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;bold&lt;/b&gt; &amp;" in page
    assert page.count("<tr>") == 2 + len(PROMPTS) and "tokens," in page  # header, rows, total


@pytest.mark.parametrize(
    "content, args, needle",
    [
        ("", [], "has no prompts"),
        ('[{"role": "user", "content": "hi"}]\nnot json\n', [], "line 2 is not JSON"),
        ('[{"role": "user"}]\n', [], "line 1: every message needs a role"),
        ("hello\n", ["--models", "nope"], "not served by the endpoint: nope"),
        ("hello\n", ["--report", "missing-folder/x.html"], "does not exist"),
        ("hello\n", ["--report", "x.txt"], "HTML page"),
        ("hello\n", ["--temperature", "3"], "temperature"),
    ],
)
def test_compare_bad_input_is_one_clear_error(fake_world, served, tmp_path, content, args, needle):
    prompts = tmp_path / "p.txt"
    prompts.write_text(content)
    before = metrics(fake_world, served)["vllm:request_success_total"]
    proc = fake_world.az("aitk", "inference", "compare", "--prompts", str(prompts), *args, cwd=fake_world.workspace)
    error, _ = one_clear_error(proc)
    assert needle in error, error
    assert metrics(fake_world, served)["vllm:request_success_total"] == before  # nothing sent


# -- bench -------------------------------------------------------------------------------------


def test_bench_numbers_agree_with_the_servers_counters(fake_world, served):
    before = metrics(fake_world, served)
    res = fake_world.az.json(
        "aitk", "inference", "bench", "--concurrency", "1", "4", "--requests", "6", "--prompt-tokens", "20",
        "--output-tokens", "12", cwd=fake_world.workspace,
    )  # fmt: skip
    after = metrics(fake_world, served)
    levels = res["levels"]
    assert [lv["concurrency"] for lv in levels] == [1, 4] and all(lv["failed"] == 0 for lv in levels)
    assert (
        sum(lv["requests"] for lv in levels)
        == after["vllm:request_success_total"] - before["vllm:request_success_total"]
    )
    assert (
        sum(lv["outputTokens"] for lv in levels)
        == after["vllm:generation_tokens_total"] - before["vllm:generation_tokens_total"]
    )
    assert (
        sum(lv["promptTokens"] for lv in levels)
        == after["vllm:prompt_tokens_total"] - before["vllm:prompt_tokens_total"]
    )
    for lv in levels:
        assert lv["outputTokens"] == 6 * 12 and lv["promptTokens"] == 6 * 20
        assert 0 < lv["ttftP50"] <= lv["ttftP95"] <= lv["latencyP95"] and lv["latencyP50"] <= lv["latencyP95"]
        assert lv["outputTokensPerSecond"] == pytest.approx(lv["outputTokens"] / lv["seconds"], rel=1e-2)
        price_per_second = res["pricePerHour"] / 3600
        expected_cost = price_per_second * lv["seconds"] / lv["outputTokens"] * 1e6
        assert lv["costPerMillionOutputTokens"] == pytest.approx(expected_cost, rel=1e-2)
    # 4 at a time finishes the same work sooner than 1 at a time
    assert levels[1]["seconds"] < levels[0]["seconds"]
    # what one replica carried: the best level's requests per second, and the rule value that matches it
    best = max(lv["requests"] / lv["seconds"] for lv in levels)
    cap = res["replicaCapacity"]
    assert cap["requestsPerSecondPerReplica"] == pytest.approx(best, rel=1e-2) and cap["source"] == "bench"
    assert cap["concurrentRequests"] == max(1, int(best))
    assert res["scaleRule"]["measured"] == cap["concurrentRequests"] and not res["scaleRule"]["applied"]
    assert res["gpuProfile"] == "T4" and "Consumption-GPU-NC8as-T4" in res["priceSource"]


def test_bench_defaults_fit_a_short_context_read_from_v1_models(fake_world, served):
    """A model with a short context (the fake server claims 200 tokens in /v1/models and answers
    vLLM's 400 past it): bench's defaults (128 + 128) are fitted and it says so; given values
    that cannot fit are one line before any request."""
    limit = fake_world.share / "fake_max_model_len"
    limit.write_text("200")
    try:
        proc = fake_world.az(
            "aitk",
            "inference",
            "bench",
            "--concurrency",
            "1",
            "--requests",
            "2",
            "-o",
            "json",
            cwd=fake_world.workspace,
        )
        assert proc.returncode == 0, proc.stderr
        res = json.loads(proc.stdout)
        assert res["levels"][0]["failed"] == 0 and res["promptTokens"] + res["outputTokens"] <= 200
        assert res["outputTokens"] == 50 and res["promptTokens"] == 128  # a quarter of the context for the output
        assert (
            "has a context of 200 tokens (from /v1/models): bench sends prompts of 128 words and asks for 50 output tokens"
            in proc.stderr
        )
        error, hint = one_clear_error(
            fake_world.az(
                "aitk",
                "inference",
                "bench",
                "--prompt-tokens",
                "150",
                "--output-tokens",
                "100",
                cwd=fake_world.workspace,
            )  # fmt: skip
        )
        assert "need 250 tokens; fake-base has a context of 200 tokens" in error and "leave one out" in hint
    finally:
        limit.unlink()


def test_bench_help_examples_run_as_pasted(fake_world, served):
    examples = help_examples("bench")
    assert len(examples) == 4
    procs = [paste(fake_world, text) for text in examples]
    for text, proc in zip(examples, procs, strict=True):
        assert proc.returncode == 0, (text, proc.stderr)
    # --apply-scale-rule: the app's HTTP rule now asks for what one replica carried
    applied = re.search(r"HTTP scale rule: concurrentRequests (\d+): one replica carries", procs[3].stderr)
    assert applied, procs[3].stderr
    app = fake_world.az.json(
        "containerapp", "show", "-g", RESOURCE_GROUP, "-n", served["app"], cwd=fake_world.workspace
    )
    rules = app["properties"]["template"]["scale"]["rules"]
    assert [r["http"]["metadata"]["concurrentRequests"] for r in rules] == [applied.group(1)], rules
    table = procs[0]
    assert re.search(r"^\s*32\s+128\s+0\s", table.stdout, re.M), table.stdout  # the default sweep's last level
    as_json = json.loads(paste(fake_world, examples[2]).stdout)
    assert as_json["model"] == "support-bot" and as_json["pricePerHour"] == 1.5
    assert as_json["priceSource"] == "--price-per-hour"


def test_bench_refuses_any_other_endpoint(fake_world, served):
    config = fake_world.workspace / "infra" / "inference.config.json"
    saved = config.read_text()
    try:
        data = json.loads(saved)
        data["ACA_APP_ENDPOINT"] = "https://example.com"
        config.write_text(json.dumps(data))
        before = metrics(fake_world, served)["vllm:request_success_total"]
        error, _ = one_clear_error(fake_world.az("aitk", "inference", "bench", cwd=fake_world.workspace))
        assert "https://example.com" in error and "is not container app" in error
        assert metrics(fake_world, served)["vllm:request_success_total"] == before
    finally:
        config.write_text(saved)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--concurrency", "0"], "--concurrency takes whole numbers from 1 to 256"),
        (["--concurrency", "2", "2"], "lists a level twice"),
        (["--requests", "0"], "--requests must be 1 or more"),
        (["--concurrency", "256", "--requests", "5001"], "more than 5000"),
        (["--output-tokens", "0"], "--output-tokens must be from 1"),
        (["--max-seconds", "0"], "--max-seconds must be a positive"),
        (["--price-per-hour", "-1"], "--price-per-hour must be a positive"),
        (["-m", "nope"], "model 'nope' is not served"),
    ],
)
def test_bench_bad_options_are_one_clear_error(fake_world, served, args, needle):
    error, _ = one_clear_error(fake_world.az("aitk", "inference", "bench", *args, cwd=fake_world.workspace))
    assert needle in error, error


def test_bench_stops_at_max_seconds(fake_world, served):
    res = fake_world.az.json(
        "aitk", "inference", "bench", "--concurrency", "1", "2", "--requests", "400", "--output-tokens", "50",
        "--max-seconds", "2", cwd=fake_world.workspace,
    )  # fmt: skip
    sent = sum(lv["requests"] for lv in res["levels"])
    assert 0 < sent < 400, res  # 50 tokens x 5 ms: about 8 requests a second, one at a time
