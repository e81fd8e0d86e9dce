"""Waking a scaled-to-zero endpoint: what the ingress's answers mean while a replica starts, the
line a terminal shows, and the loop that retries /health within a `--wait` budget.

Pure: the caller passes the probe (one GET /health), the clock, the sleep and where lines go."""

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import WakeError
from ..options import MAX_WAIT_S, check_seconds

# The ingress (Envoy) of Azure Container Apps ends a request after 240 s in which nothing was sent
# either way (requestIdleTimeout, default 4 min: https://learn.microsoft.com/azure/container-apps/premium-ingress;
# "Request timeout is 240 seconds": .../ingress-overview#protocol-types). A stream that keeps sending
# runs on; a request held while a replica starts sends nothing, so a cold start longer than that is
# answered 504 with one of these bodies (users report both from ACA: microsoft/azure-container-apps
# #597, #1637): the route's timeout while no replica has the request, the stream idle timeout after.
INGRESS_IDLE_TIMEOUT_S = 240
INGRESS_TIMEOUT_BODIES = ("upstream request timeout", "stream timeout")
# Envoy's answer while no replica is ready to take the request.
NO_HEALTHY_UPSTREAM = "no healthy upstream"

DEFAULT_WAIT_S = 900  # the template's startup probe gives a replica 960 s; most starts fit in 15 min
LOGS_HINT = "see `az aitk inference logs`"


def validate_wait(wait: int | None) -> int:
    """The `--wait` budget in seconds (default DEFAULT_WAIT_S); 0 means: one try, no waiting."""
    if wait is None:
        return DEFAULT_WAIT_S
    check_seconds(
        "--wait",
        wait,
        least=0,
        most=MAX_WAIT_S,
        recommendation=f"Give e.g. --wait 600; the default is {DEFAULT_WAIT_S}.",
    )
    return wait


def clock_text(seconds: float) -> str:
    """0:42, 4:05, 1:02:03."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def explain(status: int | None, body: str) -> str:
    """What an answer to a request on a starting endpoint means, in words (never the raw 504)."""
    text = (body or "").strip()
    if status == 504 and INGRESS_TIMEOUT_BODIES[0] in text:
        return (
            f"the ingress ended the request after {INGRESS_IDLE_TIMEOUT_S} s with nothing sent (its idle "
            "limit) while the replica was still starting (pulling the image or loading the model)"
        )
    if status == 504 and INGRESS_TIMEOUT_BODIES[1] in text:
        return (
            f"the ingress ended the request after {INGRESS_IDLE_TIMEOUT_S} s with nothing sent (its idle "
            "limit): the replica had it but did not answer yet (still loading the model, or busy)"
        )
    if status == 504:
        return "the ingress timed out waiting for the replica (504)"
    if status in (502, 503):
        return "no replica is ready to answer yet (the ingress has no healthy upstream)"
    if status is None:
        return "the endpoint did not answer yet"
    return f"/health answered {status}"


def progress_line(elapsed: float, state: str = "replica starting") -> str:
    return f"waking the endpoint: {state}, {clock_text(elapsed)} … {LOGS_HINT}"


@dataclass
class WakeResult:
    awake: bool
    elapsed: float
    woke: bool  # False: it answered at once (it was not asleep)
    last: str  # the last answer, explained


def wait_awake(
    probe: Callable[[float], tuple[int | None, str]],
    budget: float,
    show: Callable[[str, str], None],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    *,
    poll_timeout: float = 5.0,
    interval: float = 1.0,
) -> WakeResult:
    """Call `probe(timeout)` (GET /health -> (status or None, body)) until it answers 200 or
    `budget` seconds pass. Before each retry, `show(line, reason)` gets the terminal line
    (progress_line) and what the last answer meant. Never raises on a bad answer:
    the caller decides what a WakeResult that is not awake means."""
    start = clock()
    status, body = probe(max(1.0, min(poll_timeout, budget)) if budget > 0 else poll_timeout)
    if status == 200:
        return WakeResult(True, clock() - start, False, "")
    last = explain(status, body)
    while True:
        elapsed = clock() - start
        show(progress_line(elapsed), last)
        left = budget - elapsed
        if left <= 0:
            return WakeResult(False, elapsed, True, last)
        sleep(min(interval, left))
        left = budget - (clock() - start)
        if left <= 0:
            return WakeResult(False, clock() - start, True, last)
        status, body = probe(max(1.0, min(poll_timeout, left)))
        if status == 200:
            return WakeResult(True, clock() - start, True, "")
        last = explain(status, body)


def not_awake_error(result: WakeResult, budget: int, url: str) -> WakeError:
    return WakeError(
        f"the endpoint {url} did not start within --wait {budget} s: {result.last}",
        "`az aitk inference status` shows the replica's state and last start-up error, "
        "`az aitk inference logs --type system` its events; a large model can take a while: "
        "run again with a longer --wait.",
    )
