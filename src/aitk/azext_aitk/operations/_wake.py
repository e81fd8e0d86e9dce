"""Before `chat`, `endpoint`, `compare` and `bench` talk to the endpoint: wake a scaled-to-zero app and wait for
/health within the `--wait` budget, saying so on stderr (core/endpoint/wake.py decides, this module talks)."""

import sys
import time

from ..azure import model_server
from ..core.endpoint import wake
from ..core.errors import EndpointNotReadyError, WakeError


class _TerminalLine:  # pylint: disable=too-few-public-methods  # a callback with its state
    """One progress line on stderr: rewritten in place on a terminal, else written when it says
    something new (so a log or a test sees each explanation once, not each second)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_reason = None
        self.shown = False

    def __call__(self, line, reason):
        if self.tty:
            self.stream.write(f"\r\x1b[K{line} ({reason})")
        elif reason != self.last_reason:
            self.stream.write(f"{line} ({reason})\n")
        else:
            return
        self.last_reason = reason
        self.shown = True
        self.stream.flush()

    def done(self, text):
        if self.shown:
            self.stream.write(("\r\x1b[K" if self.tty else "") + text + "\n")
            self.stream.flush()


class StartupFailedError(WakeError):
    """The wait ended early: the system log says why the replica does not start."""


FAILURE_CHECK_S = 10.0  # how often a wait asks the system log whether the replica failed to start


def wake_endpoint(url, wait, *, stream=None, clock=time.monotonic, sleep=time.sleep, failed=None):
    """Return once /health answers 200 (a WakeResult); raise WakeError when `wait` seconds pass,
    or at once when `failed()` (_startup_watch.failure_probe) names why the replica does not start."""
    budget = wake.validate_wait(wait)
    line = _TerminalLine(stream)
    checked = [clock()]

    def show(text, reason):
        line(text, reason)
        if failed is not None and clock() - checked[0] >= FAILURE_CHECK_S:
            checked[0] = clock()
            why = failed()
            if why:
                line.done("")
                raise StartupFailedError(
                    f"the endpoint's replica does not start: {why}",
                    "Fix the cause, then `az aitk inference deploy` restarts it; `az aitk inference status` "
                    "and `az aitk inference logs` show more.",
                )

    result = wake.wait_awake(lambda t: model_server.probe_health(url, t), budget, show, clock, sleep)
    if not result.awake:
        line.done("")
        raise wake.not_awake_error(result, budget, url)
    if result.woke:
        line.done(f"the endpoint is awake after {wake.clock_text(result.elapsed)}")
    return result


def served_model_cards(url, key, timeout=120.0):
    """The endpoint's model cards (azure/model_server.py) once it is awake: the one place where the
    server's refusal (its ServerError) becomes the error a user of chat, compare or bench sees."""
    try:
        return model_server.list_model_cards(url, key, timeout=timeout)
    except model_server.ServerError as e:
        raise EndpointNotReadyError(
            f"the endpoint is not serving: {e}",
            "`az aitk inference status` shows why (a scaled-to-zero app needs a while to load the model); "
            "`az aitk inference logs --type system` the replica's events.",
        ) from None


def served_models(url, key, timeout=120.0):
    """The ids of the endpoint's models; see served_model_cards."""
    return [card["id"] for card in served_model_cards(url, key, timeout)]
