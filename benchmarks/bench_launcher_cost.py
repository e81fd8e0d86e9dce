#!/usr/bin/env python
"""The launcher's own work on the request path, in isolation, against vLLM's own request time.

Measures, in this process, per request:
- (m) the two ASGI middlewares the launcher adds (aitk_serve.middleware.KeyGateMiddleware, the
  key check; aitk_serve.resolver_middleware.ShareAdapterMiddleware, which reads the body for
  `model`) around an app that answers at once, for a completion naming a loaded adapter, minus
  the same app alone; and the amortized re-check of a loaded adapter's folder (one folder
  comparison per adapter per resolver.RECHECK_INTERVAL);
- (r) the resolver on a known name (ShareAdapters.inspect with the verdict cached: the folder's
  confinement and signature);
- (f) on CPU, the LoRA op fix (aitk_serve.cpu_server) against vLLM's own ops (one torch thread),
  per decode step of the benchmark model (2 layers; q/k/v/o adapter: 4 slices per layer, a shrink
  and an expand each), on a real PunicaWrapperCPU's index buffer after update_metadata, for a
  batch where every row has an adapter (bench_serve.py's load), a mixed one, and one without;
and (v) vLLM's own time per request: plain vLLM (as bench_serve.py's (b)), 32 output tokens, one
request at a time. Prints each cost in microseconds and as a share of (v); the launcher's target
is under 1 % of a request.

    .venv/bin/python benchmarks/bench_launcher_cost.py [--requests 40] [--json out.json]
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "container"), str(ROOT / "benchmarks")]
KEY = "bench-key"


def per_call_us(fn, n, repeat=7):
    """Median over `repeat` runs of the mean time of fn() over n calls, in microseconds."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def middleware_cost(share, adapter_dir, n):
    from collections import defaultdict

    from aitk_serve import resolver, resolver_middleware
    from aitk_serve.middleware import KeyGateMiddleware
    from vllm.lora.request import LoRARequest
    from vllm.utils.counter import AtomicCounter

    settings = resolver.Settings(str(share), "tiny-llama", str(share / "model"), False, 8)
    os.environ[resolver.SHARE_ADAPTERS_ENV] = settings.to_env()
    os.environ["VLLM_API_KEY"] = KEY
    catalog = resolver.current_catalog()
    info = catalog.lookup("bench")
    models = SimpleNamespace(
        lora_requests={"bench": LoRARequest("bench", 1, info.path)},
        lora_id_counter=AtomicCounter(1),
        lora_resolver_lock=defaultdict(asyncio.Lock),
        lora_resolvers=[],
        is_base_model=lambda name: name == "tiny-llama",
    )
    app_state = SimpleNamespace(state=SimpleNamespace(openai_serving_models=models, args=None))
    body = json.dumps({"model": "bench", "prompt": [1, 2, 3], "max_tokens": 32}).encode()
    headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {KEY}".encode())]

    async def answer(scope, receive, send):
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    stacked = KeyGateMiddleware(resolver_middleware.ShareAdapterMiddleware(answer))
    loop = asyncio.new_event_loop()

    def one(app):
        scope = {"type": "http", "method": "POST", "path": "/v1/completions", "headers": headers, "app": app_state}

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            return None

        loop.run_until_complete(app(scope, receive, send))

    catalog._rechecked["bench"] = float("inf")  # the steady state between re-checks  # noqa: SLF001
    bare = per_call_us(lambda: one(answer), n)
    ours = per_call_us(lambda: one(stacked), n)
    recheck = per_call_us(lambda: catalog.inspect("bench", info.source), n)
    loop.close()
    return ours - bare, recheck


BATCHES = {  # LoRA ids per row (0: no adapter), as vLLM's LoRAMapping holds them
    "every row with an adapter": lambda n: (1,) * n,
    "mixed": lambda n: tuple(1 if i % 2 == 0 else 0 for i in range(n)) if n > 1 else (0,),
    "no row with an adapter": lambda n: (0,) * n,
}


def cpu_fix_cost(n):
    """Per decode step, for each batch kind and size: the fixed ops, vLLM's, and the paired
    difference, on the index buffer of a real PunicaWrapperCPU after update_metadata (as the
    engine calls them), plus update_metadata's own added note (at most once per step)."""
    import torch
    from aitk_serve import cpu_server
    from vllm.lora.layers.utils import LoRAMapping
    from vllm.lora.ops.torch_ops.lora_ops import bgmv_shrink as shrink
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    cpu_server.patch()
    # One thread: on shared cores, torch's thread pool turns microsecond ops into waits of
    # milliseconds; both the fixed and vLLM's ops are timed the same way.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    out = {}
    for kind, ids in BATCHES.items():
        for tokens in (1, 8, 32):
            if kind == "mixed" and tokens == 1:
                continue
            mapping = LoRAMapping(ids(tokens), ids(tokens))
            wrapper = PunicaWrapperCPU(64, 64, "cpu")
            wrapper.update_metadata(mapping, [1, None], 2, 512)
            idx = wrapper.token_lora_indices
            x, a = torch.randn(tokens, 128), torch.randn(2, 1, 8, 128)
            b = torch.randn(2, 1, 128, 8)
            y, z = torch.zeros(tokens, 8), torch.zeros(tokens, 128)
            runs: dict = {"fixed": [], "vllm": []}
            for _ in range(41):  # interleaved, many short pairs: the machine's drift hits both alike
                for which, table in (("fixed", cpu_server.FIXED_OPS), ("vllm", cpu_server.ORIGINAL_OPS)):

                    def step(t=table, x=x, a=a, b=b, idx=idx, y=y, z=z):
                        shrink(x, a, y, idx, 1.0)  # vLLM's own in both: the fix leaves it as it is
                        t["bgmv_expand_slice"](y, b, z, idx, 0, 128, True)

                    runs[which].append(per_call_us(step, max(20, n // 10), repeat=1))
            ops = {k: statistics.median(v) for k, v in runs.items()}
            ops["added"] = statistics.median(f - v for f, v in zip(runs["fixed"], runs["vllm"], strict=True))
            note = per_call_us(lambda w=wrapper, m=mapping: cpu_server.note_batch(w, m), n)
            # one decode step: 2 layers x 4 slices (q, k, v, o), a shrink and an expand each; the
            # note once (vLLM calls update_metadata only when the batch's mapping changed)
            step_us = {k: v * 8 for k, v in ops.items()}
            step_us["note"] = note
            step_us["added"] += note
            out[f"{kind}, {tokens}"] = step_us
    return out


def fix_parts(n):
    """Per expand, the fix's own steps alone (µs, median and fastest of 9 runs of n calls): the batch
    kind lookup (every expand), the fill with the mask noted at update_metadata (mixed batches), the
    fill making its mask (an index tensor of its own), and the note itself (once per update)."""
    import torch
    from aitk_serve import cpu_server
    from vllm.lora.layers.utils import LoRAMapping
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    cpu_server.patch()
    torch.set_num_threads(1)

    def timed(fn):
        runs = [per_call_us(fn, n, repeat=1) for _ in range(9)]
        return {"median": statistics.median(runs), "fastest": min(runs)}

    out, parts = torch.randn(8, 128), {}
    for kind, ids in (("every row with an adapter", (1,) * 8), ("mixed", (1, 0) * 4)):
        wrapper, mapping = PunicaWrapperCPU(64, 64, "cpu"), LoRAMapping(ids, ids)
        wrapper.update_metadata(mapping, [1, None], 2, 512)
        idx = wrapper.token_lora_indices
        parts[f"{kind}: kind lookup"] = timed(lambda i=idx: cpu_server._kind(i))  # pylint: disable=protected-access
        parts[f"{kind}: note per update"] = timed(lambda w=wrapper, m=mapping: cpu_server.note_batch(w, m))
        if kind == "mixed":
            fill = cpu_server._without_unadapted_rows  # pylint: disable=protected-access
            parts["mixed: fill with the noted mask"] = timed(lambda i=idx, f=fill: f(out, i))
            own = torch.tensor([1, -1] * 4)
            parts["a tensor of its own: fill making its mask"] = timed(lambda o=own, f=fill: f(out, o))
    return parts


def vllm_request_ms(work, model, adapter, requests):
    from bench_serve import Proc, free_port, post

    port = free_port()
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
        "--served-model-name", "tiny-llama", "--host", "127.0.0.1", "--port", str(port), "--enable-lora",
        "--max-lora-rank", "8", "--max-loras", "1", "--lora-modules", f"bench={adapter}",
        "--gpu-memory-utilization", "0.3", "--api-key", KEY, "--dtype", "float32", "--max-model-len", "512",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AITK_", "VLLM_"))}
    env.update(VLLM_CPU_KVCACHE_SPACE="1", CUDA_VISIBLE_DEVICES="")
    proc = Proc(cmd, env, work / "vllm.log")
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(url)
        body = {"model": "bench", "prompt": [1, 2, 3, 4, 5, 6], "max_tokens": 32, "temperature": 0, "ignore_eos": True}
        post(url + "/v1/completions", body, key=KEY)
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            post(url + "/v1/completions", body, key=KEY)
            times.append((time.perf_counter() - t0) * 1e3)
    finally:
        proc.stop()
    return statistics.median(times), times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=40, help="timed requests to plain vLLM")
    ap.add_argument("--calls", type=int, default=2000, help="calls per timing of the in-process parts")
    ap.add_argument("--json")
    args = ap.parse_args()

    from aitk_testkit.tiny_models import make_adapter, make_tiny_model

    work = Path(tempfile.mkdtemp(prefix="aitk-cost-"))
    share = work / "share"
    model = make_tiny_model(share / "model", arch="llama")
    adapter = make_adapter(model, share / "aitk" / "adapters" / "bench", rank=8)

    mw_us, recheck_us = middleware_cost(share, adapter, args.calls)
    fix = cpu_fix_cost(args.calls // 4)
    parts = fix_parts(args.calls * 10)
    request_ms, samples = vllm_request_ms(work, model, adapter, args.requests)
    request_us = request_ms * 1e3
    steps = 32  # decode steps per request (32 output tokens); the prefill step is left out
    amortized_recheck = recheck_us * (request_ms / 1e3) / 2.0  # one comparison per RECHECK_INTERVAL (2 s)
    rows = [
        ("(m) middlewares, per request", mw_us),
        ("(m) loaded adapter's re-check, amortized per request", amortized_recheck),
        ("(r) resolver on a known name (not on the path of a loaded one)", recheck_us),
    ]
    for case, t in fix.items():
        rows.append((f"(f) CPU LoRA fix, per request; batch: {case} token(s) per step", t["added"] * steps))
    print(f"(v) plain vLLM, one request of 32 tokens at a time: median {request_ms:.1f} ms over {len(samples)}")
    print()
    print("| launcher's work | µs | share of a request |")
    print("|---|---|---|")
    for label, us in rows:
        print(f"| {label} | {us:.1f} | {100 * us / request_us:.3f} % |")
    print()
    for case, t in fix.items():
        print(
            f"CPU ops per decode step ({case} token(s)): fixed {t['fixed']:.1f} µs, vLLM's {t['vllm']:.1f} µs, "
            f"added (median of paired runs, with the note of {t['note']:.1f} µs) {t['added']:.1f} µs"
        )
    print()
    print("| the fix's own step, per expand (8 per decode step here) | µs, median | fastest |")
    print("|---|---|---|")
    for label, t in parts.items():
        print(f"| {label} | {t['median']:.2f} | {t['fastest']:.2f} |")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "request_ms": request_ms,
                    "samples_ms": samples,
                    "rows_us": dict(rows),
                    "cpu_ops_us": fix,
                    "fix_parts_us": parts,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
