"""Cross-check the harness's timings against PyTorch SDPA timed by hand, in one process.

The hand timing is deliberately independent of dashbench's timing code (no do_bench): CUDA
events around each call, a 256 MiB buffer zeroed before each call to flush L2, warm-up, median.
The harness times the same call through `dashbench.harness.runner.run_case`. They should agree
within a few percent; the script prints both and their ratio and exits non-zero past 5%.

    python scripts/crosscheck_sdpa.py --seqlen 8k,32k,128k --out results/reference/h100-dense
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from dashbench.harness.cases import Case, Shape
from dashbench.harness.runner import make_inputs, run_case
from dashbench.harness.timing import TimingConfig
from dashbench.units import parse_size_list


def time_by_hand(fn, budget_ms: float = 2000.0) -> float:
    """Median of per-call event pairs; calls are queued back to back (no sync between them),
    each after zeroing a 256 MiB buffer that evicts L2."""
    flush = torch.empty(256 * 1024 * 1024, dtype=torch.int8, device="cuda")
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    reps = int(min(200, max(10, budget_ms / max(start.elapsed_time(end), 1e-3))))
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(reps)]  # fmt: skip
    for start, end in events:
        flush.zero_()
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in events)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlen", default="8k,32k,128k")
    ap.add_argument("--heads", default="32/8")
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--modes", default="fwd,decode")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    hq, hkv = map(int, args.heads.split("/"))
    rows = []
    for mode in args.modes.split(","):
        for n in parse_size_list(args.seqlen):
            case = Case("sdpa-flash", mode, Shape(1, hq, hkv, n, args.head_dim), "bf16")
            inputs = make_inputs(case, "cuda")
            q, k, v = inputs.q, inputs.k, inputs.v
            causal = mode != "decode"

            def sdpa():
                with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)

            with torch.no_grad():
                hand = time_by_hand(sdpa)
            harness = run_case(case, inputs, "cuda", TimingConfig())
            ratio = harness["ms"] / hand
            rows.append({"mode": mode, "seqlen": n, "hand_ms": hand, "harness_ms": harness["ms"],
                         "ratio": ratio, "harness_status": harness["status"]})  # fmt: skip
            print(f"{mode:7s} N={n:7d}  hand {hand:9.4f} ms  harness {harness['ms']:9.4f} ms  "
                  f"ratio {ratio:.3f}", flush=True)  # fmt: skip
            del inputs, q, k, v
            torch.cuda.empty_cache()
    worst = max(abs(r["ratio"] - 1) for r in rows)
    print(f"largest disagreement: {100 * worst:.1f}% (limit 5%)")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        meta = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                "command": "python " + " ".join(sys.argv), "rows": rows}  # fmt: skip
        (args.out / "crosscheck_sdpa.json").write_text(json.dumps(meta, indent=1) + "\n")
    return 0 if worst <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
