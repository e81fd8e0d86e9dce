"""Azure Files data plane of the stand-in, driven by the real azure-storage-file-share SDK."""

import base64
import hashlib
import os
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.fileshare import ShareServiceClient
from requests.structures import CaseInsensitiveDict

from azure_standin import files, tls
from azure_standin.http import Request

ACCOUNT = "aitkstore1"
KEY = base64.b64encode(b"k" * 64).decode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _do(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        parts = urlsplit(self.path)
        query = {}
        for kv in parts.query.split("&") if parts.query else []:
            k, _, v = kv.partition("=")
            query.setdefault(unquote(k), unquote(v))
        req = Request(
            self.command, unquote(parts.path), query, CaseInsensitiveDict(self.headers.items()), body, self.path
        )
        resp = files.handle(req, KEY, self.server.share_dir_fn)
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        if isinstance(resp.body, (bytes, bytearray)):
            self.wfile.write(resp.body)
        else:
            for chunk in resp.body:
                self.wfile.write(chunk)

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _do


@pytest.fixture(scope="module")
def files_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    ca, ca_key = tls.make_ca(root / "ca")
    cert, key = tls.make_leaf(ca, ca_key, root / "server.pem", root / "server.key")
    shares = root / "shares"
    shares.mkdir()

    def share_dir_fn(name, create=False):
        d = shares / name
        if d.is_dir() or create:
            return d
        return None

    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.share_dir_fn = share_dir_fn
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield {"url": f"https://127.0.0.1:{srv.server_address[1]}/{ACCOUNT}", "ca": str(ca), "shares": shares}
    srv.shutdown()
    srv.server_close()


def _svc(files_server, key=KEY):
    return ShareServiceClient(
        files_server["url"],
        credential={"account_name": ACCOUNT, "account_key": key},
        connection_verify=files_server["ca"],
    )


def test_files_sdk_roundtrip(files_server):
    svc = _svc(files_server)
    share = svc.get_share_client("models")
    share.create_share()
    with pytest.raises(ResourceExistsError):
        share.create_share()
    assert share.get_share_properties().name == "models"

    d = share.get_directory_client("aitk")
    d.create_directory()
    with pytest.raises(ResourceExistsError):
        d.create_directory()
    sub = d.get_subdirectory_client("adapters")
    sub.create_directory(metadata={"kind": "adapters"})
    assert sub.get_directory_properties().metadata == {"kind": "adapters"}

    data = os.urandom(9 * 1024 * 1024 + 123)
    fc = sub.get_file_client("weights.bin")
    fc.upload_file(data, max_concurrency=4, metadata={"sha256": hashlib.sha256(data).hexdigest()})
    local = files_server["shares"] / "models" / "aitk" / "adapters" / "weights.bin"
    assert local.read_bytes() == data  # the share folder holds the user's file as is
    # nothing but the user's files inside the share folder
    assert sorted(p.name for p in (files_server["shares"] / "models").rglob("*")) == ["adapters", "aitk", "weights.bin"]

    assert fc.download_file(max_concurrency=4).readall() == data
    part = fc.download_file(offset=1000, length=5000).readall()
    assert part == data[1000:6000]

    props = fc.get_file_properties()
    assert props.size == len(data)
    assert props.metadata == {"sha256": hashlib.sha256(data).hexdigest()}
    etag1 = props.etag
    fc.set_file_metadata({"a": "1", "b": "two"})
    props2 = fc.get_file_properties()
    assert props2.metadata == {"a": "1", "b": "two"}
    assert props2.etag != etag1

    small = sub.get_file_client("config.json")
    small.upload_file(b'{"x": 1}')
    assert small.download_file().readall() == b'{"x": 1}'
    empty = sub.get_file_client("empty")
    empty.upload_file(b"")
    assert empty.download_file().readall() == b""

    items = {
        i["name"]: i
        for i in sub.list_directories_and_files(
            include=["timestamps", "Etag", "Attributes", "PermissionKey"], include_extended_info=True
        )
    }
    assert set(items) == {"weights.bin", "config.json", "empty"}
    assert items["weights.bin"]["size"] == len(data)
    assert items["weights.bin"]["etag"]
    # metadata of listed files, as a sync does it
    assert sub.get_file_client("weights.bin").get_file_properties().metadata["a"] == "1"

    top = [i["name"] for i in d.list_directories_and_files()]
    assert top == ["adapters"]

    # paging
    for i in range(7):
        share.get_directory_client("aitk").get_file_client(f"f{i}").upload_file(b"x" * i)
    pages = list(d.list_directories_and_files(results_per_page=3).by_page())
    names = [i["name"] for p in pages for i in p]
    assert len(pages) == 3 and names == ["adapters"] + [f"f{i}" for i in range(7)]

    # resize with set properties
    small.resize_file(3)
    assert small.download_file().readall() == b'{"x'

    with pytest.raises(HttpResponseError) as ei:
        sub.delete_directory()
    assert ei.value.error_code == "DirectoryNotEmpty"
    for n in ("weights.bin", "config.json", "empty"):
        sub.get_file_client(n).delete_file()
    with pytest.raises(ResourceNotFoundError):
        sub.get_file_client("empty").get_file_properties()
    sub.delete_directory()
    assert not (files_server["shares"] / "models" / "aitk" / "adapters").exists()


def test_files_wrong_key_is_403(files_server):
    bad = base64.b64encode(b"z" * 64).decode()
    svc = _svc(files_server, bad)
    with pytest.raises(ClientAuthenticationError) as ei:
        svc.get_share_client("models").get_share_properties()
    assert ei.value.status_code == 403
    assert ei.value.error_code == "AuthenticationFailed"
    import requests

    r = requests.get(
        files_server["url"] + "/models?restype=share", verify=files_server["ca"], headers={"x-ms-version": "2025-11-05"}
    )
    assert r.status_code == 401 and "<Code>NoAuthenticationInformation</Code>" in r.text
    assert r.headers["x-ms-error-code"] == "NoAuthenticationInformation"
    assert r.headers["x-ms-version"] == "2025-11-05"


def test_files_missing_share_and_parent(files_server):
    svc = _svc(files_server)
    with pytest.raises(ResourceNotFoundError) as ei:
        svc.get_share_client("nope").get_directory_client("x").create_directory()
    assert ei.value.error_code == "ShareNotFound"
    share = svc.get_share_client("models2")
    share.create_share()
    with pytest.raises(ResourceNotFoundError) as ei:
        share.get_directory_client("a/b").create_directory()
    assert ei.value.error_code == "ParentNotFound"
    # a file written by someone else directly into the share folder is served too
    (files_server["shares"] / "models2" / "ext.txt").write_bytes(b"hello")
    fc = share.get_file_client("ext.txt")
    assert fc.download_file().readall() == b"hello"
    assert fc.get_file_properties().size == 5


def test_files_odd_names_and_ranges(files_server):
    svc = _svc(files_server)
    share = svc.get_share_client("odd")
    share.create_share()
    d = share.get_directory_client("dir with space ü")
    d.create_directory()
    fc = d.get_file_client("a+b=c&d ü%.txt")
    fc.create_file(1034, content_settings=None, metadata={"Name": "x"})
    fc.upload_range(b"x" * 1030, offset=2, length=1030)
    assert fc.download_file().readall() == b"\0\0" + b"x" * 1030 + b"\0\0"
    fc.clear_range(offset=512, length=512)
    assert fc.download_file().readall() == b"\0\0" + b"x" * 510 + b"\0" * 512 + b"x" * 8 + b"\0\0"
    assert fc.get_file_properties().metadata == {"Name": "x"}
    with pytest.raises(HttpResponseError) as ei:
        fc.upload_range(b"toolong", offset=1030, length=7)  # past the end of the file
    assert ei.value.status_code == 416
    names = [i["name"] for i in d.list_directories_and_files(name_starts_with="a+b")]
    assert names == ["a+b=c&d ü%.txt"]
    assert (files_server["shares"] / "odd" / "dir with space ü" / "a+b=c&d ü%.txt").is_file()
    from azure.storage.fileshare import ContentSettings

    fc.set_http_headers(ContentSettings(content_type="text/plain", content_md5=bytearray(b"0123456789abcdef")))
    p = fc.get_file_properties()
    assert p.content_settings.content_type == "text/plain"
    assert bytes(p.content_settings.content_md5) == b"0123456789abcdef"


def test_files_share_client_like_the_extension(files_server):
    """The extension builds ShareClient(account_url=<primaryEndpoints.file>, ...) with a trailing
    slash; nested directory clients put %2F in the URL path, which the signature covers."""
    from azure.storage.fileshare import ShareClient

    svc = _svc(files_server)
    svc.get_share_client("ext").create_share()
    share = ShareClient(
        account_url=files_server["url"] + "/",
        share_name="ext",
        credential={"account_name": ACCOUNT, "account_key": KEY},
        connection_verify=files_server["ca"],
        max_range_size=1024 * 1024,
    )
    share.get_directory_client("aitk").create_directory()
    share.get_directory_client("aitk/inference").create_directory()
    data = os.urandom(3 * 1024 * 1024 + 7)
    share.get_file_client("aitk/inference/big.bin").upload_file(data, max_concurrency=4, metadata={"sha256": "x"})
    items = list(share.get_directory_client("aitk/inference").list_directories_and_files())
    assert [(i["name"], i["is_directory"], i["size"]) for i in items] == [("big.bin", False, len(data))]
    assert share.get_file_client("aitk/inference/big.bin").download_file().readall() == data
    with pytest.raises(ResourceNotFoundError):
        list(share.get_directory_client("aitk/missing").list_directories_and_files())


def test_files_service_limits(files_server):
    """Limits the service enforces: 4 MiB per range, C#-identifier metadata names, name chars."""
    svc = _svc(files_server)
    share = svc.get_share_client("limits")
    share.create_share()
    fc = share.get_file_client("f")
    fc.create_file(8 * 1024 * 1024)
    with pytest.raises(HttpResponseError) as ei:
        fc.upload_range(b"x" * (4 * 1024 * 1024 + 512), offset=0, length=4 * 1024 * 1024 + 512)
    assert ei.value.status_code == 413 and ei.value.error_code == "RequestBodyTooLarge"
    with pytest.raises(HttpResponseError) as ei:
        fc.set_file_metadata({"not-an-identifier": "x"})
    assert ei.value.error_code == "InvalidMetadata"
    with pytest.raises(HttpResponseError) as ei:
        share.get_file_client("a:b").create_file(1)
    assert ei.value.error_code == "InvalidResourceName"


def test_files_metadata_follows_the_file(files_server):
    """A file replaced behind the data plane's back (new inode) does not keep old metadata;
    one written in place (same inode, as over SMB) does."""
    svc = _svc(files_server)
    share = svc.get_share_client("side")
    share.create_share()
    fc = share.get_file_client("m.bin")
    fc.upload_file(b"abc", metadata={"sha256": "old"})
    local = files_server["shares"] / "side" / "m.bin"
    with open(local, "r+b") as f:
        f.write(b"x")
    assert fc.get_file_properties().metadata == {"sha256": "old"}
    tmp = local.with_name("m.tmp")
    tmp.write_bytes(b"new")
    os.replace(tmp, local)
    assert fc.get_file_properties().metadata == {}
    assert fc.download_file().readall() == b"new"
    files.forget_share(files_server["shares"] / "side")
    assert not files.sidecar_dir(files_server["shares"] / "side").exists()


def test_file_lease_as_documented(files_server):
    """Lease File (https://learn.microsoft.com/rest/api/storageservices/lease-file), through the
    SDK's ShareLeaseClient: an infinite lease; only its holder writes or deletes the file (412
    LeaseIdMissing / LeaseIdMismatchWithFileOperation), anyone reads it; a second acquire is 409
    LeaseAlreadyPresent; release frees it at once; break ends it for anyone, without the ID."""
    from azure.storage.fileshare import ShareLeaseClient

    share = _svc(files_server).get_share_client("leases")
    share.create_share()
    f = share.get_file_client("lock")
    f.upload_file(b"held")
    lease = f.acquire_lease()
    props = f.get_file_properties()
    assert (props.lease.state, props.lease.status, props.lease.duration) == ("leased", "locked", "infinite")
    assert f.download_file().readall() == b"held"  # reads need no lease
    for write in (lambda: f.set_file_metadata({"a": "1"}), lambda: f.upload_file(b"x"), f.delete_file):
        with pytest.raises(HttpResponseError) as e:
            write()
        assert e.value.status_code == 412 and e.value.error_code == "LeaseIdMissing"
    with pytest.raises(HttpResponseError) as e:
        f.set_file_metadata({"a": "1"}, lease="00000000-0000-0000-0000-000000000001")
    assert e.value.status_code == 412 and e.value.error_code == "LeaseIdMismatchWithFileOperation"
    with pytest.raises(HttpResponseError) as e:
        f.acquire_lease()
    assert e.value.status_code == 409 and e.value.error_code == "LeaseAlreadyPresent"
    with pytest.raises(HttpResponseError) as e:
        ShareLeaseClient(f, lease_id="00000000-0000-0000-0000-000000000002").release()
    assert e.value.status_code == 409 and e.value.error_code == "LeaseIdMismatchWithLeaseOperation"
    f.set_file_metadata({"holder": "me"}, lease=lease)  # the holder writes
    f.upload_file(b"mine", lease=lease)
    assert f.get_file_properties().lease.state == "leased"  # a rewrite keeps the lease
    held_id = lease.id
    lease.release()
    assert f.get_file_properties().lease.state == "available"
    with pytest.raises(HttpResponseError) as e:
        f.set_file_metadata({"a": "1"}, lease=held_id)
    assert e.value.status_code == 412 and e.value.error_code == "LeaseNotPresentWithFileOperation"
    f.acquire_lease()
    ShareLeaseClient(f).break_lease()  # anyone, without the ID
    assert f.get_file_properties().lease.state == "broken"
    f.set_file_metadata({"b": "2"})  # a broken lease holds nothing
    other = f.acquire_lease()
    other.release()
    f.delete_file()
