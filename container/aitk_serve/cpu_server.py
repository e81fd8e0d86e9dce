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

Its cost (docs/benchmarks.md): vLLM writes the rows' adapter indices into the punica wrapper's
buffers in one place, `update_metadata`, from a LoRA mapping of plain Python ids. The patch wraps
it to note, from those ids, whether every row of the batch has an adapter or none has. An expand
given one of those buffers then skips the fill when every row has an adapter (nothing to mask),
and, when no row has one, skips its product altogether (the contribution of every row is zero);
only a mixed batch pays the fill. Any other index tensor (the prefill path's per-token copies, a
test's own) gets the fill. Inside a torch.compile trace (vLLM's CPU DYNAMO_TRACE_ONCE mode, where
a trace is replayed for every later batch) no such shortcut is taken: the fill is always there.

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


ALL_ADAPTED = "all rows have an adapter"
NONE_ADAPTED = "no row has an adapter"


class _Batch:  # pylint: disable=too-few-public-methods  # one record per process
    """What `update_metadata` last wrote into the punica wrapper's index buffers: the buffers'
    data pointers, and ALL_ADAPTED, NONE_ADAPTED or None (mixed, or not known)."""

    buffers: frozenset = frozenset()
    kind: str | None = None
    masks: dict = {}  # for a mixed batch: buffer data pointer -> its rows' no-adapter mask, made once
    # The buffers themselves, held: while they are noted, no other tensor can get their addresses.
    held: tuple = ()


BATCH = _Batch()


def _kind(lora_indices: "Tensor") -> str | None:
    """ALL_ADAPTED or NONE_ADAPTED when `lora_indices` is one of the wrapper's buffers as the last
    update_metadata wrote it, else None (then the ops mask row by row)."""
    import torch

    if BATCH.kind is None or torch.compiler.is_compiling():  # a trace is replayed for other batches
        return None
    return BATCH.kind if lora_indices.data_ptr() in BATCH.buffers else None


def batch_kind(index_mapping: "tuple[int, ...]", prompt_mapping: "tuple[int, ...]") -> str | None:
    """From a LoRAMapping's ids (0, or below, for a row without an adapter: vllm's convert_mapping):
    ALL_ADAPTED, NONE_ADAPTED, or None for a mixed batch."""
    ids = (*index_mapping, *prompt_mapping)
    if not ids:
        return None
    adapted = sum(1 for i in ids if i > 0)
    return ALL_ADAPTED if adapted == len(ids) else NONE_ADAPTED if adapted == 0 else None


def note_batch(wrapper: object, mapping: object) -> None:
    """After `wrapper.update_metadata(mapping, ...)`: what its token and sampler buffers hold."""
    kind = batch_kind(getattr(mapping, "index_mapping", ()), getattr(mapping, "prompt_mapping", ()))
    token, sampler = getattr(wrapper, "_token_lora_indices", None), getattr(wrapper, "_sampler_indices", None)
    if token is None or sampler is None:
        BATCH.kind, BATCH.buffers, BATCH.masks = None, frozenset(), {}
        return
    views = (wrapper.token_lora_indices, wrapper.sampler_indices)  # type: ignore[attr-defined]
    BATCH.masks = {} if kind is not None else {v.data_ptr(): (v < 0).view(-1, 1) for v in views}
    BATCH.held = (token, sampler)
    BATCH.buffers = frozenset((token.data_ptr(), sampler.data_ptr()))
    BATCH.kind = kind


def _without_unadapted_rows(outputs: "Tensor", lora_indices: "Tensor") -> "Tensor":
    """`outputs` (one row per index) with the rows of index -1 (no adapter) set to zero, in place:
    a fill, never a multiplication, so NaN or infinite products in those rows are replaced too.
    For the wrapper's own buffers of a mixed batch the mask is the one note_batch made when
    update_metadata wrote them (the only writer: inference tensors have no version counter to tell
    a rewritten index tensor from the last one, so the cache is keyed on that call instead); for any
    other index tensor it is made here."""
    rows = min(lora_indices.shape[0], outputs.shape[0])
    mask = _noted_mask(lora_indices)
    outputs[:rows].masked_fill_(mask[:rows] if mask is not None else (lora_indices[:rows] < 0).view(-1, 1), 0)
    return outputs


def _noted_mask(lora_indices: "Tensor") -> "Tensor | None":
    """The mask note_batch made for this buffer of a mixed batch, or None (then it is made here)."""
    import torch

    if not BATCH.masks or torch.compiler.is_compiling():
        return None
    mask = BATCH.masks.get(lora_indices.data_ptr())
    return mask if mask is not None and mask.shape[0] == lora_indices.shape[0] else None


def _contributions(
    inputs: "Tensor", weights: "Tensor", lora_indices: "Tensor", dtype: "torch.dtype", kind: str | None
) -> "Tensor":
    """Each row's product with its slot's LoRA matrix, zero for rows without an adapter."""
    import torch

    selected = weights[lora_indices].to(dtype=dtype)
    if selected.dim() == 4:
        selected = selected.squeeze(dim=1)
    outputs = torch.einsum("bi, boi -> bo", inputs.to(dtype=dtype), selected)
    return outputs if kind == ALL_ADAPTED else _without_unadapted_rows(outputs, lora_indices)


def bgmv_expand(
    inputs: "Tensor",
    lora_b_weights: "Tensor",
    output_tensor: "Tensor",
    lora_indices_tensor: "Tensor",
    add_inputs: bool = True,
) -> None:
    kind = _kind(lora_indices_tensor)
    if kind == NONE_ADAPTED:  # every row's contribution is zero
        if not add_inputs:
            output_tensor[:, : min(lora_b_weights.shape[-2], output_tensor.shape[1])] = 0
        return
    outputs = _contributions(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype, kind)
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
    kind = _kind(lora_indices_tensor)
    if kind == NONE_ADAPTED:  # every row's contribution is zero
        if not add_inputs:
            output_tensor[:, slice_offset : slice_offset + slice_size] = 0
        return
    outputs = _contributions(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype, kind)
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
    wrapper = getattr(modules[-1], "PunicaWrapperCPU", None)
    if wrapper is not None and not getattr(wrapper.update_metadata, "aitk_notes_batch", False):
        wrapper.update_metadata = _noting(wrapper.update_metadata)


def _noting(update_metadata: Callable[..., None]) -> Callable[..., None]:
    """vLLM's update_metadata, then note_batch (nothing is trusted when it fails)."""

    def noted(self: object, mapping: object, *args: object, **kwargs: object) -> None:
        BATCH.kind, BATCH.buffers, BATCH.masks = None, frozenset(), {}
        update_metadata(self, mapping, *args, **kwargs)
        note_batch(self, mapping)

    noted.aitk_notes_batch = True  # type: ignore[attr-defined]
    return noted


# vLLM's own ops, as found before patch() (the tests compare against them).
ORIGINAL_OPS: dict[str, Callable[..., None]] = {}


patch()
# One console line per start-up phase, in the server's process and in vLLM's spawned engine and
# worker processes (they import this module as __mp_main__).
startup_timeline.install()

if __name__ == "__main__":
    from aitk_serve import api_server  # pylint: disable=ungrouped-imports  # only to run the server

    api_server.run()
