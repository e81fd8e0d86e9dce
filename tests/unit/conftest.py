"""Unit tests import the extension's pure modules straight from the source tree (pytest.ini's
pythonpath puts src/aitk and container on the path)."""
