"""The Gluon attention (kernels/dash/gluon_attend.py): its sm_90 schedule (no GPU needed), its
refusals and dispatch, and on the GPU its output against ``attend``."""


import pytest
import torch
from _common import needs_gpu, make_inputs, rel, sm90_listing, stored_bias_case

from dashbench.kernels.dash.gluon_attend import gluon_attend
from dashbench.kernels.dash.gluon_ws_attend import gluon_ws_attend
from dashbench.kernels.dash.route import padded_group, tile_rows


def test_softmax_runs_while_the_pv_product_is_in_flight():
    """Compiled for sm_90 (in a process without the interpreter), in the machine code: the next
    entry's QKᵀ and this entry's PV are issued together, a wait leaves one wgmma group (the PV) in
    flight, the next softmax's ex2s follow, then the PV is waited for. Plain Triton's attention
    waits for every group before its softmax."""
    lines = sm90_listing("dashbench.kernels.dash.gluon_attend", 8)
    for line in lines:
        assert "stack 0 B" in line, line  # no spills
        # The 64-row tiles with q in shared memory (the timed configuration) keep the softmax
        # between the two waits under Triton 3.6 and 3.9; where ptxas moves the ex2s after the
        # PV's wait depends on the configuration and the version (e.g. 2 stages at G=4, D=128).
        if line.startswith(("G=4 D=128 stages=3 rows=64 q_regs=0", "G=16 D=128 stages=2 rows=64 q_regs=0")):
            assert "HGMMA DEPBAR1 EX2 DEPBAR0" in line, line
    # q in registers frees its 16 KB: two 64-row CTAs of 3 stages fit an SM's 228 KB
    (line,) = [line for line in lines if "D=128 stages=3 rows=64 q_regs=1" in line]
    assert int(line.split("shared ")[1].split(" B")[0]) < 113 * 1024, line


@needs_gpu
@pytest.mark.parametrize("kernel", [gluon_attend, gluon_ws_attend])
@pytest.mark.parametrize("hq, hkv, n, d", [(8, 2, 1000, 128), (32, 2, 777, 128), (4, 4, 513, 64)])
def test_fp32_biases_equal_attend(kernel, hq, hkv, n, d):
    """fp16 inputs with their fp32 stored biases (``prior.bias_dtype``), read as they are."""
    case = c = stored_bias_case(1, hq, hkv, n, d, seed=n + 6, dtype=torch.float16, fp16_bias=False)
    assert c["bias"].dtype == torch.float32
    got, lse = kernel(c["q"], c["k"], c["v"], c["offsets"], c["counts"], c["ids"], c["bias"], chunk_size=64, bm=c["bm"], gp=c["gp"])
    assert rel(got, case["want"]) < 2e-3 and rel(lse, case["want_lse"]) < 1e-4


def test_unsupported_inputs_are_refused():
    q = torch.zeros(1, 4, 64, 128)
    ids = torch.zeros(3, dtype=torch.int32)
    with pytest.raises(ValueError, match="bf16 or fp16"):
        gluon_attend(q, q[:, :1], q[:, :1], None, None, ids, torch.zeros(3, 16, dtype=torch.float16),
                     chunk_size=64, bm=16, gp=4)  # fmt: skip
    q = q.bfloat16()
    with pytest.raises(ValueError, match="bias must be fp16 or fp32"):
        gluon_attend(q, q[:, :1], q[:, :1], None, None, ids, torch.zeros(3, 16, dtype=torch.float64), chunk_size=64,
                     bm=16, gp=4)  # fmt: skip


@needs_gpu
@pytest.mark.parametrize("rows, q_regs", [(64, False), (64, True), (128, False), (128, True)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("hq, hkv, n, d", [(8, 2, 1000, 128), (32, 2, 777, 128), (4, 4, 513, 64), (6, 2, 700, 128)])
def test_gluon_attention_equals_attend(dtype, hq, hkv, n, d, rows, q_regs):
    """Odd lengths, 4 and 16 heads a KV head, one head a KV head (64 tokens a tile), padded heads
    (6/2), tiles of 64 and 128 rows, q in shared memory or registers: output and log-sum-exp
    equal ``attend``'s over the same lists and stored biases."""
    if padded_group(hq // hkv) * tile_rows(hq // hkv, 64, rows) != rows:  # one head a KV head: a tile is at most
        pytest.skip("no 128-row tiles of one head at 64-token chunks")  # a chunk's 64 tokens
    case = c = stored_bias_case(1, hq, hkv, n, d, seed=n, dtype=dtype, rows=rows)
    assert int(c["counts"].max()) > 2
    got, lse = gluon_attend(c["q"], c["k"], c["v"], c["offsets"], c["counts"], c["ids"], c["bias"], chunk_size=64, bm=c["bm"], gp=c["gp"], q_regs=q_regs)
    assert rel(got, case["want"]) < 2e-3 and rel(lse, case["want_lse"]) < 1e-4


def test_dash_attention_runs_the_gluon_kernel_only_where_it_is_checked():
    """``use_gluon_attend`` refuses what the Gluon kernels' tests do not cover: no stored
    biases, CPU tensors (the interpreter), one or two sequences alike; and on an sm_90 GPU it
    takes fp16 and fp32 biases and two sequences (the kernel that runs: ``gluon_kernel``)."""
    from dashbench.kernels.dash.interface import use_gluon_attend

    q = torch.zeros(1, 8, 256, 128, dtype=torch.bfloat16)
    k = torch.zeros(1, 2, 256, 128, dtype=torch.bfloat16)
    half = torch.zeros(4, 16, dtype=torch.float16)
    assert not use_gluon_attend(q, k, k, None, 16, 4, 64)
    assert not use_gluon_attend(q, k, k, half, 16, 4, 64)  # on the CPU
    assert not use_gluon_attend(q, k, k, half.float(), 16, 4, 64)
    assert not use_gluon_attend(torch.cat([q, q]), torch.cat([k, k]), torch.cat([k, k]), half, 16, 4, 64)
    if torch.cuda.is_available() and torch.cuda.get_device_capability() == (9, 0):
        q, k, half = q.cuda(), k.cuda(), half.cuda()
        assert use_gluon_attend(q, k, k, half, 16, 4, 64) and use_gluon_attend(q, k, k, half.float(), 16, 4, 64)
        assert use_gluon_attend(torch.cat([q, q]), torch.cat([k, k]), torch.cat([k, k]), half, 16, 4, 64)
        assert not use_gluon_attend(q, k, k, half, 16, 4, 32) and not use_gluon_attend(q, k, k, half.double(), 16, 4, 64)
        assert not use_gluon_attend(q.float(), k.float(), k.float(), half.float(), 16, 4, 64)  # fp32 inputs


def test_the_producer_warp_kernel_is_the_default():
    """Stop 22 timed the producer-warp kernel 1-2.5% faster than ``gluon_attend``: it runs."""
    from dashbench.kernels.dash import interface

    assert interface.gluon_kernel() is (gluon_ws_attend if interface.ATTEND_GLUON_WS else gluon_attend)
    assert interface.ATTEND_GLUON_WS


def test_stats_name_the_attention_kernel():
    """``return_stats`` says which kernel computed the attention: for fp16 inputs (fp32 biases)
    the Gluon one on an sm_90 GPU, else the Triton one (the GPU test below checks bf16)."""
    from dashbench.kernels import dash_attention

    q, k, v, w = make_inputs(1, 4, 2, 200, 64, seed=9, dtype=torch.float16)
    _, stats = dash_attention(q, k, v, w, chunk_size=64, scaling=3.0, return_stats=True)
    sm90 = q.is_cuda and torch.cuda.get_device_capability() == (9, 0)
    assert stats.attention_kernel == ("gluon-sm90" if sm90 else "triton")


@needs_gpu
@pytest.mark.parametrize("kernel", [gluon_attend, gluon_ws_attend])
@pytest.mark.parametrize("hq, hkv", [(16, 4), (32, 2)])
def test_gluon_attention_of_two_sequences_equals_attend(kernel, hq, hkv):
    """Two sequences (the batch index in the TMA rows, q, out and lse)."""
    case = c = stored_bias_case(2, hq, hkv, 600, 128, seed=5)
    got, lse = kernel(c["q"], c["k"], c["v"], c["offsets"], c["counts"], c["ids"], c["bias"], chunk_size=64, bm=c["bm"], gp=c["gp"])
    assert rel(got, case["want"]) < 2e-3 and rel(lse, case["want_lse"]) < 1e-4
    assert rel(got[1], case["want"][1]) < 2e-3  # the second sequence on its own


@needs_gpu
@pytest.mark.parametrize("b, hq, hkv, n, dtype", [(1, 32, 8, 1500, torch.bfloat16), (1, 32, 2, 777, torch.bfloat16),
                                                   (2, 16, 4, 700, torch.bfloat16), (1, 16, 4, 900, torch.float16)])
def test_dash_attention_with_the_gluon_kernel_equals_it_without(monkeypatch, b, hq, hkv, n, dtype):
    """On an sm_90 GPU ``dash_attention`` runs the Gluon attention (fp16 biases for bf16, fp32
    for fp16): its output equals the Triton attention's (``ATTEND_GLUON`` off) and the
    reference's."""
    from dashbench.kernels import dash_attention
    from dashbench.kernels.dash import interface
    from dashbench.kernels.reference import dash_attention_reference

    if torch.cuda.get_device_capability() != (9, 0):
        pytest.skip("the Gluon attention runs on sm_90")
    q, k, v, w = make_inputs(b, hq, hkv, n, 128, seed=7, dtype=dtype)
    calls = []
    real = interface.use_gluon_attend
    monkeypatch.setattr(interface, "use_gluon_attend", lambda *a: calls.append(real(*a)) or calls[-1])
    got, stats = dash_attention(q, k, v, w, chunk_size=64, scaling=3.0, return_stats=True)
    assert calls[0] is True and stats.attention_kernel == "gluon-sm90"
    monkeypatch.setattr(interface, "ATTEND_GLUON", False)
    want = dash_attention(q, k, v, w, chunk_size=64, scaling=3.0)
    ref = dash_attention_reference(q.double(), k.double(), v.double(), w.double(), chunk_size=64, scaling=3.0)
    assert rel(got, want) < 2e-3 and rel(got, ref) < 1e-2


@needs_gpu
def test_gradients_through_the_gluon_forward_equal_the_triton_forwards(monkeypatch):
    """The backward reads the forward's output and log-sum-exp: with the Gluon attention in the
    forward the gradients equal those with the Triton one (bf16, 64-token chunks)."""
    from dashbench.kernels import dash_attention
    from dashbench.kernels.dash import interface

    if torch.cuda.get_device_capability() != (9, 0):
        pytest.skip("the Gluon attention runs on sm_90")
    q, k, v, w = make_inputs(1, 16, 4, 900, 128, seed=8, dtype=torch.bfloat16)
    do = torch.randn_like(q)
    grads = {}
    for gluon in (True, False):
        monkeypatch.setattr(interface, "ATTEND_GLUON", gluon)
        args = [t.clone().requires_grad_() for t in (q, k, v, w)]
        dash_attention(*args, chunk_size=64, scaling=3.0).backward(do)
        grads[gluon] = [t.grad for t in args]
    for name, got, want in zip("q k v head_cls".split(), grads[True], grads[False]):
        assert rel(got, want) < 5e-3, name
