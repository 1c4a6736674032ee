"""Plots of a kernel run (matplotlib, PNG and SVG), drawn from its results table alone.

* ``time_vs_seqlen``: time against sequence length per provider, log-log, one panel per target
  sparsity (dense providers drawn in every panel, dashed);
* ``speedup_vs_sparsity``: speedup over the named baseline against target sparsity per method,
  one panel per length;
* ``density``: measured token density against the target (the diagonal is "met").

One figure per (mode, batch, heads, head dim, dtype, inputs); titles carry the device and shape.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (CI, the GPU machine)
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

GROUP = ["mode", "batch", "heads_q", "heads_kv", "head_dim", "dtype", "inputs"]


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    df = df[df["status"] == "OK"].copy()
    for col, default in (("inputs", "random"), ("sparsity", math.nan), ("family", "dense"), ("knobs", "")):
        if col not in df:
            df[col] = default
    knobs = df["knobs"].fillna("").astype(str)
    df["label"] = df["provider"] + knobs.map(lambda k: f" [{k}]" if k else "")  # e.g. a chunk size
    return df


def _title(what: str, key: tuple, device: str) -> str:
    mode, b, hq, hkv, d, dtype, inputs = key
    return f"{what} — {mode}, B={b}, {hq}/{hkv} heads, d={d}, {dtype}, {inputs} inputs ({device})"


def _size(n: float) -> str:
    n = int(n)
    for unit, scale in (("m", 1 << 20), ("k", 1 << 10)):
        if n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    paths = [out_dir / f"{stem}.{ext}" for ext in ("png", "svg")]
    for path in paths:
        fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return paths


def _slug(key: tuple) -> str:
    mode, b, hq, hkv, d, dtype, inputs = key
    inputs = str(inputs).replace(":", "").replace("/", "_").replace(".", "")
    return f"{mode.replace('+', '')}_B{b}_H{hq}-{hkv}_D{d}_{dtype}_{inputs}"


def time_vs_seqlen(df: pd.DataFrame, out_dir: Path, device: str = "") -> list[Path]:
    df, paths = _ok(df), []
    for key, group in df.groupby(GROUP, dropna=False):
        if group["seqlen"].nunique() < 2:
            continue  # a single length is a table, not a curve
        dense = group[group["sparsity"].isna() & (group["family"] == "dense")]
        targets = sorted(group["sparsity"].dropna().unique()) or [math.nan]
        fig, axes = plt.subplots(1, len(targets), figsize=(4.6 * len(targets), 3.8), squeeze=False, sharey=True)
        for ax, target in zip(axes[0], targets):
            rows = group[group["sparsity"] == target] if not math.isnan(target) else group[group["sparsity"].isna()]
            for provider, line in rows.groupby("label"):
                line = line.sort_values("seqlen")
                ax.plot(line["seqlen"], line["ms"], marker="o", label=provider)
            if not math.isnan(target):
                for i, (provider, line) in enumerate(dense.groupby("label")):
                    line = line.sort_values("seqlen")
                    ax.plot(line["seqlen"], line["ms"], ls=("--", ":", "-.")[i % 3], color="0.35", marker=".",
                            label=f"{provider} (dense)")  # fmt: skip
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(sorted(group["seqlen"].unique()), [_size(n) for n in sorted(group["seqlen"].unique())])
            ax.set_xlabel("sequence length (tokens)")
            ax.set_title("dense" if math.isnan(target) else f"target sparsity {target:g}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        axes[0][0].set_ylabel("time (ms, median)")
        fig.suptitle(_title("time vs length", key, device), fontsize=9)
        paths += _save(fig, out_dir, f"time_vs_seqlen_{_slug(key)}")
    return paths


def speedup_vs_sparsity(df: pd.DataFrame, out_dir: Path, device: str = "") -> list[Path]:
    df, paths = _ok(df), []
    for key, group in df.groupby(GROUP, dropna=False):
        sparse = group[group["sparsity"].notna()]
        if sparse.empty or sparse["speedup"].isna().all():
            continue
        lengths = sorted(sparse["seqlen"].unique())
        baseline = ", ".join(sorted(set(sparse["baseline"].dropna()) - {""})) or "?"
        fig, axes = plt.subplots(1, len(lengths), figsize=(4.6 * len(lengths), 3.8), squeeze=False, sharey=True)
        for ax, n in zip(axes[0], lengths):
            for provider, line in sparse[sparse["seqlen"] == n].groupby("label"):
                line = line.sort_values("sparsity")
                ax.plot(line["sparsity"], line["speedup"], marker="o", label=provider)
            ax.axhline(1.0, color="0.4", ls="--", lw=1, label=f"{baseline} (dense baseline)")
            ax.set_xlabel("target sparsity")
            ax.set_title(f"N = {_size(n)}")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        axes[0][0].set_ylabel(f"speedup over {baseline}")
        fig.suptitle(_title("speedup vs sparsity", key, device), fontsize=9)
        paths += _save(fig, out_dir, f"speedup_vs_sparsity_{_slug(key)}")
    return paths


def density_vs_target(df: pd.DataFrame, out_dir: Path, device: str = "") -> list[Path]:
    df, paths = _ok(df), []
    for key, group in df.groupby(GROUP, dropna=False):
        sparse = group[group["sparsity"].notna() & group.get("token_density", pd.Series(dtype=float)).notna()]
        if sparse.empty:
            continue
        fig, ax = plt.subplots(figsize=(4.8, 4.2))
        for (provider, n), line in sparse.groupby(["label", "seqlen"]):
            line = line.sort_values("sparsity")
            ax.plot(1 - line["sparsity"], line["token_density"], marker="o", label=f"{provider}, N={_size(n)}")
        ax.plot([0, 1], [0, 1], color="0.4", ls="--", lw=1, label="target met")
        ax.set_xlabel("target token density (1 - sparsity)")
        ax.set_ylabel("measured token density")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6)
        ax.set_title(_title("density", key, device), fontsize=7)
        paths += _save(fig, out_dir, f"density_{_slug(key)}")
    return paths


def all_plots(df: pd.DataFrame, out_dir: Path, device: str = "") -> list[Path]:
    """Every plot the run's rows support, under ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return (time_vs_seqlen(df, out_dir, device) + speedup_vs_sparsity(df, out_dir, device)
            + density_vs_target(df, out_dir, device))  # fmt: skip
