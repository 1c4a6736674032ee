"""``dashbench dispersion run`` and ``dashbench dispersion report`` (a Typer sub-app).

Imports stay light (no torch at import time): the main CLI imports this module to register it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from dashbench import units
from dashbench.console import make_console

app = typer.Typer(
    help="Measure how attention disperses with context length (needle weight, entropy, support) "
    "for dense softmax, 1.5-entmax, NSA, InfLLMv2 and DashAttention, and report it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = make_console()

ALL_METHODS = "softmax,entmax,nsa,infllmv2,dash"

# Options shared by `run` and `report` (which runs a sweep first when given no run id).
Methods = Annotated[str, typer.Option(help="Methods, comma list of softmax, entmax, nsa, infllmv2, dash.")]
Seqlen = Annotated[Optional[str], typer.Option(help=f"Context lengths: {units.SIZE_HELP}; or a doubling range like 1k..128k. Default: 1k,2k,4k,8k on the CPU, 1k..128k on a GPU.")]  # noqa: E501
Inputs = Annotated[str, typer.Option(help="Inputs, comma list: planted (needle generator), captured:<file> (q, k, v from `dashbench capture`).")]  # noqa: E501
Model = Annotated[Optional[str], typer.Option(help="Capture q, k, v of --layer from this transformers checkpoint first and add it to the inputs (needs the models extra).")]  # noqa: E501
Layer = Annotated[Optional[int], typer.Option(help="The attention layer --model captures (0-based).")]
Text = Annotated[Optional[Path], typer.Option(help="Text file the captured model reads; default seeded random token ids.")]  # noqa: E501
Rows = Annotated[int, typer.Option(help="Query rows sampled per length: the last ROWS positions.")]
Batch = Annotated[int, typer.Option(help="Batch of the planted inputs.")]
Heads = Annotated[str, typer.Option(help="Query/KV heads of the planted inputs, Hq/Hkv.")]
HeadDim = Annotated[int, typer.Option(help="Head dim of the planted inputs (at least --rows).")]
Margin = Annotated[float, typer.Option(help="Planted: the needle's logit over the distractors' mean.")]
DistractorStd = Annotated[float, typer.Option(help="Planted: std of the distractor logits (0: all equal, the closed-form case).")]  # noqa: E501
Depth = Annotated[float, typer.Option(help="Planted: relative position of the needles in the prefix, in [0, 1).")]
ChunkSize = Annotated[int, typer.Option(help="DashAttention's chunk size.")]
DashScaling = Annotated[str, typer.Option(help="DashAttention's routing scaling: auto (= chunk size), a number, or density:<d> (calibrated per input).")]  # noqa: E501
DashSigma = Annotated[float, typer.Option(help="DashAttention's prior temperature sigma (1: the full entmax prior).")]  # noqa: E501
Device = Annotated[Optional[str], typer.Option(help="cuda or cpu; default cuda when present.")]
Dtype = Annotated[str, typer.Option(help="Arithmetic of the statistics: fp64 or fp32.")]
Seed = Annotated[int, typer.Option(help="Seed of the planted inputs.")]
Out = Annotated[Path, typer.Option(help="Folder holding run folders.")]


_OPTION_OF_FIELD = {"methods": "--methods", "seqlens": "--seqlen", "inputs": "--inputs", "dtype": "--dtype",
                    "device": "--device", "heads": "--heads"}  # fmt: skip


def _bad(exc: Exception, hint: str) -> typer.BadParameter:
    return typer.BadParameter(str(exc).splitlines()[0], param_hint=hint)


def _sweep(methods, seqlen, inputs, model, layer, text, rows, batch, heads, head_dim, margin, distractor_std, depth,
           chunk_size, dash_scaling, dash_sigma, device, dtype, seed, cpu_sized: bool = False):  # fmt: skip
    """Check the options, capture a model layer if asked, and return ``(sweep, env extras)``."""
    import torch

    from dashbench.dispersion.runner import (
        DEFAULT_SEQLEN,
        DispersionSweep,
        parse_inputs,
        parse_seqlens,
    )

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        lengths = parse_seqlens(seqlen or DEFAULT_SEQLEN["cpu" if cpu_sized else dev])
    except ValueError as exc:
        raise _bad(exc, "--seqlen") from None
    words = [w.strip() for w in methods.split(",") if w.strip()]
    try:
        specs = [parse_inputs(w) for w in inputs.split(",") if w.strip()]
        hq_hkv = units.parse_heads(heads)
    except ValueError as exc:
        raise _bad(exc, "--inputs/--heads") from None
    extra = {}
    if (model is None) != (layer is None):
        raise typer.BadParameter("give --model and --layer together", param_hint="--model/--layer")
    if model is not None:
        from dashbench.capture import capture_layer, save_capture

        n = max(lengths)
        try:
            result = capture_layer(model, layer, n, text=text.read_text() if text else None, device=dev,
                                   dtype=torch.bfloat16)  # fmt: skip
        except (ValueError, OSError) as exc:
            raise _bad(exc, "--model/--layer/--text") from None
        path = save_capture(result, Path("results") / "captures" /
                            f"{Path(model.rstrip('/')).name}-L{layer}-{units.format_size(n)}.pt")  # fmt: skip
        console.print(f"captured layer {layer} of {model}: {path}")
        specs.append(f"captured:{path}")
        extra["capture"] = {"model": model, "layer": layer, "file": str(path)}
    sweep = DispersionSweep(
        methods=list(dict.fromkeys(words)), seqlens=lengths, inputs=list(dict.fromkeys(specs)), rows=rows,
        batch=batch, heads=hq_hkv, head_dim=head_dim, margin=margin, distractor_std=distractor_std, depth=depth,
        chunk_size=chunk_size, dash_scaling=dash_scaling, dash_sigma=dash_sigma, device=dev, dtype=dtype, seed=seed,
    )  # fmt: skip
    try:
        sweep.check()
    except ValueError as exc:
        field_name = str(exc).partition(":")[0]
        raise typer.BadParameter(str(exc), param_hint=_OPTION_OF_FIELD.get(field_name)) from None
    return sweep, extra


def _run(sweep, extra: dict, out: Path) -> Path:
    from dashbench.dispersion.runner import new_dispersion_run_id, run_dispersion

    run_dir = out / new_dispersion_run_id()
    console.print(f"dispersion run [bold]{run_dir.name}[/] -> {run_dir} ({len(sweep.methods)} methods x "
                  f"{len(sweep.seqlens)} lengths x {len(sweep.inputs)} inputs, {sweep.device}, {sweep.dtype})")  # fmt: skip
    try:
        summary = run_dispersion(sweep, run_dir, env_extra=extra, log=lambda line: console.print(f"  {line}", highlight=False))
    except ValueError as exc:
        raise _bad(exc, "--inputs/--seqlen") from None
    _print_fits(summary)
    console.print(f"wrote {run_dir}/results.csv, queries.csv, fits.csv, table.md, env.json")
    return run_dir


def _slope(x: float) -> str:
    return "" if math.isnan(x) else f"{x:+.4f}"  # NaN: no needle, or one length


def _print_fits(summary) -> None:
    from rich.table import Table

    from dashbench.dispersion.fit import fit_slopes
    from dashbench.dispersion.methods import LABELS

    table = Table(title="dispersion: slopes against ln N")
    for col in ("inputs", "method", "lengths", "needle slope", "entropy slope", "dispersive"):
        table.add_column(col, justify="left" if col in ("inputs", "method") else "right")
    for _, r in fit_slopes(summary).iterrows():
        verdict = {True: "[red]yes[/]", False: "[green]no[/]"}.get(r["dispersive"], "n/a")
        table.add_row(r["inputs"], LABELS.get(r["method"], r["method"]), str(r["lengths"]),
                      _slope(r["needle_slope"]), _slope(r["entropy_slope"]), verdict)  # fmt: skip
    console.print(table)


@app.command()
def run(
    methods: Methods = ALL_METHODS,
    seqlen: Seqlen = None,
    inputs: Inputs = "planted",
    model: Model = None,
    layer: Layer = None,
    text: Text = None,
    rows: Rows = 16,
    batch: Batch = 1,
    heads: Heads = "2/1",
    head_dim: HeadDim = 64,
    margin: Margin = 8.0,
    distractor_std: DistractorStd = 0.0,
    depth: Depth = 0.5,
    chunk_size: ChunkSize = 64,
    dash_scaling: DashScaling = "auto",
    dash_sigma: DashSigma = 1.0,
    device: Device = None,
    dtype: Dtype = "fp64",
    seed: Seed = 0,
    out: Out = Path("results/runs"),
):
    """Measure needle weight, entropy and support of every method at every length; write a run folder."""
    sweep, extra = _sweep(methods, seqlen, inputs, model, layer, text, rows, batch, heads, head_dim, margin,
                          distractor_std, depth, chunk_size, dash_scaling, dash_sigma, device, dtype, seed)  # fmt: skip
    run_dir = _run(sweep, extra, out)
    console.print(f"next: dashbench dispersion report {run_dir.name}" +
                  ("" if out == Path("results/runs") else f" --runs {out}"))  # fmt: skip


@app.command()
def report(
    run_id: Annotated[Optional[str], typer.Argument(metavar="[RUN]", help="Run id (under --runs) or a run folder. None: run a CPU-sized sweep first (the options below).")] = None,  # noqa: E501
    runs: Out = Path("results/runs"),
    methods: Methods = ALL_METHODS,
    seqlen: Seqlen = None,
    inputs: Inputs = "planted",
    rows: Rows = 16,
    batch: Batch = 1,
    heads: Heads = "2/1",
    head_dim: HeadDim = 64,
    margin: Margin = 8.0,
    distractor_std: DistractorStd = 0.0,
    depth: Depth = 0.5,
    chunk_size: ChunkSize = 64,
    dash_scaling: DashScaling = "auto",
    dash_sigma: DashSigma = 1.0,
    device: Device = None,
    dtype: Dtype = "fp64",
    seed: Seed = 0,
):
    """Write report.md and report.html (tables, plots, which methods are dispersive) for a run."""
    from dashbench.dispersion.report import write_report
    from dashbench.harness.results import resolve_run_dir

    if run_id is None:
        sweep, extra = _sweep(methods, seqlen, inputs, None, None, None, rows, batch, heads, head_dim, margin,
                              distractor_std, depth, chunk_size, dash_scaling, dash_sigma, device, dtype, seed,
                              cpu_sized=True)  # fmt: skip
        run_dir = _run(sweep, extra, runs)
    else:
        try:
            run_dir = resolve_run_dir(run_id, runs)
        except FileNotFoundError as exc:
            raise _bad(exc, "RUN") from None
    try:
        md_path, html_path = write_report(run_dir)
    except ValueError as exc:
        raise _bad(exc, "RUN") from None
    console.print(f"wrote {md_path} and {html_path}")
