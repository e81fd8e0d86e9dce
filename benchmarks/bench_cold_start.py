#!/usr/bin/env python
"""Cold starts and the share sync (issue #11), in the local Azure stand-in with the real az and aitk
from a wheel built from this tree. Four parts, each selectable (none given: all that this machine
can run; --weights needs FUSE):

--cold-start  the real launcher and vLLM on CPU (the tiny model of aitk_testkit.tiny_models): from the
              first request on a scaled-to-zero app to the first streamed token, with vLLM's cache on
              the share (VLLM_CACHE_ROOT, as the template sets it) and without it (the cache folder
              emptied before each start); rounds alternate (without, with). Target: cached <= 0.8 x
              uncached (medians).
--upload      `az aitk inference deploy --no-wait` against az's own `az storage file upload-batch`
              (connection string naming the stand-in's file endpoint) on the same files: 300 small
              files in 10 folders, then one 256 MiB file; every Resource Manager and Files request
              delayed by --latency-ms. Targets: deploy >= 2 x upload-batch's throughput on the small
              files, >= 1 x on the big one.
--redeploy    1,000 files already on the share, nothing changed, the same latency: the whole
              `az aitk inference deploy` (it waits for the endpoint), twice; the requests it made,
              by kind; beside it `az account show` (az's start-up, no request). Target: under 2 s.
--weights     (issue 18) 256 MB of random safetensors weights in 4 shards, read by vLLM 0.32's own
              weight iterators, each in a fresh process, every tensor copied out as a model load
              copies it: (a) the default loader's (`safetensors_weights_iterator`, what
              DefaultModelLoader reads with) and (b) the Run:ai streamer's
              (`runai_safetensors_weights_iterator`, what `--load-format runai_streamer` reads with,
              concurrency 16), both from the same folder behind benchmarks/_throttled_fs.py, a FUSE
              mirror that delays each read request --storage-latency-ms and serves it at
              --connection-mb-per-s (a fresh mount per read, so no page cache carries over); beside
              them both from local disk; and (b') the streamer's own iterator without vLLM's clone of
              each tensor; and (c) the streamer (vLLM's iterator, concurrency 16) from Blob:
              the shards in Azurite (aitk_testkit.azurite: TLS, OAuth, the managed identity's
              tokens), read directly and through benchmarks/_throttled_tcp.py, a TCP proxy that
              holds each request --storage-latency-ms and paces each connection at
              --connection-mb-per-s. Needs /dev/fuse, Debian's fuse3, `pip install mfusepy`, and
              Azurite (`make venv`) with `unshare` (util-linux) for (c).

    PYTHONPATH=src:container .venv/bin/python benchmarks/bench_cold_start.py [--cold-start] [--upload]
        [--redeploy] [--weights] [--rounds 3] [--latency-ms 20] [--storage-latency-ms 5]
        [--connection-mb-per-s 50] [--json out.json]

No timed assertion anywhere: the script prints what it measured and the targets beside it.
"""

import argparse
import collections
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aitk_testkit.az_harness import AZ, current_wheel, signed_in_az
from aitk_testkit.scenario import (
    DEMO_MODEL,
    FAKE_PARAMETERS,
    RESOURCE_GROUP,
    openai_client,
    seed_fake_finetuning,
    seed_finetuning_leftovers,
)
from azure_standin import StandIn

COOLDOWN_S = 15  # the app's scale.cooldownPeriod here: an idle app is scaled to zero 15 s after its last request
SMALL_FILES, SMALL_FOLDERS = 300, 10
REDEPLOY_FILES = 1000
BIG_MIB = 256
FAKE_GROUP, FAKE_STORAGE = "aitk-bench", "aitkftbench01"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def timed(fn):
    t0 = time.monotonic()
    out = fn()
    return time.monotonic() - t0, out


def the_app_id(azure):
    (app_id,) = list(azure.runtime.apps)  # one app per world here
    return app_id


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


# -- 1. cold start --------------------------------------------------------------------------------
def first_token(client):
    """Seconds from sending a streamed completion to its first non-empty text, and the text."""
    t0 = time.monotonic()
    stream = client.completions.create(model=DEMO_MODEL, prompt="hello azure", max_tokens=8, temperature=0, stream=True)
    took, text = None, ""
    for chunk in stream:
        piece = chunk.choices[0].text if chunk.choices else ""
        if piece and took is None:
            took = time.monotonic() - t0
        text += piece or ""
    return took, text


def cold_start(base, wheel, rounds):
    azure = StandIn(base / "azure-cold")
    azure.start()
    try:
        az = signed_in_az(azure, base / "az-cold", wheel)
        ws = base / "ws-cold"
        ws.mkdir()
        seed_finetuning_leftovers(azure, az, ws)
        az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
        log("cold start: provision + deploy (the first vLLM start) ...")
        az.run(
            "aitk",
            "inference",
            "provision",
            "-g",
            RESOURCE_GROUP,
            "--parameters",
            f"cooldownPeriod={COOLDOWN_S}",
            "-o",
            "none",
            cwd=ws,
        )
        az.run("aitk", "inference", "deploy", "-o", "none", cwd=ws)
        endpoint = az.json("aitk", "inference", "endpoint", "--show-key", cwd=ws)
        client = openai_client(endpoint, azure.ca_bundle)
        app_id = the_app_id(azure)
        cache = Path(azure.runtime.apps[app_id].spec.env["VLLM_CACHE_ROOT"])  # on the share, as the template sets it
        samples = {"uncached": [], "cached": []}
        for i in range(rounds):
            for kind in ("uncached", "cached"):
                wait_until(lambda: azure.runtime.status(app_id)["scaled_to_zero"], COOLDOWN_S + 120, "scale to zero")
                if kind == "uncached":
                    shutil.rmtree(cache, ignore_errors=True)  # an empty cache folder for this start
                cached_files = sum(1 for p in cache.rglob("*") if p.is_file()) if cache.is_dir() else 0
                took, text = first_token(client)
                samples[kind].append(took)
                log(f"  round {i + 1} {kind}: first token after {took:.1f} s ({cached_files} cache files; {text!r})")
        ratio = statistics.median(samples["cached"]) / statistics.median(samples["uncached"])
        cache_files = sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())
        return {"samples_s": samples, "ratio_cached_uncached": ratio, "cache_files": len(cache_files)}
    finally:
        azure.stop()


# -- 2 and 3: the share sync ----------------------------------------------------------------------
class SyncWorld:
    """A stand-in with an app running the fake server (no vLLM), az signed in, a workspace."""

    def __init__(self, base, wheel):
        self.base = base
        self.azure = StandIn(base / "azure-sync")
        self.azure.start()
        self.az = signed_in_az(self.azure, base / "az-sync", wheel)
        self.ws = base / "ws-sync"
        self.ws.mkdir()
        seed_fake_finetuning(self.azure, self.az, self.ws, FAKE_GROUP, FAKE_STORAGE)
        self.az.run("aitk", "inference", "init", "-o", "none", cwd=self.ws)
        self.az.run(
            "aitk",
            "inference",
            "provision",
            *FAKE_PARAMETERS,
            "-o",
            "none",
            cwd=self.ws,
        )
        self.az.run("aitk", "inference", "deploy", "-o", "none", cwd=self.ws)
        cfg = json.loads((self.ws / "infra" / "inference.config.json").read_text())
        self.account, self.share = cfg["STORAGE_ACCOUNT_NAME"], cfg["FILE_SHARE_NAME"]
        key = self.az.json("storage", "account", "keys", "list", "-g", cfg["RESOURCE_GROUP_NAME"], "-n", self.account)
        self.connection = (
            f"DefaultEndpointsProtocol=https;AccountName={self.account};AccountKey={key[0]['value']};"
            f"FileEndpoint={self.azure.url}/{self.account}"
        )

    def latency(self, ms):
        if ms:
            self.azure.set_faults(rate=1.0, kinds=("latency",), latency_s=ms / 1000.0)
        else:
            self.azure.set_faults(None)

    def deploy(self, *args):
        return timed(lambda: self.az.run("aitk", "inference", "deploy", "-o", "none", *args, cwd=self.ws, capture=True))

    def upload_batch(self, source, destination_path):
        argv = [AZ, "storage", "file", "upload-batch", "--destination", self.share, "--destination-path"]
        argv += [destination_path, "--source", str(source), "--connection-string", self.connection]
        return timed(
            lambda: subprocess.run(
                argv + ["--only-show-errors", "-o", "none"], env=self.az.env, check=True, capture_output=True
            )
        )

    def requests_since(self, index):
        """The Files and Resource Manager requests since `index`, counted by kind."""
        kinds = collections.Counter()
        for method, path, _status in self.azure.requests_log[index:]:
            bare, _, query = path.partition("?")
            if bare.lower().startswith(("/subscriptions", "/providers", "/tenants")):
                kinds["arm " + method] += 1
            elif bare.lstrip("/").split("/", 1)[0] == self.account:
                comp = next((q for q in query.split("&") if q.startswith(("comp=", "restype="))), "")
                kinds[f"files {method} {comp}".strip()] += 1
        return dict(sorted(kinds.items()))

    def stop(self):
        self.azure.set_faults(None)
        self.azure.stop()


def write_small_files(root, count, folders, seed_text="bench"):
    """`count` files of 2-6 KiB spread over `folders` folders."""
    for i in range(count):
        path = root / f"folder{i % folders:02d}" / f"file{i:04d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = 2048 + (i * 409) % 4096
        path.write_bytes((f"{seed_text} {i} ".encode() * (size // 8 + 1))[:size])


def upload(world, latency_ms):
    inference = world.ws / "inference"
    results = {}
    small_src = world.base / "small"
    write_small_files(small_src, SMALL_FILES, SMALL_FOLDERS)
    big_src = world.base / "big"
    big_src.mkdir()
    with open(big_src / "weights.bin", "wb") as f:
        for _ in range(BIG_MIB):
            f.write(os.urandom(1024 * 1024))
    for name, src, size in (
        ("small", small_src, sum(p.stat().st_size for p in small_src.rglob("*") if p.is_file())),
        ("big", big_src, BIG_MIB * 1024 * 1024),
    ):
        shutil.copytree(src, inference / f"bench-{name}")
        world.latency(latency_ms)
        try:
            batch_s, _ = world.upload_batch(src, f"bench-batch-{name}")
            deploy_s, proc = world.deploy("--no-wait")
        finally:
            world.latency(0)
        shutil.rmtree(inference / f"bench-{name}")
        mib = size / 2**20
        results[name] = {
            "bytes": size,
            "deploy_s": deploy_s,
            "upload_batch_s": batch_s,
            "ratio_deploy_over_batch_throughput": batch_s / deploy_s,
        }
        log(f"  {name}: {mib:.1f} MiB; deploy {deploy_s:.1f} s, upload-batch {batch_s:.1f} s; {proc.stderr.strip()}")
    return results


def redeploy(world, latency_ms):
    inference = world.ws / "inference"
    for stale in inference.glob("bench-*"):
        shutil.rmtree(stale)
    write_small_files(inference / "bench-redeploy", REDEPLOY_FILES, 20, seed_text="redeploy")
    log(f"  redeploy: first deploy of {REDEPLOY_FILES} files (untimed) ...")
    world.deploy("--delete")
    runs = []
    world.latency(latency_ms)
    try:
        # the floor: az's own start-up with its sign-in cache, no request (`az account show`)
        floor_s, _ = timed(lambda: world.az.run("account", "show", "-o", "none", capture=True))
        for _ in range(2):
            index = len(world.azure.requests_log)
            took, proc = world.deploy()
            requests = world.requests_since(index)
            runs.append({"wall_s": took, "requests": requests})
            log(f"  no-change deploy: {took:.2f} s, requests {requests}; {proc.stderr.strip().splitlines()[:1]}")
    finally:
        world.latency(0)
    return {"files": REDEPLOY_FILES, "runs": runs, "az_account_show_s": floor_s}


# -- 4. weights: the default loader against the streamer ----------------------------------------
WEIGHT_SHARDS, SHARD_MB = 4, 64
THROTTLED_FS = Path(__file__).with_name("_throttled_fs.py")
READER = r"""
import os, sys, time
import torch
from vllm.model_executor.model_loader import weight_utils
kind, files = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
if kind == "streamer":
    it = weight_utils.runai_safetensors_weights_iterator(files, False)
elif kind == "streamer_direct":  # the streamer's own iterator, without vLLM's clone of each tensor
    from runai_model_streamer import SafetensorsStreamer

    def direct():
        with SafetensorsStreamer() as streamer:
            streamer.stream_files(files)
            yield from streamer.get_tensors()

    it = direct()
else:
    it = weight_utils.safetensors_weights_iterator(files, False)
total = 0
for name, tensor in it:
    out = torch.empty_like(tensor, device="cpu")
    out.copy_(tensor)  # what loading into the model's parameter does: every byte read
    total += out.numel() * out.element_size()
print(f"{time.monotonic() - t0:.3f} {total}")
"""


def write_shards(folder):
    """WEIGHT_SHARDS safetensors files of SHARD_MB MB of random bfloat16 tensors (8 MB each)."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    per_tensor = 8 * 1024 * 1024 // 2  # bfloat16
    for shard in range(WEIGHT_SHARDS):
        tensors = {
            f"model.layers.{shard}.w{i}": torch.randn(per_tensor, generator=gen).to(torch.bfloat16)
            for i in range(SHARD_MB // 8)
        }
        save_file(tensors, str(folder / f"model-{shard + 1:05d}-of-{WEIGHT_SHARDS:05d}.safetensors"))
    return sorted(str(p.name) for p in folder.glob("*.safetensors"))


def read_weights(kind, folder, names, concurrency=16, prefix=(), env=None):
    """One read in a fresh process; `folder` may be a local folder or an az://container/folder URI,
    `prefix` a command that runs the reader (Azurite's mount namespace), `env` more settings."""
    env = {
        **os.environ,
        **(env or {}),
        "RUNAI_STREAMER_CONCURRENCY": str(concurrency),
        "RUNAI_STREAMER_LOG_LEVEL": "WARNING",
    }
    files = [f"{folder}/{n}" for n in names]
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", READER, kind, *files],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    seconds, size = proc.stdout.strip().splitlines()[-1].split()
    return float(seconds), int(size)


class BlobWeights:
    """(c): the shards in Azurite (aitk_testkit.azurite: TLS, production-style host names, OAuth),
    read by the streamer with the managed identity's tokens, directly ("local") or through
    benchmarks/_throttled_tcp.py ("throttled")."""

    def __init__(self, base, folder, names):
        from aitk_testkit.azurite import Azurite, ManagedIdentityEndpoint

        self.names = names
        self.azurite = Azurite(base / "azurite").start()
        self.identity = ManagedIdentityEndpoint().__enter__()
        self.azurite.upload_folder(folder, "weights", "bench")
        self.uri = "az://weights/bench"

    def read(self, latency_ms=None, mb_per_s=None):
        import contextlib

        sys.path.insert(0, str(Path(__file__).parent))
        from _throttled_tcp import ThrottledProxy  # pylint: disable=import-outside-toplevel,import-error

        throttle = (
            ThrottledProxy(self.azurite.port, latency_ms / 1000, mb_per_s * 1e6)
            if latency_ms is not None
            else contextlib.nullcontext()
        )
        with throttle as proxy:
            suffix = f"blob.localhost:{proxy.port}" if proxy else None
            env = {**self.azurite.reader_env(suffix), **self.identity.env(), "AZURE_TOKEN_CREDENTIALS": "prod"}
            took, size = read_weights("streamer", self.uri, self.names, prefix=self.azurite.isolated(), env=env)
            if proxy:
                log(f"    (c) through the proxy: {proxy.connections} connections, {proxy.requests} requests")
            return took, size

    def stop(self):
        self.identity.__exit__()
        self.azurite.stop()


class ThrottledMount:
    """benchmarks/_throttled_fs.py on a fresh mount point (a new mount: an empty page cache)."""

    def __init__(self, source, base, latency_ms, mb_per_s):
        self.source, self.base, self.latency_ms, self.mb_per_s = source, base, latency_ms, mb_per_s
        self.proc = None
        self.mount = None

    def __enter__(self):
        self.mount = Path(tempfile.mkdtemp(prefix="mnt-", dir=self.base))
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [
                sys.executable,
                str(THROTTLED_FS),
                str(self.source),
                str(self.mount),
                "--latency-ms",
                str(self.latency_ms),
                "--mb-per-s",
                str(self.mb_per_s),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: any(self.mount.iterdir()) or self.proc.poll() is not None, 30, "the FUSE mount")
        if self.proc.poll() is not None:
            raise SystemExit("the throttled FUSE mount did not start (needs /dev/fuse, fuse3 and mfusepy)")
        return self.mount

    def __exit__(self, *exc):
        subprocess.run(["fusermount3", "-u", str(self.mount)], check=False, capture_output=True)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def throttle_missing():
    """What the throttled FUSE mount needs and this machine lacks, or "" when it has it all."""
    lacks = []
    if not Path("/dev/fuse").exists():
        lacks.append("/dev/fuse")
    if shutil.which("fusermount3") is None:
        lacks.append("fusermount3 (Debian: fuse3)")
    if importlib.util.find_spec("mfusepy") is None:
        lacks.append("mfusepy (pip)")
    return ", ".join(lacks)


def weights(base, rounds, latency_ms, mb_per_s):
    folder = base / "weights"
    names = write_shards(folder)
    size = sum((folder / n).stat().st_size for n in names)
    log(f"weights: {len(names)} shards, {size / 1e6:.0f} MB; {rounds} round(s)")
    kinds = ("default", "streamer", "streamer_direct")
    samples = {f"{k}_{where}": [] for k in (*kinds, "streamer_blob") for where in ("local", "throttled")}
    blob = BlobWeights(base, folder, names)
    try:
        for i in range(rounds):
            for kind in kinds:
                took, read = read_weights(kind, folder, names)
                assert read >= size * 0.99, (read, size)
                samples[f"{kind}_local"].append(took)
                with ThrottledMount(folder, base, latency_ms, mb_per_s) as mount:
                    took, read = read_weights(kind, mount, names)
                samples[f"{kind}_throttled"].append(took)
                log(f"  round {i + 1} {kind}: local {samples[f'{kind}_local'][-1]:.2f} s, throttled {took:.2f} s")
            for where, throttle in (("local", (None, None)), ("throttled", (latency_ms, mb_per_s))):
                took, read = blob.read(*throttle)
                assert read >= size * 0.99, (read, size)
                samples[f"streamer_blob_{where}"].append(took)
            log(
                f"  round {i + 1} streamer from Blob (Azurite): direct {samples['streamer_blob_local'][-1]:.2f} s, "
                f"throttled {samples['streamer_blob_throttled'][-1]:.2f} s"
            )
    finally:
        blob.stop()
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "bytes": size,
        "shards": len(names),
        "latency_ms": latency_ms,
        "connection_mb_per_s": mb_per_s,
        "samples_s": samples,
        "ratio_streamer_default_throttled": med["streamer_throttled"] / med["default_throttled"],
        "ratio_streamer_default_local": med["streamer_local"] / med["default_local"],
        "ratio_streamer_direct_default_throttled": med["streamer_direct_throttled"] / med["default_throttled"],
        "ratio_blob_default_throttled": med["streamer_blob_throttled"] / med["default_throttled"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cold-start", action="store_true")
    parser.add_argument("--upload", action="store_true")
    parser.add_argument("--redeploy", action="store_true")
    parser.add_argument("--weights", action="store_true")
    parser.add_argument("--storage-latency-ms", type=float, default=5.0, help="--weights: per read request")
    parser.add_argument("--connection-mb-per-s", type=float, default=50.0, help="--weights: per read request")
    parser.add_argument("--rounds", type=int, default=3, help="cold starts of each kind (default 3)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added to every ARM and Files request")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    parts = [p for p in ("cold_start", "upload", "redeploy", "weights") if getattr(args, p)]
    if not parts:  # everything this machine can run; --weights asked for by name says what it lacks
        parts = ["cold_start", "upload", "redeploy"]
        missing = throttle_missing()
        if missing:
            log(f"weights: left out of the default run: {missing} (see --weights)")
        else:
            parts.append("weights")
    results = {"latency_ms": args.latency_ms}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        base = Path(tmp)
        if "weights" in parts:
            results["weights"] = weights(base, args.rounds, args.storage_latency_ms, args.connection_mb_per_s)
        wheel = current_wheel(base / "wheel") if set(parts) - {"weights"} else None
        if "cold_start" in parts:
            results["cold_start"] = cold_start(base, wheel, args.rounds)
        if "upload" in parts or "redeploy" in parts:
            world = SyncWorld(base, wheel)
            try:
                if "upload" in parts:
                    results["upload"] = upload(world, args.latency_ms)
                if "redeploy" in parts:
                    results["redeploy"] = redeploy(world, args.latency_ms)
            finally:
                world.stop()
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def report(results):
    w = results.get("weights")
    if w:
        for kind in ("default", "streamer", "streamer_direct", "streamer_blob"):
            local, throttled = w["samples_s"][f"{kind}_local"], w["samples_s"][f"{kind}_throttled"]
            first = "Azurite without the proxy" if kind == "streamer_blob" else "local"
            print(
                f"weights {w['bytes'] / 1e6:.0f} MB in {w['shards']} shards, {kind:15s}: {first} median "
                f"{statistics.median(local):.2f} s, throttled ({w['latency_ms']:g} ms + {w['connection_mb_per_s']:g} "
                f"MB/s per request) median {statistics.median(throttled):.2f} s "
                f"({w['bytes'] / 1e6 / statistics.median(throttled):.0f} MB/s)"
            )
        print(
            f"weights streamer/default: throttled {w['ratio_streamer_default_throttled']:.2f}, "
            f"local {w['ratio_streamer_default_local']:.2f}; the streamer's own iterator/default, throttled "
            f"{w['ratio_streamer_direct_default_throttled']:.2f}"
        )
        print(
            f"weights throttled, (c) streamer from Blob (Azurite) / (a) default loader from the folder: "
            f"{w['ratio_blob_default_throttled']:.2f} (target <= 0.5); (b) / (a): "
            f"{w['ratio_streamer_default_throttled']:.2f}"
        )
    cold = results.get("cold_start")
    if cold:
        for kind, samples in cold["samples_s"].items():
            print(
                f"cold start, {kind:8s}: first token min {min(samples):.1f} s, "
                f"median {statistics.median(samples):.1f} s"
                f" (samples {', '.join(f'{s:.1f}' for s in samples)})"
            )
        print(f"cold start ratio cached/uncached (medians): {cold['ratio_cached_uncached']:.2f} (target <= 0.8)")
    for name, target in (("small", 2.0), ("big", 1.0)):
        r = (results.get("upload") or {}).get(name)
        if r:
            print(
                f"upload {name} ({r['bytes'] / 2**20:.1f} MiB): deploy {r['deploy_s']:.1f} s, upload-batch "
                f"{r['upload_batch_s']:.1f} s, deploy/upload-batch throughput "
                f"{r['ratio_deploy_over_batch_throughput']:.2f}"
                f" (target >= {target:g})"
            )
    red = results.get("redeploy")
    if red:
        for i, run in enumerate(red["runs"], 1):
            print(
                f"no-change deploy {i} ({red['files']} files): {run['wall_s']:.2f} s (target < 2 s); {run['requests']}"
            )
        print(f"  beside it, `az account show` (az's own start-up, no request): {red['az_account_show_s']:.2f} s")


if __name__ == "__main__":
    main()
