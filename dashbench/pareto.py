"""``dashbench pareto``: accuracy against sparsity for checkpoints, one line per method.

Each checkpoint runs its own attention method (as trained) and, with ``methods``, any other
method by conversion (``dashbench.models.checkpoint``: training-free). Sparse methods are set to
each target sparsity (``dashbench.evaluation.set_sparsity``) and evaluated on held-out examples
of each task; a dense checkpoint is evaluated once, as the full-attention reference. Rows are
written as they finish (``pareto.csv``), then the table and the plot.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

COLUMNS = ["label", "checkpoint", "method", "converted_from", "target_sparsity", "knob", "knob_value", "task",
           "seqlen", "examples", "correct", "accuracy", "lo", "hi", "token_density", "sparsity", "sigma"]  # fmt: skip


def _label(ckpt: Path, method: str, own: str, sigma: float | None = None) -> str:
    label = f"{ckpt.name}" if method == own else f"{ckpt.name} as {method} (converted)"
    return label if sigma is None else f"{label}, sigma={sigma:g}"


def run_pareto(checkpoints: list[Path], *, sparsities: list[float], seqlen: int, tasks: list[str], examples: int,
               batch: int, device: str, methods: list[str] | None = None, out_dir: Path | None = None,
               dash_sigmas: list[float] | None = None, progress=None) -> pd.DataFrame:  # fmt: skip
    """``dash_sigmas``: DashAttention runs once per prior temperature given (a line each; the
    checkpoint's own when None). A large sigma flattens the prior, as the public implementation
    does at inference: the fair setting for a converted dense model, whose attention never
    learnt the bias."""
    from dashbench.evaluation import evaluate, set_sparsity
    from dashbench.models import load_checkpoint, settings_of
    from dashbench.models.checkpoint import saved_settings

    rows: list[dict] = []
    plan = []
    for ckpt in map(Path, checkpoints):
        own = saved_settings(ckpt).method
        for method in dict.fromkeys([own, *(methods or [])]):
            for sigma in (dash_sigmas or [None]) if method == "dash" else [None]:
                for target in [0.0] if method == "dense" else sparsities:
                    plan.append((ckpt, own, method, sigma, target))
    task_id = progress.add_task("pareto", total=len(plan) * len(tasks) * examples) if progress else None
    models: dict = {}
    for ckpt, own, method, sigma, target in plan:
        key = (ckpt, method, sigma)
        if key not in models:
            models.clear()  # one model in memory at a time
            knobs = {} if sigma is None else {"sigma": sigma}
            models[key] = load_checkpoint(ckpt, method=method, device=device, **knobs).eval()
        model = models[key]
        set_sparsity(model, target, seqlen)
        s = settings_of(model.config)
        for task in tasks:
            if progress is not None:
                progress.update(task_id, description=f"pareto {_label(ckpt, method, own, sigma)} @ {target:g} {task}")
            ev = evaluate(model, task, seqlen, examples, batch=batch, progress=progress, task_id=task_id)
            rows.append(dict(label=_label(ckpt, method, own, sigma), checkpoint=str(ckpt), method=method,
                             converted_from=own if method != own else "", target_sparsity=target, knob=s.knob or "",
                             knob_value=s.knob_value, task=task, seqlen=seqlen, examples=ev.examples,
                             correct=ev.correct, accuracy=ev.accuracy, lo=ev.lo, hi=ev.hi,
                             token_density=ev.token_density, sparsity=ev.sparsity,
                             sigma=s.sigma if method == "dash" else float("nan")))  # fmt: skip
            if out_dir is not None:
                write(pd.DataFrame(rows, columns=COLUMNS), out_dir)
    return pd.DataFrame(rows, columns=COLUMNS)


def write(df: pd.DataFrame, out_dir: Path) -> None:
    from dashbench.harness.results import atomic_write_text

    atomic_write_text(out_dir / "pareto.csv", df.to_csv(index=False))
    atomic_write_text(out_dir / "pareto.json", json.dumps(json.loads(df.to_json(orient="records")), indent=1) + "\n")


def finish(df: pd.DataFrame, out_dir: Path, env: dict) -> list[Path]:
    """Table and plot of a finished (or loaded) run."""
    from dashbench.analysis import pareto as analysis
    from dashbench.harness.results import atomic_write_text

    machine = env.get("machine", {})
    device = machine.get("gpu") or machine.get("device", "")
    seqlens = sorted(set(df["seqlen"]))
    title = (f"accuracy vs sparsity — {', '.join(sorted(set(df['task'])))} at {', '.join(map(str, seqlens))} "
             f"tokens, {int(df['examples'].sum() / max(1, df.groupby(['label', 'target_sparsity']).ngroups))} "
             f"questions per point ({device})")  # fmt: skip
    atomic_write_text(out_dir / "table.md", analysis.markdown(df))
    return analysis.plot(df, out_dir, title)
