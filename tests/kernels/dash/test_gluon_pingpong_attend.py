"""The experimental ping-pong attention (kernels/dash/gluon_pingpong_attend.py): its sm_90 build
and on the GPU its output against ``attend``."""

import os
import subprocess
import sys

import pytest
import torch
from _common import make_inputs, rel

from dashbench.kernels.dash.attend import attend
from dashbench.kernels.dash.prior import listed_bias
from dashbench.kernels.dash.route import chunk_lists, padded_group, route, tile_rows
from dashbench.kernels.dash.summarize import summarize

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="Gluon kernels run only on a GPU")


@needs_gpu
@pytest.mark.parametrize("hq, hkv, n, d", [(8, 2, 1000, 128), (32, 2, 777, 128), (6, 2, 700, 128), (4, 4, 513, 64)])
def test_gluon_pingpong_attention_equals_attend(hq, hkv, n, d):
    """Two tiles a CTA, their warpgroups taking turns to issue products: odd tile counts (the
    last CTA one tile), lists of unequal length, 4, 16, 3 (padded) and 1 heads a KV head."""
    from dashbench.kernels.dash.gluon_pingpong_attend import gluon_pingpong_attend

    C, scaling = 64, 3.0
    q, k, v, w = make_inputs(1, hq, hkv, n, d, seed=n + 3, dtype=torch.bfloat16)
    G = hq // hkv
    bm, gp = tile_rows(G, C, 64), padded_group(G)
    s = summarize(k, w, C)
    tau, log_g, _, mask, counts = route(q, s, C, scaling, bm, route_bm=tile_rows(G, C, 128))
    offsets, ids = chunk_lists(mask, counts)
    bias = listed_bias(q, s, tau, log_g, offsets, counts, ids, scaling=scaling, sigma=1.0, estimate_diagonal=True,
                       bm=bm, gp=gp).half()  # fmt: skip
    want, want_lse = attend(q, k, v, s, tau, log_g, offsets, counts, ids, chunk_size=C, scaling=scaling, bm=bm,
                            gp=gp, bias=bias, diagonal_last=True, tma=True, num_stages=3)  # fmt: skip
    got, lse = gluon_pingpong_attend(q, k, v, offsets, counts, ids, bias, chunk_size=C, bm=bm, gp=gp)
    assert rel(got, want) < 2e-3 and rel(lse, want_lse) < 1e-4


def test_pingpong_attention_compiles_for_sm90_without_spills():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "dashbench.kernels.dash.gluon_pingpong_attend"], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("G=")]
    assert proc.returncode == 0 and len(lines) == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert all("stack 0 B" in line for line in lines), lines
    # each warpgroup's loop (one per partition) keeps its softmax between its two waits
    assert all(line.count("HGMMA DEPBAR1 EX2 DEPBAR0") >= 2 for line in lines), lines
    # two rings of 3 stages and two q tiles fit the 227 KB a CTA may take
    assert all(int(line.split("shared ")[1].split(" B")[0]) <= 232448 for line in lines), lines
