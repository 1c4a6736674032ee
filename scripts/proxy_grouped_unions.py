"""A timing proxy for token grouping (stop 30's costing, ``simulate_token_grouping.py``): the
default attention kernel timed over the chunk lists that tiles of tokens grouped by their routing
would have, against today's lists. NOT a correct attention: the kernel still reads each tile's
rows as consecutive tokens; only the work (how many chunks each tile lists) is what grouped
tiles would give. It answers whether the attention's time falls with the union's size when the
lists shrink that way (the per-pair cost could rise: other chunks per tile, other L2 reuse).

Grouping: per window of ``--window`` tokens and KV head, tokens sorted by the min-hash of their
routed chunks (the reference's routing; a random rank of the chunk ids), ties by their most
probable chunk; tiles of ``bm`` consecutive tokens of that order. A grouped tile's list is the
union of its tokens' routed chunks and their own chunks (tokens of a window span up to
window / chunk own chunks), less the tile's nominal own chunk, which the kernel takes last.
Biases for those lists come from ``listed_bias`` (values of consecutive tokens: the same work).

    python scripts/proxy_grouped_unions.py --seqlen 128k --hkv 8,2 --densities 0.25,0.1 --out $OUT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from benchtools import add_case_args, bench_rounds, cases_from_args, save_rows  # scripts/benchtools.py

from dashbench.kernels.dash.interface import STORED_BIAS_TMA_STAGES, gluon_kernel
from dashbench.kernels.dash.prior import listed_bias
from dashbench.kernels.dash.route import chunk_lists, padded_group, route
from dashbench.kernels.reference import dash as reference

C = 64


def token_routing(q, k, w, scaling, block: int = 2048):
    """Per KV head and token: the routed chunks and own chunk as 32-bit words ``[Hkv, N, words]``
    (int64 holding 32 bits) and the grouping key (min-hash of the routed chunks, then the top one)."""
    n, n_chunks = q.shape[2], k.shape[2] // C
    summaries = reference.chunk_summaries(k.float(), w.float(), C)
    n_words = -(-n_chunks // 32)
    rank = torch.randperm(n_chunks, generator=torch.Generator().manual_seed(0)).to(q.device)
    words, keys = [], []
    shifts = torch.arange(32, device=q.device, dtype=torch.int64)
    for r0 in range(0, n, block):
        rows = torch.arange(r0, min(n, r0 + block), device=q.device)
        p = reference.route(q[:, :, rows].float(), summaries, rows, C, scaling)[0]  # [Hkv, rows, chunks]
        routed = p > reference.P_FLOOR
        minhash = torch.where(routed, rank, n_chunks).min(-1).values
        keys.append(minhash * n_chunks + p.argmax(-1))
        routed[:, torch.arange(rows.numel(), device=q.device), rows // C] = True  # its own chunk
        pad = torch.zeros(*routed.shape[:2], n_words * 32 - n_chunks, dtype=torch.bool, device=q.device)
        bits = torch.cat([routed, pad], -1).view(*routed.shape[:2], n_words, 32).long()
        words.append((bits << shifts).sum(-1))
        del p, routed
    return torch.cat(words, 1), torch.cat(keys, 1)


def grouped_lists(words, keys, bm: int, window: int):
    """Each grouped tile's union less its nominal own chunk, as the router's mask words, and its
    size; the mean number of own chunks a grouped tile spans."""
    hkv, n, n_words = words.shape
    order = torch.argsort(keys.view(hkv, n // window, window), dim=-1, stable=True)
    order = order + torch.arange(0, n, window, device=keys.device)[None, :, None]
    grouped = words.gather(1, order.view(hkv, n, 1).expand(-1, -1, n_words)).view(hkv, n // bm, bm, n_words)
    union = grouped[:, :, 0]
    for i in range(1, bm):
        union = union | grouped[:, :, i]
    own = torch.arange(n // bm, device=keys.device) * bm // C  # the kernel's own chunk of tile t
    own_bit = torch.zeros_like(union)
    own_bit.scatter_(2, (own // 32)[None, :, None].expand(hkv, -1, 1),
                     (1 << (own % 32))[None, :, None].expand(hkv, -1, 1))  # fmt: skip
    union = union & ~own_bit
    count = torch.stack([((union >> b) & 1).sum(-1) for b in range(32)]).sum(0)
    owns = (order.view(hkv, n // bm, bm) // C).sort(-1).values
    spans = (1 + (owns.diff(dim=-1) != 0).sum(-1)).float().mean()
    return union.to(torch.int32)[None], count.to(torch.int32)[None], float(spans)


def main() -> int:
    ap = argparse.ArgumentParser()
    add_case_args(ap)
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rows_out = []
    for case in cases_from_args(args, C):
        q, k, s, bm, gp = case.q, case.k, case.s, case.bm, padded_group(case.G)
        v = torch.randn_like(k)
        tau, log_g, _, mask, tile_count = route(q, s, C, case.scaling, bm, route_bm=case.rbm)
        words, keys = token_routing(q, k, case.w, case.scaling)
        g_mask, g_count, spans = grouped_lists(words, keys, bm, args.window)
        del words, keys
        kw = dict(scaling=case.scaling, sigma=1.0, estimate_diagonal=True, bm=bm, gp=gp)
        calls, pairs = {}, {}
        for name, (m, cnt) in dict(position=(mask, tile_count), grouped=(g_mask, g_count)).items():
            offsets, ids = chunk_lists(m, cnt)
            bias = listed_bias(q, s, tau, log_g, offsets, cnt, ids, **kw)
            pairs[name] = int(cnt.sum())
            calls[name] = (lambda o=offsets, c=cnt, i=ids, b=bias, v=v: gluon_kernel()(
                q, k, v, o, c, i, b, chunk_size=C, bm=bm, gp=gp, stages=STORED_BIAS_TMA_STAGES))  # fmt: skip
        causal = sum(t * bm // C for t in range(q.shape[2] // bm)) * case.hkv
        row = dict(hkv=case.hkv, n=case.n, inputs=case.kind, target=case.target, window=args.window,
                   own_chunks_a_grouped_tile=spans,
                   **{f"{k_}_compute_density": v_ / causal for k_, v_ in pairs.items()})  # fmt: skip
        for name, t in bench_rounds(calls, args.rounds).items():
            row[f"{name}_attend_ms"], row[f"{name}_lo_ms"], row[f"{name}_hi_ms"] = t["ms"], t["lo"], t["hi"]
        row["attend_ratio"] = row["grouped_attend_ms"] / row["position_attend_ms"]
        print({k_: (round(v_, 4) if isinstance(v_, float) else v_) for k_, v_ in row.items()}, flush=True)
        rows_out.append(row)
        save_rows(args.out, "proxy_grouped_unions.json", rows_out)
        del calls, v, tau, log_g, mask, tile_count, g_mask, g_count
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
