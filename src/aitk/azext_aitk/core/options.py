"""Command options: the defaults that a command and its help (`_params.py`) share, and the one
check of an option that is a number of seconds. `_validators.py` runs the checks before a
command starts; the commands read their defaults here."""

from .errors import WaitValueError

MAX_WAIT_S = 7200  # the most any wait option (--wait, wait's --timeout/--interval) may be
DEPLOY_TIMEOUT_S = 1800  # deploy waits for the endpoint to serve: a replica loads the model first
KEY_ROTATE_TIMEOUT_S = 1800  # key rotate waits for the new key: a restarted replica loads the model again
WAIT_TIMEOUT_S = 3600  # az's generic wait: --timeout 3600 (its --interval is 30)
WAIT_INTERVAL_S = 5
COMPARE_MAX_TOKENS = 64
BENCH_PROMPT_TOKENS = 128
BENCH_OUTPUT_TOKENS = 128


def check_seconds(
    flag: str, value: object, *, least: int = 1, most: int | None = None, recommendation: str | None = None
) -> None:
    """Refuse `value` for `flag` unless it is a whole number of seconds from `least` to `most`
    (no upper bound when `most` is None); None (the option left out) passes."""
    if value is None:
        return
    if isinstance(value, int) and not isinstance(value, bool) and value >= least and (most is None or value <= most):
        return
    if most is None:
        raise WaitValueError(f"{flag} must be a positive number of seconds, not {value!r}", recommendation)
    raise WaitValueError(
        f"{flag} must be a whole number of seconds from {least} to {most}, not {value!r}", recommendation
    )


def check_wait(ready: bool, deleted: bool, timeout: int | None, interval: int | None) -> None:
    """`az aitk inference wait`: exactly one of --ready and --deleted, and its seconds."""
    if bool(ready) == bool(deleted):
        raise WaitValueError(
            "give exactly one of --ready and --deleted",
            "e.g. `az aitk inference wait --ready` after `deploy --no-wait`.",
        )
    defaults = f"Defaults: --timeout {WAIT_TIMEOUT_S}, --interval {WAIT_INTERVAL_S}."
    check_seconds("--timeout", timeout, most=MAX_WAIT_S, recommendation=defaults)
    check_seconds("--interval", interval, most=MAX_WAIT_S, recommendation=defaults)
