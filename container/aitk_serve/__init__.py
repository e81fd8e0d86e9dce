"""aitk_serve: the launcher that serves a base model and its LoRA adapters with vLLM.

`python -m aitk_serve [options] [-- extra vLLM arguments]` (see docs/serving.md). Stdlib only,
apart from vLLM itself (and torch, only to read a legacy `adapter_model.bin`).
"""

__version__ = "0.1.0"

# The vLLM release this launcher is written and tested against; the Dockerfile's base image tag
# and requirements/base.txt pin the same one (docs/serving.md: how to bump them together).
VLLM_VERSION = "0.32.0"


class LaunchError(Exception):
    """A problem the user must fix before serving: printed as one line, exit status 2.

    The message often quotes values read from the user's files, so it is made one line here,
    once, whatever those values hold (a newline or other control character in a JSON string
    would otherwise split or garble the line)."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


def _one_line(text: str) -> str:
    """Line breaks and tabs become spaces; other control characters show as their escapes."""
    out = []
    for ch in " ".join(text.split()):
        out.append(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)
