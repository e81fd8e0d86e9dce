"""Pure decisions behind "state that stays true" (issue 23): which revisions a restart targets,
what the running server must report to be up to date, who holds the deploy lease, and which
console line says why a replica did not start."""

import hashlib

from aitk_serve import layout, serving_state
from azext_aitk.core.deploy import deploy_lock, deploy_rollout, sync_plan
from azext_aitk.core.monitor import startup_failure, status_summary


def rev(name, active, weight=0):
    return {"name": name, "properties": {"active": active, "trafficWeight": weight}}


def test_restart_targets_the_active_revision_not_the_last_ready_one():
    # after a provision that changed the app: the old revision is inactive, the new one takes traffic
    props = {"latestRevisionName": "app--new", "latestReadyRevisionName": "app--old"}
    assert deploy_rollout.restart_targets(props, [rev("app--old", False), rev("app--new", True, 100)]) == ["app--new"]
    # multiple-revision mode: every active revision with traffic
    revs = [rev("a--1", True, 50), rev("a--2", True, 50), rev("a--3", True, 0)]
    assert deploy_rollout.restart_targets({"latestRevisionName": "a--3"}, revs) == ["a--1", "a--2"]
    # no traffic anywhere yet: the latest, when active
    assert deploy_rollout.restart_targets({"latestRevisionName": "a--3"}, revs[2:]) == ["a--3"]
    assert deploy_rollout.restart_targets({"latestRevisionName": "x"}, [rev("x", False)]) == []
    assert deploy_rollout.restart_targets({}, []) == []


def test_expected_serving_is_what_the_share_holds_after_the_sync():
    serve = sync_plan.from_bytes(layout.SERVE_CONFIG_FILE, b'{"vllm_args": []}')
    current = sync_plan.from_bytes(layout.LAUNCHER_CURRENT_FILE, b"0123456789abcdef\n")
    local = {serve.path: serve, current.path: current}
    want = {
        serving_state.RELEASE: "0123456789abcdef",
        serving_state.SERVE_CONFIG: hashlib.sha256(b'{"vllm_args": []}').hexdigest(),
    }
    assert deploy_rollout.expected_serving(local, {}) == want
    # no serve.json in the workspace: the one left on the share counts, unless this deploy deleted it
    remote = {serve.path: sync_plan.RemoteFile(serve.path, 3, "abc")}
    assert deploy_rollout.expected_serving({current.path: current}, remote)[serving_state.SERVE_CONFIG] == "abc"
    assert (
        deploy_rollout.expected_serving({current.path: current}, remote, [serve.path])[serving_state.SERVE_CONFIG]
        is None
    )


def test_serving_behind_names_what_differs():
    want = {serving_state.RELEASE: "r2", serving_state.SERVE_CONFIG: "s2"}
    assert deploy_rollout.serving_behind(want, dict(want)) is None
    assert deploy_rollout.serving_behind(want, None) is None  # cannot tell: no restart on a guess
    assert "release r1" in deploy_rollout.serving_behind(
        want, {serving_state.RELEASE: "r1", serving_state.SERVE_CONFIG: "s2"}
    )
    assert "serve.json" in deploy_rollout.serving_behind(
        want, {serving_state.RELEASE: "r2", serving_state.SERVE_CONFIG: "s1"}
    )
    assert "unknown" in deploy_rollout.serving_behind(want, {})  # a server from before the report


def test_launcher_reports_its_release_and_serve_json(tmp_path):
    package = tmp_path / "aitk" / "launcher" / "releases" / "0123456789abcdef" / "aitk_serve"
    package.mkdir(parents=True)
    config = tmp_path / "serve.json"
    config.write_bytes(b'{"model": "m"}')
    got = serving_state.record(str(package), str(config))
    assert got == {
        serving_state.RELEASE: "0123456789abcdef",
        serving_state.SERVE_CONFIG: hashlib.sha256(b'{"model": "m"}').hexdigest(),
    }
    assert serving_state.record(str(tmp_path / "aitk_serve"), None) == {
        serving_state.RELEASE: None,
        serving_state.SERVE_CONFIG: None,
    }
    assert serving_state.answer({serving_state.ENV: "not json"}) == b'{"release": null, "serveConfigSha256": null}'


def test_deploy_lease_holder_gone_or_alive():
    md = deploy_lock.holder_metadata("box", 4242, 1000.0, 1000.0)
    assert deploy_lock.gone(md, 1010.0, "box", lambda pid: True) is None
    assert "4242" in deploy_lock.gone(md, 1010.0, "box", lambda pid: False)
    assert deploy_lock.gone(md, 1010.0, "other-box", lambda pid: False) is None  # not ours to judge by pid
    assert "no sign of life" in deploy_lock.gone(md, 1000.0 + deploy_lock.STALE_S + 1, "other-box", lambda pid: True)
    # a holder that died before writing its metadata: the file's own time
    assert deploy_lock.gone({}, 5000.0, "box", lambda pid: True, modified=5000.0 - deploy_lock.STALE_S - 1)
    assert deploy_lock.gone({}, 5000.0, "box", lambda pid: True, modified=4990.0) is None
    text = str(deploy_lock.busy("acct/share", md))
    assert "box (pid 4242)" in text and "acct/share" in text and deploy_lock.LOCK_PATH in text
    assert deploy_lock.host_label("héte") == "h-te"


VLLM_USAGE_TAIL = [
    "usage: api_server.py [-h] [--host HOST] [--port PORT]",
    "                     [--enable-log-requests | --no-enable-log-requests]",
    "                     [model_tag]",
    "api_server.py: error: unrecognized arguments: --no-such-flag",
]


def test_vllm_argparse_error_is_the_start_up_error():
    assert (
        startup_failure.launcher_line(VLLM_USAGE_TAIL) == "api_server.py: error: unrecognized arguments: --no-such-flag"
    )
    assert (
        status_summary.last_error_line(VLLM_USAGE_TAIL)
        == "api_server.py: error: unrecognized arguments: --no-such-flag"
    )
    stamped = ["2026-01-01T00:00:00Z aitk_serve: error: serve.json: bad"]
    assert startup_failure.launcher_line(stamped) == "aitk_serve: error: serve.json: bad"
    assert startup_failure.error_line("no error here: fine") is None


def test_a_known_start_up_failure_ends_the_wake_at_once(monkeypatch):
    """chat's and wait's wake ask the system log (failure_probe) every FAILURE_CHECK_S: the first
    failure it names ends the wait, long before --wait."""
    import io

    import pytest
    from azext_aitk.azure import model_server
    from azext_aitk.operations import _wake

    now = [0.0]
    monkeypatch.setattr(model_server, "probe_health", lambda url, t: (503, "no healthy upstream"))
    answers = iter([None, None, "api_server.py: error: unrecognized arguments: --no-such-flag"])
    asked = []

    def failed():
        asked.append(now[0])
        return next(answers)

    def sleep(s):
        now[0] += s

    with pytest.raises(_wake.StartupFailedError) as e:
        _wake.wake_endpoint("https://x", 900, stream=io.StringIO(), clock=lambda: now[0], sleep=sleep, failed=failed)
    assert "unrecognized arguments: --no-such-flag" in str(e.value)
    assert len(asked) == 3 and now[0] < 60  # three looks, FAILURE_CHECK_S apart; not 900 s
