"""Accuracy against sparsity: Pareto fronts, the summary table and the plot of a pareto run.

A run's ``pareto.csv`` has one row per (checkpoint, method, target sparsity, task) with the
measured sparsity, the accuracy and its Wilson interval. The intervals treat a sequence's
questions as independent trials; they share a haystack, so the intervals are somewhat narrow. The plot draws one line per method
(its points in order of measured sparsity, each with its interval), and full attention as a
horizontal reference line with its interval as a band.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

METHOD_ORDER = ["dense", "dash", "nsa", "infllmv2"]
LABELS = {"dense": "full attention", "dash": "DashAttention", "nsa": "NSA", "infllmv2": "InfLLMv2"}


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (sparsity, accuracy) points no other point beats on both (at least as sparse and at
    least as accurate, better on one), sorted by sparsity."""
    front = []
    for s, a in points:
        dominated = any((s2 >= s and a2 >= a) and (s2 > s or a2 > a) for s2, a2 in points)
        if not dominated:
            front.append((s, a))
    return sorted(set(front))


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per (label, method, target): accuracy pooled over the tasks' questions (a task with more
    questions weighs more: mqar has 32 a sequence, niah 8), its Wilson interval over those
    questions, the measured sparsity averaged over the tasks, and the knob."""
    from dashbench.tasks import wilson_interval

    rows = []
    for (label, method, target), g in df.groupby(["label", "method", "target_sparsity"], dropna=False, sort=False):
        correct, total = int(g["correct"].sum()), int(g["examples"].sum())
        lo, hi = wilson_interval(correct, total)
        rows.append(dict(label=label, method=method, target_sparsity=target, sparsity=g["sparsity"].mean(),
                         accuracy=correct / total, lo=lo, hi=hi, examples=total, knob=g["knob"].iloc[0],
                         knob_value=g["knob_value"].iloc[0]))  # fmt: skip
    return pd.DataFrame(rows)


def _reference(s: pd.DataFrame) -> pd.Series | None:
    dense = s[s["method"] == "dense"]
    return None if dense.empty else dense.iloc[0]


def plot(df: pd.DataFrame, out_dir: Path, title: str) -> list[Path]:
    """``pareto.png`` / ``.svg``: accuracy (tasks pooled) against measured sparsity."""
    s = summary(df)
    fig, ax = plt.subplots(figsize=(7, 4.6))
    ref = _reference(s)
    if ref is not None:
        ax.axhline(ref["accuracy"], color="black", ls="--", lw=1.2,
                   label=f"{LABELS['dense']} ({ref['label']}): {ref['accuracy']:.3f}")  # fmt: skip
        ax.axhspan(ref["lo"], ref["hi"], color="black", alpha=0.08)
    for label, g in s[s["method"] != "dense"].groupby("label", sort=False):
        g = g.sort_values("sparsity")
        yerr = [g["accuracy"] - g["lo"], g["hi"] - g["accuracy"]]
        ax.errorbar(g["sparsity"], g["accuracy"], yerr=yerr, marker="o", capsize=3, label=label)
    ax.set_xlabel("measured sparsity (1 - token density)")
    ax.set_ylabel("exact match per question (95% Wilson)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title, fontsize=9)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"pareto.{ext}" for ext in ("png", "svg")]
    for p in paths:
        fig.savefig(p, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return paths


REACH_TOL = 0.05  # measured sparsity this far from the target: the target is flagged as missed


def markdown(df: pd.DataFrame) -> str:
    """The summary table; a point whose measured sparsity misses its target by more than
    :data:`REACH_TOL` says so (short sequences, forced blocks or the knob's range)."""
    s = summary(df)
    missed = (s["method"] != "dense") & ((s["sparsity"] - s["target_sparsity"]).abs() > REACH_TOL)
    s["note"] = ["target out of reach: measured " + f"{m:.3f}" if miss else "" for m, miss in zip(s["sparsity"], missed)]
    s = s.assign(accuracy=s["accuracy"].map("{:.3f}".format), interval=[f"[{a:.3f}, {b:.3f}]" for a, b in zip(s["lo"], s["hi"])],
                 sparsity=s["sparsity"].map("{:.3f}".format))  # fmt: skip
    cols = ["label", "method", "target_sparsity", "sparsity", "knob", "knob_value", "accuracy", "interval", "examples",
            "note"]  # fmt: skip
    return s[cols].to_markdown(index=False) + "\n"
