"""The day-two commands' plain modules: chat_session (SSE, conversation, terminal loop),
console_log, status_summary, teardown_plan; and the chat's HTTP side (model_server.stream_chat)."""

import json
import time

import pytest
from azext_aitk.azure import model_server
from azext_aitk.core.delete import teardown_plan
from azext_aitk.core.endpoint import chat_session
from azext_aitk.core.monitor import console_log, status_summary

from aitk_testkit.local_http import JsonHandler, base_url, serving

# -- chat: SSE parsing ------------------------------------------------------------------------


def _sse(*pieces, done=True):
    lines = [": keep-alive", "", 'data: {"choices":[{"delta":{"role":"assistant"}}]}', ""]
    for p in pieces:
        lines += ["data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": p}}]}), ""]
    if done:
        lines += ["data: [DONE]", ""]
    return lines


def test_sse_deltas_yields_content_and_stops_at_done():
    lines = _sse("Hel", "lo") + ['data: {"choices":[{"delta":{"content":"after"}}]}']
    assert list(chat_session.sse_deltas(lines)) == ["Hel", "lo"]


def test_sse_deltas_accepts_bytes_crlf_and_skips_junk():
    lines = [
        b"data: not json\r\n",
        b"event: x",
        b'data: {"choices":[{"delta":{"content":"\xc3\xa9"}}]}\r\n',
        b"data: [1]",
        b"data:",
        b"data: [DONE]",
    ]
    assert list(chat_session.sse_deltas(lines)) == ["\u00e9"]


def test_sse_error_object_raises():
    with pytest.raises(chat_session.ChatError, match="too long"):
        list(chat_session.sse_deltas(['data: {"error": {"message": "prompt too long"}}']))


# -- chat: conversation and options -----------------------------------------------------------


def test_conversation_request_does_not_change_history_until_recorded():
    c = chat_session.Conversation("m", system="be brief", temperature=0.5, max_tokens=7)
    body = c.request("hi")
    assert body == {
        "model": "m",
        "stream": True,
        "temperature": 0.5,
        "max_tokens": 7,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }
    assert len(c.messages) == 1
    c.record("hi", "hello")
    assert [m["role"] for m in c.request("again")["messages"]] == ["system", "user", "assistant", "user"]


def test_conversation_leaves_out_unset_options():
    body = chat_session.Conversation("m").request("x")
    assert "temperature" not in body and "max_tokens" not in body and body["messages"][0]["role"] == "user"


@pytest.mark.parametrize("t,n", [(-0.1, None), (2.5, None), (None, 0), (None, -3)])
def test_validate_options_rejects(t, n):
    with pytest.raises(chat_session.ChatError):
        chat_session.validate_options(t, n)


def test_validate_options_accepts_edges():
    chat_session.validate_options(0.0, 1)
    chat_session.validate_options(2.0, None)


def test_pick_model():
    assert chat_session.pick_model(["base", "a1"]) == "base"
    assert chat_session.pick_model(["base", "a1"], "a1") == "a1"
    with pytest.raises(chat_session.ChatError, match="'x' is not served; the endpoint serves: base, a1"):
        chat_session.pick_model(["base", "a1"], "x")
    with pytest.raises(chat_session.ChatError, match="lists no models"):
        chat_session.pick_model([])


# -- chat: the terminal loop with scripted input ----------------------------------------------


class _Script:
    def __init__(self, *items):
        self.items = list(items)
        self.out = []

    def read(self, prompt):
        self.out.append(prompt)
        item = self.items.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def write(self, text):
        self.out.append(text)


def test_run_terminal_history_interrupt_and_eof():
    script = _Script("one", KeyboardInterrupt(), "", "two", "three", EOFError())
    conv = chat_session.Conversation("m")
    sent = []

    def send(body, on_piece):
        sent.append(body)
        if body["messages"][-1]["content"] == "two":
            on_piece("par")
            e = KeyboardInterrupt()
            e.partial = "par"
            raise e
        on_piece("ok")
        return "ok"

    assert chat_session.run_terminal(conv, send, script.read, script.write) == 3
    out = "".join(script.out)
    assert "(Ctrl-D or /exit leaves the chat)" in out and "[stopped]" in out
    assert [m["content"] for m in sent[-1]["messages"]] == ["one", "ok", "two", "par", "three"]


def test_run_terminal_exit_word_and_server_error_keep_going():
    script = _Script("bad", "/exit", "never")
    conv = chat_session.Conversation("m")

    def send(body, on_piece):
        raise chat_session.ChatError("the server answered 500: boom")

    assert chat_session.run_terminal(conv, send, script.read, script.write) == 0
    assert "[error] the server answered 500: boom" in "".join(script.out)
    assert script.items == ["never"] and conv.messages == []


# -- chat: stream_reply against a local server ------------------------------------------------


class _Chat(JsonHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.headers.get("Authorization") != "Bearer k":
            data = b'{"error": {"message": "bad key"}}'
            self.send_response(401)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        n = 200 if body["messages"][-1]["content"] == "slow" else 3
        try:
            for line in _sse(*[f"t{i} " for i in range(n)]):
                self.wfile.write((line + "\n").encode())
                self.wfile.flush()
                if n > 3:
                    time.sleep(0.01)
        except OSError:
            pass


@pytest.fixture
def chat_url():
    with serving(_Chat) as srv:
        yield base_url(srv)


def test_stream_reply_collects_pieces(chat_url):
    got = []
    reply = model_server.stream_chat(chat_url, "k", chat_session.Conversation("m").request("hi"), got.append)
    assert reply == "t0 t1 t2 " and got == ["t0 ", "t1 ", "t2 "]


def test_stream_reply_bad_key_names_the_status(chat_url):
    with pytest.raises(chat_session.ChatError, match="answered 401: bad key"):
        model_server.stream_chat(chat_url, "wrong", chat_session.Conversation("m").request("hi"), lambda p: None)


def test_stream_reply_interrupt_carries_the_partial_reply(chat_url):
    got = []

    def on_piece(p):
        got.append(p)
        if len(got) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        model_server.stream_chat(chat_url, "k", chat_session.Conversation("m").request("slow"), on_piece)
    assert info.value.partial == "t0 t1 t2 t3 t4 "  # up to the piece being shown when it stopped


def test_stream_reply_no_server():
    with pytest.raises(chat_session.ChatError, match="did not answer"):
        model_server.stream_chat("http://127.0.0.1:9", "k", {"model": "m"}, lambda p: None, timeout=2)


# -- log_stream -------------------------------------------------------------------------------


def test_logstream_url_like_az_containerapp_logs_show():
    ese = "https://eastus.azurecontainerapps.dev/subscriptions/s/resourceGroups/g/containerApps/a/eventstream"
    assert console_log.logstream_url(ese, "s", "g", "a", revision="a--r1", replica="a--r1-0", container="main") == (
        "https://eastus.azurecontainerapps.dev/subscriptions/s/resourceGroups/g/containerApps/a"
        "/revisions/a--r1/replicas/a--r1-0/containers/main/logstream"
    )
    with pytest.raises(console_log.LogStreamError):
        console_log.base_url(None)


def test_tail_and_query():
    assert console_log.validate_tail(None) == console_log.DEFAULT_TAIL
    assert console_log.validate_tail(0) == 0 and console_log.validate_tail(300) == 300
    for bad in (-1, 301):
        with pytest.raises(console_log.LogStreamError):
            console_log.validate_tail(bad)
    assert console_log.query(True, 5) == {"follow": "true", "tailLines": "5", "output": "text"}


def _replica(name, *containers):
    return {"name": name, "properties": {"containers": list(containers)}}


def test_pick_replica_prefers_running_and_named_container():
    idle = _replica("r-0", {"name": "main", "runningState": "Waiting"})
    live = _replica("r-1", {"name": "main", "runningState": "Running"}, {"name": "side", "ready": True})
    assert console_log.pick_replica([idle, live]) == ("r-1", "main")
    assert console_log.pick_replica([idle, live], "side") == ("r-1", "side")
    assert console_log.pick_replica([]) is None
    assert console_log.pick_replica([idle], "nope") is None


def test_text_lines_skips_keepalives():
    assert list(console_log.text_lines([b"a\r\n", b"", b"  ", "b"])) == ["a", "b"]


# -- status_summary ---------------------------------------------------------------------------

APP = {
    "name": "app",
    "properties": {
        "provisioningState": "Succeeded",
        "runningStatus": "Running",
        "latestRevisionName": "app--2",
        "workloadProfileName": "gpu-t4",
        "template": {"scale": {"minReplicas": 0, "maxReplicas": 2}},
    },
}
ENV = {
    "properties": {
        "workloadProfiles": [
            {"name": "Consumption", "workloadProfileType": "Consumption"},
            {"name": "gpu-t4", "workloadProfileType": "Consumption-GPU-NC8as-T4"},
        ]
    }
}
REVS = [
    {"name": "app--1", "properties": {"runningState": "Stopped"}},
    {"name": "app--2", "properties": {"runningState": "Running", "healthState": "Healthy", "replicas": 1}},
]


def test_summarize_healthy():
    reps = [_replica("app--2-0", {"name": "main", "ready": True, "runningState": "Running"})]
    s = status_summary.summarize(APP, ENV, REVS, reps, True, models=["base", "a1"])
    assert s["revision"] == "app--2" and s["revisionState"] == "Running" and s["replicas"] == 1
    assert s["gpuProfile"] == "T4" and s["serverless"] is True
    assert (s["minReplicas"], s["maxReplicas"]) == (0, 2)
    assert s["ready"] and s["models"] == ["base", "a1"] and s["error"] is None
    json.dumps(s)


def test_summarize_failed_uses_running_state_details_then_the_log_then_says_so():
    failed = [
        {
            "name": "app--2",
            "properties": {
                "runningState": "Failed",
                "healthState": "Unhealthy",
                "runningStateDetails": "Container crashed: exit 1",
            },
        }
    ]
    s = status_summary.summarize(APP, ENV, failed, [], False, models=[])
    assert s["error"] == "Container crashed: exit 1" and s["replicas"] == 0 and not s["ready"]
    failed[0]["properties"].pop("runningStateDetails")
    log = ["aitk_serve: model at /mount/x", "ValueError: adapter rank 128 > max_lora_rank 64", "exiting"]
    assert status_summary.summarize(APP, ENV, failed, [], False, models=[], log_lines=log)["error"].startswith(
        "ValueError"
    )


def test_summarize_restarting_container_and_unknown_profile():
    reps = [
        _replica(
            "app--2-0",
            {"name": "main", "restartCount": 2, "runningState": "Waiting", "runningStateDetails": "CrashLoopBackOff"},
        )
    ]
    s = status_summary.summarize(APP, {}, REVS, reps, False, models=[])
    assert s["error"] == "CrashLoopBackOff" and s["gpuProfile"] == "gpu-t4" and s["serverless"] is None


FAILED_REVS = [{"name": "app--2", "properties": {"runningState": "Failed", "healthState": "Unhealthy"}}]


def test_start_up_error_prefers_the_launchers_refusal_over_later_lines():
    log = [
        "INFO starting",
        "aitk_serve: error: adapter 'x': no adapter_model.safetensors in /mount/x",
        "Traceback (most",
    ]
    s = status_summary.summarize(APP, ENV, FAILED_REVS, [], False, models=[], log_lines=log)
    assert s["error"] == "aitk_serve: error: adapter 'x': no adapter_model.safetensors in /mount/x"


def test_start_up_error_is_the_containers_last_error_line():
    log = ["RuntimeError: CUDA out of memory", "INFO shutting down", "Killed"]
    assert status_summary.start_up_error(FAILED_REVS[0], [], log) == "Killed"
    s = status_summary.summarize(APP, ENV, FAILED_REVS, [], False, models=[], log_lines=["INFO loading weights"])
    assert s["error"].startswith("revision app--2 failed to start (Failed, Unhealthy)"), s["error"]
    assert status_summary.last_error_line(["INFO loading weights"]) is None


def test_summarize_healthy_ignores_old_error_lines():
    reps = [_replica("app--2-0", {"name": "main", "ready": True})]
    assert (
        status_summary.summarize(APP, ENV, REVS, reps, True, models=["b"], log_lines=["error: once"])["error"] is None
    )


# -- teardown_plan ----------------------------------------------------------------------------

SUB = "/subscriptions/s/resourceGroups/g/providers"
APP_ID = f"{SUB}/Microsoft.App/containerApps/aitk-infer-abcde"
ENV_ID = f"{SUB}/Microsoft.App/managedEnvironments/aitk-env-abcde"
LOGS_ID = f"{SUB}/Microsoft.OperationalInsights/workspaces/aitk-logs-abcde"
FT = {"STORAGE_ACCOUNT_NAME": "ftstore", "FILE_SHARE_NAME": "finetuning"}


def _actions(items):
    return {i["name"]: i["action"] for i in items}


def test_plan_all_made_by_provision():
    storage = f"{SUB}/Microsoft.Storage/storageAccounts/aitkinferabcde"
    items = teardown_plan.plan(
        APP_ID, ENV_ID, [], storage, FT, logs_workspace_id=LOGS_ID, provisioned=[ENV_ID, LOGS_ID, storage]
    )
    assert [i["name"] for i in items] == ["aitk-infer-abcde", "aitk-env-abcde", "aitk-logs-abcde", "aitkinferabcde"]
    assert set(_actions(items).values()) == {"delete"}


def test_plan_never_the_finetuning_storage():
    storage = f"{SUB}/Microsoft.Storage/storageAccounts/FTSTORE"
    items = teardown_plan.plan(APP_ID, ENV_ID, [], storage, FT, provisioned=[ENV_ID, storage])
    assert _actions(items) == {"aitk-infer-abcde": "delete", "aitk-env-abcde": "delete", "FTSTORE": "keep"}
    assert "fine-tuning" in items[-1]["reason"]


def test_plan_keeps_an_environment_another_app_uses_and_its_logs_and_storage():
    items = teardown_plan.plan(APP_ID, ENV_ID, [ENV_ID.upper()], "aitkinferabcde", {}, logs_workspace_id=LOGS_ID)
    assert _actions(items) == {
        "aitk-infer-abcde": "delete",
        "aitk-env-abcde": "keep",
        "aitk-logs-abcde": "keep",
        "aitkinferabcde": "keep",
    }
    assert "1 other container app" in items[1]["reason"]


def test_plan_keeps_reused_resources():
    items = teardown_plan.plan(
        APP_ID,
        f"{SUB}/Microsoft.App/managedEnvironments/team-env",
        [],
        "mystorage",
        None,
        logs_workspace_id=f"{SUB}/Microsoft.OperationalInsights/workspaces/aitk-logs-abcde",
    )
    assert _actions(items) == {
        "aitk-infer-abcde": "delete",
        "team-env": "keep",
        "aitk-logs-abcde": "keep",
        "mystorage": "keep",
    }


def test_plan_keeps_storage_mounted_elsewhere_and_describe_lists_both():
    items = teardown_plan.plan(APP_ID, ENV_ID, [], "aitkinferabcde", FT, other_env_storage_accounts=["AITKINFERABCDE"])
    assert _actions(items)["aitkinferabcde"] == "keep"
    text = "\n".join(teardown_plan.describe(items))
    assert text.startswith("This deletes:") and "and keeps:" in text and "mounted by another environment" in text


def test_summarize_failed_without_details_says_so():
    failed = [{"name": "app--2", "properties": {"runningState": "Failed", "healthState": "Unhealthy"}}]
    err = status_summary.summarize(APP, ENV, failed, [], False, models=[])["error"]
    assert "revision app--2 failed to start" in err


def test_check_revision_names_azures_spelling_or_lists_the_revisions_newest_first():
    from azext_aitk.core.errors import LogStreamError
    from azext_aitk.core.monitor.console_log import check_revision

    revs = [
        {"name": f"app--r{i:02d}", "properties": {"createdTime": f"2026-01-{i + 1:02d}T00:00:00Z", "active": i == 11}}
        for i in range(12)
    ]
    assert check_revision(" APP--R03 ", "app", revs) == "app--r03"
    with pytest.raises(LogStreamError) as e:
        check_revision("nope", "app", revs)
    assert "its revisions, newest first: app--r11 (active), app--r10, " in str(e.value)
    assert str(e.value).endswith("app--r02 and 2 older") and "Pick one" in e.value.recommendation
    with pytest.raises(LogStreamError, match="none yet"):
        check_revision("nope", "app", [])
