"""The prior's stored biases (prior.listed_bias) against PyTorch, and the attention reading them."""

import math

import pytest
import torch
from _common import DEVICE, FP32_TOL, needs_triton
from _common import make_inputs as _inputs
from _common import rel as _rel

from dashbench.kernels import dash_attention
from dashbench.kernels.dash import interface
from dashbench.kernels.dash.attend import attend, tma_ready
from dashbench.kernels.dash.prior import LIST_BLOCK, listed_bias
from dashbench.kernels.dash.route import chunk_lists, padded_group, route, tile_rows
from dashbench.kernels.dash.summarize import summarize
from dashbench.kernels.reference import dash_attention_reference

pytestmark = needs_triton
C = 32
INTERPRETER_BF16 = pytest.mark.skipif(DEVICE == "cpu", reason="Triton's CPU interpreter computes bf16 tl.dot wrongly")


def _routed(q, k, w, scaling):
    G = q.shape[1] // k.shape[1]
    bm, gp = tile_rows(G, C, interface.ATTEND_ROWS), padded_group(G)
    s = summarize(k, w, C)
    tau, log_g, count, mask, tile_count = route(q, s, C, scaling, bm, route_bm=tile_rows(G, C, interface.ROUTE_ROWS))
    offsets, ids = chunk_lists(mask, tile_count)
    return s, tau, log_g, offsets, tile_count, ids, bm, gp


@pytest.mark.parametrize("hq, hkv, n, d, est, sigma", [(4, 1, 301, 64, True, 1.0), (6, 2, 200, 128, False, 1.0),
                                                      (16, 1, 150, 64, True, 0.5), (2, 2, 2200, 64, True, 1.0)])  # fmt: skip
def test_listed_biases_are_the_prior_of_every_listed_pair(hq, hkv, n, d, est, sigma):
    """Every listed (tile, chunk) pair's biases, per token of the tile: log2 of the token's
    GQA-mean entmax probability of the chunk (centred on log_g over sigma where the prior is),
    -inf where the token did not route it, from fp32 products (fp32 inputs)."""
    q, k, _, w = _inputs(1, hq, hkv, n, d, seed=n)
    scaling = 3.0
    s, tau, log_g, offsets, counts, ids, bm, gp = _routed(q, k, w, scaling)
    bias = listed_bias(q, s, tau, log_g, offsets, counts, ids, scaling=scaling, sigma=sigma,
                       estimate_diagonal=est, bm=bm, gp=gp)  # fmt: skip
    G = hq // hkv
    x = torch.einsum("bhnd,bhcd->bhnc", q.double(), s.double().repeat_interleave(G, 1)) * 0.5 * scaling / math.sqrt(d)
    p = (x - tau.double()[..., None]).clamp_min(0) ** 2  # tau is +inf where a token routes nothing
    p_bar = p.view(1, hkv, G, n, -1).mean(2)  # [B, Hkv, N, n_chunks]
    margin = (x - tau.double()[..., None]).view(1, hkv, G, n, -1).amax(2)  # > 0: some head routes it
    n_pairs = 0
    for h in range(hkv):
        for t in range(counts.shape[2]):
            c_ids = ids[int(offsets[0, h, t]) : int(offsets[0, h, t]) + int(counts[0, h, t])].long()
            n_pairs += len(c_ids)
            tok = torch.arange(t * bm, min((t + 1) * bm, n), device=q.device)
            pb = p_bar[0, h][tok][:, c_ids].T  # [listed, tokens]
            got = bias[int(offsets[0, h, t]) : int(offsets[0, h, t]) + len(c_ids), : len(tok)].double()
            # compared as the probabilities they stand for: a score within fp32 rounding of tau
            # gives a vanishing probability whose log (or -inf) depends on that rounding
            got_log = got * math.log(2) * (sigma if est else 1.0)
            if est:
                got_log = got_log + log_g[0, h, tok].double()[None, :]
            assert torch.allclose(torch.exp(got_log), pb, rtol=1e-4, atol=1e-6), (h, t)
            clear = pb > 1e-3  # well inside the support: the log itself to fp32 accuracy
            want = torch.log(pb.clamp_min(1e-300)) - (log_g[0, h, tok].double()[None, :] if est else 0.0)
            want = want / (sigma if est else 1.0) / math.log(2)
            assert torch.allclose(got[clear], want[clear], rtol=1e-4, atol=1e-3), (h, t)
            unrouted = margin[0, h][tok][:, c_ids].T < -1e-3  # clear of rounding: -inf
            assert torch.isinf(got[unrouted]).all() and (got[unrouted] < 0).all(), (h, t)
    assert n_pairs > 10  # tiles list several chunks
    if n > 2000:  # some tile's list spans two of the kernel's list blocks
        assert int(counts.max()) > LIST_BLOCK


def test_listed_biases_launched_longest_first_are_the_same():
    """``longest_first`` only changes which program takes which tile: the same biases, bit for
    bit, over two KV heads and a last partial tile."""
    q, k, _, w = _inputs(1, 6, 2, 301, 64, seed=7)
    s, tau, log_g, offsets, counts, ids, bm, gp = _routed(q, k, w, 3.0)
    kw = dict(scaling=3.0, sigma=1.0, estimate_diagonal=True, bm=bm, gp=gp)
    plain = listed_bias(q, s, tau, log_g, offsets, counts, ids, longest_first=False, **kw)
    assert int(counts.sum()) > 10
    assert torch.equal(listed_bias(q, s, tau, log_g, offsets, counts, ids, longest_first=True, **kw), plain)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, pytest.param(torch.bfloat16, marks=INTERPRETER_BF16)])
@pytest.mark.parametrize("hq, hkv, n, d, est, sigma", [(4, 1, 301, 64, True, 1.0), (6, 2, 200, 128, False, 1.0),
                                                      (16, 1, 150, 64, True, 0.5), (1, 1, 97, 64, True, 1.0)])  # fmt: skip
def test_attention_reading_stored_biases_equals_recomputing_them(dtype, hq, hkv, n, d, est, sigma):
    """The attention with the biases read from ``listed_bias`` gives the output and log-sum-exp
    of the attention that recomputes them per listed chunk (odd lengths, padded heads, one head
    a KV head, 16 heads a KV head, either prior form). bf16 (GPU): the stored biases come from
    the router's 16-bit products, the recomputed ones from fp32 products."""
    q, k, v, w = _inputs(1, hq, hkv, n, d, seed=n + 1, dtype=dtype)
    scaling = 3.0
    s, tau, log_g, offsets, counts, ids, bm, gp = _routed(q, k, w, scaling)
    kw = dict(chunk_size=C, scaling=scaling, sigma=sigma, estimate_diagonal=est, bm=bm, gp=gp)
    base, base_lse = attend(q, k, v, s, tau, log_g, offsets, counts, ids, **kw)
    bias = listed_bias(q, s, tau, log_g, offsets, counts, ids, scaling=scaling, sigma=sigma,
                       estimate_diagonal=est, bm=bm, gp=gp)  # fmt: skip
    assert bias.dtype == (torch.float16 if dtype == torch.bfloat16 and sigma >= 1 else torch.float32)
    tol = {torch.float32: FP32_TOL, torch.float16: 2e-3, torch.bfloat16: 5e-3}[dtype]
    # the diagonal chunk first and last; on the GPU also as dash_attention launches it (TMA)
    configs = [dict(diagonal_last=False), dict(diagonal_last=True)]
    if tma_ready(k, v):
        configs.append(interface.attend_config(k, v, stored_bias=True))
    for cfg in configs:
        got, lse = attend(q, k, v, s, tau, log_g, offsets, counts, ids, **kw, **cfg, bias=bias)
        assert _rel(got, base) < tol and _rel(lse, base_lse) < tol, cfg
        # fp16 biases (read as int32 pairs) give what the same values read as fp32 give
        half = bias.half()
        got, lse = attend(q, k, v, s, tau, log_g, offsets, counts, ids, **kw, **cfg, bias=half)
        want, want_lse = attend(q, k, v, s, tau, log_g, offsets, counts, ids, **kw, **cfg, bias=half.float())
        assert _rel(got, want) < 1e-6 and _rel(lse, want_lse) < 1e-6, cfg
    assert int(counts.max()) > 2


def test_dash_attention_with_stored_biases_matches_the_reference_and_keeps_its_budget(monkeypatch):
    """The forward with ``ATTEND_STORED_BIAS`` matches the reference; over its memory budget it
    recomputes the biases instead (the stored path is not taken) and gives the same output."""
    q, k, v, w = _inputs(1, 8, 2, 257, 64, seed=9)
    ref = dash_attention_reference(q, k, v, w, chunk_size=C, scaling=3.0)
    calls = []
    real = interface.listed_bias

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(interface, "listed_bias", counted)
    monkeypatch.setattr(interface, "ATTEND_STORED_BIAS", True)
    stored = dash_attention(q, k, v, w, chunk_size=C, scaling=3.0)
    assert len(calls) == 1 and _rel(stored, ref) < FP32_TOL
    monkeypatch.setattr(interface, "STORED_BIAS_MAX_FRACTION", 0.0)
    recomputed = dash_attention(q, k, v, w, chunk_size=C, scaling=3.0)
    assert len(calls) == 1 and _rel(recomputed, stored) < FP32_TOL


@pytest.mark.parametrize("B, hq, hkv, n", [(2, 6, 2, 301), (1, 2, 1, 2200)])
def test_bias_kernel_writing_the_chunk_lists_gives_the_lists_and_biases_of_the_separate_launch(B, hq, hkv, n):
    """``listed_bias(mask=...)`` writes each tile's chunk list from the union bitmask before its
    biases (``prior.BIAS_EXPANDS_LISTS``): the ids ``chunk_lists`` writes, over unwritten memory
    (-1 here), and the same biases; two sequences, two KV heads, a last partial tile, and lists
    past one 64-chunk block and one 16-word expansion step (2200 tokens: 69 chunks of 32)."""
    q, k, _, w = _inputs(B, hq, hkv, n, 64, seed=n + 1)
    G = hq // hkv
    bm, gp = tile_rows(G, C, interface.ATTEND_ROWS), padded_group(G)
    s = summarize(k, w, C)
    tau, log_g, _, mask, counts = route(q, s, C, 3.0, bm, route_bm=tile_rows(G, C, interface.ROUTE_ROWS))
    offsets, ids = chunk_lists(mask, counts)
    kw = dict(scaling=3.0, sigma=1.0, estimate_diagonal=True, bm=bm, gp=gp)
    want = listed_bias(q, s, tau, log_g, offsets, counts, ids, **kw)
    _, blank = chunk_lists(mask, counts, int(counts.sum()), expand=False)
    blank.fill_(-1)
    got = listed_bias(q, s, tau, log_g, offsets, counts, blank, mask=mask, **kw)
    assert torch.equal(blank, ids) and torch.equal(got, want)
    assert int(counts.sum()) > 10 and (n < 2000 or int(counts.max()) > LIST_BLOCK)


def test_dash_attention_with_the_bias_kernel_writing_the_lists_is_unchanged(monkeypatch):
    """The forward with ``BIAS_EXPANDS_LISTS`` (one launch fewer after its synchronization) gives
    the output of the separate list expansion, bit for bit."""
    from dashbench.kernels.dash import prior

    q, k, v, w = _inputs(1, 8, 2, 257, 64, seed=9)
    monkeypatch.setattr(interface, "ATTEND_STORED_BIAS", True)
    separate = dash_attention(q, k, v, w, chunk_size=C, scaling=3.0)
    monkeypatch.setattr(prior, "BIAS_EXPANDS_LISTS", True)
    assert torch.equal(dash_attention(q, k, v, w, chunk_size=C, scaling=3.0), separate)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, pytest.param(torch.bfloat16, marks=INTERPRETER_BF16)])
@pytest.mark.parametrize("B, hq, hkv, n, d, chunk, scaling", [(2, 4, 1, 301, 64, 32, 3.0),
                                                             (1, 16, 1, 260, 128, 64, 30.0),
                                                             (1, 8, 2, 700, 64, 32, 600.0),
                                                             (1, 4, 2, 1, 64, 32, 3.0)])  # fmt: skip
def test_stored_biases_route_each_token_to_the_routers_chunk_count(dtype, B, hq, hkv, n, d, chunk, scaling):
    """Per token, the finite stored biases over its tile's list are exactly the chunks the
    router counted for it (``count - 1``: the diagonal chunk is not listed): batch 2, chunk 64,
    head dim 128 with 16 heads a KV head, one token, and scores past 256 (scaling 600: the third
    bf16 term on the GPU). One-product (8-bit) scores would miscount near the thresholds."""
    q, k, _, w = _inputs(B, hq, hkv, n, d, seed=n + 2, dtype=dtype)
    G = hq // hkv
    bm, gp = tile_rows(G, chunk, interface.ATTEND_ROWS), padded_group(G)
    s = summarize(k, w, chunk)
    tau, log_g, count, mask, counts = route(q, s, chunk, scaling, bm, route_bm=tile_rows(G, chunk, interface.ROUTE_ROWS))
    offsets, ids = chunk_lists(mask, counts)
    bias = listed_bias(q, s, tau, log_g, offsets, counts, ids, scaling=scaling, sigma=1.0, estimate_diagonal=True,
                       bm=bm, gp=gp)  # fmt: skip
    finite = torch.isfinite(bias)
    routed = torch.zeros(B, hkv, n, dtype=torch.long, device=q.device)
    for b in range(B):
        for h in range(hkv):
            for t in range(counts.shape[2]):
                start, m = int(offsets[b, h, t]), int(counts[b, h, t])
                tok = min(bm, n - t * bm)
                routed[b, h, t * bm : t * bm + tok] = finite[start : start + m, :tok].sum(0)
    assert torch.equal(routed, count.long() - 1)
    if n > 1:
        assert int(count.max()) > 2


def test_gradients_are_unchanged_by_stored_biases_and_a_wrong_bias_is_refused(monkeypatch):
    """The backward recomputes the routing either way: with ``ATTEND_STORED_BIAS`` the output
    and the gradients of q, k, v and head_cls equal the recomputing forward's. A bias of the
    wrong shape for the lists raises a ValueError that names it."""
    q, k, v, w = _inputs(1, 6, 2, 200, 64, seed=10)
    do = torch.randn(q.shape, generator=torch.Generator().manual_seed(3)).to(q.device)
    results = []
    for on in (False, True):
        monkeypatch.setattr(interface, "ATTEND_STORED_BIAS", on)
        args = [t.clone().requires_grad_() for t in (q, k, v, w)]
        out = dash_attention(*args, chunk_size=C, scaling=3.0)
        out.backward(do)
        results.append([out] + [t.grad for t in args])
    for name, a, b in zip(("out", "dq", "dk", "dv", "dhead_cls"), *results):
        assert _rel(b, a) < FP32_TOL, name
    s, tau, log_g, offsets, counts, ids, bm, gp = _routed(q, k, w, 3.0)
    with pytest.raises(ValueError, match="bias must be"):
        attend(q, k, v, s, tau, log_g, offsets, counts, ids, chunk_size=C, scaling=3.0, bm=bm, gp=gp,
               bias=torch.zeros(ids.numel() + 1, bm, device=q.device))  # fmt: skip
