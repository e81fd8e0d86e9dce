"""Waking a scaled-to-zero endpoint (core/endpoint/wake.py, operations/_wake.py): retries within --wait,
the ingress's 504 explained and never shown raw, the terminal line."""

import io

import pytest
from azext_aitk.core.endpoint import wake
from azext_aitk.core.errors import WaitValueError, WakeError
from azext_aitk.operations import _wake


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    def sleep(self, s):
        self.now += s


def scripted(answers, time, took=2.0):
    """A probe answering from `answers` in turn; each call takes `took` seconds (or its timeout)."""
    calls = []

    def probe(timeout):
        calls.append(timeout)
        time.now += min(took, timeout)
        return answers.pop(0) if answers else (None, "ReadTimeout")

    return probe, calls


def test_awake_at_once_shows_nothing():
    t = FakeTime()
    probe, calls = scripted([(200, "")], t)
    shown = []
    r = wake.wait_awake(probe, 60, lambda *a: shown.append(a), t.clock, t.sleep)
    assert r.awake and not r.woke and len(calls) == 1 and shown == []


@pytest.mark.parametrize("body", wake.INGRESS_TIMEOUT_BODIES)
def test_retries_through_the_ingress_idle_timeout_until_healthy(body):
    t = FakeTime()
    cut = (504, body)
    probe, calls = scripted([cut, cut, (503, "no healthy upstream"), (200, "")], t, took=240.0)
    shown = []
    r = wake.wait_awake(probe, 900, lambda line, why: shown.append((line, why)), t.clock, t.sleep)
    assert r.awake and r.woke and len(calls) == 4
    assert all(line.startswith("waking the endpoint: replica starting, ") for line, _ in shown)
    assert all("see `az aitk inference logs`" in line for line, _ in shown)
    why = shown[0][1]
    assert "240 s with nothing sent (its idle limit)" in why and "504" not in why and body not in why, why
    assert "no replica is ready" in shown[-1][1]


def test_gives_up_when_the_budget_is_spent():
    t = FakeTime()
    probe, _ = scripted([], t, took=5.0)
    r = wake.wait_awake(probe, 30, lambda *a: None, t.clock, t.sleep)
    assert not r.awake and 30 <= r.elapsed <= 36
    err = wake.not_awake_error(r, 30, "https://x")
    assert "did not start within --wait 30 s" in str(err) and "status" in err.recommendation


def test_each_probe_fits_in_what_is_left_of_the_budget():
    t = FakeTime()
    probe, calls = scripted([], t, took=100.0)
    wake.wait_awake(probe, 12, lambda *a: None, t.clock, t.sleep, poll_timeout=5.0)
    assert all(1.0 <= c <= 5.0 for c in calls)


@pytest.mark.parametrize("seconds,text", [(0, "0:00"), (42, "0:42"), (245, "4:05"), (3723, "1:02:03"), (-3, "0:00")])
def test_clock_text(seconds, text):
    assert wake.clock_text(seconds) == text


@pytest.mark.parametrize("bad", [-1, wake.MAX_WAIT_S + 1, True, 1.5])
def test_bad_wait_is_refused(bad):
    with pytest.raises(WaitValueError, match="--wait must be"):
        wake.validate_wait(bad)


def test_wait_default_and_zero():
    assert wake.validate_wait(None) == wake.DEFAULT_WAIT_S and wake.validate_wait(0) == 0


def test_terminal_line_off_a_tty_says_each_reason_once(monkeypatch):
    answers = [(504, "upstream request timeout")] * 3 + [(200, "")]
    monkeypatch.setattr(_wake.model_server, "probe_health", lambda url, t: answers.pop(0))
    t = FakeTime()
    out = io.StringIO()
    r = _wake.wake_endpoint("https://x", 60, stream=out, clock=t.clock, sleep=t.sleep)
    lines = out.getvalue().splitlines()
    assert r.awake and len(lines) == 2, lines
    assert lines[0].startswith("waking the endpoint: replica starting, 0:00") and "240 s with nothing sent" in lines[0]
    assert lines[1].startswith("the endpoint is awake after ")
    assert "upstream request timeout" not in out.getvalue()


def test_not_awake_raises_wake_error(monkeypatch):
    monkeypatch.setattr(_wake.model_server, "probe_health", lambda url, t: (None, "ConnectTimeout"))
    t = FakeTime()
    with pytest.raises(WakeError, match="did not start within --wait 3 s"):
        _wake.wake_endpoint("https://x", 3, stream=io.StringIO(), clock=t.clock, sleep=t.sleep)


@pytest.mark.parametrize(
    "ready,deleted,timeout,interval,match",
    [
        (False, False, None, None, "exactly one of --ready and --deleted"),
        (True, True, None, None, "exactly one of --ready and --deleted"),
        (True, False, 0, None, "--timeout must be"),
        (False, True, None, -5, "--interval must be"),
    ],
)
def test_wait_refuses_bad_flags(ready, deleted, timeout, interval, match):
    from azext_aitk.core import options

    with pytest.raises(WaitValueError, match=match):
        options.check_wait(ready, deleted, timeout, interval)


@pytest.mark.parametrize(
    "flag,value,kwargs,match",
    [
        ("--timeout", 0, {}, "--timeout must be a positive number of seconds, not 0"),
        ("--timeout", 1.5, {}, "--timeout must be a positive number of seconds, not 1.5"),
        ("--interval", 7201, {"most": 7200}, "--interval must be a whole number of seconds from 1 to 7200, not 7201"),
        ("--wait", -1, {"least": 0, "most": 7200}, "--wait must be a whole number of seconds from 0 to 7200, not -1"),
        ("--wait", True, {"least": 0, "most": 7200}, "not True"),
    ],
)
def test_one_check_of_seconds_in_one_style(flag, value, kwargs, match):
    from azext_aitk.core import options

    with pytest.raises(WaitValueError, match=match):
        options.check_seconds(flag, value, **kwargs)
    options.check_seconds(flag, None, **kwargs)
    options.check_seconds(flag, kwargs.get("least", 1), **kwargs)


@pytest.mark.parametrize("name", ["validate_deploy", "validate_key_rotate", "validate_wait"])
def test_the_validators_refuse_bad_seconds_before_the_command(name):
    from types import SimpleNamespace

    from azext_aitk import _validators
    from azure.cli.core.azclierror import InvalidArgumentValueError

    namespace = SimpleNamespace(timeout=0, ready=True, deleted=False, interval=None, adapters=None)
    with pytest.raises(InvalidArgumentValueError, match="--timeout must be"):
        getattr(_validators, name)(namespace)
    getattr(_validators, name)(SimpleNamespace(timeout=60, ready=True, deleted=False, interval=None, adapters=None))


def test_system_event_lines_and_revision_filter():
    from azext_aitk.core.monitor import console_log

    events = [
        {"TimeStamp": "t1", "RevisionName": "app--a", "ReplicaName": "r1", "Reason": "ImagePulled", "Msg": "in 5 s"},
        {"TimeStamp": "t2", "RevisionName": "app--b", "ReplicaName": "r2", "Reason": "ScaledIn", "Msg": "to 0"},
        {"TimeStamp": "t3", "Reason": "AppUpdated", "Msg": "app-wide"},
    ]
    assert console_log.system_event_line(events[0]) == "t1  app--a/r1  ImagePulled  in 5 s"
    assert [e["TimeStamp"] for e in console_log.of_revision(events, "APP--B")] == ["t2", "t3"]
    assert console_log.of_revision(events, None) == events
    with pytest.raises(console_log.LogStreamError, match="--type nope"):
        console_log.validate_type("nope")


def test_the_two_idle_timeout_bodies_say_where_the_request_was():
    """`upstream request timeout`: no replica had it yet; `stream timeout`: one had it, silent."""
    waiting = wake.explain(504, "upstream request timeout")
    silent = wake.explain(504, "stream timeout")
    assert "still starting" in waiting and "did not answer yet" in silent and waiting != silent
    assert wake.explain(504, "other") == "the ingress timed out waiting for the replica (504)"
