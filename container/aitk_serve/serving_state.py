"""What a running server serves, for `az aitk inference deploy` to compare with the share.

A deploy cut short after its upload and before its restart leaves the share ahead of the running
replica; the re-run finds nothing to upload, so it must ask the replica what it runs. The launcher
records, when it starts, the launcher release it runs (the <id> of aitk/launcher/releases/<id>/,
None for a launcher not run from the share) and the SHA-256 of the serve.json it read (None
without one); the server answers them at ROUTE (API key required), and deploy restarts until they
match the share (docs/contracts.md, "What the server reports"). Stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping

from .env_names import SERVING_ENV
from .layout import LAUNCHER_PACKAGE

ENV = SERVING_ENV  # the launcher hands the record to the server process in its environment
ROUTE = "/aitk/serving"
RELEASE = "release"
SERVE_CONFIG = "serveConfigSha256"


def release_of(package_dir: str) -> str | None:
    """<id> when `package_dir` is releases/<id>/aitk_serve (the share's layout), else None."""
    parts = os.path.normpath(os.path.abspath(package_dir)).split(os.sep)
    if len(parts) >= 3 and parts[-1] == LAUNCHER_PACKAGE and parts[-3] == "releases":
        return parts[-2]
    return None


def file_sha256(path: str | None) -> str | None:
    if not path:
        return None
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def record(package_dir: str, config_path: str | None) -> dict[str, str | None]:
    return {RELEASE: release_of(package_dir), SERVE_CONFIG: file_sha256(config_path)}


def answer(env: Mapping[str, str]) -> bytes:
    """The body of GET ROUTE: the record the launcher left in the environment, as JSON."""
    try:
        value = json.loads(env.get(ENV) or "{}")
    except ValueError:
        value = {}
    if not isinstance(value, dict):
        value = {}
    return json.dumps({RELEASE: value.get(RELEASE), SERVE_CONFIG: value.get(SERVE_CONFIG)}).encode()
