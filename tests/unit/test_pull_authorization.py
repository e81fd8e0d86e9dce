"""core/monitor/pull_authorization.py: a refused pull under a new AcrPull role is waited for, an old
or missing role (or another refusal) is not."""

from datetime import datetime, timedelta, timezone

from azext_aitk.core.monitor import pull_authorization as pa

NOW = datetime(2026, 12, 8, 0, 0, 0, tzinfo=timezone.utc)
UNAUTHORIZED = "Failed to pull image 'x.azurecr.io/vllm:1': UNAUTHORIZED: the identity has no AcrPull role"


def _ago(seconds):
    return (NOW - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def test_a_new_role_is_waited_for():
    assert pa.still_propagating(UNAUTHORIZED, [_ago(3600), _ago(42)], NOW) == 42.0


def test_an_old_role_or_none_is_a_real_refusal():
    assert pa.still_propagating(UNAUTHORIZED, [_ago(pa.PROPAGATION_ALLOWANCE_S + 1)], NOW) is None
    assert pa.still_propagating(UNAUTHORIZED, [], NOW) is None
    assert pa.still_propagating(UNAUTHORIZED, ["", "not a date"], NOW) is None


def test_another_refusal_is_not_about_the_role():
    assert pa.still_propagating("MANIFEST_UNKNOWN: manifest tagged by v9 is not found", [_ago(5)], NOW) is None


def test_the_line_says_why_and_for_how_long():
    line = pa.waiting_line(42.7)
    assert "42 s ago" in line and "deploy waits" in line and f"{pa.PROPAGATION_ALLOWANCE_S // 60} min" in line
