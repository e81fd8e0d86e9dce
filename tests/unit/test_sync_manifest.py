"""core/sync_manifest: a recorded hash is trusted only for the exact file version (ETag + size) it was
recorded for; anything else falls back to the file's metadata. And file_share with it: a deploy with
nothing changed asks for no file's metadata; a file written behind deploy's back, a torn upload or a
torn manifest never looks complete."""

from aitk_serve import layout
from azext_aitk.azure import file_share
from azext_aitk.core.deploy import sync_manifest, sync_plan
from azext_aitk.core.deploy.sync_manifest import Entry, Listed

from .test_file_share import FakeShare

SHA = "a" * 64
INF = layout.INFERENCE_DIR


def test_a_recorded_hash_holds_only_for_the_same_etag_and_size():
    manifest = {
        f"{INF}/same": Entry(3, SHA, '"e1"'),
        f"{INF}/etag": Entry(3, SHA, '"e1"'),
        f"{INF}/size": Entry(3, SHA, '"e1"'),
    }
    listed = [
        Listed(f"{INF}/same", 3, '"e1"'),
        Listed(f"{INF}/etag", 3, '"e2"'),  # written since
        Listed(f"{INF}/size", 4, '"e1"'),
        Listed(f"{INF}/noetag", 3, None),  # a listing without ETags
        Listed(f"{INF}/new", 3, '"e9"'),  # never recorded
    ]
    known, unknown = sync_manifest.vouched(listed, manifest)
    assert known == {f"{INF}/same": sync_plan.RemoteFile(f"{INF}/same", 3, SHA)}
    assert [f.path for f in unknown] == [f"{INF}/etag", f"{INF}/size", f"{INF}/noetag", f"{INF}/new"]


def test_names_match_case_insensitively_as_azure_files_does():
    known, unknown = sync_manifest.vouched(
        [Listed(f"{INF}/Run1/W", 3, '"e1"')], {f"{INF}/run1/w": Entry(3, SHA, '"e1"')}
    )
    assert list(known) == [f"{INF}/Run1/W"] and unknown == []


def test_anything_but_a_whole_manifest_reads_as_empty():
    good = sync_manifest.dumps({f"{INF}/x": Entry(3, SHA, '"e1"')})
    assert sync_manifest.parse(good) == {f"{INF}/x": Entry(3, SHA, '"e1"')}
    for bad in (None, b"", good[: len(good) // 2], b"\0" * len(good), b"[]", b'{"format": "other", "files": {}}'):
        assert sync_manifest.parse(bad) == {}, bad
    partial = b'{"format": "%s", "files": {"a": {"size": 3, "sha256": "", "etag": "x"}, "b": 7}}' % (
        sync_manifest.FORMAT.encode()
    )
    assert sync_manifest.parse(partial) == {}  # entries without a hash or ETag are not kept


def test_updated_keeps_other_folders_drops_deleted_and_unknown_records_uploads():
    other = f"{layout.ADAPTERS_DIR}/r/w"
    manifest = {other: Entry(1, SHA, '"o"'), f"{INF}/gone": Entry(1, SHA, '"g"'), f"{INF}/kept": Entry(1, SHA, '"k"')}
    remote = {
        f"{INF}/kept": sync_plan.RemoteFile(f"{INF}/kept", 1, SHA),
        f"{INF}/torn": sync_plan.RemoteFile(f"{INF}/torn", 5, None),  # metadata says: not complete
        f"{INF}/deleted": sync_plan.RemoteFile(f"{INF}/deleted", 1, SHA),
        f"{INF}/Rewritten": sync_plan.RemoteFile(f"{INF}/Rewritten", 1, SHA),
    }
    etags = {p: '"old"' for p in remote}
    uploaded = {f"{INF}/rewritten": (2, "b" * 64, '"new"'), f"{INF}/nometa": (2, "c" * 64, None)}
    new = sync_manifest.updated(manifest, [INF], remote, etags=etags, uploaded=uploaded, deleted=[f"{INF}/deleted"])
    assert new == {
        other: Entry(1, SHA, '"o"'),  # not synced this time: kept
        f"{INF}/kept": Entry(1, SHA, '"old"'),
        f"{INF}/rewritten": Entry(2, "b" * 64, '"new"'),  # the upload's ETag, not the listing's
    }


# -- with file_share, as deploy does it ----------------------------------------------------------------


def _deploy_sync(share, folder):
    """What operations/deploy.py does with the share: manifest, listing, plan, upload, record."""
    roots = [INF]
    local = sync_plan.with_hashes(sync_plan.scan_local(folder, INF))
    manifest = file_share.read_manifest(share)
    share.calls.clear()
    remote, dirs, etags = file_share.list_remote(share, roots, manifest)
    plan = sync_plan.plan(local, remote, roots)
    file_share.ensure_dirs(share, [f.path for f in plan.upload], dirs)
    done = file_share.upload(share, plan.upload)
    sizes = {f.path: f for f in plan.upload}
    uploaded = {p: (sizes[p].size, sizes[p].sha256, e) for p, e in done.items()}
    new = sync_manifest.updated(manifest, roots, remote, etags=etags, uploaded=uploaded)
    if new != manifest:
        file_share.write_manifest(share, new)
    return plan, list(share.calls)


def _workspace(tmp_path, n=20):
    src = tmp_path / "inference"
    for i in range(n):
        (src / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 4}" / f"f{i}.json").write_text(f"file {i}")
    share = FakeShare()
    share.dirs.add(layout.AITK_DIR)
    return src, share


def test_a_second_sync_with_nothing_changed_asks_for_no_metadata(tmp_path):
    src, share = _workspace(tmp_path)
    plan, _ = _deploy_sync(share, src)
    assert len(plan.upload) == 20
    plan, props = _deploy_sync(share, src)
    assert plan.upload == [] and len(plan.skip) == 20
    assert props == []  # the listings alone: the manifest vouches for every file


def test_without_a_manifest_every_file_gets_its_metadata_read(tmp_path):
    src, share = _workspace(tmp_path)
    _deploy_sync(share, src)
    del share.files[sync_manifest.MANIFEST_PATH]
    plan, props = _deploy_sync(share, src)
    assert plan.upload == [] and len(props) == 20
    plan, props = _deploy_sync(share, src)  # ... and written again
    assert props == []


def test_a_torn_manifest_falls_back_to_the_metadata(tmp_path):
    src, share = _workspace(tmp_path)
    _deploy_sync(share, src)
    data, meta = share.files[sync_manifest.MANIFEST_PATH]
    share.files[sync_manifest.MANIFEST_PATH] = (data[:40] + b"\0" * (len(data) - 40), meta)  # a killed write
    plan, props = _deploy_sync(share, src)
    assert plan.upload == [] and len(props) == 20


def test_a_file_written_behind_deploys_back_is_checked_and_uploaded_again(tmp_path):
    src, share = _workspace(tmp_path)
    _deploy_sync(share, src)
    path = f"{INF}/d1/f1.json"
    share.files[path] = (b"file 1", {})  # same bytes, same size, rewritten by another tool: metadata gone
    share.touch(path)
    plan, props = _deploy_sync(share, src)
    assert props == [path] and [f.path for f in plan.upload] == [path]
    plan, props = _deploy_sync(share, src)
    assert plan.upload == [] and props == []


def test_an_upload_killed_after_the_manifest_was_written_goes_up_again(tmp_path):
    src, share = _workspace(tmp_path)
    _deploy_sync(share, src)
    path = f"{INF}/d2/f2.json"
    (src / "d2" / "f2.json").write_text("file 2, new")
    # the next deploy creates the file and dies before its metadata: the manifest still names the old version
    share.files[path] = (b"file 2, ne", {})
    share.touch(path)
    plan, props = _deploy_sync(share, src)
    assert props == [path] and [f.path for f in plan.upload] == [path]
    assert share.files[path][0] == b"file 2, new"


def test_a_manifest_larger_than_the_limit_reads_as_none_and_each_file_is_checked(tmp_path, monkeypatch):
    src, share = _workspace(tmp_path)
    _deploy_sync(share, src)
    assert file_share.read_manifest(share)  # the one deploy wrote is read
    monkeypatch.setattr(sync_manifest, "MAX_BYTES", len(share.files[sync_manifest.MANIFEST_PATH][0]) - 1)
    assert file_share.read_manifest(share) == {}
    plan, calls = _deploy_sync(share, src)
    assert not plan.upload and len([c for c in calls if c.startswith(INF)]) == 20  # metadata of each file
