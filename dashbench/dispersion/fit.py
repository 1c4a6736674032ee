"""One number per method: how fast attention disperses as the context grows.

For each (inputs, method) the least-squares slope of a statistic against ``ln N`` over the
measured lengths (per-length means; with the same number of queries at every length this is the
slope of the fit to every query):

* ``needle_slope``: needle weight per e-fold of context (planted inputs only);
* ``entropy_slope``: token-level entropy, in nats per e-fold. Uniform attention over the causal
  prefix has slope 1; attention that keeps a fixed support has slope 0.

**Criterion.** A method is *dispersive* when its needle weight falls by more than
:data:`NEEDLE_SLOPE` per e-fold of context (``needle_slope < -0.02``: about 0.1 of the total
weight lost from 1k to 128k), or, on inputs without a needle (captured layers), when its entropy
grows by more than :data:`ENTROPY_SLOPE` nats per e-fold (``entropy_slope > 0.1``: a tenth of
uniform attention's growth). Fewer than two lengths: no verdict.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

NEEDLE_SLOPE = -0.02
ENTROPY_SLOPE = 0.1

CRITERION = (
    f"dispersive when the needle weight's slope against ln N is below {NEEDLE_SLOPE} "
    f"(inputs with a needle), else when the entropy's slope is above {ENTROPY_SLOPE} nats per e-fold "
    "(uniform attention: 1)"
)


def log_slope(lengths, values) -> float:
    """Least-squares slope of ``values`` against ``ln(lengths)``; NaN with fewer than two
    distinct lengths holding finite values."""
    x = np.log(np.asarray(lengths, dtype=float))
    y = np.asarray(values, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(np.unique(x)) < 2:
        return math.nan
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
    scale = max(1.0, float(np.abs(y).max()))
    return 0.0 if abs(slope) < 1e-12 * scale else slope  # rounding noise of a flat line is no slope


def verdict(needle_slope: float, entropy_slope: float) -> tuple[str, bool | None]:
    """``(criterion used, dispersive)``; ``dispersive`` is ``None`` when neither slope exists."""
    if math.isfinite(needle_slope):
        return "needle weight", needle_slope < NEEDLE_SLOPE
    if math.isfinite(entropy_slope):
        return "entropy", entropy_slope > ENTROPY_SLOPE
    return "", None


def fit_slopes(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (inputs, method) of a run's summary table (one row per inputs, method and length):
    ``lengths``, ``needle_slope``, ``entropy_slope``, ``norm_entropy_slope``, ``criterion`` and
    ``dispersive``."""
    rows = []
    for (inputs, method), g in summary.groupby(["inputs", "method"], sort=False):
        g = g.sort_values("seqlen")
        needle = log_slope(g["seqlen"], g["needle_weight"]) if "needle_weight" in g else math.nan
        entropy = log_slope(g["seqlen"], g["entropy"])
        criterion, dispersive = verdict(needle, entropy)
        rows.append({
            "inputs": inputs, "method": method, "lengths": int(g["seqlen"].nunique()),
            "needle_slope": needle, "entropy_slope": entropy,
            "norm_entropy_slope": log_slope(g["seqlen"], g["norm_entropy"]),
            "criterion": criterion, "dispersive": dispersive,
        })  # fmt: skip
    return pd.DataFrame(rows)
