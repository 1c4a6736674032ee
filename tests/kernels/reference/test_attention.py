import math

import pytest
import torch

from dashbench.kernels.reference import attention_reference


def explicit_attention(q, k, v, causal=True, positions=None):
    """The N x N matrix, written out, in float64: what the streamed reference must equal."""
    q, k, v = q.double(), k.double(), v.double()
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    n_q, n_k = q.shape[2], k.shape[2]
    if positions is None:
        positions = torch.arange(n_k - n_q, n_k)
    if causal:
        mask = torch.arange(n_k)[None, :] > positions[:, None]
        scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, -1) @ v


@pytest.mark.parametrize("n", [1, 7, 63, 113, 256])
@pytest.mark.parametrize("hq, hkv", [(2, 2), (4, 1), (8, 2), (16, 1)])
@pytest.mark.parametrize("d", [64, 128])
def test_matches_explicit_matrix(n, hq, hkv, d):
    torch.manual_seed(n * 100 + hq + d)
    q = torch.randn(2, hq, n, d, dtype=torch.float64)
    k, v = torch.randn(2, 2, hkv, n, d, dtype=torch.float64).unbind(0)
    out = attention_reference(q, k, v, compute_dtype=torch.float64)
    torch.testing.assert_close(out, explicit_attention(q, k, v), rtol=1e-10, atol=1e-10)


def test_block_size_does_not_change_the_result():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 1, 4, 77, 32, dtype=torch.float64).unbind(0)
    full = attention_reference(q, k, v, compute_dtype=torch.float64, block_q=77)
    for block in (1, 5, 16, 64):
        blocked = attention_reference(q, k, v, compute_dtype=torch.float64, block_q=block)
        torch.testing.assert_close(blocked, full, rtol=1e-12, atol=1e-12)


def test_decode_query_sees_the_whole_cache():
    torch.manual_seed(1)
    k, v = torch.randn(2, 1, 2, 50, 16, dtype=torch.float64).unbind(0)
    q = torch.randn(1, 4, 1, 16, dtype=torch.float64)
    out = attention_reference(q, k, v, compute_dtype=torch.float64)
    no_mask = attention_reference(q, k, v, causal=False, compute_dtype=torch.float64)
    torch.testing.assert_close(out, no_mask)
    torch.testing.assert_close(out, explicit_attention(q, k, v))


def test_explicit_positions_select_rows_of_the_full_result():
    torch.manual_seed(2)
    q, k, v = torch.randn(3, 1, 2, 40, 16, dtype=torch.float64).unbind(0)
    full = attention_reference(q, k, v, compute_dtype=torch.float64)
    rows = torch.tensor([0, 3, 17, 39])
    part = attention_reference(q[:, :, rows], k, v, q_positions=rows, compute_dtype=torch.float64)
    torch.testing.assert_close(part, full[:, :, rows])


def test_gradients_match_the_explicit_matrix_with_checkpointed_blocks():
    torch.manual_seed(3)
    q, k, v = (t.requires_grad_() for t in torch.randn(3, 1, 4, 45, 16, dtype=torch.float64).unbind(0))
    k2 = k.detach()[:, :2].clone().requires_grad_()
    v2 = v.detach()[:, :2].clone().requires_grad_()
    do = torch.randn(1, 4, 45, 16, dtype=torch.float64)
    out = attention_reference(q, k2, v2, compute_dtype=torch.float64, block_q=8)
    grads = torch.autograd.grad(out, (q, k2, v2), do)
    qe, ke, ve = (t.detach().clone().requires_grad_() for t in (q, k2, v2))
    expected = torch.autograd.grad(explicit_attention(qe, ke, ve), (qe, ke, ve), do)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_low_precision_output_dtype_and_accuracy():
    torch.manual_seed(4)
    q, k, v = torch.randn(3, 1, 2, 64, 64).unbind(0)
    ref = explicit_attention(q, k, v)
    out32 = attention_reference(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert out32.dtype == torch.float32
    low = attention_reference(q.bfloat16(), k.bfloat16(), v.bfloat16(), compute_dtype=None)
    assert low.dtype == torch.bfloat16
    rel = lambda x: ((x.double() - ref).norm() / ref.norm()).item()  # noqa: E731
    assert rel(out32) < 1e-2 and rel(low) < 5e-2


@pytest.mark.parametrize(
    "shapes, message",
    [
        (((1, 4, 8, 16), (1, 3, 8, 16), (1, 3, 8, 16)), "multiple"),
        (((1, 4, 8, 16), (1, 2, 8, 32), (1, 2, 8, 32)), "head dim"),
        (((4, 8, 16), (1, 2, 8, 16), (1, 2, 8, 16)), r"\[B, H, N, D\]"),
        (((1, 4, 8, 16), (1, 2, 8, 16), (1, 2, 9, 16)), "same shape"),
        (((2, 4, 8, 16), (1, 2, 8, 16), (1, 2, 8, 16)), "batch"),
    ],
)
def test_bad_inputs_raise_value_error(shapes, message):
    q, k, v = (torch.randn(*s) for s in shapes)
    with pytest.raises(ValueError, match=message):
        attention_reference(q, k, v)


def test_mixed_dtypes_raise_value_error():
    q = torch.randn(1, 2, 4, 8)
    with pytest.raises(ValueError, match="dtypes"):
        attention_reference(q, q.double(), q)
