"""Summarize ncu's per-SASS-instruction stall samples (``ncu --page source --print-source sass
--csv``, as ``scripts/h100_stop22_e.sh`` writes them): the stall reasons over the kernel and the
instructions that collect the most samples, with their reasons.

    python scripts/sass_stalls.py results/reference/h100-dash/stop22/c352cf6_e/sass_stalls_gluon_ws_attend.csv
"""

from __future__ import annotations

import csv
import sys
from collections import Counter


def main(path: str, top: int = 25) -> None:
    rows = list(csv.reader(open(path)))
    header, body = rows[1], rows[2:]
    col = {name: i for i, name in enumerate(header)}
    reasons = [h for h in header if h.startswith("stall_") and "(Not Issued)" not in h]
    total = Counter()
    per_inst = []
    for r in body:
        counts = {h: int(r[col[h]] or 0) for h in reasons}
        total.update(counts)
        per_inst.append((sum(counts.values()), r[col["Address"]][-5:], r[col["Source"]].strip(), counts))
    n = sum(total.values())
    print(f"{path}: {n} samples")
    print("  " + ", ".join(f"{k[6:]} {v / n:.1%}" for k, v in total.most_common() if v / n >= 0.005))
    print(f"top {top} instructions:")
    for s, addr, src, counts in sorted(per_inst, reverse=True)[:top]:
        why = ", ".join(f"{k[6:]} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v >= 0.1 * s)
        print(f"  {s / n:6.1%} {addr} {src[:60]:60s} {why}")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
