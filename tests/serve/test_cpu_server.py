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


# --- the fix's shortcuts: what update_metadata wrote (issue 21, the fix's cost) -------------------


def wrapper_after(index_mapping, prompt_mapping):
    """vLLM's CPU punica wrapper after update_metadata with these LoRA ids (0: no adapter); slots
    0, 1, 2 hold LoRA ids 1, 2, 3."""
    from vllm.lora.layers.utils import LoRAMapping
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    cpu_server.patch()
    wrapper = PunicaWrapperCPU(16, 4, "cpu")
    wrapper.update_metadata(LoRAMapping(index_mapping, prompt_mapping), [1, 2, 3], 3, 512)
    return wrapper


def expand_through(wrapper, op_name, add_inputs=True):
    """The fixed op on the wrapper's own token indices, the last slot poisoned (NaN, inf)."""
    torch.manual_seed(4)
    rows = wrapper.token_lora_indices.shape[0]
    x, b = torch.randn(rows, 4), torch.randn(3, 1, 16, 4)
    b[2] = float("nan")
    b[2, 0, 0] = float("inf")
    base = torch.randn(rows, 16)
    out = base.clone()
    extra = (0, 16, add_inputs) if op_name == "bgmv_expand_slice" else (add_inputs,)
    cpu_server.FIXED_OPS[op_name](x, b, out, wrapper.token_lora_indices, *extra)
    want = base.clone() if add_inputs else torch.zeros_like(base)
    theirs = want.clone()
    cpu_server.ORIGINAL_OPS[op_name](x, b, theirs, wrapper.token_lora_indices, *extra)
    return out, want, theirs


def test_the_batch_kind_comes_from_the_mapping_ids():
    assert cpu_server.batch_kind((1, 2, 1), (1, 2)) == cpu_server.ALL_ADAPTED
    assert cpu_server.batch_kind((0, 0), (0,)) == cpu_server.NONE_ADAPTED
    assert cpu_server.batch_kind((1, 0), (1, 0)) is None
    assert cpu_server.batch_kind((1, 1), (1, 0)) is None  # any row without: the fill
    assert cpu_server.batch_kind((), ()) is None


@pytest.mark.parametrize("op_name", ["bgmv_expand", "bgmv_expand_slice"])
@pytest.mark.parametrize("add_inputs", [True, False])
def test_a_batch_without_adapters_skips_the_product_and_stays_the_base(op_name, add_inputs):
    wrapper = wrapper_after((0, 0, 0), (0, 0, 0))
    assert cpu_server.BATCH.kind == cpu_server.NONE_ADAPTED
    out, want, theirs = expand_through(wrapper, op_name, add_inputs)
    assert torch.equal(out, want)
    assert not torch.equal(theirs, want)  # vLLM's own op gives these rows the last slot


@pytest.mark.parametrize("op_name", ["bgmv_expand", "bgmv_expand_slice"])
def test_a_batch_all_with_adapters_skips_the_fill_and_computes_what_vllm_does(op_name):
    wrapper = wrapper_after((1, 2, 1, 2), (1, 2, 1, 2))
    assert cpu_server.BATCH.kind == cpu_server.ALL_ADAPTED
    out, _, theirs = expand_through(wrapper, op_name)
    assert torch.equal(out, theirs) and torch.isfinite(out).all()


@pytest.mark.parametrize("op_name", ["bgmv_expand", "bgmv_expand_slice"])
def test_a_mixed_batch_keeps_the_fill(op_name):
    wrapper = wrapper_after((1, 0, 3, 0), (1, 0, 3, 0))
    assert cpu_server.BATCH.kind is None
    out, want, _ = expand_through(wrapper, op_name)
    assert torch.equal(out[1], want[1]) and torch.equal(out[3], want[3])
    assert torch.isfinite(out[0]).all() and not torch.isfinite(out[2]).all()  # slot 2's own row


def test_an_index_tensor_that_is_not_the_wrappers_buffer_is_always_masked(monkeypatch):
    wrapper_after((1, 1), (1, 1))  # all adapted, as noted for the wrapper's buffers only
    assert cpu_server.BATCH.kind == cpu_server.ALL_ADAPTED
    out, base = poisoned_expand(cpu_server.bgmv_expand, [-1, 0])  # a tensor of its own (prefill's copies)
    assert torch.equal(out[0], base[0])
    # Inside a torch.compile trace (replayed for later batches) nothing is skipped either.
    wrapper = wrapper_after((0, 0), (0, 0))
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert cpu_server._kind(wrapper.token_lora_indices) is None  # pylint: disable=protected-access


def test_a_failing_update_leaves_nothing_noted(monkeypatch):
    from vllm.lora.layers.utils import LoRAMapping

    wrapper = wrapper_after((1, 1), (1, 1))
    with pytest.raises(KeyError):  # an id in no slot: vLLM's convert_mapping fails
        wrapper.update_metadata(LoRAMapping((9,), (9,)), [1, 2, 3], 3, 512)
    assert cpu_server.BATCH.kind is None and not cpu_server.BATCH.buffers


def test_a_mixed_batchs_mask_is_made_once_per_update_and_follows_the_next_update():
    wrapper = wrapper_after((1, 0, 3, 0), (1, 0, 3, 0))
    assert cpu_server.BATCH.masks  # made by update_metadata, for the token and sampler buffers
    from vllm.lora.layers.utils import LoRAMapping

    # The next batch reuses the buffers with other rows: the mask follows it, never the old one.
    wrapper.update_metadata(LoRAMapping((0, 1, 0, 3), (0, 1, 0, 3)), [1, 2, 3], 3, 512)
    out, want, _ = expand_through(wrapper, "bgmv_expand")
    assert torch.equal(out[0], want[0]) and torch.equal(out[2], want[2])
    assert torch.isfinite(out[1]).all() and not torch.isfinite(out[3]).all()
