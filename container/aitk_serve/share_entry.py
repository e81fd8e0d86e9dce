"""The stable entry of the launcher on the share: deploy uploads this file as
`aitk/launcher/aitk_serve/__init__.py` (docs/contracts.md, "One launcher").

PYTHONPATH=/mount/aitk/launcher makes `python3 -m aitk_serve` import this package; it reads
`aitk/launcher/current` (the release deploy switched to once every file of it was uploaded),
points the package's `__path__` at `aitk/launcher/releases/<id>/aitk_serve/` and runs that
release's `__init__`, so every `aitk_serve.*` module comes from one complete release. Stdlib only;
never imported by the az extension.
"""

import os
import re
import sys
import time

_RELEASE_ID = re.compile(r"^[0-9a-f]{8,64}$")
_TRIES = 20  # `current` is rewritten in one small write; a reader may catch it empty for a moment
_PAUSE = 0.25


def _release_package(launcher_dir: str) -> str:
    current = os.path.join(launcher_dir, "current")
    seen = ""
    for _ in range(_TRIES):
        try:
            with open(current, encoding="ascii") as f:
                seen = f.read().strip()
        except (OSError, UnicodeDecodeError):
            seen = ""
        package = os.path.join(launcher_dir, "releases", seen, "aitk_serve")
        if _RELEASE_ID.match(seen) and os.path.isfile(os.path.join(package, "__init__.py")):
            return package
        time.sleep(_PAUSE)
    sys.stderr.write(
        f"aitk: {current} names no complete launcher release ({seen!r}); run `az aitk inference deploy` again\n"
    )
    raise SystemExit(2)


_PACKAGE = _release_package(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
__path__ = [_PACKAGE]  # noqa: F811  submodules (aitk_serve.cli, …) come from the release
__file__ = os.path.join(_PACKAGE, "__init__.py")  # noqa: F811
with open(__file__, encoding="utf-8") as _init:
    exec(compile(_init.read(), __file__, "exec"))  # pylint: disable=exec-used
