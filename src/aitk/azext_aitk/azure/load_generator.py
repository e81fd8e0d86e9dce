"""The load `az aitk inference bench` puts on the endpoint: the OpenAI client's async API on asyncio.

Why this and not `vllm bench serve`: that needs vLLM installed beside az (a multi-GB package built
for one accelerator, absent from Cloud Shell), while the OpenAI client is a small pure-Python
package; it streams, so the time to the first token is measured the way vLLM's own benchmark
measures it (the first chunk with text), and the token counts are the server's own (`usage` of
the stream's last chunk, `stream_options.include_usage`). It is imported only here: az does not
ship it, so a missing client is one clear error naming the command that installs it.
"""

import asyncio
import os
import ssl
import sys
import time

from ..core.errors import BenchError

# After --max-seconds no request is started; those still running get this long to finish.
FINISH_GRACE_SECONDS = 30.0


def check_client():
    """Import the OpenAI client now (BenchError when missing), so that neither a missing client
    nor its import time counts against the sweep."""
    _openai()


def _openai():
    try:
        import openai
    except ImportError:
        raise BenchError(
            "bench needs the OpenAI Python client, which az does not ship",
            f"Install it into az's Python: `{sys.executable} -m pip install openai`.",
        ) from None
    return openai


def _trust():
    """The CA bundle requests would use (REQUESTS_CA_BUNDLE, else certifi's): the same trust as the
    extension's other calls to the endpoint."""
    import requests.utils

    cafile = os.environ.get("REQUESTS_CA_BUNDLE") or requests.utils.DEFAULT_CA_BUNDLE_PATH
    return ssl.create_default_context(cafile=cafile)


async def _one(client, body, clock):
    start = clock()
    ttft, output, prompt, pieces = None, None, 0, 0
    stream = await client.completions.create(stream=True, **body)
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            pieces += 1
            if ttft is None:
                ttft = clock() - start
        if getattr(chunk, "usage", None):
            output, prompt = chunk.usage.completion_tokens, chunk.usage.prompt_tokens
    latency = clock() - start
    return {
        "ok": True,
        "ttft": ttft,
        "latency": latency,
        "promptTokens": prompt,
        "outputTokens": pieces if output is None else output,
        "error": None,
    }


async def _level(url, key, body, concurrency, n_requests, *, deadline, on_done, clock):
    openai = _openai()
    client = openai.AsyncOpenAI(
        base_url=url.rstrip("/") + "/v1",
        api_key=key or "none",
        max_retries=0,
        timeout=max(1.0, deadline - clock() + FINISH_GRACE_SECONDS),
        http_client=openai.DefaultAsyncHttpxClient(verify=_trust()),
    )
    samples = []
    started = 0

    async def worker():
        nonlocal started
        while started < n_requests and clock() < deadline:
            started += 1
            try:
                sample = await _one(client, body, clock)
            except openai.APIStatusError as e:
                sample = {"ok": False, "error": f"{e.status_code} {e.message}"[:200]}
            except openai.APIError as e:
                sample = {"ok": False, "error": type(e).__name__}
            samples.append(sample)
            on_done(len(samples))

    start = clock()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(concurrency))),
            timeout=max(0.0, deadline - clock()) + FINISH_GRACE_SECONDS,
        )
    except asyncio.TimeoutError:
        samples.extend({"ok": False, "error": "stopped at --max-seconds"} for _ in range(started - len(samples)))
    finally:
        await client.close()
    return samples, clock() - start


def run_level(url, key, body, concurrency, n_requests, *, deadline, on_done, clock=time.monotonic):
    """Send n_requests streamed completions (`body`, without "stream"), `concurrency` at a time,
    none started after `deadline` (a `clock` time). Returns ([sample], wall seconds); a sample is
    {"ok", "ttft", "latency", "promptTokens", "outputTokens", "error"}."""
    return asyncio.run(_level(url, key, body, concurrency, n_requests, deadline=deadline, on_done=on_done, clock=clock))
