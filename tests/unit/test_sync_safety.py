"""What deploy refuses or skips before it writes to the share (issue 12, the extension): links
out of the synced folder, names Azure Files rejects, names that collide case-insensitively,
files written while they go up; and the launcher's versioned release on the share."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aitk_serve import layout
from azext_aitk.azure import file_share
from azext_aitk.core.deploy import adapter_specs, launcher_release, serve_adapters, share_names, sync_plan
from azext_aitk.core.errors import AdapterSpecError, SyncError

from .test_file_share import FakeShare

LAUNCHER_SRC = Path(layout.__file__).resolve().parent


# -- links, FIFOs, sockets -----------------------------------------------------------------------


def test_link_to_a_file_outside_is_refused_naming_the_link(tmp_path):
    outside = tmp_path / "secrets.txt"
    outside.write_text("ssh key")
    folder = tmp_path / "inference"
    folder.mkdir()
    (folder / "serve.json").write_text("{}")
    (folder / "notes.txt").symlink_to(outside)
    with pytest.raises(SyncError) as e:
        sync_plan.scan_local(folder, layout.INFERENCE_DIR)
    assert str(folder / "notes.txt") in str(e.value) and str(outside) in str(e.value)
    assert "\n" not in str(e.value)


def test_link_to_a_folder_outside_is_refused_not_dropped(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.txt").write_text("x")
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "extra").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(SyncError, match="extra is a link to"):
        sync_plan.scan_local(folder, layout.adapter_dir("a"))


def test_links_inside_are_followed_and_odd_entries_skipped_with_a_warning(tmp_path):
    folder = tmp_path / "inference"
    (folder / "real").mkdir(parents=True)
    (folder / "real" / "w.bin").write_bytes(b"abc")
    (folder / "alias.bin").symlink_to(folder / "real" / "w.bin")
    (folder / "alias-dir").symlink_to(folder / "real", target_is_directory=True)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    (folder / "broken").symlink_to(tmp_path / "gone")
    os.mkfifo(folder / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock"))
    warnings = []
    try:
        files = sync_plan.scan_local(folder, layout.INFERENCE_DIR, warn=warnings.append)
    finally:
        sock.close()
    assert sorted(files) == [
        "aitk/inference/alias-dir/w.bin",
        "aitk/inference/alias.bin",
        "aitk/inference/real/w.bin",
    ]
    assert all(f.size == 3 for f in files.values())
    named = " | ".join(warnings)
    for entry in ("broken", "pipe", "sock", "loop"):
        assert str(folder / entry) in named, warnings
    assert len(warnings) == 4


# -- Azure Files names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "notes:v2.txt",
        'a"b',
        "a\\b",
        "a|b",
        "a<b",
        "a>b",
        "a*b",
        "a?b",
        "tab\there",
        "bell\x07",
        "trailing.",
        "trailing ",
        "com1",
        "COM1.txt",
        "Lpt9.log",
        "con",
        "nul.tar.gz",
        "aux",
        "prn",
        "com0",
        "x" * 256,
    ],
)
def test_names_azure_files_rejects(name):
    why = share_names.problem(f"aitk/inference/{name}")
    assert why is not None


@pytest.mark.parametrize(
    "name", ["notes-v2.txt", "com10", "console.txt", "lpt", "a.b.c", "x" * 255, "ünïcode.json", ".hidden"]
)
def test_names_azure_files_accepts(name):
    assert share_names.problem(f"aitk/inference/{name}") is None


def test_path_length_limit():
    deep = "/".join(["d" * 200] * 11)
    assert share_names.problem(deep) is not None and "2048" in share_names.problem(deep)
    assert share_names.problem("/".join(["d" * 200] * 10)) is None


def test_check_names_the_local_file():
    with pytest.raises(SyncError) as e:
        share_names.check(
            [("aitk/inference/ok.txt", "/w/inference/ok.txt"), ("aitk/inference/a:b", "/w/inference/a:b")]
        )
    assert str(e.value).startswith("/w/inference/a:b cannot be uploaded")
    assert "nothing was uploaded" in e.value.recommendation


# -- case-insensitive names -----------------------------------------------------------------------


def test_adapter_names_differing_only_in_case_are_refused(tmp_path):
    for n in ("a", "b"):
        (tmp_path / n).mkdir()
        (tmp_path / n / "adapter_config.json").write_text("{}")
        (tmp_path / n / "adapter_model.safetensors").write_bytes(b"w")
    with pytest.raises(AdapterSpecError, match="differ only in case"):
        adapter_specs.parse_all(["Run1=a", "run1=b"], base_dir=tmp_path)


def _lf(path):
    return sync_plan.LocalFile(path, "/src/" + path, 1, "h")


def test_plan_refuses_paths_that_collide_case_insensitively():
    local = {p: _lf(p) for p in ("aitk/adapters/Run1/a.json", "aitk/adapters/run1/b.json")}
    with pytest.raises(SyncError, match="case-insensitive"):
        sync_plan.plan(local, {}, ["aitk/adapters/Run1", "aitk/adapters/run1"])


def test_a_remote_file_in_other_case_is_the_same_file_never_deleted():
    local = {"aitk/inference/Serve.json": _lf("aitk/inference/Serve.json")}
    remote = {"aitk/inference/serve.json": sync_plan.RemoteFile("aitk/inference/serve.json", 1, "h")}
    plan = sync_plan.plan(local, remote, [layout.INFERENCE_DIR], delete=True)
    assert plan.delete == [] and [f.path for f in plan.skip] == ["aitk/inference/Serve.json"]


# -- a file written while it goes up ------------------------------------------------------------------


def _writer_mid_upload(share, action):
    """Make each upload read half its bytes, run `action`, then read the rest."""
    real = share.get_file_client

    def client(path):
        c = real(path)
        upload = c.upload_file

        def upload_file(data, length=None, **kw):
            head = data.read(length // 2)
            action()
            rest = data.read()

            class Joined:
                def read(self, *_):
                    return head + rest

            return upload(Joined(), length=len(head + rest), **kw)

        c.upload_file = upload_file
        return c

    share.get_file_client = client


@pytest.mark.parametrize("how", ["rewrite-same-size", "append"])
def test_a_file_changed_during_upload_fails_and_is_not_marked_complete(tmp_path, how):
    src = tmp_path / "adapter"
    src.mkdir()
    weights = src / "adapter_model.safetensors"
    weights.write_bytes(b"a" * 1000)
    share = FakeShare()
    local = sync_plan.with_hashes(sync_plan.scan_local(src, layout.adapter_dir("r")))
    file_share.ensure_dirs(share, list(local), set())

    def change():
        if how == "append":
            with open(weights, "ab") as f:
                f.write(b"more")
        else:
            weights.write_bytes(b"b" * 1000)

    _writer_mid_upload(share, change)
    with pytest.raises(SyncError) as e:
        file_share.upload(share, list(local.values()))
    assert str(weights) in str(e.value) and "changed during the upload" in str(e.value)
    meta = share.files["aitk/adapters/r/adapter_model.safetensors"][1]
    assert sync_plan.META_SHA256 not in meta  # the next deploy uploads it again


def test_an_unchanged_file_uploads_and_is_marked(tmp_path):
    src = tmp_path / "adapter"
    src.mkdir()
    (src / "w.bin").write_bytes(b"a" * 1000)
    share = FakeShare()
    local = sync_plan.with_hashes(sync_plan.scan_local(src, layout.adapter_dir("r")))
    file_share.ensure_dirs(share, list(local), set())
    _writer_mid_upload(share, lambda: None)
    file_share.upload(share, list(local.values()))
    assert share.files["aitk/adapters/r/w.bin"][1][sync_plan.META_SHA256] == local["aitk/adapters/r/w.bin"].sha256


# -- the launcher as a release ----------------------------------------------------------------------


def _release(src=LAUNCHER_SRC):
    return launcher_release.files(sync_plan.with_hashes(sync_plan.scan_tree(src)))


def test_release_layout_and_upload_order():
    rel = _release()
    assert layout.launcher_release_dir(rel.release) + "/cli.py" in rel.files
    assert rel.files[layout.LAUNCHER_CURRENT_FILE].data == rel.release.encode() + b"\n"
    assert rel.files[layout.LAUNCHER_ENTRY_FILE].source.endswith("share_entry.py")
    first, last = launcher_release.upload_order(reversed(list(rel.files.values())))
    assert [f.path for f in last] == [layout.LAUNCHER_CURRENT_FILE, layout.LAUNCHER_ENTRY_FILE]
    assert all(f.path.startswith(layout.LAUNCHER_RELEASES_DIR + "/") for f in first)


def test_release_id_follows_the_content(tmp_path):
    pkg = tmp_path / "aitk_serve"
    pkg.mkdir()
    (pkg / "share_entry.py").write_text("x")
    (pkg / "a.py").write_text("1")
    one = _release(pkg).release
    assert _release(pkg).release == one
    (pkg / "a.py").write_text("2")
    assert _release(pkg).release != one


def _put_release(launcher, rel):
    for path, f in rel.files.items():
        dest = launcher.parent.parent / path  # share root / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.data if f.data is not None else Path(f.source).read_bytes())


def _import_from_share(share, code, timeout=30):
    env = dict(os.environ, PYTHONPATH=str(share / layout.LAUNCHER_DIR))
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, cwd=str(share)
    )


def test_the_share_entry_runs_the_current_release(tmp_path):
    share = tmp_path / "share"
    launcher = share / layout.LAUNCHER_DIR
    rel = _release()
    _put_release(launcher, rel)
    proc = _import_from_share(
        share, "import aitk_serve, aitk_serve.layout as l; print(l.__file__, aitk_serve.VLLM_VERSION)"
    )
    assert proc.returncode == 0, proc.stderr
    assert str(share / layout.launcher_release_dir(rel.release) / "layout.py") in proc.stdout


def test_a_half_uploaded_release_never_replaces_the_running_one(tmp_path):
    """Upload a new release but stop before `current` (what a failed deploy leaves): the entry
    still runs the old release, complete."""
    share = tmp_path / "share"
    launcher = share / layout.LAUNCHER_DIR
    old = _release()
    _put_release(launcher, old)
    new_pkg = tmp_path / "new" / "aitk_serve"
    new_pkg.mkdir(parents=True)
    for f in LAUNCHER_SRC.glob("*.py"):
        (new_pkg / f.name).write_bytes(f.read_bytes())
    (new_pkg / "layout.py").write_text("raise ImportError('half written')\n")
    new = _release(new_pkg)
    first, _ = launcher_release.upload_order(new.files.values())
    for f in first[: len(first) // 2]:
        dest = share / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(Path(f.source).read_bytes())
    proc = _import_from_share(share, "import aitk_serve.layout as l; print(l.__file__)")
    assert proc.returncode == 0, proc.stderr
    assert layout.launcher_release_dir(old.release) in proc.stdout


def test_a_pointer_to_no_release_is_one_line(tmp_path):
    share = tmp_path / "share"
    launcher = share / layout.LAUNCHER_DIR
    _put_release(launcher, _release())
    (launcher / "current").write_text("0123456789abcdef\n")  # names a release that is not there
    proc = _import_from_share(share, "import aitk_serve", timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "names no complete launcher release" in proc.stderr


# -- deploy --adapter with a serve.json that lists adapters ----------------------------------------------


def test_pushed_adapters_are_added_to_a_listing_serve_json():
    serve = {"model": "m", "adapters": {"old": "models/old/adapter"}}
    extra = serve_adapters.added(serve, ["new"], "inference/serve.json")
    assert extra == {"new": "aitk/adapters/new"}
    merged = json.loads(serve_adapters.merged_text(serve, extra))
    assert merged["adapters"] == {"old": "models/old/adapter", "new": "aitk/adapters/new"} and merged["model"] == "m"
    assert serve["adapters"] == {"old": "models/old/adapter"}  # the user's value is not changed


def test_discovery_or_already_listed_adds_nothing():
    assert serve_adapters.added({"adapters": None}, ["a"], "s") == {}
    assert serve_adapters.added({"adapters": {"a": "aitk/adapters/a/"}}, ["a"], "s") == {}


def test_a_name_serve_json_maps_elsewhere_is_refused():
    with pytest.raises(AdapterSpecError, match="already maps 'a' to 'models/x'"):
        serve_adapters.added({"adapters": {"a": "models/x"}}, ["a"], "inference/serve.json")
