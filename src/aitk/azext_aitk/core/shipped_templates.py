"""The template files the wheel ships (azext_aitk/templates/, written from the same source as the docs)."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
BICEP = TEMPLATES_DIR / "inference.bicep"
ARM_JSON = TEMPLATES_DIR / "inference.json"
PARAMETERS = TEMPLATES_DIR / "inference.parameters.json"


def missing() -> list[str]:
    return [p.name for p in (BICEP, ARM_JSON, PARAMETERS) if not p.is_file()]
