import pytest
from aitk_serve import layout
from azext_aitk.core.deploy import sync_plan as s
from hypothesis import given, settings
from hypothesis import strategies as st


def _local(path, data):
    import hashlib

    return s.LocalFile(path, "/dev/null", len(data), hashlib.sha256(data).hexdigest())


def test_scan_hash_and_plan(tmp_path):
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("print(1)\n")
    (tmp_path / "pkg" / "sub").mkdir()
    (tmp_path / "pkg" / "sub" / "b.json").write_text("{}")
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "pkg" / "c.pyc").write_bytes(b"x")
    local = s.with_hashes(s.scan_local(tmp_path / "pkg", layout.INFERENCE_DIR))
    assert sorted(local) == ["aitk/inference/a.py", "aitk/inference/sub/b.json"]
    a = local["aitk/inference/a.py"]
    remote = {
        a.path: s.remote_from_metadata(a.path, a.size, s.metadata_for(a)),
        "aitk/inference/stale.txt": s.RemoteFile("aitk/inference/stale.txt", 3, "x"),
    }
    plan = s.plan(local, remote, [layout.INFERENCE_DIR])
    assert [f.path for f in plan.skip] == ["aitk/inference/a.py"]
    assert [f.path for f in plan.upload] == ["aitk/inference/sub/b.json"]
    assert plan.delete == []
    plan = s.plan(local, remote, [layout.INFERENCE_DIR], delete=True)
    assert [r.path for r in plan.delete] == ["aitk/inference/stale.txt"]


def test_changed_size_or_content_or_unknown_hash_uploads():
    f = _local("aitk/adapters/x/adapter_config.json", b"{}")
    for r in (s.RemoteFile(f.path, 3, f.sha256), s.RemoteFile(f.path, 2, "0" * 64), s.RemoteFile(f.path, 2, None)):
        assert s.plan({f.path: f}, {f.path: r}, ["aitk/adapters/x"]).upload == [f]


def test_metadata_from_another_writer_is_distrusted():
    r = s.remote_from_metadata("aitk/inference/a", 10, {"AITKSHA256": "abc", "aitksize": "9"})
    assert r.sha256 is None
    assert s.remote_from_metadata("aitk/inference/a", 9, {"AITKSHA256": "abc", "aitksize": "9"}).sha256 == "abc"


def test_never_outside_owned_prefixes(tmp_path):
    with pytest.raises(s.SyncError):
        s.scan_local(tmp_path, "models/run1")
    with pytest.raises(s.SyncError):
        s.plan({}, {}, ["model-cache"])
    f = _local("models/x/adapter_config.json", b"{}")
    with pytest.raises(s.SyncError):
        s.plan({f.path: f}, {}, ["aitk/adapters/x"])


def test_parent_dirs_parents_first():
    assert s.parent_dirs(["aitk/adapters/x/a.json", "aitk/inference/s.json"]) == [
        "aitk",
        "aitk/adapters",
        "aitk/inference",
        "aitk/adapters/x",
    ]


_segment = st.text(alphabet="abcxyz_-.", min_size=1, max_size=4).filter(lambda t: t not in (".", ".."))
_paths = st.lists(_segment, min_size=1, max_size=4).map("/".join)
_prefixes = st.sampled_from(
    [
        "aitk/inference",
        "aitk/launcher",
        "aitk/adapters/a",
        "aitk/adapters/b",
        "models",
        "model-cache/org/m",
        "aitk",
        "aitk/other",
        "",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.tuples(_prefixes, _paths).map(lambda t: s.share_join(*t)),
        st.tuples(st.integers(0, 3), st.sampled_from(["h1", "h2", None])),
        max_size=12,
    ),
    st.dictionaries(
        st.tuples(st.sampled_from(["aitk/inference", "aitk/adapters/a"]), _paths).map(lambda t: s.share_join(*t)),
        st.binary(max_size=3),
        max_size=8,
    ),
    st.booleans(),
)
def test_plan_never_touches_anything_outside_the_roots(remote_spec, local_spec, delete):
    roots = ["aitk/inference", "aitk/adapters/a"]
    remote = {p: s.RemoteFile(p, size, h) for p, (size, h) in remote_spec.items()}
    local = {p: _local(p, d) for p, d in local_spec.items()}
    plan = s.plan(local, remote, roots, delete=delete)
    assert {f.path for f in plan.upload} | {f.path for f in plan.skip} == set(local)
    for r in plan.delete:
        assert layout.is_owned(r.path)
        assert any(r.path == root or r.path.startswith(root + "/") for root in roots)
        assert r.path not in local
    if not delete:
        assert plan.delete == []
