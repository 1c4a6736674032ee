"""Decoding against the reference: each step equals the prefill's row at that position."""

import pytest
import torch
from _common import DEVICE
from _common import FP32_TOL as TOL
from _common import make_inputs as _inputs
from _common import needs_triton
from _common import rel as _rel

from dashbench.kernels import DashCache, dash_attention, dash_decode
from dashbench.kernels.reference import dash_attention_reference

pytestmark = needs_triton


@pytest.mark.parametrize(
    "B, hq, hkv, n0, n, d, C",
    [
        pytest.param(2, 4, 2, 90, 130, 64, 32, id="B2-G2-crosses-96-128"),
        pytest.param(1, 16, 1, 60, 70, 128, 64, id="G16-D128-crosses-64"),
        pytest.param(1, 6, 2, 0, 40, 64, 32, id="G3-from-empty"),
    ],
)
def test_each_decode_step_equals_the_prefill_row(B, hq, hkv, n0, n, d, C):
    q, k, v, w = _inputs(B, hq, hkv, n, d, seed=n)
    ref = dash_attention_reference(q, k, v, w, chunk_size=C, scaling=5.0)
    cache = DashCache.from_prefill(k[:, :, :n0], v[:, :, :n0], w, chunk_size=C, capacity=n)
    for i in range(n0, n):
        cache.append(k[:, :, i : i + 1], v[:, :, i : i + 1])
        out, stats = dash_decode(q[:, :, i : i + 1], cache, scaling=5.0, return_stats=True)
        assert _rel(out, ref[:, :, i : i + 1]) < TOL, f"step {i}"
    # The last step routes like the prefill's last row.
    _, prefill_stats = dash_attention(q, k, v, w, chunk_size=C, scaling=5.0, return_stats=True)
    assert torch.equal(stats.active_chunks[..., 0], prefill_stats.active_chunks[..., -1])


def test_cache_errors_name_the_problem():
    q, k, v, w = _inputs(1, 4, 2, 8, 64, seed=0)
    cache = DashCache.from_prefill(k[:, :, :0], v[:, :, :0], w, chunk_size=32, capacity=4)
    with pytest.raises(ValueError, match="empty"):
        dash_decode(q[:, :, :1], cache)
    with pytest.raises(ValueError, match=r"\[B, Hkv, 1, D\]"):
        cache.append(k[:, :, :2], v[:, :, :2])
    for i in range(cache.capacity):
        cache.append(k[:, :, :1], v[:, :, :1])
    with pytest.raises(ValueError, match="full"):
        cache.append(k[:, :, :1], v[:, :, :1])
    with pytest.raises(ValueError, match=r"\[B, Hq, 1, D\]"):
        dash_decode(q[:, :, :2], cache)


@pytest.mark.parametrize(
    "n_split, sigma, est", [(1, 1.0, True), (3, 1.0, True), (8, 1.0, True), (3, 0.3, True), (3, 0.3, False)]
)
def test_split_kv_decode_is_independent_of_the_split(n_split, sigma, est):
    """The centring by log_g is applied in the merge (it shifts every routed span alike), so
    any split, sigma and either prior form give the prefill's last row."""
    from dashbench.kernels.dash.decode_kernels import decode_step

    q, k, v, w = _inputs(2, 8, 2, 300, 64, seed=4)
    ref = dash_attention_reference(q, k, v, w, chunk_size=32, scaling=2.0, sigma=sigma, estimate_diagonal=est)
    cache = DashCache.from_prefill(k, v, w, chunk_size=32)
    out, count = decode_step(q[:, :, -1:], k, v, cache.summaries, chunk_size=32, scaling=2.0,
                             sigma=sigma, estimate_diagonal=est, n_split=n_split)  # fmt: skip
    assert _rel(out, ref[:, :, -1:]) < TOL
    assert int(count.min()) > 1  # the test routes to several chunks, so splits have work


@pytest.mark.parametrize("lean", [False, True])
@pytest.mark.parametrize("streamed", [False, True])
def test_decode_route_streamed_or_resident_routes_alike(monkeypatch, streamed, lean):
    """Thresholds keep short score rows in registers and stream long ones in blocks; attend
    programs each list their own span of candidates. Both give the prefill's routing, with the
    first router's threshold step or the lean one (``DECODE_LEAN_THRESHOLD``)."""
    from dashbench.kernels.dash import decode_kernels

    monkeypatch.setattr(decode_kernels, "DECODE_LEAN_THRESHOLD", lean)

    if streamed:  # blocks of 8 chunks: 12 candidates take two; attend spans of 4 chunks
        monkeypatch.setattr(decode_kernels, "threshold_config", lambda n: (8, False, 1))
        monkeypatch.setattr(decode_kernels, "split_config", lambda n, want, gp: (4, -(-n // 4)))
    q, k, v, w = _inputs(1, 8, 2, 400, 64, seed=5)
    ref = dash_attention_reference(q, k, v, w, chunk_size=32, scaling=3.0)
    _, prefill_stats = dash_attention(q, k, v, w, chunk_size=32, scaling=3.0, return_stats=True)
    cache = DashCache.from_prefill(k, v, w, chunk_size=32)
    out, stats = dash_decode(q[:, :, -1:], cache, scaling=3.0, return_stats=True)
    assert _rel(out, ref[:, :, -1:]) < TOL
    assert torch.equal(stats.active_chunks[..., 0], prefill_stats.active_chunks[..., -1])


@pytest.mark.parametrize("resident", [True, False])
def test_lean_threshold_step_finds_the_same_thresholds(resident):
    """The decode threshold kernel's lean step (absolute threshold, one convergence statistic,
    a probe at max - 1/4 in the first pass) finds the first step's thresholds: on random rows,
    on rows whose support is many scores just under the max (where the probe lies below the
    threshold and the next step starts there), and on a row with no candidate."""
    from dashbench.kernels.dash.decode_kernels import _decode_threshold_kernel

    G, RP, n_pad, n_cand = 4, 16, 96, 90
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, RP, n_pad, generator=g) * 2.0
    x[1, :G, :40] = 3.0 + 0.01 * torch.randn(G, 40, generator=g)  # 40 scores near the max
    x = x.to(DEVICE)
    blk, warps = (128, 4) if resident else (32, 1)
    taus = []
    for lean in (False, True):
        tau = torch.empty(2 * G, device=DEVICE)
        _decode_threshold_kernel[(2 * G,)](x, tau, n_cand, n_pad, 12, RP=RP, G=G, BLK=blk, RESIDENT=resident,
                                           LEAN=lean, num_warps=warps)  # fmt: skip
        taus.append(tau)
    torch.testing.assert_close(taus[1], taus[0], rtol=1e-5, atol=1e-5)
    # and they are the thresholds: sum over the support of (x - tau)^2 = 1
    row = x[:, :G, :n_cand].reshape(2 * G, n_cand).double()
    assert torch.allclose(((row - taus[1][:, None].double()).clamp_min(0) ** 2).sum(1),
                          torch.ones(2 * G, dtype=torch.float64, device=DEVICE), atol=1e-4)  # fmt: skip
    empty = torch.empty(G, device=DEVICE)
    _decode_threshold_kernel[(G,)](x, empty, 0, n_pad, 12, RP=RP, G=G, BLK=blk, RESIDENT=resident, LEAN=True,
                                   num_warps=warps)  # fmt: skip
    assert torch.isinf(empty).all()


def test_decode_combine_over_head_dim_slices_changes_nothing(monkeypatch):
    """The combine over slices of the head dims (``COMBINE_DIMS``) gives the step's output and
    counts with one program a row, at several splits (the attend's spans and the combine's
    states)."""
    from dashbench.kernels.dash import decode_kernels

    q, k, v, w = _inputs(2, 8, 2, 300, 128, seed=6)
    cache = DashCache.from_prefill(k, v, w, chunk_size=32)
    for n_split in (1, 5):
        kw = dict(chunk_size=32, scaling=2.0, sigma=1.0, estimate_diagonal=True, n_split=n_split)
        monkeypatch.setattr(decode_kernels, "COMBINE_DIMS", 0)
        base, base_count = decode_kernels.decode_step(q[:, :, -1:], k, v, cache.summaries, **kw)
        monkeypatch.setattr(decode_kernels, "COMBINE_DIMS", 32)
        out, count = decode_kernels.decode_step(q[:, :, -1:], k, v, cache.summaries, **kw)
        assert _rel(out, base) < 1e-6 and torch.equal(count, base_count)
        assert int(base_count.min()) > 1
