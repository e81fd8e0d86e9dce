"""file_share (the sync on the share) against an in-memory share that behaves like azure-storage-file-share's clients."""

from types import SimpleNamespace

from aitk_serve import layout
from azext_aitk.azure import file_share, retry
from azext_aitk.core.deploy import sync_plan
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError


class FakeShare:
    """Files, folders, and an ETag per file that changes on every write of its bytes or metadata
    (as Azure Files' does); `calls` counts get_file_properties per path."""

    def __init__(self):
        self.files = {}  # path -> (bytes, metadata)
        self.dirs = set()
        self.uploads = []
        self.etags = {}
        self.calls = []
        self._version = 0

    def touch(self, path):
        self._version += 1
        self.etags[path] = f'"0x{self._version:X}"'
        return self.etags[path]

    def get_directory_client(self, path):
        share = self

        class Dir:
            def list_directories_and_files(self, include=None):
                if path not in share.dirs:
                    raise ResourceNotFoundError("ParentNotFound")
                names = {}
                for d in share.dirs:
                    if d.rsplit("/", 1)[0] == path and d != path and "/" in d:
                        names[d.rsplit("/", 1)[1]] = {"name": d.rsplit("/", 1)[1], "is_directory": True}
                for f in share.files:
                    if f.rsplit("/", 1)[0] == path:
                        entry = {"name": f.rsplit("/", 1)[1], "is_directory": False, "size": len(share.files[f][0])}
                        if include and "Etag" in include:
                            entry["etag"] = share.etags.get(f)
                        names[f.rsplit("/", 1)[1]] = entry
                return list(names.values())

            def create_directory(self):
                parent = path.rsplit("/", 1)[0] if "/" in path else None
                if parent and parent not in share.dirs:
                    raise ResourceNotFoundError("ParentNotFound")
                if path in share.dirs:
                    raise ResourceExistsError("exists")
                share.dirs.add(path)

        return Dir()

    def get_file_client(self, path):
        share = self

        class File:
            def get_file_properties(self):
                share.calls.append(path)
                data, meta = share.files[path]
                return SimpleNamespace(size=len(data), metadata=dict(meta), etag=share.etags.get(path))

            def download_file(self):
                if path not in share.files:
                    raise ResourceNotFoundError("ResourceNotFound")
                return SimpleNamespace(size=len(share.files[path][0]), readall=lambda: share.files[path][0])

            def upload_file(self, data, length=None, metadata=None, max_concurrency=1, progress_hook=None):
                assert path.rsplit("/", 1)[0] in share.dirs
                content = data if isinstance(data, bytes) else data.read()
                assert length is None or len(content) == length
                share.files[path] = (content, metadata or {})
                share.touch(path)
                share.uploads.append((path, max_concurrency))
                if progress_hook:
                    progress_hook(len(content), len(content))

            def set_file_metadata(self, metadata):
                share.files[path] = (share.files[path][0], dict(metadata))
                return {"etag": share.touch(path)}

            def delete_file(self):
                del share.files[path]

        return File()


def _sync(share, folder, roots, delete=False):
    local = sync_plan.with_hashes(sync_plan.scan_local(folder, roots[0]))
    remote, dirs, _ = file_share.list_remote(share, roots)
    plan = sync_plan.plan(local, remote, roots, delete=delete)
    file_share.ensure_dirs(share, [f.path for f in plan.upload], dirs)
    seen = []
    progress = file_share.Progress(sum(f.size for f in plan.upload), lambda d, t: seen.append((d, t)))
    file_share.upload(share, plan.upload, progress)
    file_share.delete(share, plan.delete)
    return plan, seen


def test_only_changes_go_up_and_delete_stays_inside(tmp_path, monkeypatch):
    src = tmp_path / "inference"
    (src / "sub").mkdir(parents=True)
    (src / "serve.json").write_text("{}")
    (src / "sub" / "big.bin").write_bytes(b"x" * 40)
    monkeypatch.setattr(file_share, "LARGE_FILE", 10)
    share = FakeShare()
    share.dirs.update({"models", "models/run1"})
    share.files["models/run1/adapter_model.safetensors"] = (b"weights", {})
    roots = [layout.INFERENCE_DIR]

    plan, seen = _sync(share, src, roots)
    assert len(plan.upload) == 2 and seen[-1] == (42, 42)
    assert dict(share.uploads)["aitk/inference/sub/big.bin"] == file_share.RANGE_WORKERS
    meta = share.files["aitk/inference/serve.json"][1]
    assert meta[sync_plan.META_SIZE] == "2" and len(meta[sync_plan.META_SHA256]) == 64

    plan, _ = _sync(share, src, roots)
    assert plan.upload == [] and len(plan.skip) == 2

    (src / "serve.json").write_text('{"vllm_args": []}')
    (src / "sub" / "big.bin").unlink()
    plan, _ = _sync(share, src, roots)
    assert [f.path for f in plan.upload] == ["aitk/inference/serve.json"] and plan.delete == []
    assert "aitk/inference/sub/big.bin" in share.files

    plan, _ = _sync(share, src, roots, delete=True)
    assert [r.path for r in plan.delete] == ["aitk/inference/sub/big.bin"]
    assert "aitk/inference/sub/big.bin" not in share.files
    assert "models/run1/adapter_model.safetensors" in share.files  # never touched


def test_metadata_goes_on_only_after_all_bytes(tmp_path):
    """A file whose upload dies half-way must not carry the size + hash that mark it complete
    (a killed deploy would otherwise skip it next time)."""
    src = tmp_path / "inference"
    src.mkdir()
    (src / "big.bin").write_bytes(b"x" * 64)
    share = FakeShare()
    share.dirs.add(layout.INFERENCE_DIR.split("/")[0])
    local = sync_plan.with_hashes(sync_plan.scan_local(src, layout.INFERENCE_DIR))
    file_share.ensure_dirs(share, list(local), set())
    calls = []
    real = share.get_file_client

    def dying_client(path):
        client = real(path)

        def upload_file(data, length=None, metadata=None, **_):
            calls.append(("upload", metadata))
            share.files[path] = (data.read(10), metadata or {})  # some bytes, then the kill
            raise ConnectionError("killed")

        client.upload_file = upload_file
        return client

    share.get_file_client = dying_client
    try:
        file_share.upload(share, list(local.values()))
    except ConnectionError:
        pass
    assert calls and all(meta in (None, {}) for _, meta in calls)
    share.get_file_client = real
    remote, _, _ = file_share.list_remote(share, [layout.INFERENCE_DIR])
    assert sync_plan.plan(local, remote, [layout.INFERENCE_DIR]).upload  # goes up again


def test_retry_after_honours_the_header_and_backs_off_without_it():
    assert retry.retry_after({"Retry-After": "3"}, 0) == 3.0
    assert retry.retry_after({}, 0) == 1.0 and retry.retry_after({}, 3) == 8.0
    assert retry.retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1) == 2.0
