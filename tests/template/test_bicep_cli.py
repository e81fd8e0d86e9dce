"""(4) The real Bicep compiler: `bicep build` of inference.bicep compared with inference.json.

Nothing here can download or build the Bicep CLI (docs/design.md "Bicep without a compiler"),
so without a `bicep` on PATH this is skipped, never faked. AITK_BICEP may name a binary."""

import json
import os
import shutil
import subprocess

import pytest

from template import _arm

BICEP_CLI = os.environ.get("AITK_BICEP") or shutil.which("bicep")
pytestmark = pytest.mark.skipif(
    BICEP_CLI is None,
    reason="no Bicep CLI: `bicep` is not on PATH and AITK_BICEP is unset (az downloads it on "
    "first use, Cloud Shell has it; this machine cannot). The equivalence is checked "
    "through pycep-parser in test_bicep_equivalence.py instead.",
)


def _dependency_count(resource):
    return len(resource.get("dependsOn", []))


def test_bicep_build_matches_json(tmp_path, template):
    out = tmp_path / "inference.json"
    proc = subprocess.run(
        [BICEP_CLI, "build", str(_arm.BICEP), "--outfile", str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    built = json.loads(out.read_text(encoding="utf-8"))
    assert "languageVersion" not in built
    for key in ("$schema", "contentVersion", "parameters", "variables", "outputs"):
        assert built.get(key) == template.get(key), key
    assert [(r["type"], r["apiVersion"], r.get("condition"), r["name"]) for r in built["resources"]] == [
        (r["type"], r["apiVersion"], r.get("condition"), r["name"]) for r in template["resources"]
    ]
    for b, o in zip(built["resources"], template["resources"], strict=True):
        # Bicep writes the dependency on the share (a 'a/default/b' name kept in a variable) as
        # resourceId(type, split(variables(...), '/')[0], …); inference.json names the same
        # segments directly, so dependsOn is compared by count, everything else exactly.
        assert {k: v for k, v in b.items() if k != "dependsOn"} == {k: v for k, v in o.items() if k != "dependsOn"}, o[
            "type"
        ]
        assert _dependency_count(b) == _dependency_count(o), o["type"]


def test_bicep_lint_has_no_errors():
    proc = subprocess.run([BICEP_CLI, "lint", str(_arm.BICEP)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
