"""Peer test of the stand-in's Azure Files API: az's own `az storage file` commands (azure-cli in .venv) with a
connection string naming the stand-in's file endpoint, and Azure's naming rules through azure-storage-file-share."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from aitk_testkit.az_harness import AZ, az_env

from .test_files import ACCOUNT, KEY, _svc, files_server  # noqa: F401  # pylint: disable=unused-import

pytestmark = pytest.mark.skipif(not Path(AZ).is_file(), reason="az is not installed in this venv")


def _az(files_server, env, *args):  # noqa: F811
    conn = f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={KEY};FileEndpoint={files_server['url']}"
    p = subprocess.run(
        [AZ, "storage", "file", *args, "--connection-string", conn, "--only-show-errors"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, f"az storage file {' '.join(args)}\n{p.stderr}"
    return p.stdout


def test_az_upload_batch_download_batch_round_trip(files_server, tmp_path):  # noqa: F811
    _svc(files_server).get_share_client("peer").create_share()
    env = az_env(tmp_path / "az")
    env["REQUESTS_CA_BUNDLE"] = files_server["ca"]
    src = tmp_path / "src"
    (src / "adapter" / "nested").mkdir(parents=True)
    tree = {
        "config.json": b'{"r": 8}',
        "adapter/weights.bin": os.urandom(5 * 1024 * 1024 + 7),  # more than one 4 MiB range
        "adapter/nested/empty": b"",
        "README.md": b"# model\n",
    }
    for rel, data in tree.items():
        (src / rel).write_bytes(data)

    _az(files_server, env, "upload-batch", "--destination", "peer", "--source", str(src))
    _az(
        files_server,
        env,
        "upload",
        "--share-name",
        "peer",
        "--source",
        str(src / "README.md"),
        "--path",
        "adapter/R2.md",
    )
    listed = json.loads(_az(files_server, env, "list", "--share-name", "peer", "--path", "adapter", "-o", "json"))
    assert sorted(e["name"] for e in listed) == ["R2.md", "nested", "weights.bin"]

    dst = tmp_path / "dst"
    dst.mkdir()
    _az(files_server, env, "download-batch", "--source", "peer", "--destination", str(dst))
    got = {p.relative_to(dst).as_posix(): p.read_bytes() for p in dst.rglob("*") if p.is_file()}
    assert got == {**tree, "adapter/R2.md": tree["README.md"]}  # byte-identical


def test_names_are_case_insensitive_and_case_preserving(files_server):  # noqa: F811
    share = _svc(files_server).get_share_client("cases")
    share.create_share()
    share.get_directory_client("Models").create_directory()
    share.get_file_client("Models/A.txt").upload_file(b"first")
    assert share.get_file_client("models/a.TXT").download_file().readall() == b"first"
    share.get_file_client("MODELS/a.txt").upload_file(b"second")  # the same file, its name kept
    assert [e["name"] for e in share.list_directories_and_files("models")] == ["A.txt"]
    assert share.get_file_client("Models/A.txt").download_file().readall() == b"second"
    assert sorted(p.name for p in (files_server["shares"] / "cases").rglob("*")) == ["A.txt", "Models"]


@pytest.mark.parametrize(
    "name",
    ['a"b', "a:b", "a|b", "a<b", "a*b", "a?b", "tab\tname", "bell\x07", "c1\x81", "CON", "lpt1", "Clock$", "n" * 256],
)
def test_names_azure_rejects_are_invalid_resource_name(files_server, name):  # noqa: F811
    share = _svc(files_server).get_share_client("rules")
    try:
        share.create_share()
    except ResourceExistsError:
        pass  # made by an earlier case
    with pytest.raises(HttpResponseError) as err:
        share.get_file_client(name).upload_file(b"x")
    assert err.value.status_code == 400 and err.value.error_code == "InvalidResourceName"
    assert not list((files_server["shares"] / "rules").iterdir())  # nothing half-created


def test_long_paths_and_trailing_dots(files_server):  # noqa: F811
    share = _svc(files_server).get_share_client("paths")
    share.create_share()
    deep = "/".join(["d" * 200] * 11)  # 2,210 characters: over the 2,048 a path may have
    with pytest.raises(HttpResponseError) as err:
        share.get_directory_client(deep).create_directory()
    assert err.value.status_code == 400 and err.value.error_code == "InvalidResourceName"
    # without x-ms-allow-trailing-dot the service trims a trailing dot: "notes.txt." is "notes.txt"
    share.get_file_client("notes.txt.").upload_file(b"dot")
    assert share.get_file_client("notes.txt").download_file().readall() == b"dot"
    assert sorted(p.name for p in (files_server["shares"] / "paths").iterdir()) == ["notes.txt"]
    # CON is reserved, CON.txt is not (that one only Windows/SMB clients refuse)
    share.get_file_client("CON.txt").upload_file(b"ok")
    assert share.get_file_client("con.TXT").download_file().readall() == b"ok"
