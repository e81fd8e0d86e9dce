"""What the launcher reports it serves (aitk_serve/serving_state.py), for deploy to compare with the
share: run from the share's layout (the stable entry, `current`, a release folder), `--check` shows
the record it hands the server, and the middleware answers it at /aitk/serving with the key only."""

import hashlib
import json
import shutil

from aitk_serve import serving_state

from serve.conftest import CONTAINER, launcher_env
from serve.test_middleware import KEY, build_app

RELEASE = "0123456789abcdef"


def test_check_from_the_share_layout_reports_release_and_serve_json(tiny, tmp_path):
    import subprocess
    import sys

    mount = tmp_path / "mount"
    shutil.copytree(tiny["llama"], mount / "model-cache" / "org" / "tiny-llama")
    launcher = mount / "aitk" / "launcher"
    shutil.copytree(CONTAINER / "aitk_serve", launcher / "releases" / RELEASE / "aitk_serve")
    (launcher / "aitk_serve").mkdir(parents=True)
    shutil.copy(CONTAINER / "aitk_serve" / "share_entry.py", launcher / "aitk_serve" / "__init__.py")
    (launcher / "current").write_text(RELEASE + "\n")
    serve = mount / "aitk" / "inference" / "serve.json"
    serve.parent.mkdir(parents=True)
    serve.write_text(json.dumps({"vllm_args": ["--max-model-len", "256"]}))
    env = launcher_env(mount)
    env["PYTHONPATH"] = str(launcher)  # as the template sets it: the share's copy, not the source tree
    out = subprocess.run(
        [sys.executable, "-m", "aitk_serve", "--check"], cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    record = json.loads(json.loads(out.stdout)["env"][serving_state.ENV])
    assert record == {
        serving_state.RELEASE: RELEASE,
        serving_state.SERVE_CONFIG: hashlib.sha256(serve.read_bytes()).hexdigest(),
    }


def test_the_server_answers_the_record_with_the_key_only(monkeypatch):
    from fastapi.testclient import TestClient

    record = {serving_state.RELEASE: RELEASE, serving_state.SERVE_CONFIG: "ab" * 32}
    monkeypatch.setenv(serving_state.ENV, json.dumps(record))
    client = TestClient(build_app(KEY))
    assert client.get(serving_state.ROUTE).status_code == 401
    r = client.get(serving_state.ROUTE, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200 and r.json() == record
