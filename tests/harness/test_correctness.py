import pytest
import torch

from dashbench.harness.correctness import (
    check_against_reference,
    relative_error,
    sample_rows,
)
from dashbench.kernels.reference import attention_reference


def _inputs(n=300, hq=4, hkv=2, d=32, dtype=torch.bfloat16, n_q=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(2, hq, n if n_q is None else n_q, d, generator=g).to(dtype)
    k = torch.randn(2, hkv, n, d, generator=g).to(dtype)
    v = torch.randn(2, hkv, n, d, generator=g).to(dtype)
    return q, k, v


def test_sample_rows_covers_both_ends_and_stays_small():
    rows = sample_rows(100_000)
    assert rows[0] == 0 and rows[-1] == 99_999
    assert len(rows) == 256 and torch.all(rows[1:] > rows[:-1])
    assert torch.equal(sample_rows(10), torch.arange(10))


def test_a_correct_low_precision_output_passes():
    q, k, v = _inputs()
    out = attention_reference(q, k, v).to(q.dtype)
    result = check_against_reference(out, q, k, v, "bf16")
    assert result.passed and 0 < result.rel_err < result.tol


def test_a_wrong_output_fails():
    q, k, v = _inputs()
    out = attention_reference(q, k, v).to(q.dtype)
    wrong = out.clone()
    wrong[0, 1, 200] += 1.0  # one bad row in a checked head
    assert not check_against_reference(wrong, q, k, v, "bf16").passed
    # Attending without the causal mask is a classic bug; it must be caught.
    no_mask = attention_reference(q, k, v, causal=False).to(q.dtype)
    assert not check_against_reference(no_mask, q, k, v, "bf16").passed


def test_nan_never_passes():
    q, k, v = _inputs(dtype=torch.float32)
    out = attention_reference(q, k, v)
    out[0, 0, 0, 0] = float("nan")
    result = check_against_reference(out, q, k, v, "fp32")
    assert result.rel_err != result.rel_err and not result.passed
    assert relative_error(torch.full((3,), float("inf")), torch.ones(3)) != 0.0


def test_decode_is_checked_against_the_last_position():
    q, k, v = _inputs(n_q=1)
    out = attention_reference(q, k, v).to(q.dtype)
    assert check_against_reference(out, q, k, v, "bf16").passed
    first_key_only = v[:, :, :1].repeat_interleave(2, dim=1)  # what a top-left causal mask gives
    assert not check_against_reference(first_key_only, q, k, v, "bf16").passed


@pytest.mark.parametrize("corrupt", [False, True])
def test_gradient_check(corrupt):
    q, k, v = _inputs(n=150, dtype=torch.float32)
    q.requires_grad_()
    do = torch.randn_like(q)
    out = attention_reference(q, k, v)
    out.backward(do)
    dq = q.grad.clone()
    if corrupt:
        dq[0, 0, 100:] *= 1.5
    result = check_against_reference(out.detach(), q, k, v, "fp32", do=do, dq=dq)
    assert result.rel_err_grad is not None
    assert result.passed is (not corrupt)


def test_an_error_in_the_last_batch_and_head_is_caught():
    q, k, v = _inputs(hq=4, hkv=2)
    out = attention_reference(q, k, v).to(q.dtype)
    wrong = out.clone()
    wrong[-1, -1] += 0.5  # last batch, a query head of the last KV head
    assert not check_against_reference(wrong, q, k, v, "bf16").passed
