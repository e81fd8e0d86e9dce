"""vLLM's OpenAI server with one fix for vLLM 0.32's CPU LoRA ops, used only when no GPU is
visible: `python -m aitk_serve.cpu_server ARGS` = `python -m aitk_serve.api_server ARGS` (vLLM's
server with the API keys from the environment) after `patch()`.

The bug (vllm/lora/ops/torch_ops/lora_ops.py): `bgmv_shrink` and `bgmv_expand(_slice)` pick each
row's LoRA weights with `weights[lora_indices]`, where index -1 means "no adapter"; Python indexing
turns -1 into the last slot, so base-model rows decoded in one batch with adapter rows get the last
slot's adapter. Zeroing the shrink's rows is not enough: the expand then adds 0 x B, which is NaN
when the last slot holds NaN or infinite weights. The fix sets, for rows with index -1, the
expand's contribution to zero (a masked fill, which never multiplies), so those rows are left
exactly as the base model computed them whatever the slots hold; the shrink's rows for them only
ever reach the output through an expand (see FIXED_OPS), so vLLM's shrink is left as it is. The
GPU kernels (Triton) already skip -1; this module is never used there.

The patch runs at import, so it holds in vLLM's engine-core and worker processes whether
multiprocessing forks (they inherit the patched modules) or spawns (they re-import the main
module as `__mp_main__`: it must stay this module, hence `alter_sys=False` below).
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from aitk_serve import startup_timeline

if TYPE_CHECKING:
    import torch
    from torch import Tensor


def _without_unadapted_rows(outputs: "Tensor", lora_indices: "Tensor") -> "Tensor":
    """`outputs` (one row per index) with the rows of index -1 (no adapter) set to zero, in place:
    a fill, never a multiplication, so NaN or infinite products in those rows are replaced too.
    No test of whether any row has -1 first: that would cost a synchronisation per call. (The
    mask is not cached across ops: vLLM runs under torch.inference_mode, whose tensors have no
    version counter to tell a rewritten index tensor from the last one.)"""
    rows = min(lora_indices.shape[0], outputs.shape[0])
    outputs[:rows].masked_fill_((lora_indices[:rows] < 0).view(-1, 1), 0)
    return outputs


def _contributions(inputs: "Tensor", weights: "Tensor", lora_indices: "Tensor", dtype: "torch.dtype") -> "Tensor":
    """Each row's product with its slot's LoRA matrix, zero for rows without an adapter."""
    import torch

    selected = weights[lora_indices].to(dtype=dtype)
    if selected.dim() == 4:
        selected = selected.squeeze(dim=1)
    outputs = torch.einsum("bi, boi -> bo", inputs.to(dtype=dtype), selected)
    return _without_unadapted_rows(outputs, lora_indices)


def bgmv_expand(
    inputs: "Tensor",
    lora_b_weights: "Tensor",
    output_tensor: "Tensor",
    lora_indices_tensor: "Tensor",
    add_inputs: bool = True,
) -> None:
    outputs = _contributions(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    # vLLM's op: one row of outputs may serve every row; the adapter and the model may pad differently.
    limit = 1 if outputs.shape[0] == 1 and output_tensor.shape[0] != 1 else output_tensor.shape[0]
    common = min(outputs.shape[1], output_tensor.shape[1])
    if add_inputs:
        output_tensor[:, :common] += outputs[:limit, :common]
    else:
        output_tensor[:, :common] = outputs[:limit, :common]


def bgmv_expand_slice(  # pylint: disable=too-many-positional-arguments  # vLLM's punica op, called positionally
    inputs: "Tensor",
    lora_b_weights: "Tensor",
    output_tensor: "Tensor",
    lora_indices_tensor: "Tensor",
    slice_offset: int,
    slice_size: int,
    add_inputs: bool = True,
) -> None:
    outputs = _contributions(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    if add_inputs:
        output_tensor[:, slice_offset : slice_offset + slice_size] += outputs
    else:
        output_tensor[:, slice_offset : slice_offset + slice_size] = outputs


# Only the expands: a shrink's rows reach the output through an expand (linear layers, logits,
# embeddings) or through vLLM's own selection by index (_select_full_linear_output, which keeps
# rows of index -1 as the base computed them), so vLLM's shrink stays as it is, at no cost.
FIXED_OPS: dict[str, Callable[..., None]] = {
    "bgmv_expand": bgmv_expand,
    "bgmv_expand_slice": bgmv_expand_slice,
}


def patch() -> None:
    """Install the fixed ops in every module that bound vLLM's CPU ops (the sgmv_* prefill ops
    look the bgmv_* ones up in lora_ops; the CPU wrapper imported them by name). Idempotent."""
    from vllm.lora.ops import torch_ops
    from vllm.lora.ops.torch_ops import lora_ops

    modules = [lora_ops, torch_ops]
    try:
        from vllm.lora.punica_wrapper import punica_cpu
    except ImportError:  # a build without the CPU wrapper
        pass
    else:
        modules.append(punica_cpu)
    for module in modules:
        for name, fixed in FIXED_OPS.items():
            current = getattr(module, name, None)
            if current is not None and current is not fixed:
                ORIGINAL_OPS.setdefault(name, current)
                setattr(module, name, fixed)


# vLLM's own ops, as found before patch() (the tests compare against them).
ORIGINAL_OPS: dict[str, Callable[..., None]] = {}


patch()
# One console line per start-up phase, in the server's process and in vLLM's spawned engine and
# worker processes (they import this module as __mp_main__).
startup_timeline.install()

if __name__ == "__main__":
    from aitk_serve import api_server  # pylint: disable=ungrouped-imports  # only to run the server

    api_server.run()
