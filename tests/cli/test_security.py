"""Issue 12 (the extension) with the real az against the local stand-in: the key goes only to the
app's own HTTPS ingress; `--debug` shows neither the API key nor a storage key; deploy refuses
links out of the folder, names Azure Files rejects and colliding adapter names before it writes
anything; a serve.json that lists adapters keeps a pushed one; an unwritable workspace is one
line before any deployment. Own resource group and workspace."""

import json

import pytest

from aitk_testkit.az_harness import ok as _ok
from aitk_testkit.az_harness import one_error
from aitk_testkit.local_http import JsonHandler, serving
from aitk_testkit.scenario import FAKE_PARAMETERS
from aitk_testkit.tiny_models import write_lora

RG = "aitk-sec"
STORAGE = "aitksecft01"


def _adapter(folder, rank=8):
    return write_lora(folder, rank=rank)


@pytest.fixture(scope="module")
def sec(az_cloud, fake_finetuning):
    ws, share = fake_finetuning("sec", RG, STORAGE)
    _ok(az_cloud("aitk", "inference", "init", cwd=ws))
    provision = az_cloud("aitk", "inference", "provision", *FAKE_PARAMETERS, "--debug", cwd=ws)
    _ok(provision, parse=False)
    key = _ok(az_cloud("aitk", "inference", "endpoint", "--show-key", cwd=ws))["apiKey"]
    storage_keys = [k["value"] for k in _ok(az_cloud("storage", "account", "keys", "list", "-g", RG, "-n", STORAGE))]
    assert key and len(storage_keys) == 2
    return {"ws": ws, "share": share, "key": key, "storage_keys": storage_keys, "provision": provision}


def _assert_no_secret(sec, proc):
    text = proc.stdout + proc.stderr
    assert "Request body" in text or "Response content" in text, "not a --debug run?"
    for secret in [sec["key"], *sec["storage_keys"]]:
        assert secret not in text


def test_debug_never_shows_the_api_key_or_a_storage_key(az_cloud, sec):
    _assert_no_secret(sec, sec["provision"])
    again = az_cloud("aitk", "inference", "provision", *FAKE_PARAMETERS, "--debug", cwd=sec["ws"])
    _ok(again, parse=False)
    _assert_no_secret(sec, again)  # the app exists now: its key is read back (listSecrets)
    adapter = _adapter(sec["ws"] / "adapters" / "dbg")
    deploy = az_cloud(
        "aitk", "inference", "deploy", "--adapter", f"dbg={adapter}", "--timeout", "120", "--debug", cwd=sec["ws"]
    )
    _ok(deploy, parse=False)
    _assert_no_secret(sec, deploy)
    endpoint = az_cloud("aitk", "inference", "endpoint", "--debug", cwd=sec["ws"])
    _ok(endpoint, parse=False)
    _assert_no_secret(sec, endpoint)


def test_deploy_puts_the_launcher_in_a_release_and_switches_to_it(sec):
    launcher = sec["share"] / "aitk" / "launcher"
    release = (launcher / "current").read_text().strip()
    assert (launcher / "releases" / release / "aitk_serve" / "layout.py").is_file()
    assert "names no complete launcher release" in (launcher / "aitk_serve" / "__init__.py").read_text()


class _Collector(JsonHandler):
    seen = []

    def _answer(self):
        _Collector.seen.append(self.headers.get("Authorization"))
        self.send_json(200, {"object": "list", "data": [{"id": "stolen"}]})

    do_GET = do_POST = _answer


@pytest.fixture
def collector():
    _Collector.seen = []
    with serving(_Collector) as server:
        yield server


@pytest.fixture
def edited_config(sec):
    path = sec["ws"] / "infra" / "inference.config.json"
    original = path.read_text()

    def edit(endpoint):
        cfg = json.loads(original)
        cfg["ACA_APP_ENDPOINT"] = endpoint(cfg["ACA_APP_ENDPOINT"])
        path.write_text(json.dumps(cfg))

    yield edit
    path.write_text(original)


COMMANDS = [
    ("endpoint",),
    ("status",),
    ("chat", "--message", "hi"),
    ("deploy", "--no-wait"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_an_edited_endpoint_never_gets_the_key(az_cloud, sec, collector, edited_config, args):
    port = collector.server_address[1]
    edited_config(lambda _: f"http://127.0.0.1:{port}")
    err = one_error(az_cloud("aitk", "inference", *args, cwd=sec["ws"]), "ACA_APP_ENDPOINT", "not https", in_line=True)
    assert "inference.config.json" in err
    edited_config(lambda _: f"https://collector.example:{port}")
    one_error(az_cloud("aitk", "inference", *args, cwd=sec["ws"]), "is not container app", in_line=True)
    assert not any(_Collector.seen), _Collector.seen


def test_an_endpoint_without_scheme_is_fine_and_the_url_is_the_apps(az_cloud, sec, edited_config):
    edited_config(lambda url: url.removeprefix("https://") + "/")
    shown = _ok(az_cloud("aitk", "inference", "endpoint", cwd=sec["ws"]))
    assert shown["url"].startswith("https://127.0.0.1:") and shown["state"] == "Running"


def _share_snapshot(share):
    return sorted((str(p.relative_to(share)), p.stat().st_size) for p in (share / "aitk").rglob("*") if p.is_file())


def test_a_name_azure_files_rejects_fails_before_any_upload(az_cloud, sec):
    bad = sec["ws"] / "inference" / "notes:v2.txt"
    bad.write_text("x")
    (sec["ws"] / "inference" / "new.txt").write_text("would go up")
    before = _share_snapshot(sec["share"])
    try:
        one_error(az_cloud("aitk", "inference", "deploy", "--no-wait", cwd=sec["ws"]), str(bad), in_line=True)
    finally:
        bad.unlink()
        (sec["ws"] / "inference" / "new.txt").unlink()
    assert _share_snapshot(sec["share"]) == before


def test_a_link_out_of_an_adapter_folder_is_refused(az_cloud, sec, tmp_path):
    adapter = _adapter(tmp_path / "linked")
    (tmp_path / "private.txt").write_text("not for the share")
    (adapter / "notes.txt").symlink_to(tmp_path / "private.txt")
    one_error(
        az_cloud("aitk", "inference", "deploy", "--adapter", f"linked={adapter}", "--no-wait", cwd=sec["ws"]),
        str(adapter / "notes.txt"),
        "outside",
        in_line=True,
    )
    assert not (sec["share"] / "aitk" / "adapters" / "linked").exists()


def test_adapter_names_differing_in_case_are_refused(az_cloud, sec, tmp_path):
    a, b = _adapter(tmp_path / "a"), _adapter(tmp_path / "b")
    one_error(
        az_cloud("aitk", "inference", "deploy", "--adapter", f"Run1={a}", "--adapter", f"run1={b}", cwd=sec["ws"]),
        "differ only in case",
        in_line=True,
    )


def test_a_pushed_adapter_joins_a_serve_json_that_lists_adapters(az_cloud, sec, tmp_path):
    serve_file = sec["ws"] / "inference" / "serve.json"
    original = serve_file.read_text()
    serve_file.write_text(json.dumps({"adapters": {"dbg": "aitk/adapters/dbg"}, "vllm_args": []}))
    try:
        adapter = _adapter(tmp_path / "pushed")
        proc = az_cloud("aitk", "inference", "deploy", "--adapter", f"pushed={adapter}", "--no-wait", cwd=sec["ws"])
        _ok(proc, parse=False)
        uploaded = json.loads((sec["share"] / "aitk" / "inference" / "serve.json").read_text())
        assert uploaded["adapters"] == {"dbg": "aitk/adapters/dbg", "pushed": "aitk/adapters/pushed"}
        assert '"pushed": "aitk/adapters/pushed"' in proc.stderr
        assert json.loads(serve_file.read_text())["adapters"] == {"dbg": "aitk/adapters/dbg"}
    finally:
        serve_file.write_text(original)


def test_an_unwritable_workspace_is_one_line_before_any_deployment(az_cloud, sec, tmp_path):
    ws = tmp_path / "ro"
    ws.mkdir()
    (ws / "infra").write_text("a file where the infra/ folder should be")
    before = _ok(az_cloud("deployment", "group", "list", "-g", RG, "-o", "json"))
    err = one_error(
        az_cloud(
            "aitk",
            "inference",
            "provision",
            "-g",
            RG,
            "--parameters",
            "acaAppName=aitk-sec-ro",
            f"storageAccountName={STORAGE}",
            cwd=ws,
        ),
        "cannot write",
        in_line=True,
    )
    assert str(ws / "infra") in err
    after = _ok(az_cloud("deployment", "group", "list", "-g", RG, "-o", "json"))
    assert [(d["name"], d["properties"]["timestamp"]) for d in after] == [
        (d["name"], d["properties"]["timestamp"]) for d in before
    ]
