"""The fix aitk_serve.cpu_server applies to vLLM 0.32's CPU LoRA ops (no server needed)."""

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


def poisoned_expand(fn, indices, sliced=False):
    """A batch whose last slot holds NaN and infinite B (a diverged adapter's): the expand adds
    each row's LoRA output to the base model's output `base`."""
    torch.manual_seed(1)
    x = torch.randn(len(indices), 4)
    b = torch.randn(3, 1, 16, 4)
    b[2] = float("nan")
    b[2, 0, 0] = float("inf")
    base = torch.randn(len(indices), 16)
    out = base.clone()
    if sliced:
        fn(x, b, out, torch.tensor(indices), 0, 16, True)
    else:
        fn(x, b, out, torch.tensor(indices), True)
    return out, base


def test_vllms_own_ops_apply_the_last_slot_to_rows_without_an_adapter():
    """The bug the fix is for (if vLLM fixes it, this fails: drop cpu_server then)."""
    from vllm.lora.ops.torch_ops import lora_ops

    cpu_server.patch()
    original = cpu_server.ORIGINAL_OPS.get("bgmv_shrink", lora_ops.bgmv_shrink)
    out, want = shrink(original, [0, -1, 2])
    assert torch.allclose(out[0], want[0]) and torch.allclose(out[2], want[2])
    assert not torch.allclose(out[1], want[1])
    # Zeroing the shrink alone is not enough: 0 x NaN is NaN in the expand.
    out, base = poisoned_expand(cpu_server.ORIGINAL_OPS["bgmv_expand"], [-1, 0])
    assert torch.isnan(out[0]).any()


def test_vllms_shrink_is_left_as_it_is():
    """Its rows without an adapter reach the output only through a fixed expand."""
    cpu_server.patch()
    from vllm.lora.ops.torch_ops import lora_ops

    assert "bgmv_shrink" not in cpu_server.FIXED_OPS and not hasattr(cpu_server, "bgmv_shrink")
    assert lora_ops.bgmv_shrink is cpu_server.ORIGINAL_OPS.get("bgmv_shrink", lora_ops.bgmv_shrink)


@pytest.mark.parametrize("sliced", [False, True])
@pytest.mark.parametrize("indices", [[-1, 0, -1, 1], [-1], [2, -1]])
def test_rows_without_an_adapter_are_untouched_whatever_the_slots_hold(indices, sliced):
    """The attack: a NaN adapter in the last slot, base-model rows batched with it."""
    cpu_server.patch()
    from vllm.lora.ops.torch_ops import lora_ops
    from vllm.lora.punica_wrapper import punica_cpu

    op = lora_ops.bgmv_expand_slice if sliced else lora_ops.bgmv_expand
    assert op is getattr(punica_cpu, op.__name__)
    out, base = poisoned_expand(op, indices, sliced)
    for row, i in enumerate(indices):
        if i < 0:
            assert torch.equal(out[row], base[row])
        elif i < 2:
            assert torch.isfinite(out[row]).all() and not torch.equal(out[row], base[row])


def test_the_fixed_ops_compute_what_vllms_do_for_adapter_rows():
    cpu_server.patch()
    torch.manual_seed(3)
    x, b = torch.randn(5, 4), torch.randn(3, 1, 16, 4)
    idx = torch.tensor([0, 1, 2, 1, 0])
    for name, extra in (("bgmv_expand", (True,)), ("bgmv_expand_slice", (0, 16, True))):
        mine, theirs = torch.zeros(5, 16), torch.zeros(5, 16)
        cpu_server.FIXED_OPS[name](x, b, mine, idx, *extra)
        cpu_server.ORIGINAL_OPS[name](x, b, theirs, idx, *extra)
        assert torch.allclose(mine, theirs)


def test_the_fixed_ops_run_under_inference_mode_as_in_vllm():
    """vLLM's worker runs the model under torch.inference_mode: nothing in the ops may need what
    inference tensors lack (a version counter)."""
    cpu_server.patch()
    with torch.inference_mode():
        out, base = poisoned_expand(cpu_server.bgmv_expand, [-1, 0, 1, -1])
        assert torch.equal(out[0], base[0]) and torch.equal(out[3], base[3])
        out, base = poisoned_expand(cpu_server.bgmv_expand_slice, [0, -1], sliced=True)
        assert torch.equal(out[1], base[1])
