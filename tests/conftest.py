"""Fixtures every suite may use: `azure_standin` (a started local Azure stand-in for the session) and
`aitk_wheel` (the wheel az installs aitk from). Both packages live in src/ and are installed into
.venv by `make venv`."""

pytest_plugins = ["azure_standin.pytest_plugin", "aitk_testkit.pytest_plugin"]
