#!/usr/bin/env python
"""Serving benchmark: (a) our launcher vs (b) plain vLLM with hand-written equivalent flags vs
(c) the old approach, a transformers + peft generate loop behind HTTP (one request at a time).

Same tiny random model (Llama architecture, made at run time) and LoRA adapter for all three;
every request goes to the adapter. Prints output tokens/s at each concurrency, the ratios a/b
(target >= 0.97) and a/c, and time to ready (launch -> /health 200) of a vs b (target: within
1 s).

(a) and (b) are started one after the other (--starts times each, alternating, for the time to
ready); then both stay up, idle but for the load one of them is given, and --rounds interleaved
rounds measure them back to back at each concurrency (the order alternating round by round), so
each round's ratio a_i/b_i is taken from the machine's state of that moment. The ratio reported is
the geometric mean of the per-round ratios with its 95 % confidence interval (Student's t on the
log ratios): on shared cores it says whether the difference is decided, where a median does not.
(c) runs last, alone.

    .venv/bin/python benchmarks/bench_serve.py [--rounds 12] [--requests-per-client 3] [--max-tokens 32]
"""

import argparse
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
ADAPTER = "bench"
PROMPT = "Azure Container Apps serves a large language model with LoRA adapters"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body, key=KEY, timeout=600):
    req = urllib.request.Request(
        url,
        json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


class Proc:
    def __init__(self, argv, env, log):
        self.log = open(log, "wb")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(
            argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(ROOT)
        )

    def wait_ready(self, url, timeout=900):
        while time.monotonic() - self.t0 < timeout:
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.p.args[:4]} exited {self.p.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - self.t0
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"not ready after {timeout}s; see {self.log.name}")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()
        self.log.close()


def load(url, concurrency, n_requests, max_tokens, prompt_ids):
    """Output tokens/s with `concurrency` clients sending n_requests in all."""
    body = {"model": ADAPTER, "prompt": prompt_ids, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True}
    post(url + "/v1/completions", dict(body, max_tokens=2))  # warm-up
    t0 = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda _: post(url + "/v1/completions", body), range(n_requests)))
    elapsed = time.monotonic() - t0
    tokens = sum(r["usage"]["completion_tokens"] for r in results)
    return tokens / elapsed


# --- (c): transformers + peft behind HTTP, one request at a time ----------------------------


def hf_server(port, model_dir, adapter_dir):
    from http.server import ThreadingHTTPServer

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), adapter_dir
    ).eval()
    lock = threading.Lock()

    from aitk_testkit.local_http import JsonHandler

    class Handler(JsonHandler):
        def do_GET(self):
            self.send_json(200 if self.path == "/health" else 404, {})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            ids = torch.tensor([body["prompt"]])
            n = int(body.get("max_tokens", 16))
            with lock, torch.no_grad():  # the old template: one generate() at a time
                out = model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=n,
                    min_new_tokens=n,
                    do_sample=False,
                    pad_token_id=0,
                )
            new = out[0, ids.shape[1] :].tolist()
            self.send_json(200, {"choices": [{"token_ids": new}], "usage": {"completion_tokens": len(new)}})

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # accept every client at once; the lock serializes the work

    Server(("127.0.0.1", port), Handler).serve_forever()


# Student's t, two-sided 95 %, by degrees of freedom (1-20; 2.09 beyond, a slight over-estimate).
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23}
_T95.update({11: 2.20, 12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13, 16: 2.12, 17: 2.11, 18: 2.10, 19: 2.09, 20: 2.09})


def paired_ratio_ci(a, b):
    """(geometric mean of a_i/b_i, low, high of its 95 % confidence interval), rounded; the
    interval is None with a single round."""
    logs = [math.log(x / y) for x, y in zip(a, b, strict=True)]
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return round(math.exp(mean), 3), None, None
    half = _T95.get(len(logs) - 1, 2.09) * statistics.stdev(logs) / math.sqrt(len(logs))
    return round(math.exp(mean), 3), round(math.exp(mean - half), 3), round(math.exp(mean + half), 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument(
        "--requests-per-client",
        type=int,
        default=3,
        help="requests per concurrent client (at least 8 requests per level)",
    )
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument(
        "--rounds",
        type=int,
        default=12,
        help="interleaved load rounds on the two warm servers; a/b's 95 %% confidence interval comes from "
        "the per-round ratios",
    )
    ap.add_argument(
        "--starts", type=int, default=1, help="start (b) and (a) this many times each, alternating (time to ready)"
    )
    ap.add_argument("--skip-c", action="store_true", help="leave out (c), transformers + peft")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--hf-server", nargs=3, metavar=("PORT", "MODEL", "ADAPTER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hf_server:
        return hf_server(int(args.hf_server[0]), args.hf_server[1], args.hf_server[2])

    from transformers import AutoTokenizer

    from aitk_testkit.tiny_models import make_adapter, make_tiny_model

    levels = [int(c) for c in args.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="aitk-bench-"))
    model = make_tiny_model(work / "share" / "model-cache" / "bench" / "tiny-llama", arch="llama")
    adapter = make_adapter(model, work / "share" / "models" / ADAPTER / "adapter", rank=8)
    prompt_ids = AutoTokenizer.from_pretrained(str(model))(PROMPT)["input_ids"]
    vllm_tail = ["--dtype", "float32", "--max-model-len", "512"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AITK_", "VLLM_"))}
    env["CUDA_VISIBLE_DEVICES"] = env.get("CUDA_VISIBLE_DEVICES", "")

    # (a) the launcher, finding model and adapter on the share by itself.
    port_a = free_port()
    a_cmd = [sys.executable, "-m", "aitk_serve", "--host", "127.0.0.1", "--port", str(port_a), "--", *vllm_tail]
    a_env = dict(env, PYTHONPATH=str(ROOT / "container"), AITK_MOUNT=str(work / "share"), AITK_API_KEY=KEY)
    # (b) plain vLLM, the flags written by hand.
    port_b = free_port()
    b_cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model),
        "--served-model-name",
        "tiny-llama",
        "--host",
        "127.0.0.1",
        "--port",
        str(port_b),
        "--enable-lora",
        "--max-lora-rank",
        "8",
        "--max-loras",
        "1",
        "--lora-modules",
        f"{ADAPTER}={adapter}",
        "--gpu-memory-utilization",
        "0.3",
        "--api-key",
        KEY,
        *vllm_tail,
    ]
    b_env = dict(env, VLLM_CPU_KVCACHE_SPACE="1", VLLM_ALLOW_RUNTIME_LORA_UPDATING="True")
    port_c = free_port()
    c_cmd = [sys.executable, __file__, "--hf-server", str(port_c), str(model), str(adapter)]

    samples = {n: {c: [] for c in levels} for n in "abc"}
    ready = {"a": [], "b": []}
    servers = {"a": (a_cmd, a_env, port_a), "b": (b_cmd, b_env, port_b)}
    running = {}
    try:
        for i in range(args.starts):  # each start but the last pair is stopped at once
            for name in ("b", "a"):
                cmd, cenv, port = servers[name]
                proc = Proc(cmd, cenv, work / f"{name}{i}.log")
                running[name] = proc
                t = proc.wait_ready(f"http://127.0.0.1:{port}")
                ready[name].append(t)
                print(f"[{name}] ready in {t:.1f}s", flush=True)
                if i < args.starts - 1:
                    running.pop(name).stop()
        for r in range(args.rounds):
            order = ("b", "a") if r % 2 == 0 else ("a", "b")
            for c in levels:
                for name in order:
                    url = f"http://127.0.0.1:{servers[name][2]}"
                    tps = load(url, c, max(8, c * args.requests_per_client), args.max_tokens, prompt_ids)
                    samples[name][c].append(tps)
                    print(f"[round {r + 1}] [{name}] concurrency {c}: {tps:.1f} output tokens/s", flush=True)
    finally:
        for proc in running.values():
            proc.stop()
    if not args.skip_c:
        url = f"http://127.0.0.1:{port_c}"
        proc = Proc(c_cmd, env, work / "c.log")
        try:
            proc.wait_ready(url)
            for c in levels:
                tps = load(url, c, max(8, c * args.requests_per_client), args.max_tokens, prompt_ids)
                samples["c"][c].append(tps)
                print(f"[c] concurrency {c}: {tps:.1f} output tokens/s", flush=True)
        finally:
            proc.stop()

    results = {
        "tokens_per_s": {
            n: {c: round(statistics.median(v), 1) if v else None for c, v in per.items()} for n, per in samples.items()
        },
        "ready_s": {n: round(min(v), 2) for n, v in ready.items()},
        "samples": {"tokens_per_s": samples, "ready_s": ready},
        "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
    }

    tps = results["tokens_per_s"]
    results["a/b"] = {c: round(tps["a"][c] / tps["b"][c], 3) for c in levels}
    # Round i measures (b) and (a) back to back: the pair shares the machine's state of the moment,
    # so the paired ratio a_i/b_i cancels most of the shared cores' drift; the interval is
    # Student's t on the log ratios (the ratio's geometric mean and its 95 % confidence interval).
    results["a/b_ci95"] = {c: paired_ratio_ci(samples["a"][c], samples["b"][c]) for c in levels}
    results["a/c"] = {c: round(tps["a"][c] / tps["c"][c], 2) if tps["c"][c] else None for c in levels}
    results["ready_a_minus_b_s"] = round(results["ready_s"]["a"] - results["ready_s"]["b"], 2)
    print()
    print("| concurrency | (a) launcher tok/s | (b) plain vLLM tok/s | (c) transformers+peft tok/s | a/b | a/c |")
    print("|---|---|---|---|---|---|")
    for c in levels:
        print(f"| {c} | {tps['a'][c]} | {tps['b'][c]} | {tps['c'][c]} | {results['a/b'][c]} | {results['a/c'][c]} |")
    print()
    print("| concurrency | a/b, geometric mean of the paired rounds | 95 % confidence interval |")
    print("|---|---|---|")
    for c in levels:
        mean, low, high = results["a/b_ci95"][c]
        print(f"| {c} | {mean} | {low} - {high} |")
    print(f"\n{args.rounds} interleaved round(s) on warm servers; load average at the end: {os.getloadavg()}")
    print(
        f"time to ready: launcher {results['ready_s']['a']} s, plain vLLM "
        f"{results['ready_s']['b']} s (difference {results['ready_a_minus_b_s']} s)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
