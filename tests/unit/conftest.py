"""Unit tests import the extension's pure modules straight from the source tree."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT / "src" / "aitk", ROOT / "container"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
