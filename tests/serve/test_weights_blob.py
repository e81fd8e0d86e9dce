"""Issue 18, weights in Blob: the launcher given `--model az://container/folder` checks the folder in
Blob with the app's managed identity before vLLM loads anything, and refuses in one line (exit 2,
no traceback, no vLLM) on each bad input: no blobs, a half-copied shard, the role not granted (403),
the streamer's Azure part absent, no account. Against Azurite (Microsoft's storage emulator, over
TLS with production-style host names and OAuth) and the managed identity endpoint of
aitk_testkit.azurite; the real vLLM reading az:// token for token is in test_weights_streamer.py."""

import json
import subprocess
import sys

import pytest

from serve.conftest import ROOT, launcher_env

pytestmark = pytest.mark.usefixtures("blob_llama")


def launch(blob, mount, *args, env=None, python=("-m", "aitk_serve")):
    full_env = launcher_env(mount, **{**blob.env, **(env or {})})
    return subprocess.run(
        [*blob.wrap, sys.executable, *python, *args],
        cwd=str(ROOT),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def refused(proc):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_a_complete_folder_in_blob_is_read_with_the_managed_identity_by_the_streamer(blob_llama, tmp_path):
    before = len(blob_llama.identity.requests)
    proc = launch(blob_llama, tmp_path, "--check", "--model", blob_llama.uri, "--served-model-name", "tiny-llama")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    command = plan["command"]
    assert command[command.index("--load-format") + 1] == "runai_streamer"
    assert blob_llama.uri in command
    notes = "\n".join(plan["notes"])
    assert "weights: streamed from Azure Blob by the Run:ai Model Streamer (runai_streamer, concurrency 16)" in notes
    assert f"in Blob {blob_llama.uri}, complete (checked before vLLM loads)" in notes
    assert "AZURE_TOKEN_CREDENTIALS" in plan["env"]  # "prod": no developer sign-in in the chain
    assert blob_llama.identity.requests[before:] == ["https://storage.azure.com"]  # the identity's token, no key


def test_no_blobs_under_the_path(blob_llama, tmp_path):
    line = refused(launch(blob_llama, tmp_path, "--check", "--model", "az://weights/not-copied"))
    assert "az://weights/not-copied" in line and "no blobs under the path: copy the model's folder there" in line


def test_a_half_copied_shard_is_refused(blob_llama, tiny, tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    for f in tiny["llama"].iterdir():
        data = f.read_bytes()
        (folder / f.name).write_bytes(data[: len(data) // 2] if f.name.endswith(".safetensors") else data)
    blob_llama.azurite.upload_folder(folder, "weights", "half")
    line = refused(launch(blob_llama, tmp_path, "--check", "--model", "az://weights/half"))
    assert "a partial copy; copy it again (the server does not start on partial weights)" in line
    assert "its header says" in line


def test_the_role_not_granted_names_the_role(blob_llama, tmp_path):
    from aitk_testkit.azurite import DenyingBlobFront

    with DenyingBlobFront(blob_llama.azurite) as front:
        env = {"AZURE_STORAGE_ENDPOINT_SUFFIX": front.endpoint_suffix}
        line = refused(launch(blob_llama, tmp_path, "--check", "--model", blob_llama.uri, env=env))
    assert "access denied (AuthorizationPermissionMismatch)" in line
    assert "grant the app's managed identity the Storage Blob Data Reader role" in line


def test_the_streamer_azure_part_absent(blob_llama, tmp_path):
    without = (
        "-c",
        "import runpy, sys; sys.modules['runai_model_streamer_azure'] = None; "
        "sys.argv[0] = 'aitk_serve'; runpy.run_module('aitk_serve', run_name='__main__', alter_sys=True)",
    )
    line = refused(launch(blob_llama, tmp_path, "--check", "--model", blob_llama.uri, python=without))
    assert "weights in Blob need the Run:ai Model Streamer's Azure part, which this image lacks" in line
    assert "install runai-model-streamer-azure" in line


def test_no_account(blob_llama, tmp_path):
    line = refused(
        launch(blob_llama, tmp_path, "--check", "--model", blob_llama.uri, env={"AZURE_STORAGE_ACCOUNT_NAME": ""})
    )
    assert "no storage account: set AZURE_STORAGE_ACCOUNT_NAME" in line


def test_a_shard_the_index_names_that_is_not_there(blob_llama, tiny, tmp_path):
    folder = tmp_path / "indexed"
    folder.mkdir()
    for f in tiny["llama"].iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    weight_map = {"lm_head.weight": "model-00002-of-00002.safetensors", "model.norm.weight": "model.safetensors"}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    blob_llama.azurite.upload_folder(folder, "weights", "indexed")
    line = refused(launch(blob_llama, tmp_path, "--check", "--model", "az://weights/indexed"))
    assert "the index names model-00002-of-00002.safetensors, which is not there" in line


@pytest.mark.parametrize("status", ["pending", "aborted", "failed"])
def test_a_copy_not_finished_is_refused_before_any_shard_is_read(status, monkeypatch):
    """Azurite finishes a copy at once, so a copy still pending (or aborted, failed) is the listing's
    x-ms-copy-status (Get Blob Properties: pending | success | aborted | failed) given to the check."""
    from types import SimpleNamespace

    from aitk_serve import LaunchError, blob_weights

    def blob(name, copy_status=None):
        return SimpleNamespace(name=f"m/{name}", size=10, copy=SimpleNamespace(status=copy_status))

    listing = [blob("config.json"), blob("model.safetensors", status)]

    class Container:
        def list_blobs(self, **_):
            return iter(listing)

        def get_blob_client(self, name):
            raise AssertionError(f"{name} read before the copy status was checked")

    client = SimpleNamespace(get_container_client=lambda _name: Container())
    with pytest.raises(LaunchError) as e:
        blob_weights.check("az://weights/m", {"AZURE_STORAGE_ACCOUNT_NAME": "acct"}, client_factory=lambda: client)
    assert f"blob model.safetensors is a copy that is {status}, not finished: copy it again" in str(e.value)
