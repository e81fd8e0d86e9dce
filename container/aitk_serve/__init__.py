"""aitk_serve: the launcher that serves a base model and its LoRA adapters with vLLM.

`python -m aitk_serve [options] [-- extra vLLM arguments]` (see docs/serving.md). Stdlib only,
apart from vLLM itself (and torch, only to read a legacy `adapter_model.bin`).
"""

__version__ = "0.1.0"

# The vLLM release this launcher is written and tested against; the Dockerfile's base image tag
# and requirements/base.txt pin the same one (docs/serving.md: how to bump them together).
VLLM_VERSION = "0.32.0"


class LaunchError(Exception):
    """A problem the user must fix before serving: printed as one line, exit status 2."""
