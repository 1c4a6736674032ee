"""Two runs side by side: per matching case, the time ratio and whether it moved beyond the
runs' own noise.

Each timed row carries its 20th and 80th percentile; a case's noise is the sum of the two runs'
relative spreads ``(p80 - p20) / median``, floored at ``MIN_NOISE``. A ratio further from 1
than that is flagged ``faster`` or ``slower``; anything inside it is ``same``.
"""

from __future__ import annotations

import pandas as pd

MIN_NOISE = 0.02  # below 2% a change is not worth a flag whatever the spread says
KEY = ["provider", "mode", "batch", "heads_q", "heads_kv", "seqlen", "head_dim", "dtype", "inputs", "sparsity"]


def _timed(df: pd.DataFrame) -> pd.DataFrame:
    df = df[df["status"] == "OK"].copy()
    for col, default in (("inputs", "random"), ("sparsity", float("nan"))):
        if col not in df:
            df[col] = default
    df["spread"] = (df["ms_p80"].astype(float) - df["ms_p20"].astype(float)) / df["ms"].astype(float)
    return df


def compare_runs(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """One row per case timed in both runs: ``ms_a``, ``ms_b``, ``ratio`` (b / a: below 1 is
    faster), ``noise`` and ``change`` (faster / slower / same)."""
    a, b = _timed(a), _timed(b)
    a["sparsity"] = a["sparsity"].fillna(-1.0)  # dense rows: match them too (NaN never equals)
    b["sparsity"] = b["sparsity"].fillna(-1.0)
    both = a[KEY + ["ms", "spread"]].merge(b[KEY + ["ms", "spread"]], on=KEY, suffixes=("_a", "_b"))
    both["sparsity"] = both["sparsity"].where(both["sparsity"] >= 0)
    both["ratio"] = both["ms_b"] / both["ms_a"]
    both["noise"] = (both["spread_a"].fillna(0) + both["spread_b"].fillna(0)).clip(lower=MIN_NOISE)
    moved = (both["ratio"] - 1).abs() > both["noise"]
    both["change"] = "same"
    both.loc[moved & (both["ratio"] < 1), "change"] = "faster"
    both.loc[moved & (both["ratio"] > 1), "change"] = "slower"
    return both.drop(columns=["spread_a", "spread_b"])
