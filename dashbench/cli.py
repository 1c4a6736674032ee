"""The `dashbench` command line (Typer). Each command is a thin layer over the library."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from dashbench import units
from dashbench.console import make_console

app = typer.Typer(
    name="dashbench",
    help="Benchmarks and kernels for adaptively sparse attention (DashAttention) and its baselines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = make_console()

# Defaults that finish in a few minutes: an H100 sweep, or a CPU smoke run.
DEFAULT_SEQLEN = {"cuda": "4k,16k,64k", "cpu": "512"}
CPU_BUDGET_S = 120.0


def _parsed(parse, value: str, option: str):
    try:
        return parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _int_list(text: str) -> list[int]:
    return units.parse_size_list(text)


def _word_list(allowed):
    def parse(text: str) -> list[str]:
        words = list(dict.fromkeys(w.strip() for w in text.split(",") if w.strip()))
        bad = [w for w in words if w not in allowed]
        if bad or not words:
            raise ValueError(f"{', '.join(bad) or repr(text)}: expected one of {', '.join(allowed)}")
        return words

    return parse


@app.command()
def env(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
):
    """Show the machine, software versions and every provider: available or not, and why."""
    from dashbench import env_info
    from dashbench.providers import load_plugins

    load_plugins()
    info = {"machine": env_info.machine(), "providers": env_info.providers_table()}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    machine = Table(title="machine", show_header=False)
    for key, value in info["machine"].items():
        machine.add_row(key, str(value))
    console.print(machine)
    table = Table(title="providers")
    for col in ("name", "family", "available", "impl / why not", "modes", "dtypes", "head dims"):
        table.add_column(col, overflow="fold", ratio=3 if col == "impl / why not" else 1)
    for p in info["providers"]:
        table.add_row(
            p["name"], p["family"],
            "[green]yes[/]" if p["available"] else "[red]no[/]",
            escape(p["impl_or_reason"]), ",".join(p["modes"]), ",".join(p["dtypes"]), p["head_dims"],
        )  # fmt: skip
    console.print(table)


@app.command()
def kernel(
    ctx: typer.Context,
    suite: Annotated[Optional[str], typer.Option(help="Run a named sweep from suites/<name>.toml (see `dashbench suites`); options typed here override it.")] = None,  # noqa: E501
    seqlen: Annotated[Optional[str], typer.Option(help=f"Sequence lengths: {units.SIZE_HELP}. Default: {DEFAULT_SEQLEN['cuda']} on a GPU, {DEFAULT_SEQLEN['cpu']} on the CPU.")] = None,  # noqa: E501
    batch: Annotated[str, typer.Option(help="Batch sizes, comma list.")] = "1",
    heads: Annotated[str, typer.Option(help="Query/KV heads as Hq/Hkv (GQA), comma list: 32/8,16/16.")] = "32/8",  # noqa: E501
    head_dim: Annotated[str, typer.Option(help="Head dims, comma list.")] = "128",
    dtype: Annotated[str, typer.Option(help="bf16, fp16 or fp32, comma list.")] = "bf16",
    mode: Annotated[str, typer.Option(help="fwd (prefill), fwd+bwd, decode; comma list.")] = "fwd",
    providers: Annotated[Optional[str], typer.Option(help="Providers, comma list (see `dashbench env`). Default: every dense provider available here.")] = None,  # noqa: E501
    methods: Annotated[Optional[str], typer.Option(help="Sparse methods run beside the dense providers, comma list: dash, infllmv2, nsa, nsa-dash-kernels (and the -ref references).")] = None,  # noqa: E501
    sparsity: Annotated[str, typer.Option(help="Target sparsities (1 - token density), comma list; 0 = dense. Each method is set to each target on the case's inputs.")] = "0",  # noqa: E501
    chunk_size: Annotated[str, typer.Option(help="DashAttention's chunk sizes, comma list of 32, 64, 128 (the other methods keep their papers' blocks).")] = "64",  # noqa: E501
    inputs: Annotated[str, typer.Option(help="Input generators, comma list: random (i.i.d.), structured or structured:<coherence 0..1> (locally coherent routing), captured:<file> (q, k, v saved from a model layer).")] = "random",  # noqa: E501
    baseline: Annotated[str, typer.Option(help="Provider the speedup column divides by; 'auto' = fa3 when it ran, else the fastest dense provider.")] = "auto",  # noqa: E501
    out: Annotated[Path, typer.Option(help="Folder holding run folders.")] = Path("results/runs"),
    resume: Annotated[Optional[str], typer.Option(help="Finish an interrupted run (its id or folder); other sweep options are taken from it.")] = None,  # noqa: E501
    warmup: Annotated[float, typer.Option(help="Warm-up budget per case, in milliseconds.")] = 25.0,
    rep: Annotated[float, typer.Option(help="Measurement budget per case, in milliseconds.")] = 100.0,
    min_runs: Annotated[int, typer.Option(help="At least this many timed runs per case: the budgets grow for slow cases.")] = 10,  # noqa: E501
    cuda_graph: Annotated[bool, typer.Option("--cuda-graph", help="Time CUDA-graph replays (no launch gaps; L2 stays warm).")] = False,  # noqa: E501
    device: Annotated[Optional[str], typer.Option(help="cuda or cpu; default: cuda when present.")] = None,  # noqa: E501
    seed: Annotated[int, typer.Option(help="Seed of the random inputs.")] = 0,
):
    """Time attention providers across lengths, heads, dims, dtypes and modes (checked first)."""
    import torch

    if suite and not resume:
        from dashbench.suites import SuiteError, load_suite

        try:
            chosen = load_suite(suite)
        except SuiteError as exc:
            raise typer.BadParameter(str(exc), param_hint="--suite") from None
        # options typed on the command line win (Typer's click is vendored: compare by name)
        typed = {k for k in ctx.params if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"}
        given = {k: chosen.option_text(k) for k in chosen.sweep if k not in typed}
        seqlen, batch, heads = given.get("seqlen", seqlen), given.get("batch", batch), given.get("heads", heads)
        head_dim, dtype, mode = given.get("head_dim", head_dim), given.get("dtype", dtype), given.get("mode", mode)
        providers, methods = given.get("providers", providers), given.get("methods", methods)
        sparsity, inputs = given.get("sparsity", sparsity), given.get("inputs", inputs)
        chunk_size = given.get("chunk_size", chunk_size)
        baseline = given.get("baseline", baseline)
        warmup = float(chosen.sweep["warmup"]) if "warmup" in given else warmup
        rep = float(chosen.sweep["rep"]) if "rep" in given else rep
        cuda_graph = bool(chosen.sweep["cuda_graph"]) if "cuda_graph" in given else cuda_graph
        seed = int(chosen.sweep["seed"]) if "seed" in given else seed
        min_runs = int(chosen.sweep["min_runs"]) if "min_runs" in given else min_runs
        console.print(f"suite [bold]{chosen.name}[/] ({chosen.path}): {chosen.description}")

    from dashbench.harness.cases import expand_sweep
    from dashbench.harness.results import RunWriter, new_run_id, resolve_run_dir
    from dashbench.harness.runner import run_sweep
    from dashbench.harness.timing import TimingConfig
    from dashbench.providers import MODES, REGISTRY, load_plugins
    from dashbench.providers.registry import DTYPES

    load_plugins()
    if resume:
        try:
            run_dir = resolve_run_dir(resume, out)
        except FileNotFoundError as exc:
            raise typer.BadParameter(str(exc), param_hint="--resume") from None
        recorded = json.loads((run_dir / "env.json").read_text())
        sweep = recorded["sweep"]
        from dashbench import env_info

        here = env_info.machine().get("gpu", "cpu")
        there = recorded.get("machine", {}).get("gpu", "cpu")
        if here != there:
            raise typer.BadParameter(
                f"the run was made on {there} and this machine is {here}: its speedups would "
                "divide times from different cards; start a new run instead",
                param_hint="--resume",
            )
        console.print(f"resuming [bold]{run_dir}[/]")
    else:
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dev not in ("cuda", "cpu"):
            raise typer.BadParameter(f"{dev!r}: expected cuda or cpu", param_hint="--device")
        if dev == "cuda" and not torch.cuda.is_available():
            raise typer.BadParameter("no CUDA device is visible to PyTorch", param_hint="--device")
        provider_names = (
            _parsed(_word_list(sorted(REGISTRY)), providers, "--providers")
            if providers
            else _default_providers(dev)
        )
        sparse_names = sorted(n for n, p in REGISTRY.items() if p.family != "dense")
        method_names = _parsed(_word_list(sparse_names), methods, "--methods") if methods else []
        provider_names = list(dict.fromkeys(provider_names + method_names))
        sweep = {
            "device": dev,
            "providers": provider_names,
            "modes": _parsed(_word_list(MODES), mode, "--mode"),
            "seqlens": _parsed(_int_list, seqlen or DEFAULT_SEQLEN[dev], "--seqlen"),
            "batches": _parsed(_int_list, batch, "--batch"),
            "heads": [_parsed(units.parse_heads, h, "--heads") for h in heads.split(",")],
            "head_dims": _parsed(_int_list, head_dim, "--head-dim"),
            "dtypes": _parsed(_word_list(list(DTYPES)), dtype, "--dtype"),
            "sparsities": _parsed(_sparsity_list, sparsity, "--sparsity"),
            "inputs": _parsed(_inputs_list, inputs, "--inputs"),
            "chunk_sizes": _parsed(_word_list(["32", "64", "128"]), chunk_size, "--chunk-size"),
            "baseline": baseline,
            "timing": {"warmup_ms": warmup, "rep_ms": rep, "cuda_graph": cuda_graph, "min_runs": min_runs},
            "seed": seed,
            "suite": suite,
        }
        if baseline != "auto" and baseline not in REGISTRY:
            raise typer.BadParameter(f"{baseline!r} is no provider", param_hint="--baseline")
        run_dir = out / new_run_id()

    unknown = [p for p in sweep["providers"] if p not in REGISTRY]
    if unknown:
        raise typer.BadParameter(
            f"the run used providers not registered here: {', '.join(unknown)} "
            "(a plugin? name its module in DASHBENCH_PLUGINS)",
            param_hint="--resume",
        )
    cases = expand_sweep(
        sweep["providers"], sweep["modes"], sweep["seqlens"], sweep["batches"],
        [tuple(h) for h in sweep["heads"]], sweep["head_dims"], sweep["dtypes"],
        sweep.get("sparsities", [0.0]), sweep.get("inputs", ["random"]),
        sparse=frozenset(n for n, p in REGISTRY.items() if p.family != "dense"),
        chunk_sizes=[int(c) for c in sweep.get("chunk_sizes", ["64"])],
        chunked=frozenset(n for n, p in REGISTRY.items() if p.chunked),
    )  # fmt: skip
    if sweep["device"] == "cpu":
        _refuse_slow_cpu_sweep(cases, sweep["seqlens"])

    from dashbench import env_info

    env_record = None
    if not resume:
        env_record = {
            "machine": env_info.machine(),
            "command": _sweep_command(sweep),  # canonical: reruns exactly this sweep
            "argv": env_info.command_line(),  # as typed
            "sweep": sweep,
        }
    writer = RunWriter(run_dir, env_record, baseline=sweep["baseline"])
    console.print(f"run [bold]{run_dir.name}[/] -> {run_dir}  ({len(cases)} cases)")
    run_sweep(cases, writer, sweep["device"], TimingConfig(**sweep["timing"]), seed=sweep["seed"])
    print_results(writer.frame(), title=f"{run_dir.name} ({sweep['device']})")
    console.print(f"wrote {writer.csv_path}, results.json, table.md, env.json")
    _plots(writer.frame(), run_dir, writer.load_env())


@app.command()
def report(
    run: Annotated[str, typer.Argument(help="Run id (under --runs) or a run folder.")],
    runs: Annotated[Path, typer.Option(help="Folder holding run folders.")] = Path("results/runs"),
):
    """Rebuild a run's tables and plots from its results.csv (no GPU needed)."""
    from dashbench.harness.results import RunWriter

    run_dir = _run_dir(run, runs, "RUN")
    env = json.loads((run_dir / "env.json").read_text())
    writer = RunWriter(run_dir, baseline=env.get("sweep", {}).get("baseline", "auto"))
    writer.flush()  # speedups, results.json and table.md from the CSV
    df = writer.frame()
    print_results(df, title=f"{run_dir.name} ({env.get('sweep', {}).get('device', '?')})")
    _plots(df, run_dir, env)


def _run_dir(run: str, runs: Path, hint: str) -> Path:
    from dashbench.harness.results import resolve_run_dir

    try:
        return resolve_run_dir(run, runs)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def _plots(df, run_dir: Path, env: dict) -> None:
    from dashbench.analysis.plots import all_plots

    machine = env.get("machine", {})
    device = machine.get("gpu") or machine.get("cpu") or env.get("sweep", {}).get("device", "")
    paths = all_plots(df, run_dir / "plots", str(device))
    console.print(f"wrote {len(paths)} plot files under {run_dir / 'plots'}" if paths else
                  "no plots: the run has too few lengths or targets to draw")  # fmt: skip


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="The earlier run (id or folder).")],
    run_b: Annotated[str, typer.Argument(help="The later run (id or folder).")],
    runs: Annotated[Path, typer.Option(help="Folder holding run folders.")] = Path("results/runs"),
    csv: Annotated[Optional[Path], typer.Option(help="Also write the comparison to this CSV file.")] = None,
):
    """Time ratios (b / a) of the cases both runs timed, flagging changes beyond their noise."""
    import pandas as pd

    from dashbench.analysis.compare import compare_runs

    dirs = [_run_dir(r, runs, name) for r, name in ((run_a, "RUN_A"), (run_b, "RUN_B"))]
    envs = [json.loads((d / "env.json").read_text()) for d in dirs]
    gpus = [e.get("machine", {}).get("gpu", e.get("sweep", {}).get("device", "?")) for e in envs]
    if gpus[0] != gpus[1]:
        console.print(f"[yellow]the runs come from different devices ({gpus[0]} vs {gpus[1]}): "
                      "ratios compare machines, not code[/]")  # fmt: skip
    table_df = compare_runs(*(pd.read_csv(d / "results.csv") for d in dirs))
    if table_df.empty:
        raise typer.BadParameter("the runs have no timed case in common", param_hint="RUN_B")
    table = Table(title=f"{dirs[1].name} vs {dirs[0].name} (ratio = b / a; below 1 is faster)")
    for col in ("provider", "mode", "shape", "inputs", "target sp.", "a ms", "b ms", "ratio", "noise", "change"):
        table.add_column(col, justify="right" if col in ("a ms", "b ms", "ratio", "noise", "target sp.") else "left")
    color = {"faster": "green", "slower": "red", "same": "dim"}
    for _, r in table_df.iterrows():
        shape = f"{r['batch']} {r['heads_q']}/{r['heads_kv']} {units.format_size(int(r['seqlen']))} {r['head_dim']} {r['dtype']}"
        target = "" if pd.isna(r["sparsity"]) else f"{r['sparsity']:g}"
        table.add_row(r["provider"], r["mode"], shape, str(r["inputs"]), target, f"{r['ms_a']:.4g}", f"{r['ms_b']:.4g}",
                      f"{r['ratio']:.3f}", f"±{r['noise']:.1%}", f"[{color[r['change']]}]{r['change']}[/]")  # fmt: skip
    console.print(table)
    counts = table_df["change"].value_counts().to_dict()
    console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if csv:
        table_df.to_csv(csv, index=False)
        console.print(f"wrote {csv}")


@app.command()
def capture(
    model: Annotated[str, typer.Option(help="A transformers causal-LM checkpoint (local folder or hub name).")],
    layer: Annotated[int, typer.Option(help="Which attention layer (0-based).")],
    seqlen: Annotated[str, typer.Option(help=f"Tokens to capture: {units.SIZE_HELP}.")] = "4k",
    text: Annotated[Optional[Path], typer.Option(help="A text file to run; default: seeded random token ids.")] = None,  # noqa: E501
    out: Annotated[Optional[Path], typer.Option(help="Where to save (default: results/captures/<model>-L<layer>-<seqlen>.pt).")] = None,  # noqa: E501
    device: Annotated[Optional[str], typer.Option(help="cuda or cpu; default: cuda when present.")] = None,
    dtype: Annotated[str, typer.Option(help="bf16, fp16 or fp32.")] = "bf16",
):
    """Save one attention layer's q, k, v from a real model, for `--inputs captured:<file>`."""
    import torch

    from dashbench.capture import capture_layer, save_capture
    from dashbench.providers.registry import DTYPES

    n = _parsed(units.parse_size, seqlen, "--seqlen")
    if dtype not in DTYPES:
        raise typer.BadParameter(f"{dtype!r}: expected one of {', '.join(DTYPES)}", param_hint="--dtype")
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    words = text.read_text() if text else None
    try:
        result = capture_layer(model, layer, n, text=words, device=dev, dtype=DTYPES[dtype])
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc).splitlines()[0], param_hint="--model/--layer/--text") from None
    name = Path(model.rstrip("/")).name
    path = save_capture(result, out or Path("results") / "captures" / f"{name}-L{layer}-{units.format_size(n)}.pt")
    q, k = result["q"], result["k"]
    console.print(f"wrote {path}: q {tuple(q.shape)}, k/v {tuple(k.shape)} ({result['meta']['source']}); "
                  f"use --inputs captured:{path} --heads {q.shape[1]}/{k.shape[1]} --head-dim {q.shape[-1]}")


@app.command()
def suites():
    """List the named sweeps (suites/*.toml) and how many cases each runs."""
    from dashbench.harness.cases import expand_sweep
    from dashbench.providers import REGISTRY, load_plugins
    from dashbench.suites import list_suites

    load_plugins()
    table = Table(title="suites (dashbench kernel --suite NAME)")
    for col in ("name", "description", "cases", "file"):
        table.add_column(col, overflow="fold")
    sparse = frozenset(n for n, p in REGISTRY.items() if p.family != "dense")
    for s in list_suites():
        try:
            w = s.sweep
            heads = [units.parse_heads(h) for h in w.get("heads", ["32/8"])]
            n = len(expand_sweep(
                list(w.get("providers", [])) + list(w.get("methods", [])), w.get("mode", ["fwd"]),
                [units.parse_size(str(x)) for x in w.get("seqlen", [])], w.get("batch", [1]), heads,
                w.get("head_dim", [128]), w.get("dtype", ["bf16"]), w.get("sparsity", [0]),
                w.get("inputs", ["random"]), sparse=sparse))  # fmt: skip
            cases = str(n) if "providers" in w else f"{n} + dense providers"
        except (ValueError, TypeError):
            cases = "?"
        table.add_row(s.name, s.description, cases, str(s.path))
    console.print(table)


def _sweep_command(sweep: dict) -> str:
    t = sweep["timing"]
    parts = [
        "dashbench kernel",
        f"--device {sweep['device']}",
        f"--providers {','.join(sweep['providers'])}",
        f"--mode {','.join(sweep['modes'])}",
        f"--seqlen {','.join(units.format_size(n) for n in sweep['seqlens'])}",
        f"--batch {','.join(map(str, sweep['batches']))}",
        f"--heads {','.join(f'{hq}/{hkv}' for hq, hkv in sweep['heads'])}",
        f"--head-dim {','.join(map(str, sweep['head_dims']))}",
        f"--dtype {','.join(sweep['dtypes'])}",
        f"--sparsity {','.join(f'{x:g}' for x in sweep.get('sparsities', [0.0]))}",
        f"--inputs {','.join(sweep.get('inputs', ['random']))}",
        f"--chunk-size {','.join(sweep.get('chunk_sizes', ['64']))}",
        f"--baseline {sweep['baseline']}",
        f"--warmup {t['warmup_ms']:g} --rep {t['rep_ms']:g} --min-runs {t.get('min_runs', 10)}",
        f"--seed {sweep['seed']}",
    ]
    if sweep.get("suite"):
        parts.insert(1, f"--suite {sweep['suite']}")
    if t["cuda_graph"]:
        parts.append("--cuda-graph")
    return " ".join(parts)


def _sparsity_list(text: str) -> list[float]:
    values = []
    for word in (w.strip() for w in text.split(",") if w.strip()):
        try:
            x = float(word)
        except ValueError:
            x = math.nan
        if not 0 <= x < 1:
            raise ValueError(f"{word!r}: a sparsity is a number in [0, 1) (0 = dense)")
        values.append(x)
    if not values:
        raise ValueError(f"{text!r}: give at least one sparsity")
    return list(dict.fromkeys(values))


def _inputs_list(text: str) -> list[str]:
    from dashbench.harness.inputs import parse_inputs

    kinds = [parse_inputs(w) for w in text.split(",") if w.strip()]
    if not kinds:
        raise ValueError(f"{text!r}: give at least one input generator")
    return list(dict.fromkeys(kinds))


def _default_providers(device: str) -> list[str]:
    from dashbench.providers import all_providers

    names = [p.name for p in all_providers() if p.family == "dense" and p.probe().available
             and device in p.caps().devices]  # fmt: skip
    return names or ["reference"]


def _refuse_slow_cpu_sweep(cases, seqlens: list[int]) -> None:
    """Refuse CPU sweeps that would take more than a couple of minutes, naming what fits."""
    from dashbench.harness.cpu_budget import estimate_seconds, largest_seqlen_within

    seconds = estimate_seconds(cases)
    if seconds > CPU_BUDGET_S:
        fits = largest_seqlen_within(cases, CPU_BUDGET_S)
        hint = f"try --seqlen {units.format_size(fits)} or less" if fits else "try a smaller shape"
        raise typer.BadParameter(
            f"on the CPU this sweep would take about {seconds / 60:.0f} min (limit "
            f"{CPU_BUDGET_S / 60:.0f} min); {hint}, or run on a GPU",
            param_hint="--seqlen",
        )


def print_results(df, title: str) -> None:
    """One compact row per case that ran; cases that could not run are listed once below."""
    skipped = df["status"].isin(["UNAVAILABLE", "UNSUPPORTED"])
    table = Table(title=title)
    columns = {
        "provider": "provider", "mode": "mode", "shape": "B Hq/Hkv N D", "dtype": "dtype",
        "inputs": "inputs", "sparsity": "target sp.", "token_density": "tok. dens.",
        "compute_density": "comp. dens.", "status": "status", "rel_err": "rel err", "ms": "ms",
        "tflops": "TFLOP/s", "gbps": "GB/s", "extra_mem_mib": "extra MiB", "speedup": "speedup",
        "vs_dash": "vs dash",
    }  # fmt: skip
    if "knobs" in df and df["knobs"].fillna("").astype(str).str.len().gt(0).any():
        items = list(columns.items())  # e.g. chunk sizes: shown after the dtype
        at = [k for k, _ in items].index("dtype") + 1
        columns = dict(items[:at] + [("knobs", "knobs")] + items[at:])
    for key in ("gbps", "extra_mem_mib", "compute_density"):
        if key in columns and (key not in df or df[key].isna().all()):
            columns.pop(key)  # nothing to show: keep the table narrow
    if "inputs" in df and (df["inputs"] == "random").all() and df["sparsity"].isna().all():
        for key in ("inputs", "sparsity", "token_density", "compute_density", "vs_dash"):
            columns.pop(key, None)  # a dense sweep: keep the table narrow
    for header in columns.values():
        numeric = header not in ("provider", "mode", "dtype", "status", "B Hq/Hkv N D", "inputs")
        table.add_column(header, no_wrap=True, justify="right" if numeric else "left")
    for _, row in df[~skipped].iterrows():
        shape = f"{row['batch']} {row['heads_q']}/{row['heads_kv']} {units.format_size(int(row['seqlen']))} {row['head_dim']}"
        cells = [shape if key == "shape" else _cell(row.get(key), key) for key in columns]
        table.add_row(*cells)
    console.print(table)
    if "baseline" in df and (df["baseline"] != "").any():
        used = ", ".join(sorted(set(df["baseline"]) - {""}))
        console.print(f"speedup = baseline ms / ms; baseline used: [bold]{used}[/]")
    if "vs_dash" in columns and df["vs_dash"].notna().any():
        console.print("vs dash = DashAttention's ms / ms at the same target sparsity and inputs")
    warned = df[(df["status"] == "OK") & df["note"].fillna("").str.contains("out of reach|below the")]
    for (provider, note), group in warned.groupby(["provider", "note"]):
        console.print(f"[yellow]{provider}: target not reachable in {len(group)} case(s): {escape(note)}[/]")
    problems = df[~df["status"].isin(["OK"])]
    for (provider, status, note), group in problems.groupby(["provider", "status", "note"], dropna=False):
        console.print(f"[dim]{provider}: {status} in {len(group)} case(s): {escape(str(note))}[/]")


def _cell(value, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if column == "status":
        color = {"OK": "green", "INCORRECT": "red", "OOM": "yellow", "ERROR": "red"}.get(value, "dim")
        return f"[{color}]{value}[/]"
    if isinstance(value, float):
        if column in ("rel_err",):
            return f"{value:.1e}"
        if column in ("token_density", "compute_density", "sparsity"):
            return f"{value:.3f}"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _register_model_commands() -> None:
    from dashbench.model_commands import register

    register(app)


_register_model_commands()  # train, pareto, e2e (dashbench/model_commands.py)

from dashbench.dispersion.cli import app as dispersion_app  # noqa: E402

app.add_typer(dispersion_app, name="dispersion", help="Attention dispersion: needle weight, entropy and support vs context length per method (run, report).")  # noqa: E501

if __name__ == "__main__":  # pragma: no cover
    app()
