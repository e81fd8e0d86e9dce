"""Day-two commands (chat, status, logs, delete) with the real az against the local stand-in.

Own resource group and workspace (test_standin_flow.py's are left alone): a fine-tuning storage
account and share, provision with one warm replica running aitk_testkit/fake_server.py (it streams
chat completions slowly enough to interrupt). Terminal behaviour runs under a real
pseudo-terminal (pexpect). Delete runs last: it removes what provision made."""

import io
import json
import re
import signal
import subprocess
import time

import pytest

from aitk_testkit.az_harness import AZ, one_error
from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.scenario import FAKE_PARAMETERS

pexpect = pytest.importorskip("pexpect", reason="pexpect (requirements/ext.txt) is not installed")

RG = "aitk-day2"
LOCATION = "eastus"
FT_STORAGE = "aitkd2ft01"
FT_SHARE = "finetuning"


@pytest.fixture(scope="module")
def day2(az_cloud, fake_finetuning, provision_fake):
    ws, share = fake_finetuning("day2", RG, FT_STORAGE, FT_SHARE, placeholder_model=False, job_name="job")
    (share / "finetuned-data.txt").write_text("keep me")
    (share / "aitk" / "adapters" / "support-bot").mkdir(parents=True)  # the fake server lists it
    app = provision_fake(ws, RG, "--min-replicas", "1", *FAKE_PARAMETERS, "-o", "json")
    cfg, app_id = app["cfg"], app["app_id"]
    key = _ok(az_cloud("aitk", "inference", "endpoint", "--show-key", cwd=ws))["apiKey"]
    return {"ws": ws, "share": share, "cfg": cfg, "key": key, "app_id": app_id, "env": az_cloud.env}


def _spawn(az_cloud, day2, *args, timeout=30):
    return az_cloud.spawn("aitk", "inference", *args, cwd=day2["ws"], timeout=timeout)


# -- status -----------------------------------------------------------------------------------


def test_status_shows_revision_replicas_profile_scale_and_models(az_cloud, day2):
    st = _ok(az_cloud("aitk", "inference", "status", cwd=day2["ws"]))
    assert st["revision"] and st["revision"].startswith(day2["cfg"]["ACA_APP_NAME"] + "--")
    assert st["replicas"] == 1 and st["ready"] is True and st["revisionState"] == "Running"
    assert st["gpuProfile"] == "T4" and st["serverless"] is True
    assert st["minReplicas"] == 1 and st["maxReplicas"] >= 1
    assert st["models"][0] == "fake-base" and "support-bot" in st["models"] and st["error"] is None
    assert day2["key"] not in json.dumps(st)
    proc = az_cloud("aitk", "inference", "status", "-o", "table", cwd=day2["ws"])
    _ok(proc, parse=False)
    assert "Revision" in proc.stdout and st["revision"] in proc.stdout and "fake-base" in proc.stdout


# -- chat -------------------------------------------------------------------------------------


def test_chat_one_shot_prints_only_the_reply(az_cloud, day2):
    proc = az_cloud("aitk", "inference", "chat", "--message", "hello world", cwd=day2["ws"])
    _ok(proc, parse=False)
    assert proc.stdout == "echo(fake-base) hello world [turn 1]\n"
    assert day2["key"] not in proc.stdout + proc.stderr
    proc = az_cloud(
        "aitk",
        "inference",
        "chat",
        "--message",
        "a b c",
        "--system",
        "be terse",
        "--max-tokens",
        "3",
        "--temperature",
        "0.2",
        cwd=day2["ws"],
    )
    _ok(proc, parse=False)
    assert proc.stdout == "[sys] echo(fake-base) a \n"
    proc = az_cloud("aitk", "inference", "chat", "--model", "support-bot", "--message", "hi", cwd=day2["ws"])
    _ok(proc, parse=False)
    assert proc.stdout == "echo(support-bot) hi [turn 1]\n"


def test_chat_bad_input_isone_error(az_cloud, day2):
    one_error(
        az_cloud("aitk", "inference", "chat", "--message", "hi", "--model", "nope", cwd=day2["ws"]),
        "model 'nope' is not served",
        "fake-base",
    )
    one_error(
        az_cloud("aitk", "inference", "chat", "--message", "hi", "--temperature", "5", cwd=day2["ws"]),
        "--temperature 5.0 is out of range",
    )
    one_error(
        az_cloud("aitk", "inference", "chat", "--message", "hi", "--max-tokens", "0", cwd=day2["ws"]), "--max-tokens 0"
    )
    one_error(
        az_cloud("aitk", "inference", "chat", "--message", "hi", "--workspace", str(day2["ws"] / "nowhere")),
        "inference.config.json",
    )


def test_chat_interactive_keeps_history_ctrl_c_stops_reply_eof_exits(az_cloud, day2, job_control):
    child = _spawn(az_cloud, day2, "chat")
    try:
        child.expect_exact("Ctrl-D or /exit leaves")
        child.expect_exact("you> ")
        child.sendline("first question")
        child.expect_exact("echo(fake-base) first question [turn 1]")
        child.expect_exact("you> ")
        child.sendline("tell me a long story")
        child.expect_exact("tick3 ")
        t0 = time.monotonic()
        child.sendintr()  # Ctrl-C mid-reply
        child.expect_exact("[stopped]")
        assert time.monotonic() - t0 < 5
        child.expect_exact("you> ")
        assert "tick300" not in child.before
        child.sendline("and again")
        child.expect_exact("echo(fake-base) and again [turn 3]")  # the history kept all turns
        child.expect_exact("you> ")
        child.sendintr()  # Ctrl-C at the prompt: stays
        child.expect_exact("(Ctrl-D or /exit leaves the chat)")
        child.expect_exact("you> ")
        child.sendeof()  # Ctrl-D
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    assert "Traceback" not in (child.before or "")


def test_chat_interactive_exit_command_with_adapter_model_and_system(az_cloud, day2):
    child = _spawn(az_cloud, day2, "chat", "--model", "fake-base", "--system", "sys")
    try:
        child.expect_exact("you> ")
        child.sendline("hi")
        child.expect_exact("[sys] echo(fake-base) hi [turn 1]")
        child.expect_exact("you> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


# -- server-supplied strings on a terminal -----------------------------------------------------

# An adapter folder named so that, printed raw, it retitles the window, clears the screen and
# (C1 CSI) turns the text red: the fake server lists it in /v1/models as it is.
HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\x9b31m"
HOSTILE_SHOWN = "evil^[]0;pwned^G^[[2J\\x9b31m"
RAW = ("\x1b", "\x07", "\x9b")


def _terminal_output(az_cloud, day2, *args, timeout=120):
    child = _spawn(az_cloud, day2, *args, timeout=timeout)
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    return child.before


def test_server_supplied_strings_reach_the_terminal_neutralised(az_cloud, day2, tmp_path):
    """Model names from /v1/models and the answers reach a real terminal through the same
    neutralising as chat's replies: every control character shown as ^X or \\xNN, none raw."""
    hostile = day2["share"] / "aitk" / "adapters" / HOSTILE
    hostile.mkdir()
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("say \x1b[31mred\x1b[0m\n")
    try:
        for args in (["endpoint", "-o", "table"], ["status", "-o", "table"]):
            out = _terminal_output(az_cloud, day2, *args)
            assert HOSTILE_SHOWN in out and not [c for c in RAW if c in out], repr(out)
        out = _terminal_output(az_cloud, day2, "compare", "--prompts", str(prompts), "-o", "table")
        assert "evil^[]0;pwned" in out and "say ^[[31mred^[[0m" in out, out  # a model column, an answer
        assert not [c for c in RAW if c in out], repr(out)
        child = _spawn(az_cloud, day2, "chat")
        child.logfile_read = transcript = io.StringIO()  # all the terminal showed
        try:
            child.expect_exact("you> ")
            child.sendline("/help")
            child.expect_exact("/system TEXT")
            child.expect_exact("you> ")
            child.sendline("/model")
            child.expect_exact("(model: fake-base; the endpoint serves: ")
            child.expect_exact("you> ")
            child.sendline("/model nope")
            child.expect_exact("[error] model 'nope' is not served")
            child.expect_exact("you> ")
            child.sendline("/exit")
            child.expect(pexpect.EOF)
        finally:
            child.close()
        shown = transcript.getvalue()
        assert shown.count(HOSTILE_SHOWN) >= 2 and not [c for c in RAW if c in shown], repr(shown)  # /help, /model
    finally:
        hostile.rmdir()


def test_compare_to_an_unwritable_report_is_refused_before_any_prompt_is_sent(az_cloud, standin, day2, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("hello\n")
    mark = len(standin.requests_log)
    proc = az_cloud(
        "aitk", "inference", "compare", "--prompts", str(prompts), "--report", "/sys/compare.html", cwd=day2["ws"]
    )
    one_error(proc, "--report /sys/compare.html: cannot write in /sys", "--report compare.html", in_line=False)
    assert standin.requests_log[mark:] == []  # not even the app was looked up


# -- logs -------------------------------------------------------------------------------------


def test_logs_tail_shows_the_console_log(az_cloud, day2):
    proc = az_cloud("aitk", "inference", "logs", "--tail", "50", cwd=day2["ws"])
    _ok(proc, parse=False)
    assert "fake server: serving fake-base" in proc.stdout
    assert "Successfully Connected to container" in proc.stdout
    one_error(az_cloud("aitk", "inference", "logs", "--tail", "1000", cwd=day2["ws"]), "--tail 1000 is out of range")


@pytest.mark.parametrize("kind", ["console", "system"])
def test_logs_of_an_unknown_revision_lists_the_revisions(az_cloud, day2, kind):
    st = _ok(az_cloud("aitk", "inference", "status", cwd=day2["ws"]))
    proc = az_cloud("aitk", "inference", "logs", "--type", kind, "--revision", "no-such-rev", cwd=day2["ws"])
    line = one_error(proc, "leave --revision out for the latest", in_line=False)
    assert "--revision no-such-rev is not a revision of" in line and f"{st['revision']} (active)" in line
    assert "{" not in proc.stderr  # not Azure's raw JSON
    _ok(az_cloud("aitk", "inference", "logs", "--revision", st["revision"].upper(), cwd=day2["ws"]), parse=False)


JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")


@pytest.mark.parametrize("kind", ["console", "system"])
def test_debug_keeps_the_log_streams_token_out(az_cloud, standin, day2, kind):
    """`--debug` logs every Resource Manager answer; getAuthToken's is the log stream's credential
    (a bearer token for the app's logs), kept out like the keys. Deploy's start-up watch reads the
    console through the same call (azure/arm.log_stream_token)."""
    mark = len(standin.requests_log)
    proc = az_cloud("aitk", "inference", "logs", "--tail", "5", "--type", kind, "--debug", cwd=day2["ws"])
    _ok(proc, parse=False)
    assert any(p.lower().split("?")[0].endswith("/getauthtoken") for _, p, _ in standin.requests_log[mark:])
    assert "Response content" in proc.stderr  # --debug did log the answers of the other calls
    assert "getAuthToken (the answer is a credential: not logged)" in proc.stderr
    assert not JWT.findall(proc.stderr), JWT.findall(proc.stderr)[:1]


def test_standin_log_stream_wants_a_token_and_a_real_replica(standin, day2):
    import requests

    cfg = day2["cfg"]
    revs = json.loads(
        subprocess.run(
            [AZ, "containerapp", "revision", "list", "-g", RG, "-n", cfg["ACA_APP_NAME"], "-o", "json"],
            env=day2["env"],
            text=True,
            stdout=subprocess.PIPE,
            check=True,
        ).stdout
    )
    rev = revs[-1]["name"]
    base = (
        f"{standin.url}/subscriptions/{standin.subscription_id}/resourceGroups/{RG}/containerApps/"
        f"{cfg['ACA_APP_NAME']}/revisions/{rev}"
    )
    r = requests.get(f"{base}/replicas/{rev}-0/containers/x/logstream", verify=standin.ca_bundle, timeout=10)
    assert r.status_code == 401
    token = standin.entra.issue(standin.url + "/", standin.tenant_id)
    r = requests.get(
        f"{base}/replicas/nope/containers/x/logstream",
        verify=standin.ca_bundle,
        timeout=10,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 404


def test_logs_follow_streams_new_lines_until_ctrl_c(az_cloud, standin, day2, job_control):
    log_path = standin.runtime.status(day2["app_id"])["log_path"]
    proc = az_cloud.popen(
        "aitk",
        "inference",
        "logs",
        "--follow",
        "--tail",
        "1",
        cwd=day2["ws"],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = proc.stdout.readline()
        assert "Connecting to the container" in first
        with open(log_path, "a") as f:
            f.write("a line written while following\n")
        deadline = time.monotonic() + 15
        seen = ""
        while "a line written while following" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "a line written while following" in seen
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)  # a Ctrl-C the process ignored would leave it following
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- delete (last: it removes the app) --------------------------------------------------------


def test_delete_without_a_terminal_asks_for_yes(az_cloud, day2):
    proc = az_cloud("aitk", "inference", "delete", cwd=day2["ws"], input="")
    one_error(proc, "--yes")
    _ok(az_cloud("containerapp", "show", "-g", RG, "-n", day2["cfg"]["ACA_APP_NAME"], "-o", "json"))


def test_delete_asks_lists_and_keeps_the_finetuning_storage(az_cloud, day2):
    child = _spawn(az_cloud, day2, "delete", timeout=60)
    try:
        child.expect_exact("Delete these resources?")
        listing = child.before
        child.sendline("n")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert "Microsoft.App/containerApps " + day2["cfg"]["ACA_APP_NAME"] in listing
    assert "Microsoft.App/managedEnvironments aitk-env-" in listing
    assert f"{FT_STORAGE} (the fine-tuning storage, named by" in listing
    assert "Nothing was deleted" in child.before
    _ok(az_cloud("containerapp", "show", "-g", RG, "-n", day2["cfg"]["ACA_APP_NAME"], "-o", "json"))

    child = _spawn(az_cloud, day2, "delete", "-o", "json", timeout=120)
    try:
        child.expect_exact("Delete these resources?")
        child.sendline("y")
        child.expect(pexpect.EOF)
        out = child.before
    finally:
        child.close()
    assert child.exitstatus == 0, out
    shown = az_cloud("containerapp", "show", "-g", RG, "-n", day2["cfg"]["ACA_APP_NAME"], "-o", "json")
    assert shown.returncode != 0
    left = _ok(az_cloud("resource", "list", "-g", RG, "-o", "json"))
    types = {r["type"] for r in left}
    assert "Microsoft.App/managedEnvironments" not in types and "Microsoft.App/containerApps" not in types
    assert any(r["name"] == FT_STORAGE for r in left)
    assert (day2["share"] / "finetuned-data.txt").read_text() == "keep me"
    assert day2["key"] not in out
    again = az_cloud("aitk", "inference", "delete", "--yes", cwd=day2["ws"])  # gone already: no error
    _ok(again, parse=False)
    assert "Nothing to delete" in again.stderr and "was not found" not in again.stderr


# -- help (no stand-in needed) ----------------------------------------------------------------

DAY_TWO = {
    "chat": ["--model -m", "--system", "--temperature", "--max-tokens", "--message", "--workspace"],
    "status": ["--workspace"],
    "delete": ["--yes -y", "--no-wait", "--workspace"],
    "logs": ["--follow", "--tail", "--timeline", "--workspace"],
}


def test_group_help_lists_the_day_two_commands(az):
    out = az("aitk", "inference", "--help").stdout
    for c in DAY_TWO:
        assert f"    {c} " in out, out


@pytest.mark.parametrize("command", sorted(DAY_TWO))
def test_day_two_help_has_examples_and_every_argument_documented(az, command):
    proc = az("aitk", "inference", command, "--help")
    assert proc.returncode == 0, proc.stderr
    head, examples = proc.stdout.split("Examples", 1)
    assert f"az aitk inference {command}" in examples
    assert all(len(line) <= 100 for line in examples.splitlines())
    for arg in DAY_TWO[command]:
        line = next(ln for ln in head.splitlines() if ln.strip().startswith(arg))
        assert line.split(":", 1)[1].strip(), f"{arg} has no help: {line!r}"


# -- a server that fails to start -------------------------------------------------------------


def test_status_names_the_start_up_error(az_cloud, standin, tmp_path):
    group = "aitk-day2-fail"
    _ok(az_cloud("group", "create", "-n", group, "-l", LOCATION, "-o", "json"))
    crash = json.dumps(
        [
            "python3",
            "-c",
            "import sys; print('aitk_serve: found no model under /mount', "
            "flush=True); print('ValueError: no model to serve', flush=True); sys.exit(3)",
        ]
    )
    _ok(
        az_cloud(
            "aitk",
            "inference",
            "provision",
            "-g",
            group,
            "--min-replicas",
            "1",
            "--parameters",
            f"defaultCommands={crash}",
            "-o",
            "json",
            "--workspace",
            str(tmp_path),
        )
    )
    deadline = time.monotonic() + 20
    while True:
        st = _ok(az_cloud("aitk", "inference", "status", "--workspace", str(tmp_path)))
        if st["error"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert st["ready"] is False and st["models"] == [] and st["revisionState"] == "Failed"
    # Azure puts the cause in the revision's runningStateDetails or the crashing replica's
    # container state (tests/unit cover both); the stand-in gives neither. While the crash-looping
    # replica is still listed, its console (here the line that starts it) names the cause; once none is listed, the error says
    # the revision failed to start and that no console is left to read. Which one status meets
    # depends on when it asks: both are right, and nothing else is.
    if "no model to serve" not in st["error"]:
        assert st["revision"] in st["error"] and "failed to start" in st["error"], st["error"]
        # The note reads the replicas listed at that moment: none listed, it says the same.
        assert st.get("note") is None or "failed to start" in st["note"], st.get("note")
    table = az_cloud("aitk", "inference", "status", "-o", "table", "--workspace", str(tmp_path))
    assert table.returncode == 0 and "Failed" in table.stdout
    assert "failed to start" in table.stdout or "no model to serve" in table.stdout, table.stdout
    # clean up with --yes --no-wait (no question; the app is waited on, the rest is not)
    app = st["app"]
    proc = az_cloud("aitk", "inference", "delete", "--yes", "--no-wait", "--workspace", str(tmp_path))
    _ok(proc, parse=False)
    assert "This deletes:" in proc.stderr and "Delete these resources?" not in proc.stdout + proc.stderr
    deletes = proc.stderr.split("This deletes:", 1)[1]
    assert "Microsoft.Storage/storageAccounts aitkinfer" in deletes  # provision made it here
    assert "and keeps:" not in deletes
    assert az_cloud("containerapp", "show", "-g", group, "-n", app, "-o", "json").returncode != 0
