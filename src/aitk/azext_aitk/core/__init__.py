"""Pure decisions and file formats of the extension.

Nothing here imports az, knack, requests, an Azure SDK, or the extension's `azure`/`operations`
tiers (tests/unit/test_import_rules.py holds it to that): every module is unit-tested directly.
"""
