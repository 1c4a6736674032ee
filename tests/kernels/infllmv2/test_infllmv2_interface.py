"""InfLLMv2 through the Triton kernels against the PyTorch reference."""

import pytest
import torch
from _common import DEVICE, FP32_TOL, needs_triton
from _common import rel as _rel

from dashbench.kernels import InfLLMv2Config, infllmv2_attention, infllmv2_decode
from dashbench.kernels.infllmv2.stage1 import block_scores
from dashbench.kernels.reference.infllmv2 import block_scores as reference_block_scores
from dashbench.kernels.reference.infllmv2 import _attend_selected, compress_keys, infllmv2_reference, infllmv2_selection

pytestmark = needs_triton

# Small blocks so short sequences have many of them; 1 initial + 2 local + own = 4 forced.
SMALL = InfLLMv2Config(block_size=32, kernel_size=16, kernel_stride=8, init_blocks=1, local_blocks=2, topk=6)


def _inputs(B, hq, hkv, n, d, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, h, n, d, generator=g).to(DEVICE, dtype) for h in (hq, hkv, hkv)]


@pytest.mark.parametrize("hq, hkv, n, d, dtype", [(4, 2, 300, 64, torch.float32), (6, 2, 257, 64, torch.float32),
                                                   (16, 1, 200, 128, torch.float32), (2, 2, 1, 64, torch.float32),
                                                   (4, 2, 300, 64, torch.float16), (4, 2, 300, 128, torch.bfloat16)])
def test_block_scores_match_the_reference(hq, hkv, n, d, dtype):
    if DEVICE == "cpu" and dtype == torch.bfloat16:
        pytest.skip("Triton's CPU interpreter computes bf16 tl.dot wrongly; bf16 is checked on the GPU")
    q, k, _ = _inputs(1, hq, hkv, n, d, seed=n, dtype=dtype)
    ck = compress_keys(k.float(), SMALL.kernel_size, SMALL.kernel_stride)
    got = block_scores(q, ck, 0, n, SMALL)  # half-precision queries: the keys' two-term split
    want = reference_block_scores(q.double(), ck.double(), torch.arange(n, device=DEVICE), -(-n // 32), SMALL)
    assert torch.equal(torch.isinf(got), torch.isinf(want)) and torch.equal(got > 0, want > 0)
    finite = torch.isfinite(want)
    assert torch.allclose(got[finite].double(), want[finite], atol=1e-5 if DEVICE == "cpu" else 1e-4)


@pytest.mark.parametrize("hq, hkv, n", [(4, 2, 300), (16, 1, 200)])
def test_nsa_sum_scores_match_the_nsa_reference(hq, hkv, n):
    from dashbench.kernels.reference.nsa import NSAConfig, _block_map

    q, k, _ = _inputs(1, hq, hkv, n, 64, seed=n)
    ck = compress_keys(k.float(), SMALL.kernel_size, SMALL.kernel_stride)
    got = block_scores(q, ck, 0, n, SMALL, score="sum")
    want = reference_block_scores(q.double(), ck.double(), torch.arange(n, device=DEVICE), -(-n // 32), SMALL)
    # the reference's "sum": recompute the pooled scores with NSA's overlap weights
    nsa = NSAConfig(block_size=32, cmp_size=16, cmp_stride=8)
    ids, weight = _block_map(-(-n // 32), ck.shape[2], nsa, DEVICE)
    x = torch.matmul(q.double().reshape(1, hkv, -1, 64), ck.double().transpose(-1, -2)) / 8.0
    ends = 8 * torch.arange(ck.shape[2], device=DEVICE) + 15
    x = x.view(1, hkv, hq // hkv, n, -1).masked_fill(ends[None, :] > torch.arange(n, device=DEVICE)[:, None], float("-inf"))
    summed = torch.softmax(x, -1).nan_to_num(0.0).sum(2)
    pooled = (summed[..., ids] * weight).sum(-1)
    finite = torch.isfinite(want)
    assert torch.equal(torch.isinf(got), torch.isinf(want))
    assert torch.allclose(got[finite].double(), pooled[finite], atol=1e-5 if DEVICE == "cpu" else 1e-4)


def _assert_same_selection(got, q, k, cfg):
    """The kernel's block sets equal the reference's, except where two blocks tie. Ties are
    exact in the reference (a window straddling two blocks gives both its probability; the
    earlier block wins) but the kernel computes that window's probability for the later block
    through a separate product, so its rounding may break the tie the other way. Where sets
    differ, the reference's scores of both sets must be equal."""
    n_blocks = -(-k.shape[2] // cfg.block_size)
    want = infllmv2_selection(q.double(), k.double(), cfg)
    differ = (got.blocks != want.blocks).any(-1)
    assert differ.float().mean() < 0.05, f"{int(differ.sum())} of {differ.numel()} rows differ"
    ck = compress_keys(k.double(), cfg.kernel_size, cfg.kernel_stride)
    for b, h, i in differ.nonzero().tolist():
        pos = torch.tensor([i], device=DEVICE)
        scores = reference_block_scores(q[b : b + 1, :, i : i + 1].double(), ck[b : b + 1], pos, n_blocks, cfg)
        chosen = [scores[0, h, 0][s.blocks[b, h, i][s.blocks[b, h, i] >= 0].long()].sort().values
                  for s in (got, want)]  # fmt: skip
        # the kernel's fp32 products are exact on the CPU, tf32x3 on the GPU
        assert torch.allclose(chosen[0], chosen[1], rtol=1e-5 if DEVICE == "cpu" else 1e-4), (b, h, i)


@pytest.mark.parametrize("hq, hkv, n, d", [(4, 2, 300, 64), (6, 2, 129, 128), (8, 1, 260, 64)])
def test_forward_selection_and_gradients_match_the_reference(hq, hkv, n, d):
    q, k, v = _inputs(2, hq, hkv, n, d, seed=n + d)
    args = [t.clone().requires_grad_() for t in (q, k, v)]
    out, sel = infllmv2_attention(*args, SMALL, return_selection=True)
    _assert_same_selection(sel, q, k, SMALL)
    ref_sel = infllmv2_selection(q.double(), k.double(), SMALL)
    assert (sel.token_density - ref_sel.token_density).abs().mean() < 1e-3
    assert 1.0 >= sel.compute_density >= sel.mean_density * 0.5
    # The attention over the kernel's own selection, against PyTorch in fp64.
    ref_args = [t.double().clone().requires_grad_() for t in (q, k, v)]
    ref = _attend_selected(*ref_args, sel.blocks, torch.arange(n, device=DEVICE), SMALL.block_size)
    assert _rel(out, ref) < FP32_TOL
    do = torch.randn_like(out)
    out.backward(do)
    ref.backward(do.double())
    tol = 1e-5 if DEVICE == "cpu" else 1e-2
    for name, got, want in zip(["q", "k", "v"], args, ref_args):
        assert _rel(got.grad, want.grad) < tol, name


def test_attention_equals_the_reference_end_to_end():
    q, k, v = _inputs(1, 4, 2, 250, 64, seed=3)
    out, sel = infllmv2_attention(q, k, v, SMALL, return_selection=True)
    ref, ref_sel = infllmv2_reference(q, k, v, SMALL, return_selection=True)
    same = ~(sel.blocks != ref_sel.blocks).any(-1).any(1).any(0)  # tokens selected alike
    assert same.float().mean() > 0.9
    assert _rel(out[:, :, same], ref[:, :, same]) < FP32_TOL


@pytest.mark.parametrize("hq, hkv, n", [(4, 2, 1), (4, 2, 31), (8, 2, 33), (16, 1, 200), (6, 2, 500)])
def test_decode_equals_the_last_row_of_prefill(hq, hkv, n):
    q, k, v = _inputs(2, hq, hkv, n, 64, seed=n)
    full = infllmv2_attention(q, k, v, SMALL)
    step = infllmv2_decode(q[:, :, -1:], k, v, SMALL)
    assert _rel(step, full[:, :, -1:]) < FP32_TOL
    ck = compress_keys(k.float(), SMALL.kernel_size, SMALL.kernel_stride)  # a cache's own
    assert torch.equal(infllmv2_decode(q[:, :, -1:], k, v, SMALL, compressed_keys=ck), step)


def test_half_precision_forward():
    dtype = torch.float16
    q, k, v = _inputs(1, 4, 2, 200, 64, seed=9, dtype=dtype)
    out, sel = infllmv2_attention(q, k, v, SMALL, return_selection=True)
    ref = infllmv2_reference(q, k, v, SMALL)  # selection from the same fp16 inputs, in fp32
    assert out.dtype == dtype and _rel(out, ref) < 1e-2


@pytest.mark.parametrize("change, message", [
    (dict(d=32), "head dim 32"),
    (dict(cfg=InfLLMv2Config(block_size=64, kernel_size=48, kernel_stride=16)), "kernel_size 48"),
    (dict(cfg=InfLLMv2Config(topk=4)), "below its 18 forced blocks"),
    (dict(hq=3), "multiple of KV heads"),
])  # fmt: skip
def test_bad_input_names_the_problem(change, message):
    q, k, v = _inputs(1, change.get("hq", 4), 2, 64, change.get("d", 64), seed=1)
    with pytest.raises(ValueError, match=message):
        infllmv2_attention(q, k, v, change.get("cfg", InfLLMv2Config()))


def test_decode_reads_a_cache_view_with_its_own_strides():
    """k and v as prefixes of longer cache buffers of different lengths (different strides)."""
    q, k, v = _inputs(1, 4, 2, 300, 64, seed=12)
    kbuf = torch.zeros(1, 2, 400, 64, device=DEVICE)
    vbuf = torch.zeros(1, 2, 512, 64, device=DEVICE)
    kbuf[:, :, :300], vbuf[:, :, :300] = k, v
    step = infllmv2_decode(q[:, :, -1:], kbuf[:, :, :300], vbuf[:, :, :300], SMALL)
    assert _rel(step, infllmv2_decode(q[:, :, -1:], k, v, SMALL)) < 1e-6
