"""`az aitk inference bench`: its options, the endpoint it may load, and the numbers it reports.

Plain Python: azure/load_generator.py sends the requests (the OpenAI client on asyncio).
"""

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import gpu_profiles
from ..errors import BenchError

DEFAULT_CONCURRENCY = (1, 8, 32)
MAX_CONCURRENCY = 256
MAX_REQUESTS = 5000  # over the whole sweep
DEFAULT_MAX_SECONDS = 600.0
MAX_TOKENS_LIMIT = 32768


@dataclass(frozen=True)
class BenchPlan:
    concurrency: tuple[int, ...]
    requests_per_level: tuple[int, ...]
    prompt_tokens: int
    output_tokens: int
    max_seconds: float

    @property
    def total_requests(self) -> int:
        return sum(self.requests_per_level)


def plan(
    concurrency: Sequence[int] | None,
    requests: int | None,
    prompt_tokens: int,
    output_tokens: int,
    max_seconds: float | None,
) -> BenchPlan:
    """Checked options. `requests`: per concurrency level (default: 4 x the level, at least 8)."""
    levels = tuple(concurrency or DEFAULT_CONCURRENCY)
    if any(not 1 <= c <= MAX_CONCURRENCY for c in levels):
        raise BenchError(f"--concurrency takes whole numbers from 1 to {MAX_CONCURRENCY}", "E.g. --concurrency 1 8 32.")
    if len(set(levels)) != len(levels):
        raise BenchError("--concurrency lists a level twice", "Give each level once, e.g. --concurrency 1 8 32.")
    if requests is not None and requests < 1:
        raise BenchError("--requests must be 1 or more (requests at each concurrency level)")
    per_level = tuple(requests if requests is not None else max(8, 4 * c) for c in levels)
    if sum(per_level) > MAX_REQUESTS:
        raise BenchError(
            f"the sweep would send {sum(per_level)} requests, more than {MAX_REQUESTS}",
            "Lower --requests or drop a --concurrency level.",
        )
    for name, value in (("--prompt-tokens", prompt_tokens), ("--output-tokens", output_tokens)):
        if not 1 <= value <= MAX_TOKENS_LIMIT:
            raise BenchError(f"{name} must be from 1 to {MAX_TOKENS_LIMIT}")
    seconds = DEFAULT_MAX_SECONDS if max_seconds is None else max_seconds
    if math.isnan(seconds) or seconds <= 0:
        raise BenchError("--max-seconds must be a positive number of seconds")
    return BenchPlan(levels, per_level, prompt_tokens, output_tokens, seconds)


def prompt_text(prompt_tokens: int) -> str:
    """A prompt of about `prompt_tokens` tokens (one common word is about one token in most
    tokenizers; the report gives the server's own count)."""
    return " ".join(["hello"] * prompt_tokens)


def context_of(cards: Sequence[dict[str, Any]], model: str) -> int | None:
    """The context length /v1/models gives for `model` (vLLM's "max_model_len"), or None."""
    for card in cards:
        if card.get("id") == model:
            length = card.get("max_model_len")
            return length if isinstance(length, int) and not isinstance(length, bool) and length > 0 else None
    return None


def fit_to_context(
    bench: BenchPlan,
    model: str,
    context: int,
    count_tokens: Callable[[int], int | None],
    *,
    prompt_given: bool,
    output_given: bool,
) -> tuple[BenchPlan, str | None]:
    """The plan with prompt and output fitted to `model`'s `context` (tokens), and a line saying
    what changed (None when the plan fits as it is). Only defaults are changed; given values that
    cannot fit raise BenchError. count_tokens(words): the server's count of prompt_text(words), or
    None when it cannot say (then one token a word and one more for the start are assumed)."""

    def needed(words: int) -> int:
        counted = count_tokens(words)
        return counted if counted is not None else words + 1

    prompt_need = needed(bench.prompt_tokens)
    if prompt_need + bench.output_tokens <= context:
        return bench, None

    def refuse() -> BenchError:
        return BenchError(
            f"--prompt-tokens {bench.prompt_tokens} (the server counts {prompt_need}) and --output-tokens "
            f"{bench.output_tokens} need {prompt_need + bench.output_tokens} tokens; {model} has a context of "
            f"{context} tokens",
            "Give smaller values, or leave one out: bench fits what is left to the context.",
        )

    if prompt_given and output_given:
        raise refuse()
    if prompt_given:
        output = context - prompt_need
        if output < 1:
            raise refuse()
        words = bench.prompt_tokens
    else:
        output = bench.output_tokens if output_given else max(1, min(bench.output_tokens, context // 4))
        budget = context - output
        words, need = bench.prompt_tokens, prompt_need
        while need > budget and words > 1:  # the server's count is not linear in words: re-count
            words = max(1, min(words - 1, words * budget // need))
            need = needed(words)
        if need > budget:
            raise refuse()
    fitted = dataclasses.replace(bench, prompt_tokens=words, output_tokens=output)
    note = (
        f"{model} has a context of {context} tokens (from /v1/models): bench sends prompts of {words} words "
        f"and asks for {output} output tokens instead of {bench.prompt_tokens} and {bench.output_tokens}; "
        "--prompt-tokens and --output-tokens choose them."
    )
    return fitted, note


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between the closest ranks; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def level_summary(
    concurrency: int, samples: Sequence[dict[str, Any]], wall_seconds: float, price_per_second: float | None
) -> dict[str, Any]:
    """One concurrency level. samples: {"ok", "ttft", "latency", "promptTokens", "outputTokens",
    "error"} per request sent; the cost is the GPU's price for the level's wall time over its
    output tokens (one replica busy the whole time)."""
    done = [s for s in samples if s["ok"]]
    output = sum(s["outputTokens"] for s in done)
    cost = None
    if price_per_second is not None and output:
        cost = price_per_second * wall_seconds / output * 1e6
    errors = sorted({s["error"] for s in samples if not s["ok"] and s.get("error")})
    return {
        "concurrency": concurrency,
        "requests": len(samples),
        "failed": len(samples) - len(done),
        "promptTokens": sum(s["promptTokens"] for s in done),
        "outputTokens": output,
        "seconds": _r(wall_seconds, 3),
        "outputTokensPerSecond": _r(output / wall_seconds if wall_seconds > 0 else None, 2),
        "ttftP50": _r(percentile([s["ttft"] for s in done if s["ttft"] is not None], 50)),
        "ttftP95": _r(percentile([s["ttft"] for s in done if s["ttft"] is not None], 95)),
        "latencyP50": _r(percentile([s["latency"] for s in done], 50)),
        "latencyP95": _r(percentile([s["latency"] for s in done], 95)),
        "costPerMillionOutputTokens": _r(cost, 4),
        "errors": errors[:3],
    }


def price(profile: gpu_profiles.GpuProfile | None, price_per_hour: float | None) -> tuple[float | None, str]:
    """(US dollars per second, where it comes from): --price-per-hour wins over the profile's
    dated list price (core/gpu_profiles.py, the table the GPU fit quotes)."""
    if price_per_hour is not None:
        if math.isnan(price_per_hour) or price_per_hour <= 0:
            raise BenchError("--price-per-hour must be a positive number (US dollars an hour)")
        return price_per_hour / 3600.0, "--price-per-hour"
    if profile is not None and profile.usd_per_hour is not None:
        as_of = f"list price as of {gpu_profiles.PRICES_AS_OF}, {gpu_profiles.PRICES_SOURCE}"
        source = f"{profile.workload_profile_type} {as_of}"
        return profile.usd_per_hour / 3600.0, source
    return None, "no list price for the app's workload profile in aitk's table: pass --price-per-hour"
