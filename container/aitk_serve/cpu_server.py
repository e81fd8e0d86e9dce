"""vLLM's OpenAI server with one fix for vLLM 0.32's CPU LoRA ops, used only when no GPU is
visible: `python -m aitk_serve.cpu_server ARGS` = `python -m aitk_serve.api_server ARGS` (vLLM's
server with the API keys from the environment) after `patch()`.

The bug (vllm/lora/ops/torch_ops/lora_ops.py): `bgmv_shrink` picks each row's LoRA A with
`lora_a_weights[lora_indices]`, where index -1 means "no adapter"; Python indexing turns -1 into
the last slot, so base-model rows decoded in one batch with adapter rows get the last slot's
adapter. The fix zeroes the shrink output of rows with index -1, so the expand that follows adds
nothing to them. The GPU kernels (Triton) already skip -1; this module is never used there.

The patch runs at import, so it holds in vLLM's engine-core and worker processes whether
multiprocessing forks (they inherit the patched modules) or spawns (they re-import the main
module as `__mp_main__`: it must stay this module, hence `alter_sys=False` below).
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from aitk_serve import startup_timeline

if TYPE_CHECKING:
    from torch import Tensor


def fixed_bgmv_shrink(original: Callable[..., None]) -> Callable[..., None]:
    def bgmv_shrink(
        inputs: "Tensor",
        lora_a_weights: "Tensor",
        output_tensor: "Tensor",
        lora_indices_tensor: "Tensor",
        scaling: float = 1.0,
    ) -> None:
        original(inputs, lora_a_weights, output_tensor, lora_indices_tensor, scaling)
        no_lora = lora_indices_tensor < 0
        if bool(no_lora.any()):
            rows = output_tensor[: no_lora.shape[0]]
            rows.masked_fill_(no_lora.view(-1, *([1] * (rows.dim() - 1))), 0)

    # Marks on the function object: installed once, and the original kept for the test.
    bgmv_shrink.aitk_fixed = True  # type: ignore[attr-defined]
    bgmv_shrink.original = original  # type: ignore[attr-defined]
    return bgmv_shrink


def patch() -> None:
    """Install the fix in every module that bound vLLM's CPU bgmv_shrink. Idempotent."""
    from vllm.lora.ops.torch_ops import lora_ops

    if getattr(lora_ops.bgmv_shrink, "aitk_fixed", False):
        return
    fixed = fixed_bgmv_shrink(lora_ops.bgmv_shrink)
    lora_ops.bgmv_shrink = fixed  # sgmv_shrink (prefill) looks it up here
    from vllm.lora.ops import torch_ops

    torch_ops.bgmv_shrink = fixed
    try:
        from vllm.lora.punica_wrapper import punica_cpu
    except ImportError:  # a build without the CPU wrapper has nothing to fix
        return
    punica_cpu.bgmv_shrink = fixed  # the decode path calls it by this name


patch()
# One console line per start-up phase, in the server's process and in vLLM's spawned engine and
# worker processes (they import this module as __mp_main__).
startup_timeline.install()

if __name__ == "__main__":
    from aitk_serve import api_server  # pylint: disable=ungrouped-imports  # only to run the server

    api_server.run()
