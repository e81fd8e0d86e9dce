"""The tier rule, enforced: core/ (pure decisions and file formats) and the launcher aitk_serve
(stdlib + vLLM) import nothing of az, knack, requests or an Azure SDK; core/ imports nothing of
the extension outside core/ (not its azure/ or operations/ tiers, nor the az registration
files), and no HTTP client. Imports inside functions count too (the whole tree is walked)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "aitk" / "azext_aitk" / "core"
LAUNCHER = ROOT / "container" / "aitk_serve"

# Top-level packages of az, its CLI framework, HTTP and the Azure SDKs (azure.*, msrest*, adal, msal).
AZURE_AND_HTTP = {
    "azure",
    "azext_aitk",
    "knack",
    "requests",
    "msrest",
    "msrestazure",
    "adal",
    "msal",
    "urllib3",
    "httpx",
    "aiohttp",
}
HTTP_STDLIB = {"http.client", "urllib.request", "socket", "ssl"}


def imported_modules(source, package):
    """Absolute names of the modules a source imports; `package` resolves relative imports."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.append(module)
            names += [f"{module}.{a.name}" for a in node.names]  # `from pkg import submodule`
    return names


def core_violations(source, package="azext_aitk.core"):
    bad = []
    for name in imported_modules(source, package):
        top = name.split(".")[0]
        if name == "azext_aitk.core" or name.startswith("azext_aitk.core."):
            continue
        if top in AZURE_AND_HTTP or any(name == h or name.startswith(h + ".") for h in HTTP_STDLIB):
            bad.append(name)
    return bad


def launcher_violations(source, package="aitk_serve"):
    return [n for n in imported_modules(source, package) if n.split(".")[0] in AZURE_AND_HTTP]


def _modules(folder):
    files = sorted(folder.rglob("*.py"))
    assert files, f"no modules under {folder}"
    return files


def _package(path, root, name):
    rel = path.relative_to(root).with_suffix("").parts
    parts = [name, *rel]
    return ".".join(parts if path.name == "__init__.py" else parts[:-1]).removesuffix(".__init__")


@pytest.mark.parametrize("path", _modules(CORE), ids=lambda p: p.name)
def test_core_is_pure(path):
    package = _package(path, CORE, "azext_aitk.core")
    assert core_violations(path.read_text(encoding="utf-8"), package) == []


@pytest.mark.parametrize("path", _modules(LAUNCHER), ids=lambda p: p.name)
def test_launcher_imports_no_az_or_azure_sdk(path):
    package = _package(path, LAUNCHER, "aitk_serve")
    assert launcher_violations(path.read_text(encoding="utf-8"), package) == []


@pytest.mark.parametrize(
    "source, forbidden",
    [
        ("import requests", "requests"),
        ("from azure.core.exceptions import HttpResponseError", "azure.core.exceptions"),
        ("def f():\n    from knack.log import get_logger", "knack.log"),
        ("from ..azure import arm", "azext_aitk.azure"),
        ("from ..operations.deploy import inference_deploy", "azext_aitk.operations.deploy"),
        ("from .. import _client_factory", "azext_aitk._client_factory"),
        ("import urllib.request", "urllib.request"),
        ("from . import workspace\nfrom .errors import AitkError\nimport json", None),
        ("from aitk_serve import layout\nfrom urllib.parse import quote", None),
    ],
)
def test_the_rule_catches_what_it_forbids(source, forbidden):
    violations = core_violations(source)
    assert (forbidden in violations) if forbidden else violations == []


def test_the_launcher_rule_catches_an_sdk_import():
    assert launcher_violations("from azure.storage.fileshare import ShareClient") == [
        "azure.storage.fileshare",
        "azure.storage.fileshare.ShareClient",
    ]
    assert launcher_violations("import json\nfrom .layout import MOUNT_PATH") == []


# Errors a user sees: operations/ and azure/ raise core/errors.py's AitkError classes; only the
# command group's exception handler (_exception_handler.py) and the argument validators
# (_validators.py) name azure.cli.core.azclierror (issue 22).
AZ_ERRORS = "azure.cli.core.azclierror"
EXTENSION = ROOT / "src" / "aitk" / "azext_aitk"


def az_error_violations(source, package):
    return [n for n in imported_modules(source, package) if n == AZ_ERRORS or n.startswith(AZ_ERRORS + ".")]


@pytest.mark.parametrize(
    "path",
    [p for tier in ("operations", "azure") for p in _modules(EXTENSION / tier)],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_operations_and_azure_construct_no_az_error(path):
    package = _package(path, EXTENSION, "azext_aitk")
    assert az_error_violations(path.read_text(encoding="utf-8"), package) == []


def test_the_az_error_rule_catches_an_import():
    source = "def f():\n    from azure.cli.core.azclierror import AzureResponseError"
    assert az_error_violations(source, "azext_aitk.operations") == [
        "azure.cli.core.azclierror",
        "azure.cli.core.azclierror.AzureResponseError",
    ]
    assert az_error_violations("from azure.cli.core import azclierror", "azext_aitk.azure") == [
        "azure.cli.core.azclierror"
    ]
    assert az_error_violations("from ..core.errors import NotFoundError", "azext_aitk.operations") == []
