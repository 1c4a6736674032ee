"""Plots of an e2e run: time-to-first-token and decode throughput against prompt length, one
line per attention method (log-log), the dense baseline drawn dashed."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dashbench.e2e import DENSE  # noqa: E402


def plot_e2e(df: pd.DataFrame, out_dir: Path, env: dict) -> list[Path]:
    ok = df[df.get("status", pd.Series(dtype=str)) == "OK"] if "status" in df else df.iloc[0:0]
    if ok.empty or ok["seqlen"].nunique() < 1:
        return []
    machine = env.get("machine", {})
    device = machine.get("gpu") or machine.get("device", "")
    sweep = env.get("sweep", {})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for method, g in ok.groupby("method", sort=False):
        g = g.sort_values("seqlen")
        style = dict(ls="--", color="0.35") if method in DENSE else {}
        label = method if method in DENSE else f"{method} (sparsity {sweep.get('sparsity', '?')})"
        axes[0].plot(g["seqlen"], g["ttft_ms"], marker="o", label=label, **style)
        axes[1].plot(g["seqlen"], g["decode_tokens_per_s"], marker="o", label=label, **style)
    for ax, ylabel in zip(axes, ("time to first token (ms, median)", "decode tokens/s (median)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("prompt length (tokens)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    name = Path(str(sweep.get("model", "model"))).name
    fig.suptitle(f"end to end — {name}, B=1, {ok['dtype'].iloc[0]}, {sweep.get('decode_tokens', '?')} decode "
                 f"steps ({device})", fontsize=9)  # fmt: skip
    paths = [out_dir / f"e2e.{ext}" for ext in ("png", "svg")]
    for p in paths:
        fig.savefig(p, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return paths
