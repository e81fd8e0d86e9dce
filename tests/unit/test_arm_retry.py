"""azure/arm.call: Resource Manager's 429 is retried for every method (it did nothing), a passing
5xx only for GET; az's send_raw_request retries neither by itself."""

import types

import pytest
from azext_aitk.azure import arm


class FakeHTTPError(Exception):
    def __init__(self, status, headers=None):
        super().__init__(f"HTTP {status}")
        self.response = types.SimpleNamespace(status_code=status, headers=headers or {})


def scripted(monkeypatch, answers):
    calls, sleeps = [], []

    def send_raw_request(_cli_ctx, method, url, body=None):
        calls.append((method, url, body))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return types.SimpleNamespace(text=answer)

    import azure.cli.core.util as az_util

    monkeypatch.setattr(az_util, "send_raw_request", send_raw_request)
    monkeypatch.setattr(arm.time, "sleep", sleeps.append)
    return calls, sleeps


def test_throttled_post_is_retried_after_retry_after(monkeypatch):
    calls, sleeps = scripted(monkeypatch, [FakeHTTPError(429, {"Retry-After": "3"}), FakeHTTPError(429), '{"ok": 1}'])
    assert arm.call(None, "POST", "/x/getAuthToken") == {"ok": 1}
    assert [c[0] for c in calls] == ["POST"] * 3 and sleeps == [3.0, 2.0]


def test_a_server_fault_is_retried_for_get_only(monkeypatch):
    scripted(monkeypatch, [FakeHTTPError(503), "{}"])
    assert arm.get(None, "/x") == {}
    scripted(monkeypatch, [FakeHTTPError(503), "{}"])
    with pytest.raises(FakeHTTPError):
        arm.call(None, "POST", "/x/restart")


def test_other_errors_and_exhausted_retries_propagate(monkeypatch):
    scripted(monkeypatch, [FakeHTTPError(404)])
    with pytest.raises(FakeHTTPError):
        arm.get(None, "/x")
    scripted(monkeypatch, [FakeHTTPError(429)] * (arm.THROTTLE_RETRIES + 1))
    with pytest.raises(FakeHTTPError):
        arm.get(None, "/x")
