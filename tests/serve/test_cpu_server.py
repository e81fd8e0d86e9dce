"""The fix aitk_serve.cpu_server applies to vLLM 0.32's CPU LoRA op (no server needed)."""

import pytest
import torch
from aitk_serve import cpu_server


def shrink(fn, indices):
    torch.manual_seed(0)
    x = torch.randn(len(indices), 16)
    a = torch.randn(3, 1, 4, 16)  # 3 adapter slots, rank 4 (vLLM's stacked layout)
    out = torch.full((len(indices), 4), 7.0)
    fn(x, a, out, torch.tensor(indices), 0.5)
    want = torch.stack([0.5 * a[i, 0] @ x[row] if i >= 0 else torch.zeros(4) for row, i in enumerate(indices)])
    return out, want


def test_vllms_own_op_applies_the_last_slot_to_rows_without_an_adapter():
    """The bug the fix is for (if vLLM fixes it, this fails: drop cpu_server then)."""
    from vllm.lora.ops.torch_ops import lora_ops

    original = getattr(lora_ops.bgmv_shrink, "original", lora_ops.bgmv_shrink)
    out, want = shrink(original, [0, -1, 2])
    assert torch.allclose(out[0], want[0]) and torch.allclose(out[2], want[2])
    assert not torch.allclose(out[1], want[1])


@pytest.mark.parametrize("indices", [[0, -1, 2], [-1, -1], [1, 1, 0], [2]])
def test_the_fixed_op_leaves_rows_without_an_adapter_at_zero(indices):
    cpu_server.patch()
    from vllm.lora.ops.torch_ops import lora_ops
    from vllm.lora.punica_wrapper import punica_cpu

    assert lora_ops.bgmv_shrink is punica_cpu.bgmv_shrink and lora_ops.bgmv_shrink.aitk_fixed
    out, want = shrink(lora_ops.bgmv_shrink, indices)
    assert torch.allclose(out, want, atol=1e-6)
