"""The NSA reference against a literal per-token transcription of the paper's three branches."""

import math

import pytest
import torch

from dashbench.kernels.reference.nsa import NSAConfig, NSAParams, _block_map, compress, nsa_reference


def _inputs(B, hq, hkv, n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, h, n, d, generator=g, dtype=torch.float64) for h in (hq, hkv, hkv)]


def _small(**changes):
    base = dict(block_size=8, cmp_size=4, cmp_stride=2, topk=4, init_blocks=1, local_blocks=1, window=6)
    return NSAConfig(**{**base, **changes})


def _attend(qv, keys, k, v, D):
    x = torch.stack([qv @ k[t] / math.sqrt(D) for t in keys])
    return torch.softmax(x, 0) @ v[keys]


def _literal(q, k, v, params, cfg):
    B, Hq, N, D = q.shape
    Hkv = k.shape[1]
    G = Hq // Hkv
    bs, l, s = cfg.block_size, cfg.cmp_size, cfg.cmp_stride
    kc, vc = compress(k, v, cfg, params)
    out = torch.zeros_like(q)
    chosen = {}
    for b in range(B):
        for h in range(Hkv):
            for i in range(N):
                own = i // bs
                vis = [m for m in range(kc.shape[2]) if s * m + l - 1 <= i]
                probs = {}
                for g in range(G):
                    if vis:
                        x = torch.stack([q[b, h * G + g, i] @ kc[b, h, m] / math.sqrt(D) for m in vis])
                        probs[g] = dict(zip(vis, torch.softmax(x, 0).tolist()))
                    else:
                        probs[g] = {}
                summed = {m: sum(probs[g].get(m, 0.0) for g in range(G)) for m in vis}
                score = []
                for j in range(own + 1):
                    over = {m: (min(s * m + l, bs * j + bs) - max(s * m, bs * j)) / s for m in vis
                            if s * m < bs * j + bs and s * m + l > bs * j}  # fmt: skip
                    if cfg.score == "sum":
                        sc = sum(summed[m] * w for m, w in over.items())
                    else:
                        sc = max([summed[m] for m in over], default=0.0)
                    if j < cfg.init_blocks or own - cfg.local_blocks <= j:
                        sc = math.inf
                    score.append(sc)
                order = sorted(sorted(range(own + 1), key=lambda j: -score[j])[: cfg.topk])
                chosen[(b, h, i)] = order
                sel_keys = [t for j in order for t in range(j * bs, min(j * bs + bs, i + 1))]
                win_keys = list(range(max(0, i - cfg.window + 1), i + 1))
                for g in range(G):
                    head = h * G + g
                    qv = q[b, head, i]
                    gate = torch.sigmoid(qv @ params.gate[head])
                    o_cmp = sum(p * vc[b, h, m] for m, p in probs[g].items()) if vis else torch.zeros(D, dtype=q.dtype)
                    o = gate[0] * o_cmp + gate[1] * _attend(qv, sel_keys, k[b, h], v[b, h], D)
                    if cfg.window:
                        o = o + gate[2] * _attend(qv, win_keys, k[b, h], v[b, h], D)
                    out[b, head, i] = o
    return out, chosen


@pytest.mark.parametrize("changes", [{}, dict(score="max", compression="mlp", window=0),
                                     dict(compression="mean", local_blocks=0, topk=3)])  # fmt: skip
@pytest.mark.parametrize("hq, hkv, n", [(2, 1, 1), (4, 2, 45), (3, 3, 30)])
def test_matches_the_literal_transcription(changes, hq, hkv, n):
    cfg = _small(**changes)
    q, k, v = _inputs(1, hq, hkv, n, 8, seed=n)
    params = NSAParams.random(cfg, hq, hkv, 8, seed=1, dtype=torch.float64)
    out, sel = nsa_reference(q, k, v, params, cfg, return_selection=True, compute_dtype=torch.float64)
    want, chosen = _literal(q, k, v, params, cfg)
    assert torch.allclose(out, want, atol=1e-10)
    for (b, h, i), ids in chosen.items():
        got = sel.blocks[b, h, i]
        assert got[got >= 0].tolist() == ids
        keys = {t for j in ids for t in range(j * 8, min(j * 8 + 8, i + 1))} | set(range(max(0, i - cfg.window + 1), i + 1))
        assert sel.token_density[b, h, i].item() == pytest.approx(len(keys) / (i + 1))


def test_compression_maps():
    q, k, v = _inputs(1, 2, 1, 20, 4, seed=3)
    for name in ("linear", "mlp", "mean"):
        cfg = _small(compression=name)
        p = NSAParams.random(cfg, 2, 1, 4, seed=2, dtype=torch.float64)
        kc, vc = compress(k, v, cfg, p)
        assert kc.shape == vc.shape == (1, 1, (20 - 4) // 2 + 1, 4)
        win_k, win_v = k[0, 0, 6:10], v[0, 0, 6:10]  # window m = 3
        if name == "mean":
            want_k = win_k.mean(0)
        elif name == "linear":
            want_k = win_k.flatten() @ p.weights["wk"][0]
        else:
            w = p.weights
            x = torch.cat([win_k, win_v], 0).T  # [D, 2l]: one row per channel
            want_k = (torch.relu(x @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"])[:, 0]
        assert torch.allclose(kc[0, 0, 3], want_k)


def test_paper_overlap_weights_are_1_2_2_2_1():
    ids, weight = _block_map(6, 100, NSAConfig.paper(), "cpu")
    assert ids[3][weight[3] > 0].tolist() == [11, 12, 13, 14, 15]
    assert weight[3][weight[3] > 0].tolist() == [1, 2, 2, 2, 1]


def test_presets_follow_the_spec():
    paper, dash = NSAConfig.paper(), NSAConfig.dash_paper()
    assert (paper.cmp_size, paper.cmp_stride, paper.block_size, paper.topk, paper.window) == (32, 16, 64, 16, 512)
    assert paper.forced_blocks == 3 and paper.gates == ("cmp", "slc", "win")
    assert (dash.topk, dash.forced_blocks, dash.window, dash.score, dash.compression) == (64, 18, 0, "max", "mlp")
    assert dash.gates == ("cmp", "slc")


def test_gradcheck_tiny_fp64_including_parameters():
    cfg = _small(block_size=4, cmp_size=2, cmp_stride=1, topk=3, window=3)
    q, k, v = (t.requires_grad_() for t in _inputs(1, 2, 1, 12, 4, seed=5))
    params = NSAParams.random(cfg, 2, 1, 4, seed=3, dtype=torch.float64)
    tensors = [t.requires_grad_() for t in params.tensors()]
    names = list(params.weights)

    def fn(q, k, v, gate, *weights):
        return nsa_reference(q, k, v, NSAParams(gate, dict(zip(names, weights))), cfg, compute_dtype=torch.float64)

    assert torch.autograd.gradcheck(fn, (q, k, v, *tensors))


def test_streamed_blocks_and_decode_rows_agree():
    cfg = _small()
    q, k, v = _inputs(1, 4, 2, 60, 8, seed=6)
    params = NSAParams.random(cfg, 4, 2, 8, dtype=torch.float64)
    full = nsa_reference(q, k, v, params, cfg, compute_dtype=torch.float64)
    assert torch.allclose(nsa_reference(q, k, v, params, cfg, block_q=7, compute_dtype=torch.float64), full, atol=1e-12)
    last = nsa_reference(q[:, :, -1:], k, v, params, cfg, compute_dtype=torch.float64)
    assert torch.allclose(last, full[:, :, -1:], atol=1e-12)


@pytest.mark.parametrize("cfg, message", [
    (NSAConfig(topk=2), "below its 3 forced blocks"),
    (NSAConfig(score="mean"), "score must be one of"),
    (NSAConfig(compression="conv"), "compression must be one of"),
])  # fmt: skip
def test_bad_configs_name_the_problem(cfg, message):
    q, k, v = _inputs(1, 2, 1, 16, 8, seed=7)
    with pytest.raises(ValueError, match=message):
        nsa_reference(q, k, v, NSAParams.random(NSAConfig(), 2, 1, 8), cfg)


def test_gate_shape_is_checked():
    q, k, v = _inputs(1, 2, 1, 16, 8, seed=8)
    params = NSAParams.random(NSAConfig.dash_paper(), 2, 1, 8)  # two gates; the paper has three
    with pytest.raises(ValueError, match="gate must be"):
        nsa_reference(q, k, v, params, NSAConfig.paper())


def test_density_and_compression_in_slices_equal_one_pass(monkeypatch):
    from dashbench import sparsity
    from dashbench.kernels.reference import nsa as module
    from dashbench.sparsity import token_density_from_blocks

    cfg = _small(compression="mlp")
    q, k, v = _inputs(1, 2, 1, 90, 8, seed=9)
    params = NSAParams.random(cfg, 2, 1, 8, dtype=torch.float64)
    _, sel = nsa_reference(q, k, v, params, cfg, return_selection=True, compute_dtype=torch.float64)
    whole = token_density_from_blocks(sel.blocks, sel.positions, 8, cfg.window)
    kc, vc = compress(k, v, cfg, params)
    monkeypatch.setattr(sparsity, "_ELEMENTS", 12)
    monkeypatch.setattr(module, "_SCORE_BUDGET", 40)
    assert torch.equal(token_density_from_blocks(sel.blocks, sel.positions, 8, cfg.window), whole)
    kc2, vc2 = compress(k, v, cfg, params)
    assert torch.allclose(kc, kc2) and torch.allclose(vc, vc2)


@pytest.mark.parametrize("m", [100, 512, 700])
def test_weighted_values_in_slices_equal_one_product(m):
    from dashbench.kernels.reference.nsa import weighted_values

    g = torch.Generator().manual_seed(m)
    p, vc = torch.rand(2, 3, 4, m, generator=g, dtype=torch.float64), torch.randn(2, 3, m, 8, generator=g, dtype=torch.float64)
    assert torch.allclose(weighted_values(p, vc, slice_len=64), p @ vc, rtol=1e-12, atol=1e-12)
