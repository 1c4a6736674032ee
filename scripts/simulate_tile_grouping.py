"""Would regrouping a chunk's query tokens into attention tiles shrink the tiles' unions? The
attention computes, for each 64-row tile (64 / G tokens of one KV head's G query heads), the
union of its tokens' routed chunks; a token then computes every chunk of that union. A CPU
simulation with the reference router (16k tokens, 32 query heads, structured inputs, every 8th
chunk of the second half): the union work (union size x tokens a tile) against the routed
pairs, for consecutive tokens (what the kernels do) and for the same chunk's tokens regrouped by
a local search that swaps tokens between tiles while the sum of union sizes falls.

    python scripts/simulate_tile_grouping.py   (CPU, about a minute)
"""

import time

import torch

from dashbench.harness.inputs import structured_qkv
from dashbench.kernels.reference.dash import P_FLOOR, calibrate_scaling, chunk_summaries, route

N, HQ, D, C = 16384, 32, 128, 64


def union_sizes(masks: torch.Tensor) -> int:
    """Sum over tiles of the union size; ``masks`` ``[tiles, tokens, chunks]`` bool."""
    return int(masks.any(1).sum())


def regrouped(mask: torch.Tensor, tokens: int, sweeps: int = 3) -> int:
    """The smallest sum of union sizes a pairwise-swap local search finds over partitions of
    the chunk's tokens into tiles of ``tokens``, from the consecutive one."""
    groups = torch.arange(mask.shape[0]).view(-1, tokens)
    best = union_sizes(mask[groups])
    for _ in range(sweeps):
        improved = False
        for g1 in range(groups.shape[0]):
            for g2 in range(g1 + 1, groups.shape[0]):
                for i in range(tokens):
                    for j in range(tokens):
                        trial = groups.clone()
                        trial[g1, i], trial[g2, j] = groups[g2, j], groups[g1, i]
                        value = union_sizes(mask[trial])
                        if value < best:
                            best, groups, improved = value, trial, True
        if not improved:
            break
    return best


def main() -> None:
    for hkv in (8, 2):
        tokens = 64 // (HQ // hkv)
        q, k, _ = structured_qkv(1, HQ, hkv, N, D, chunk_size=C, dtype=torch.float32, device="cpu", seed=1)
        w = torch.zeros(hkv, D)
        summaries = chunk_summaries(k, w, C)
        for target in (0.25, 0.10):
            scaling = calibrate_scaling(q, k, w, target, chunk_size=C)
            t0 = time.time()
            pairs = consecutive = best = 0
            for c in range(N // C // 2, N // C, 8):
                with torch.no_grad():
                    p_bar = route(q[:, :, c * C:(c + 1) * C], summaries, torch.arange(c * C, (c + 1) * C), C, scaling)
                routed = (p_bar > P_FLOOR)[0, :, :, :c]  # [Hkv, C tokens, c earlier chunks]
                for mask in routed:
                    pairs += int(mask.sum())
                    consecutive += union_sizes(mask.view(-1, tokens, c))
                    best += regrouped(mask, tokens)
            print(f"Hkv {hkv} ({tokens} tokens a tile), target {target}: union work / routed pairs "
                  f"{consecutive * tokens / pairs:.2f} consecutive, {best * tokens / pairs:.2f} regrouped "
                  f"({1 - best / consecutive:.1%} less) [{time.time() - t0:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
