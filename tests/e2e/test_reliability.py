"""Issue #4's reliability cases, with the real az against the local Azure stand-in: provision and
deploy under 10% injected faults succeed with nothing duplicated or lost, and a deploy killed in
the middle of a large file resumes without re-uploading what it had finished.

The app runs aitk_testkit/fake_server.py from the share (`--parameters defaultCommands=…`), not
vLLM: what is under test here is the control plane and the share sync, and a second vLLM on the
2 shared cores would cost minutes for nothing (test_flow.py covers real serving). The module has
its own stand-in (fixture `fake_world`), so the faults and requests_log are this module's only,
and its own resource group and workspace."""

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from aitk_testkit.az_harness import ROOT
from aitk_testkit.scenario import FAKE_PARAMETERS
from aitk_testkit.tiny_models import write_lora

pytestmark = pytest.mark.slow

RESOURCE_GROUP = "aitk-faults"
FT_STORAGE = "aitkftfaults01"
FT_SHARE = "finetuning"
# Seeded: the first ARM requests of provision draw a 500 and a 429, then 10% at random
# (request order varies with timing, so which later requests fail does too).
FAULT_SEED = 176
LAUNCHER = ROOT / "container" / "aitk_serve"
EXCLUDED = ("__pycache__", ".pytest_cache")


def local_tree(folder):
    """{relative posix path: bytes} of what deploy uploads from `folder` (no caches/byte code)."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and not any(x in p.parts for x in EXCLUDED) and p.suffix not in (".pyc", ".pyo"):
            out[p.relative_to(folder).as_posix()] = p.read_bytes()
    return out


def assert_mirrors(share_folder, source_folder):
    """Every file of `source_folder` is on the share byte for byte, and nothing else is there
    (no stray partial or temporary files)."""
    want, have = local_tree(source_folder), local_tree(share_folder)
    assert sorted(have) == sorted(want), (share_folder, set(have) ^ set(want))
    for rel, data in want.items():
        assert have[rel] == data, f"{share_folder}/{rel} differs from {source_folder}/{rel}"


def make_adapter(folder, big_bytes, seed):
    """A real LoRA adapter for the share's tiny base whose weights file is about `big_bytes` long
    (a bulk tensor the checks pass over, every MiB different), and a README."""
    write_lora(folder, seed=seed, bulk_bytes=big_bytes)
    (folder / "README.md").write_text(f"adapter {seed}\n")
    return folder


def data_writes(log, since, marker):
    """(path, query) of successful data-plane PUTs logged since `since` on paths with `marker`:
    file creations (no comp=), ranges (comp=range), metadata (comp=metadata)."""
    out = []
    for method, raw, status in log[since:]:
        if method == "PUT" and marker in raw and "restype=" not in raw and status < 300:
            path, _, query = raw.partition("?")
            out.append((path, query))
    return out


def creations(log, since, marker):
    return sorted({p for p, q in data_writes(log, since, marker) if "comp=" not in q})


def test_provision_and_deploy_under_faults(fake_world, tmp_path):
    azure, az, ws = fake_world.azure, fake_world.az, fake_world.workspace
    az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
    adapter = make_adapter(tmp_path / "run1", 18 * 1024 * 1024 + 123, seed=1)  # > 16 MiB: ranges
    drawn = record_faults(azure)
    azure.set_faults(rate=0.1, seed=FAULT_SEED)  # 429 (Retry-After), 500, 503, latency, cuts
    try:
        az.run(
            "aitk",
            "inference",
            "provision",
            *FAKE_PARAMETERS,
            "-o",
            "none",
            cwd=ws,
            capture=True,
        )
        provision_faults = list(drawn)
        deployed = az.json("aitk", "inference", "deploy", "--adapter", f"run1={adapter}", "--timeout", "120", cwd=ws)
    finally:
        azure.set_faults(None)
    # Faults were injected, in provision and on the share.
    share_faults = [k for k, p in drawn[len(provision_faults) :] if f"/{FT_STORAGE}/" in p]
    assert {"500", "429"} <= {k for k, _ in provision_faults} and share_faults, drawn
    assert deployed["ready"] and "run1" in deployed["models"], deployed

    # Nothing duplicated: one app, one environment, fine-tuning's storage reused, one share.
    resources = az.json("resource", "list", "-g", RESOURCE_GROUP)
    types = sorted(r["type"].lower() for r in resources)
    for kind in (
        "microsoft.app/containerapps",
        "microsoft.app/managedenvironments",
        "microsoft.storage/storageaccounts",
    ):
        assert types.count(kind) == 1, types
    shares = az.json("storage", "share-rm", "list", "-g", RESOURCE_GROUP, "--storage-account", FT_STORAGE)
    assert [s["name"] for s in shares] == [FT_SHARE]
    deployments = az.json("deployment", "group", "list", "-g", RESOURCE_GROUP)
    assert sorted(d["name"] for d in deployments if d["name"] != "finetuning") == ["aitk-inference"]

    # The config names what is there.
    cfg = json.loads((ws / "infra" / "inference.config.json").read_text())
    app = next(r for r in resources if r["type"].lower() == "microsoft.app/containerapps")
    assert cfg["RESOURCE_GROUP_NAME"] == RESOURCE_GROUP and cfg["ACA_APP_NAME"] == app["name"]
    assert cfg["STORAGE_ACCOUNT_NAME"] == FT_STORAGE and cfg["FILE_SHARE_NAME"] == FT_SHARE
    shown = az.json("containerapp", "show", "-g", RESOURCE_GROUP, "-n", app["name"])
    assert cfg["ACA_APP_ENDPOINT"].rstrip("/") == "https://" + shown["properties"]["configuration"]["ingress"]["fqdn"]

    # Nothing lost: the share mirrors the sources, byte for byte, with nothing stray.
    share = fake_world.share
    launcher = share / "aitk" / "launcher"
    release = (launcher / "current").read_text().strip()
    assert_mirrors(launcher / "releases" / release / "aitk_serve", LAUNCHER)
    assert [p.name for p in (launcher / "releases").iterdir()] == [release]
    assert local_tree(launcher / "aitk_serve") == {"__init__.py": (LAUNCHER / "share_entry.py").read_bytes()}
    assert_mirrors(share / "aitk" / "inference", ws / "inference")
    assert_mirrors(share / "aitk" / "adapters" / "run1", adapter)
    assert sorted(p.name for p in (share / "aitk").iterdir()) == [
        "adapters",
        "deploy-lock",  # the deploy lease's file (core/deploy/deploy_lock.py)
        "deploy-manifest.json",
        "inference",
        "launcher",
    ]
    # deploy's manifest (docs/contracts.md) records, under faults too, only hashes the share's files have
    recorded = json.loads((share / "aitk" / "deploy-manifest.json").read_text())["files"]
    assert recorded and all(
        hashlib.sha256((share / path).read_bytes()).hexdigest() == entry["sha256"] for path, entry in recorded.items()
    ), recorded
    assert sorted(p.name for p in share.iterdir()) == ["aitk", "fake_server.py", "model-cache"]

    # And a deploy right after finds nothing to do: every file carries its size + hash.
    again = az.run("aitk", "inference", "deploy", "--adapter", f"run1={adapter}", "--no-wait", cwd=ws, capture=True)
    assert "0 file(s) to upload" in again.stderr, again.stderr


def test_killed_deploy_resumes_without_reuploading_finished_files(fake_world, tmp_path):
    azure, az, ws = fake_world.azure, fake_world.az, fake_world.workspace
    big = make_adapter(tmp_path / "big", 40 * 1024 * 1024 + 7, seed=2)  # 10 ranges of 4 MiB
    for i in range(3):
        (big / f"extra{i}.json").write_text(json.dumps({"i": i}))
    big_file = "/aitk/adapters/big/adapter_model.safetensors"
    share_big = fake_world.share / "aitk" / "adapters" / "big"
    small = sorted(n for n in local_tree(big) if n != "adapter_model.safetensors")

    def small_done():
        """The small files the first run finished: content and size+hash metadata in place."""
        done = []
        for name in small:
            meta = share_metadata(fake_world.share, f"aitk/adapters/big/{name}")
            if (
                (share_big / name).is_file()
                and (share_big / name).read_bytes() == (big / name).read_bytes()
                and meta.get("aitksha256") == hashlib.sha256((big / name).read_bytes()).hexdigest()
            ):
                done.append(name)
        return done

    # Slow the large file's requests down (0.2-1 s each) so the kill lands in the middle of it.
    azure.set_faults(rate=1.0, seed=FAULT_SEED, kinds=("latency",), paths=[big_file])
    mark = len(azure.requests_log)
    proc = subprocess.Popen(
        [az.executable, "aitk", "inference", "deploy", "--adapter", f"big={big}", "--no-wait", "-o", "none"],
        cwd=ws,
        env=az.env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            ranges = [q for p, q in data_writes(azure.requests_log, mark, big_file) if "comp=range" in q]
            if len(ranges) >= 2 and len(small_done()) == len(small):
                break
            assert proc.poll() is None, f"deploy ended before it could be killed: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no range of the large file landed in 120 s"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
        azure.set_faults(None)
    time.sleep(1.0)  # let the stand-in finish the requests that were in flight
    assert proc.returncode == -signal.SIGKILL
    ranges_landed = [q for p, q in data_writes(azure.requests_log, mark, big_file) if "comp=range" in q]
    assert 2 <= len(ranges_landed) < 10, ranges_landed
    # The partial file does not look finished: no hash of the local content on it.
    meta = share_metadata(fake_world.share, "aitk/adapters/big/adapter_model.safetensors")
    assert meta.get("aitksha256") != hashlib.sha256((big / "adapter_model.safetensors").read_bytes()).hexdigest(), meta

    mark = len(azure.requests_log)
    result = az.json("aitk", "inference", "deploy", "--adapter", f"big={big}", "--timeout", "120", cwd=ws)
    assert result["ready"] and "big" in result["models"], result
    assert_mirrors(share_big, big)
    # Only the unfinished file went up again (and deploy's manifest, which now records it).
    manifest = f"/{FT_STORAGE}/{FT_SHARE}/aitk/deploy-manifest.json"
    assert creations(azure.requests_log, mark, "/aitk/") == sorted([f"/{FT_STORAGE}/{FT_SHARE}{big_file}", manifest])
    assert result["uploaded"] == 1 and result["unchanged"] >= len(small)


def test_throttled_share_requests_wait_and_retry(fake_world):
    """The storage SDK gives up on a 429 (it retries 5xx and 408 only); deploy waits out the
    Retry-After and goes on."""
    azure, az, ws = fake_world.azure, fake_world.az, fake_world.workspace
    notes = ws / "inference" / "THROTTLED.md"
    notes.write_text("uploaded through 429s\n")
    azure.set_faults(rate=0.5, seed=36, kinds=("429",), paths=[f"/{FT_STORAGE}/{FT_SHARE}/aitk/inference"])
    mark = len(azure.requests_log)
    try:
        az.run("aitk", "inference", "deploy", "--no-wait", "-o", "none", cwd=ws, capture=True)
    finally:
        azure.set_faults(None)
    throttled = [p for _, p, status in azure.requests_log[mark:] if status == 429]
    assert any("THROTTLED.md" in p for p in throttled), throttled
    assert (fake_world.share / "aitk" / "inference" / "THROTTLED.md").read_bytes() == notes.read_bytes()


def test_lost_replies_to_posts_are_retried(fake_world):
    """listSecrets, listKeys and restart are POSTs, which azure-core does not repeat when the
    connection drops before the reply arrives; all three are safe to repeat and deploy does."""
    azure, az, ws = fake_world.azure, fake_world.az, fake_world.workspace
    (ws / "inference" / "NOTES.md").write_text("a serving file changed: deploy restarts\n")
    posts = ["/listsecrets", "/listkeys", "/restart"]
    # Seed 36 draws hit, miss, hit, miss, hit, miss: each POST's first reply is cut.
    azure.set_faults(rate=0.5, seed=36, kinds=("cut",), paths=posts)
    mark = len(azure.requests_log)
    try:
        result = az.json("aitk", "inference", "deploy", "--timeout", "120", cwd=ws)
    finally:
        azure.set_faults(None)
    assert result["ready"] and result["action"] == "restart", result
    sent = [p.split("?")[0].lower() for m, p, _ in azure.requests_log[mark:] if m == "POST"]
    for post in posts:
        assert sum(p.endswith(post) for p in sent) == 2, (post, sent)


def record_faults(azure):
    """[(kind, path)] of the faults the stand-in injects from now on (it logs only statuses)."""
    drawn, draw = [], azure.faults.draw

    def recording(req):
        fault = draw(req)
        if fault:
            drawn.append((fault[0], req.path))
        return fault

    azure.faults.draw = recording
    return drawn


def share_metadata(share_folder, rel):
    """The metadata the stand-in's Azure Files keeps for a file (as Get File Properties shows it)."""
    from azure_standin import files

    try:
        props = json.loads((files.sidecar_dir(share_folder) / "p" / (rel + ".json")).read_text())
    except OSError:
        return {}
    if props.get("ino") not in (None, (Path(share_folder) / rel).stat().st_ino):
        return {}  # the sidecar of a file since replaced
    return {k.lower(): v for k, v in (props.get("metadata") or {}).items()}
