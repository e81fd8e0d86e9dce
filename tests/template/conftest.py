"""Fixtures of the template tests: the ARM JSON, and the Bicep parsed by pycep-parser (cached)."""

import hashlib
import importlib.metadata

import pytest

from template import _arm


@pytest.fixture(scope="session")
def template():
    return _arm.template()


@pytest.fixture(scope="session")
def resources(template):
    """{type: resource} (the template has one resource of each type)."""
    out = {}
    for r in template["resources"]:
        assert r["type"] not in out, f"two resources of type {r['type']}"
        out[r["type"]] = r
    return out


@pytest.fixture(scope="session")
def bicep_tree(request):
    """pycep-parser's tree of inference.bicep. Parsing takes ~30 s on this machine, so the tree
    is kept in pytest's cache under the hash of the Bicep text and the pycep-parser version."""
    pycep = pytest.importorskip(
        "pycep", reason="pycep-parser is not installed: `.venv/bin/pip install -r requirements/template.txt`"
    )
    text = _arm.BICEP.read_text(encoding="utf-8")
    version = importlib.metadata.version("pycep-parser")
    key = "aitk-template/pycep/" + hashlib.sha256(f"{version}\0{text}".encode()).hexdigest()
    # `-p no:cacheprovider` leaves no cache: parse every run then.
    cache = getattr(request.config, "cache", None)
    tree = cache.get(key, None) if cache is not None else None
    if tree is None:
        tree = pycep.BicepParser().parse(text=text)
        if cache is not None:
            cache.set(key, tree)
    return tree


@pytest.fixture(scope="session")
def compiled(bicep_tree):
    from template import _bicep

    return _bicep.Compiler(bicep_tree, _arm.BICEP.read_text(encoding="utf-8"), parse_module)


def parse_module(path):
    """pycep-parser's tree of a module file the Bicep names (relative to its folder)."""
    import pycep

    return pycep.BicepParser().parse(text=(_arm.BICEP.parent / path).read_text(encoding="utf-8"))
