"""The launcher's surface has one home per fact: its environment variable names in
aitk_serve/env_names.py (as vLLM keeps its own in vllm/envs.py), serve.json read by one reader."""

import ast
import json
import re
from pathlib import Path

import pytest
from aitk_serve import LaunchError, discovery, env_names
from azext_aitk.core import workspace as ws_mod
from azext_aitk.core.deploy import serve_file
from azext_aitk.core.errors import WorkspaceError

ROOT = Path(__file__).resolve().parents[2]
ENV_NAME = re.compile(r"^(AITK|VLLM)_[A-Z0-9_]+$")
# The same spelling for something else: the user's shell variable in endpoint's curl example.
NOT_THE_LAUNCHERS = {("names.py", "AITK_API_KEY")}


def _env_name_literals(path):
    """The string constants of a module that are environment variable names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and ENV_NAME.match(n.value)
        and id(n) not in docstrings
    ]


def test_every_environment_variable_name_is_spelled_once_in_env_names():
    names = [v for k, v in vars(env_names).items() if k.endswith("_ENV")]
    assert len(names) == len(set(names)) >= 13
    spelled = {}
    for folder in (ROOT / "container" / "aitk_serve", ROOT / "src" / "aitk" / "azext_aitk"):
        for path in folder.rglob("*.py"):
            if path.name != "env_names.py":
                for literal in _env_name_literals(path):
                    if (path.name, literal) not in NOT_THE_LAUNCHERS:
                        spelled.setdefault(literal, []).append(str(path.relative_to(ROOT)))
    assert not spelled, f"use aitk_serve.env_names instead: {spelled}"


def test_the_scan_finds_a_spelled_name(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""AITK_PORT in a docstring is prose."""\nPORT = "AITK_PORT"\n')
    assert _env_name_literals(module) == ["AITK_PORT"]


def _workspace(tmp_path, text):
    ws = ws_mod.Workspace(tmp_path)
    ws.serve_file.parent.mkdir(parents=True)
    ws.serve_file.write_text(text)
    return ws


def test_the_extension_reads_serve_json_with_the_launchers_reader(tmp_path):
    ws = _workspace(tmp_path, json.dumps({"model": "model-cache/org/m", "adapters": {"a": "x"}, "vllm_args": []}))
    assert serve_file.read(ws) == discovery.read_serve_object(str(ws.serve_file))
    assert serve_file.model(ws) == "model-cache/org/m"
    cfg = discovery.load_serve_config(str(ws.serve_file), required=True)
    assert cfg.model == "model-cache/org/m" and cfg.adapters == [("a", "x")]


@pytest.mark.parametrize(
    "text",
    [
        '{"model": 3}',
        '{"adapters": ["a"]}',
        '{"vllm_args": "--x"}',
        '{"modle": "m"}',
        '{"adapters": {"a": "x", "a": "y"}}',
    ],
)
def test_a_file_the_launcher_refuses_is_refused_by_the_extension_in_the_same_words(tmp_path, text):
    ws = _workspace(tmp_path, text)
    with pytest.raises(LaunchError) as launcher:
        discovery.load_serve_config(str(ws.serve_file), required=True)
    with pytest.raises(WorkspaceError) as extension:
        serve_file.read(ws)
    assert str(extension.value) == str(launcher.value)


def test_no_serve_json_is_none(tmp_path):
    assert serve_file.read(ws_mod.Workspace(tmp_path)) is None and serve_file.model(ws_mod.Workspace(tmp_path)) is None
