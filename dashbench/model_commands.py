"""`dashbench train`, `dashbench pareto` and `dashbench e2e`: the commands that run whole models
(transformers, the `.[models]` extra). Thin layers over ``training``, ``pareto`` and ``e2e``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from dashbench import units
from dashbench.console import make_console

console = make_console()


def _device(device: str | None) -> str:
    import torch

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise typer.BadParameter("no CUDA device visible to PyTorch", param_hint="--device")
    return dev


# The option parsers are the kernel command's (dashbench/cli.py), imported when called: cli
# registers these commands at its end, so a module-level import would be circular.
def _words(text: str, allowed, option: str) -> list[str]:
    from dashbench.cli import _parsed, _word_list

    return _parsed(_word_list(allowed), text, option)


def _floats(text: str, option: str) -> list[float]:
    from dashbench.cli import _parsed, _sparsity_list

    return _parsed(_sparsity_list, text, option)


def _positive_float_list(text: str) -> list[float]:
    values = []
    for word in text.split(","):
        try:
            value = float(word)
        except ValueError:
            raise ValueError(f"{word!r} is not a number") from None
        if not 0 < value < float("inf"):
            raise ValueError(f"{word}: must be a positive, finite number")
        values.append(value)
    return values


def _positive_floats(text: str, option: str) -> list[float]:
    from dashbench.cli import _parsed

    return _parsed(_positive_float_list, text, option)


def _sizes(text: str, option: str) -> list[int]:
    from dashbench.cli import _parsed

    return _parsed(units.parse_size_list, text, option)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console)  # fmt: skip


def _env(extra: dict) -> dict:
    from dashbench import env_info

    return {"machine": env_info.machine(), "command": env_info.command_line(), **extra}


def _check_checkpoints(paths) -> None:
    """Fail before any work (and before a run folder exists) on a malformed checkpoint."""
    from dashbench.models.checkpoint import _config_json, _weight_files

    for path in paths:
        try:
            _config_json(Path(path))
            _weight_files(Path(path))
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--model") from None


def _stages(text: str):
    """``512x64x1500,2048x16x600``: seqlen x batch x steps per stage."""
    from dashbench.training import Stage

    stages = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        bits = part.lower().split("x")
        if len(bits) != 3:
            raise typer.BadParameter(f"{part!r}: a stage is SEQLENxBATCHxSTEPS, e.g. 2kx16x600", param_hint="--stages")
        try:
            stages.append(Stage(units.parse_size(bits[0]), int(bits[1]), int(bits[2])))
        except ValueError as e:
            raise typer.BadParameter(f"{part!r}: {e}", param_hint="--stages") from None
    return tuple(stages)


def train(
    methods: Annotated[str, typer.Option(help="Attention methods, comma list: dense, dash, nsa, infllmv2; one model each.")] = "dense,dash,nsa,infllmv2",  # noqa: E501
    sparsity: Annotated[float, typer.Option(help="Target sparsity the sparse methods train at.")] = 0.75,
    stages: Annotated[Optional[str], typer.Option(help="Length curriculum SEQLENxBATCHxSTEPS, comma list. Default: 128x256x3000,512x64x800,2kx16x400,8kx8x300 on a GPU (a dense 2-layer model: 4.6 min on an H100 beside three sparse ones), 256x4x20 on the CPU.")] = None,  # noqa: E501
    tasks: Annotated[str, typer.Option(help="Training tasks, cycled by step: copy and spans (induction warm-ups: a repeat, a repeat of shuffled 4-token spans), mqar, niah, vt.")] = "copy,spans,mqar,niah",  # noqa: E501
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, warm-up then cosine).")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seed of the weights and the data (the same for every method).")] = 0,
    init_from: Annotated[Optional[Path], typer.Option(help="Start every method from this checkpoint (dense, or the method's own), converted as in training-free evaluation: sparse fine-tuning of a dense model.")] = None,  # noqa: E501
    dash_sigma: Annotated[Optional[float], typer.Option(help="DashAttention's prior temperature while training (default: 1, or the --init-from checkpoint's). 1e6 flattens the prior.")] = None,  # noqa: E501
    layers: Annotated[int, typer.Option(help="Decoder layers of the tiny Llama (dashbench/models/tiny.py); 2 learnt retrieval at 8k, 4 did not. Ignored with --init-from.")] = 2,
    max_minutes: Annotated[Optional[float], typer.Option(help="Stop a model early past this many minutes (recorded in train.json).")] = None,  # noqa: E501
    out: Annotated[Path, typer.Option(help="Folder for the checkpoints: <out>/<method>/.")] = Path("results/models"),
    device: Annotated[Optional[str], typer.Option(help="cuda or cpu; default: cuda when present.")] = None,
):
    """Train a small Llama-architecture model per attention method on offline synthetic tasks."""
    from dashbench.models.config import METHODS
    from dashbench.tasks import task_names
    from dashbench.training import DEFAULT_STAGES, WARMUP_TASKS, Stage, TrainConfig
    from dashbench.training import train as train_one

    dev = _device(device)
    chosen = _words(methods, METHODS, "--methods")
    plan = _stages(stages) if stages else (DEFAULT_STAGES if dev.startswith("cuda") else (Stage(256, 4, 20),))
    task_list = tuple(_words(tasks, [*task_names(), *WARMUP_TASKS], "--tasks"))
    if not 0 <= sparsity < 1:
        raise typer.BadParameter(f"{sparsity}: must be in [0, 1)", param_hint="--sparsity")
    summaries = []
    with _progress() as progress:
        for method in chosen:
            cfg = TrainConfig(method=method, target_sparsity=sparsity, tasks=task_list, stages=plan, lr=lr, seed=seed,
                              layers=layers, init_from=None if init_from is None else str(init_from), dash_sigma=dash_sigma,
                              max_seconds=None if max_minutes is None else max_minutes * 60)  # fmt: skip
            try:
                cfg.check()
            except ValueError as e:
                raise typer.BadParameter(str(e)) from None
            summaries.append(train_one(cfg, out / method, device=dev, progress=progress))
    from rich.table import Table

    table = Table(title=f"trained on {dev} (checkpoints under {out})")
    for col in ("method", "target sparsity", "density", "knob", "loss", "question accuracy (last batch)", "seconds", "MB"):
        table.add_column(col)
    for s in summaries:
        if s["stopped_early"]:
            console.print(f"[yellow]{s['method']}: {s['stopped_early']}[/]")
    for s in summaries:
        f = s["final"]
        table.add_row(s["method"], f"{s['target_sparsity']:g}", f"{f['token_density']:.3f}",
                      f"{f['knob']}={f['knob_value']:.4g}" if f["knob"] else "", f"{f['loss']:.3f}",
                      f"{f['question_accuracy']:.2f}", f"{s['seconds']:.0f}", f"{s['checkpoint_bytes'] / 1e6:.1f}")  # fmt: skip
    console.print(table)


def pareto(
    model: Annotated[list[Path], typer.Option(help="A checkpoint folder (config.json + safetensors); repeat for several.")],  # noqa: E501
    sparsity: Annotated[str, typer.Option(help="Target sparsities of the sparse methods, comma list.")] = "0.5,0.75,0.9,0.95",  # noqa: E501
    seqlen: Annotated[Optional[str], typer.Option(help=f"Evaluation length ({units.SIZE_HELP}). Default: 8k on a GPU, 512 on the CPU.")] = None,  # noqa: E501
    tasks: Annotated[str, typer.Option(help="Tasks, comma list: mqar, niah, vt.")] = "mqar,niah",
    examples: Annotated[Optional[int], typer.Option(help="Held-out sequences per task and point (mqar: 32 questions each, niah: 8). Default: 64 on a GPU, 4 on the CPU.")] = None,  # noqa: E501
    batch: Annotated[int, typer.Option(help="Examples per forward pass.")] = 8,
    methods: Annotated[Optional[str], typer.Option(help="Also run each checkpoint as these methods (training-free conversion), comma list.")] = None,  # noqa: E501
    dash_sigma: Annotated[Optional[str], typer.Option(help="DashAttention's prior temperature, comma list: a line per value (default: the checkpoint's). 1e6 flattens the prior, as the public implementation does at inference; use it for converted dense models.")] = None,  # noqa: E501
    out: Annotated[Path, typer.Option(help="Folder holding pareto runs.")] = Path("results/pareto"),
    device: Annotated[Optional[str], typer.Option(help="cuda or cpu; default: cuda when present.")] = None,
):
    """Accuracy against measured sparsity for checkpoints: table and Pareto plot."""
    from dashbench.harness.results import new_run_id
    from dashbench.models.config import METHODS
    from dashbench.pareto import finish, run_pareto
    from dashbench.tasks import task_names

    dev = _device(device)
    n = _sizes(seqlen or ("8k" if dev.startswith("cuda") else "512"), "--seqlen")
    if len(n) != 1:
        raise typer.BadParameter("one evaluation length per run", param_hint="--seqlen")
    targets = _floats(sparsity, "--sparsity")
    extra = _words(methods, METHODS, "--methods") if methods else None
    sigmas = _positive_floats(dash_sigma, "--dash-sigma") if dash_sigma else None
    task_list = _words(tasks, task_names(), "--tasks")
    for value, option in ((batch, "--batch"), (examples or 1, "--examples")):
        if value < 1:
            raise typer.BadParameter(f"{value}: must be >= 1", param_hint=option)
    _check_checkpoints(model)
    run_dir = out / new_run_id()
    run_dir.mkdir(parents=True, exist_ok=True)
    env = _env({"sweep": dict(models=[str(m) for m in model], sparsity=targets, seqlen=n[0], tasks=tasks,
                              examples=examples, methods=extra, dash_sigma=sigmas, device=dev)})  # fmt: skip
    (run_dir / "env.json").write_text(json.dumps(env, indent=2, default=str) + "\n")
    count = examples or (64 if dev.startswith("cuda") else 4)
    try:
        with _progress() as progress:
            df = run_pareto(model, sparsities=targets, seqlen=n[0], tasks=task_list,
                            examples=count, batch=batch, device=dev, methods=extra, out_dir=run_dir,
                            dash_sigmas=sigmas, progress=progress)  # fmt: skip
    except ValueError as e:
        raise typer.BadParameter(str(e).splitlines()[0]) from None
    paths = finish(df, run_dir, env)
    console.print((run_dir / "table.md").read_text())
    console.print(f"wrote {run_dir}/pareto.csv, pareto.json, table.md, {', '.join(p.name for p in paths)}")


def e2e(
    model: Annotated[Path, typer.Option(help="A checkpoint folder (config.json + safetensors).")],
    seqlen: Annotated[Optional[str], typer.Option(help=f"Prompt lengths ({units.SIZE_HELP}), comma list. Default: 32k,128k on a GPU, 256 on the CPU.")] = None,  # noqa: E501
    methods: Annotated[str, typer.Option(help="Attention per run, comma list: sdpa, fa3 (dense) and dash, nsa, infllmv2.")] = "sdpa,fa3,dash,nsa,infllmv2",  # noqa: E501
    sparsity: Annotated[float, typer.Option(help="Target sparsity of the sparse methods.")] = 0.75,
    decode_tokens: Annotated[int, typer.Option(help="Greedy decode steps timed after each prefill.")] = 32,
    repeats: Annotated[int, typer.Option(help="Timed runs per case (after one warm-up run); medians reported.")] = 5,
    out: Annotated[Path, typer.Option(help="Folder holding e2e runs.")] = Path("results/e2e"),
    device: Annotated[Optional[str], typer.Option(help="cuda or cpu; default: cuda when present.")] = None,
):
    """Whole-model time-to-first-token and decode tokens/s per attention method, with peak memory."""
    import pandas as pd

    from dashbench.e2e import DENSE, add_speedups, run_e2e
    from dashbench.harness.results import new_run_id
    from dashbench.analysis.e2e_plots import plot_e2e

    dev = _device(device)
    _check_checkpoints([model])
    lengths = _sizes(seqlen or ("32k,128k" if dev.startswith("cuda") else "256"), "--seqlen")
    from dashbench.models.attention import SPARSE

    chosen = _words(methods, DENSE + SPARSE, "--methods")
    if not 0 <= sparsity < 1:
        raise typer.BadParameter(f"{sparsity}: must be in [0, 1)", param_hint="--sparsity")
    for value, option in ((decode_tokens, "--decode-tokens"), (repeats, "--repeats")):
        if value < 1:
            raise typer.BadParameter(f"{value}: must be >= 1", param_hint=option)
    if not dev.startswith("cuda"):
        console.print("[yellow]no GPU: every method runs its PyTorch reference; times are not benchmarks[/]")
    run_dir = out / new_run_id()
    run_dir.mkdir(parents=True, exist_ok=True)
    env = _env({"sweep": dict(model=str(model), seqlen=lengths, methods=chosen, sparsity=sparsity,
                              decode_tokens=decode_tokens, repeats=repeats, device=dev)})  # fmt: skip
    (run_dir / "env.json").write_text(json.dumps(env, indent=2, default=str) + "\n")
    try:
        with _progress() as progress:
            rows = add_speedups(run_e2e(model, methods=chosen, seqlens=lengths, sparsity=sparsity,
                                        decode_tokens=decode_tokens, repeats=repeats, device=dev, progress=progress))  # fmt: skip
    except ValueError as e:
        raise typer.BadParameter(str(e).splitlines()[0]) from None
    df = pd.DataFrame(rows)
    df.to_csv(run_dir / "e2e.csv", index=False)
    (run_dir / "e2e.json").write_text(df.to_json(orient="records", indent=1) + "\n")
    cols = [c for c in ("method", "seqlen", "status", "knob", "knob_value", "token_density", "ttft_ms", "decode_tokens_per_s",
                        "peak_extra_mib", "baseline", "ttft_speedup", "decode_speedup", "note") if c in df]  # fmt: skip
    (run_dir / "table.md").write_text(df[cols].to_markdown(index=False, floatfmt=".4g") + "\n")
    console.print(df[cols].to_string(index=False))
    paths = plot_e2e(df, run_dir, env)
    console.print(f"wrote {run_dir}/e2e.csv, e2e.json, table.md, {len(paths)} plot files")


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(pareto)
    app.command()(e2e)
