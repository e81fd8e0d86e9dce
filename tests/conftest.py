"""Fixtures every suite may use: `azure_standin` (a started local Azure stand-in for the session) and
`aitk_wheel` (the wheel az installs aitk from). Both packages live in src/ and are installed into
.venv by `make venv`.

`make test` runs the suite on two pytest-xdist workers with `--dist loadgroup` (docs/benchmarks.md,
"Test suite time"). The scheduler below hands out whole modules (a module's fixtures start once, on
one worker), and the modules that use one of tests/serve's session vLLM servers together (each server
starts once). Nothing here changes a serial run."""

import os
import re
from functools import cache
from pathlib import Path

import pytest

pytest_plugins = ["azure_standin.pytest_plugin", "aitk_testkit.pytest_plugin"]

ROOT = Path(__file__).resolve().parents[1]
# Session fixtures that start a real vLLM server: every module that uses one runs on the same worker.
SHARED_SERVERS = re.compile(r"\b(llama_server|phi3_server)\b")
SHARED_SERVERS_GROUP = "serve-session-vllm"
# The order the modules are handed to the workers (--no-loadscope-reorder): the long ones first, so
# the short unit modules at the end fill the gap while the other worker finishes.
DIRECTORY_ORDER = ("e2e", "serve", "cli", "standin", "template", "unit")


@cache
def module_group(module: str) -> str:
    """The work unit of a test module (its path from the root): the shared-server group or itself.
    The scheduler runs in xdist's controller, which sees node ids only, so the module's text decides."""
    path = ROOT / module
    if path.name != "conftest.py" and path.is_file() and SHARED_SERVERS.search(path.read_text()):
        return SHARED_SERVERS_GROUP
    return module


def module_rank(module: str) -> tuple:
    parts = module.split("/")
    top = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
    rank = DIRECTORY_ORDER.index(top) if top in DIRECTORY_ORDER else len(DIRECTORY_ORDER)
    return (rank, module_group(module) != SHARED_SERVERS_GROUP)


# optionalhook: without pytest-xdist installed (a venv older than requirements/base.txt) the suite
# still runs, serially.
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    # pytest-xdist 3.8's own loadgroup marks a group by renaming the node id (`_nodeid`), which
    # pytest 9 no longer reads; this scheduler keys on the module instead.
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return module_group(nodeid.split("::", 1)[0])

    return ModuleGroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    # On the workers only: the long modules first (a stable sort: each module's tests keep their
    # order and stay together). Every worker sorts the same way, as xdist requires.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: module_rank(item.nodeid.split("::", 1)[0]))
