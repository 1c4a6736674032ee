"""One launch each of the stored-bias attention (``attend``), of ``gluon_attend`` and of the
Gluon attention ``dash_attention`` runs (``interface.gluon_kernel``: the producer-warp kernel
since stop 22) over the same lists and biases, for ``ncu``:
structured inputs, scaling calibrated to the target token density
(``ncu_attend.calibrated_case``).

    ncu --kernel-name regex:"_attend_fwd|_gluon_attend" --launch-count 2 python scripts/ncu_gluon.py --seqlen 32k
"""

from __future__ import annotations

import torch
from ncu_attend import C, HQ, calibrated_case  # scripts/ncu_attend.py

from dashbench.kernels.dash.attend import attend
from dashbench.kernels.dash.gluon_attend import gluon_attend
from dashbench.kernels.dash.interface import ATTEND_ROWS, ROUTE_ROWS, attend_config, gluon_kernel
from dashbench.kernels.dash.prior import listed_bias
from dashbench.kernels.dash.route import chunk_lists, padded_group, route, tile_rows
from dashbench.kernels.dash.summarize import summarize


def main() -> None:
    q, k, v, w, scaling = calibrated_case()
    G = HQ // k.shape[1]
    bm, gp = tile_rows(G, C, ATTEND_ROWS), padded_group(G)
    s = summarize(k, w, C)
    tau, log_g, count, mask, tile_count = route(q, s, C, scaling, bm, route_bm=tile_rows(G, C, ROUTE_ROWS))
    offsets, ids = chunk_lists(mask, tile_count)
    bias = listed_bias(q, s, tau, log_g, offsets, tile_count, ids, scaling=scaling, sigma=1.0, estimate_diagonal=True,
                       bm=bm, gp=gp).half()  # fmt: skip
    cfg = dict(chunk_size=C, scaling=scaling, sigma=1.0, estimate_diagonal=True, bm=bm, gp=gp,
               **attend_config(k, v, True))  # fmt: skip
    want, _ = attend(q, k, v, s, tau, log_g, offsets, tile_count, ids, bias=bias, **cfg)
    for name, kernel in (("gluon_attend", gluon_attend), ("default", gluon_kernel())):
        got, _ = kernel(q, k, v, offsets, tile_count, ids, bias, chunk_size=C, bm=bm, gp=gp)
        torch.cuda.synchronize()
        print(f"{name} vs attend max abs diff {float((got.float() - want.float()).abs().max()):.3e}")


if __name__ == "__main__":
    main()
