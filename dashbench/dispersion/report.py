"""``report.md`` and a self-contained ``report.html`` (images embedded as base64 PNG) for a
dispersion run, drawn from its ``results.csv`` and ``env.json`` alone.

Contents: the run (device, dtype, shapes, command), what each method's distribution is, the
planted generator, a generated summary naming the dispersive methods by the slope criterion of
:mod:`dashbench.dispersion.fit`, the slopes table, the per-length table and the plots: needle
weight and needle-value cosine against length (planted inputs; the closed-form softmax curve
dashed where the distractors are equal), entropy and normalized entropy, effective support
(``exp H``) and keys with non-zero weight, and the hierarchical methods' block support and
block entropy, all against length on a log axis.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from dashbench import units  # noqa: E402
from dashbench.dispersion.fit import CRITERION, fit_slopes  # noqa: E402
from dashbench.dispersion.methods import HIERARCHICAL, LABELS, METHODS  # noqa: E402
from dashbench.dispersion.planted import softmax_needle_weight  # noqa: E402

METHOD_NOTES = {
    "softmax": "dense causal softmax over every earlier key",
    "entmax": "dense causal 1.5-entmax over every earlier key (sparse reference)",
    "nsa": "NSA's selection branch only: softmax over its top-k selected blocks (mean-compressed keys "
           "score the blocks); its compression and window branches are not measured. Its support is capped "
           "at k blocks: past k·block_size keys its needle weight stops falling, at softmax's value for that "
           "many keys",
    "infllmv2": "softmax over the top-k blocks InfLLMv2's reference selection keeps (support capped at k "
                "blocks, as for NSA)",
    "dash": "DashAttention: softmax over the routed chunks and the own chunk, biased by the log of the "
            "1.5-entmax routing prior",
}  # fmt: skip

SLOPES_TEXT = "Slopes are least-squares fits against ln N over the measured lengths (`dashbench.dispersion.fit`)."
STATS_TEXT = (
    "Statistics are means over the sampled query rows and heads, computed exactly by streaming over key "
    "blocks (`dashbench.dispersion.stats`): entropy H (nats), H / ln(position + 1), exp(H), keys with "
    "non-zero weight, the largest weight; for the hierarchical methods the block level (DashAttention: its "
    "entmax prior over earlier chunks; top-k: uniform over k blocks) and whether the needle's block was kept."
)
STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
    "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}img{max-width:100%}"
)

TABLE_COLUMNS = {
    "method": "method", "seqlen": "N", "needle_weight": "needle weight", "needle_cos": "cos(out, v_needle)",
    "entropy": "entropy", "norm_entropy": "norm. entropy", "eff_support": "exp(H)", "support": "support",
    "max_weight": "max weight", "block_support": "blocks", "block_entropy": "block entropy",
    "needle_routed": "needle block kept", "seconds": "s",
}  # fmt: skip


def _device(env: dict) -> str:
    machine = env.get("machine", {})
    if machine.get("gpu"):
        return str(machine["gpu"])
    cores = machine.get("cpu_count")
    return f"CPU, {cores} cores" if cores else str(env.get("sweep", {}).get("device", "?"))


def _shape(group: pd.DataFrame) -> str:
    r = group.iloc[0]
    return f"B={r['batch']}, {r['heads_q']}/{r['heads_kv']} heads, d={r['head_dim']}, {r['rows']} query rows"


def _title(what: str, inputs: str, group: pd.DataFrame, env: dict) -> str:
    dtype = group["dtype"].iloc[0]
    return f"{what} — {inputs} inputs, {_shape(group)}, {dtype} math ({_device(env)})"


def _order(df: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(df["method"]))
    return [m for m in METHODS if m in present] + [m for m in present if m not in METHODS]


def _axis(ax, lengths, ylabel: str, logy: bool = False) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths, [units.format_size(int(n)) for n in lengths])
    ax.minorticks_off()
    if logy:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("context length N (tokens, log scale)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _color(method: str):
    """One colour per method in every figure."""
    index = METHODS.index(method) if method in METHODS else len(METHODS)
    return plt.get_cmap("tab10")(index % 10)


def _lines(ax, group: pd.DataFrame, column: str) -> bool:
    drawn = False
    for method in _order(group):
        line = group[group["method"] == method].sort_values("seqlen")
        if line[column].notna().any():
            ax.plot(line["seqlen"], line[column], marker="o", label=LABELS.get(method, method), color=_color(method))
            drawn = True
    return drawn


def plot_inputs(group: pd.DataFrame, inputs: str, env: dict, out_dir: Path) -> list[Path]:
    """The figures of one inputs kind: PNG files under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    slug = inputs.replace(":", "_").replace("/", "_").replace(".", "_")
    lengths = sorted(group["seqlen"].unique())
    paths = []

    def save(fig, stem):
        path = out_dir / f"{stem}_{slug}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)

    sweep = env.get("sweep", {})
    if group["needle_weight"].notna().any():
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        _lines(axes[0], group, "needle_weight")
        if inputs == "planted" and float(sweep.get("distractor_std", 1)) == 0 and "softmax" in set(group["method"]):
            rows = int(group["rows"].iloc[0])
            grid = [n * 2 ** (i / 8) for n in lengths[:-1] for i in range(8)] + [lengths[-1]]
            margin = float(sweep.get("margin", 8.0))
            mean_keys = [n - (rows - 1) / 2 for n in grid]  # causal keys of the mean query row
            axes[0].plot(grid, softmax_needle_weight(margin, torch.tensor(mean_keys)).numpy(), ls="--",
                         color="0.4", lw=1, label=f"softmax, closed form e^m/(e^m+n-1), m={margin:g}")  # fmt: skip
        _axis(axes[0], lengths, "weight on the needle key")
        axes[0].set_ylim(-0.02, 1.02)
        _lines(axes[1], group, "needle_cos")
        _axis(axes[1], lengths, "cosine(output, needle value)")
        fig.suptitle(_title("needle weight vs length", inputs, group, env), fontsize=9)
        save(fig, "needle")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    _lines(axes[0], group, "entropy")
    _axis(axes[0], lengths, "entropy H (nats)")
    _lines(axes[1], group, "norm_entropy")
    _axis(axes[1], lengths, "H / ln(position + 1)")
    fig.suptitle(_title("token-level entropy vs length", inputs, group, env), fontsize=9)
    save(fig, "entropy")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    _lines(axes[0], group, "eff_support")
    _axis(axes[0], lengths, "effective support exp(H) (keys)", logy=True)
    _lines(axes[1], group, "support")
    _axis(axes[1], lengths, "keys with non-zero weight", logy=True)
    fig.suptitle(_title("support size vs length", inputs, group, env), fontsize=9)
    save(fig, "support")

    hier = group[group["method"].isin(HIERARCHICAL)]
    if not hier.empty and hier["block_support"].notna().any():
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        _lines(axes[0], hier, "block_support")
        _axis(axes[0], lengths, "blocks attended (own included)", logy=True)
        _lines(axes[1], hier, "block_entropy")
        _axis(axes[1], lengths, "block-level entropy (nats; top-k: ln k)")
        fig.suptitle(_title("block level (entmax prior vs top-k) vs length", inputs, group, env), fontsize=9)
        save(fig, "blocks")
    return paths


def summary_lines(fits: pd.DataFrame) -> list[str]:
    """One sentence per inputs kind: which methods are dispersive by the slope criterion."""
    lines = []
    for inputs, g in fits.groupby("inputs", sort=False):
        def names(rows):
            out = []
            for _, r in rows.iterrows():
                slope = r["needle_slope"] if r["criterion"] == "needle weight" else r["entropy_slope"]
                out.append(f"{LABELS.get(r['method'], r['method'])} [{r['criterion']} slope {slope:+.3f}]")
            return ", ".join(out) or "none"

        disp = g[g["dispersive"] == True]  # noqa: E712 (object column: True/False/None)
        conc = g[g["dispersive"] == False]  # noqa: E712
        none = g[g["dispersive"].isna()]
        text = f"On {inputs} inputs, dispersive: {names(disp)}; not dispersive: {names(conc)}."
        if len(none):
            text += f" No verdict (fewer than two lengths): {', '.join(LABELS.get(m, m) for m in none['method'])}."
        lines.append(text)
    return lines


def _frame_for_display(group: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in TABLE_COLUMNS if c in group and (c in ("method", "seqlen") or group[c].notna().any())]
    view = group[cols].copy()
    view["method"] = view["method"].map(lambda m: LABELS.get(m, m))
    view["seqlen"] = view["seqlen"].map(lambda n: units.format_size(int(n)))
    return view.rename(columns=TABLE_COLUMNS)


def _fits_for_display(fits: pd.DataFrame) -> pd.DataFrame:
    view = fits.copy()
    view["method"] = view["method"].map(lambda m: LABELS.get(m, m))
    view["dispersive"] = view["dispersive"].map(lambda d: "n/a" if d is None or (isinstance(d, float) and math.isnan(d))
                                                else ("yes" if d else "no"))  # fmt: skip
    return view


def _markdown(df: pd.DataFrame) -> str:
    df = df.astype(object).where(df.notna(), None)
    return df.to_markdown(index=False, floatfmt=".4g", missingval="")


def _planted_text(env: dict) -> str:
    s = env.get("sweep", {})
    distractors = ("all at logit 0 (equal distractors)" if float(s.get("distractor_std", 0)) == 0
                   else f"i.i.d. N(0, {float(s['distractor_std']):g}²) logits")  # fmt: skip
    return (f"Planted inputs: each query row's needle key has logit {float(s.get('margin', 8)):g} "
            f"(the margin); every other key is a distractor, {distractors}. The needle of row r sits at "
            f"floor({float(s.get('depth', 0.5)):g}·(N − R)) + r; the rows are the last R = {s.get('rows')} positions "
            "(`dashbench.dispersion.planted`).")  # fmt: skip


def write_report(run_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` in ``run_dir``; return the two
    report paths. Raises ``ValueError`` if ``run_dir`` is not a dispersion run with results."""
    run_dir = Path(run_dir)
    env_path, results_path = run_dir / "env.json", run_dir / "results.csv"
    if not env_path.is_file():
        raise ValueError(f"{run_dir} holds no env.json: not a run folder")
    env = json.loads(env_path.read_text())
    if env.get("kind") != "dispersion":
        raise ValueError(f"{run_dir} is not a dispersion run (its env.json has kind {env.get('kind')!r})")
    if not results_path.is_file() or results_path.stat().st_size == 0:
        raise ValueError(f"{run_dir} has no results yet")
    df = pd.read_csv(results_path)
    if df.empty:
        raise ValueError(f"{run_dir} has no results yet")
    fits = fit_slopes(df)
    fits.to_csv(run_dir / "fits.csv", index=False)
    summary = summary_lines(fits)
    machine = env.get("machine", {})
    head = [
        (f"run `{run_dir.name}` on {_device(env)} ({env.get('sweep', {}).get('device', '?')}), "
         f"torch {machine.get('torch', '?')}, dashbench {machine.get('dashbench', '?')} "
         f"commit {machine.get('git_commit', '') or '?'}"),
        f"command: `{env.get('command', '')}`",
    ]  # fmt: skip
    md = ["# Attention dispersion report", "", *[f"- {h}" for h in head], "", "## Summary", ""]
    md += [f"- {line}" for line in summary]
    md += ["", f"Criterion: {CRITERION}. {SLOPES_TEXT}", "", "## Methods", ""]
    md += [f"- **{LABELS.get(m, m)}** (`{m}`): {METHOD_NOTES.get(m, '')}" for m in _order(df)]
    if "planted" in set(df["inputs"]):
        md += ["", _planted_text(env)]
    md += ["", STATS_TEXT, "", "## Slopes", "", _markdown(_fits_for_display(fits)), ""]

    html_parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Attention dispersion report</title>",
        f"<style>{STYLE}</style>",
        "</head><body><h1>Attention dispersion report</h1><ul>",
        *[f"<li>{html.escape(h)}</li>" for h in head], "</ul><h2>Summary</h2><ul>",
        *[f"<li>{html.escape(line)}</li>" for line in summary],
        f"</ul><p>Criterion: {html.escape(CRITERION)}. {html.escape(SLOPES_TEXT)}</p><h2>Methods</h2><ul>",
        *[f"<li><b>{html.escape(LABELS.get(m, m))}</b> ({m}): {html.escape(METHOD_NOTES.get(m, ''))}</li>"
          for m in _order(df)],
        "</ul>",
    ]  # fmt: skip
    if "planted" in set(df["inputs"]):
        html_parts.append(f"<p>{html.escape(_planted_text(env))}</p>")
    html_parts.append(f"<p>{html.escape(STATS_TEXT)}</p>")
    html_parts += ["<h2>Slopes</h2>", _fits_for_display(fits).to_html(index=False, float_format=lambda x: f"{x:.4g}",
                                                                      na_rep="")]  # fmt: skip

    for inputs, group in df.groupby("inputs", sort=False):
        group = group.copy()
        md += [f"## {inputs} inputs ({_shape(group)}, {group['dtype'].iloc[0]} math)", ""]
        md += [_markdown(_frame_for_display(group)), ""]
        html_parts += [f"<h2>{html.escape(inputs)} inputs ({html.escape(_shape(group))})</h2>",
                       _frame_for_display(group).to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="")]
        for path in plot_inputs(group, inputs, env, run_dir / "plots"):
            rel = path.relative_to(run_dir).as_posix()
            md += [f"![{path.stem}]({rel})", ""]
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            html_parts.append(f"<p><img alt='{html.escape(path.stem)}' src='data:image/png;base64,{data}'></p>")
    html_parts.append("</body></html>")
    md_path, html_path = run_dir / "report.md", run_dir / "report.html"
    md_path.write_text("\n".join(md) + "\n")
    html_path.write_text("\n".join(html_parts) + "\n")
    return md_path, html_path
