"""Run a sweep: for each case, check against the reference, then time, then write the row."""

from __future__ import annotations

import functools
import gc
import hashlib
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dashbench.console import make_console
from dashbench.harness.cases import Case
from dashbench.harness.correctness import check_against_reference
from dashbench.harness.flops import attention_flops, min_bytes
from dashbench.harness.inputs import make_qkv
from dashbench.harness.results import RunWriter
from dashbench.harness.status import Status
from dashbench.harness.timing import TimingConfig, peak_memory, time_fn
from dashbench.providers.registry import DTYPES, get_provider


@dataclass
class Inputs:
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    do: torch.Tensor | None  # upstream gradient, fwd+bwd only


def make_inputs(case: Case, device: str, seed: int = 0) -> Inputs:
    """Seeded inputs of the case's generator; every provider of one shape sees the same tensors.
    ``random`` is drawn on the device (fast at 128k); the others through
    :func:`dashbench.harness.inputs.make_qkv` (a decode step takes the last query)."""
    s = case.shape
    dtype = DTYPES[case.dtype]
    digest = hashlib.sha256(repr((seed, case.shape_key)).encode()).digest()
    case_seed = int.from_bytes(digest[:7], "little")
    g = torch.Generator(device=device).manual_seed(case_seed)
    n_q = 1 if case.mode == "decode" else s.seqlen

    def randn(*shape):
        return torch.randn(*shape, generator=g, device=device, dtype=dtype)

    if case.inputs == "random":
        q = randn(s.batch, s.heads_q, n_q, s.head_dim)
        k = randn(s.batch, s.heads_kv, s.seqlen, s.head_dim)
        v = randn(s.batch, s.heads_kv, s.seqlen, s.head_dim)
    else:
        q, k, v = make_qkv(case.inputs, s.batch, s.heads_q, s.heads_kv, s.seqlen, s.head_dim, dtype=dtype,
                           device=device, seed=case_seed)  # fmt: skip
        q = q[:, :, s.seqlen - n_q :].contiguous()
    do = None
    if case.mode == "fwd+bwd":
        q, k, v = (t.requires_grad_() for t in (q, k, v))
        do = randn(s.batch, s.heads_q, n_q, s.head_dim)
    return Inputs(q, k, v, do)


def repro_command(case: Case) -> str:
    s = case.shape
    return (
        f"dashbench kernel --providers {case.provider} --mode {case.mode} --seqlen {s.seqlen} "
        f"--batch {s.batch} --heads {s.heads_q}/{s.heads_kv} --head-dim {s.head_dim} "
        f"--dtype {case.dtype} --inputs {case.inputs}"
        + "".join(f" --{k.replace('_', '-')} {v}" for k, v in case.knobs)
        + (f" --sparsity {case.sparsity:g}" if case.sparsity is not None else "")
    )


def _is_oom(exc: BaseException) -> bool:
    # Triton and some libraries raise a plain RuntimeError for CUDA out-of-memory.
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def run_case(case: Case, inputs: Inputs, device: str, timing: TimingConfig) -> dict:
    """Everything about one case except writing it. Never raises for a provider's failure."""
    provider = get_provider(case.provider)
    s = case.shape
    row = {
        **case.columns(),
        "case_id": case.case_id,
        "family": provider.family,
        "backend": provider.backend,
        "impl": provider.probe().impl,
        "device": device,
        "repro": repro_command(case),
    }
    refusal = provider.refusal(case.mode, device, case.dtype, s.head_dim, s.gqa_ratio)
    if refusal:
        available = provider.probe().available
        return {**row, "status": (Status.UNSUPPORTED if available else Status.UNAVAILABLE).value,
                "note": refusal}  # fmt: skip

    q, k, v, do = inputs.q, inputs.k, inputs.v, inputs.do
    grads = [q, k, v] if case.mode == "fwd+bwd" else None
    setting = {}
    try:
        notes = [provider.notes(case.mode, q, k)]
        setting = dict(case.knobs)  # e.g. DashAttention's chunk size
        if case.sparsity is not None:
            with warnings.catch_warnings(record=True) as caught:  # e.g. a target out of reach
                warnings.simplefilter("always")
                setting = {**setting, **provider.configure(case.mode, q, k, v, case.sparsity, **setting)}
            notes += [str(w.message) for w in caught]
        row["note"] = "; ".join(filter(None, notes))
        row["setting"] = ";".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                                  for key, value in setting.items())  # fmt: skip
        fwd = provider.prepare(case.mode, q, k, v, **setting)
        reference = functools.partial(provider.reference, **setting)
        if case.mode == "fwd+bwd":

            def fn():
                fwd().backward(do)

            for t in (q, k, v):
                t.grad = None
            out = fwd()
            out.backward(do)
            result = check_against_reference(out.detach(), q, k, v, case.dtype, do, q.grad,
                                             reference=reference)  # fmt: skip
        else:
            fn = fwd
            with torch.no_grad():
                out = fwd()
            result = check_against_reference(out, q, k, v, case.dtype, reference=reference)
        del out
        row.update(rel_err=result.rel_err, tol=result.tol,
                   rel_err_grad=result.rel_err_grad, tol_grad=result.tol_grad)  # fmt: skip
        if not result.passed:
            return {**row, "status": Status.INCORRECT.value}

        with torch.no_grad() if grads is None else torch.enable_grad():
            row["peak_mem_mib"], row["extra_mem_mib"] = peak_memory(fn, device)
            t = time_fn(fn, device, timing, grad_to_none=grads)
        if provider.family != "dense":  # measured, untimed: what the target turned into
            row.update(provider.density(case.mode, q, k, v, **setting))
    except Exception as exc:  # noqa: BLE001 - a failing provider must not end the sweep
        status = Status.OOM if _is_oom(exc) else Status.ERROR
        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        note = "; ".join(filter(None, [row.get("note"), f"{type(exc).__name__}: {message}"]))
        return {**row, "status": status.value, "note": note}
    finally:
        if grads:
            for x in grads:
                x.grad = None

    seconds = t.median_ms * 1e-3
    row.update(
        status=Status.OK.value,
        ms=t.median_ms,
        ms_p20=t.p20_ms,
        ms_p80=t.p80_ms,
        timing=t.method,
        tflops=attention_flops(case) / seconds / 1e12,
        gbps=min_bytes(case) / seconds / 1e9 if case.mode == "decode" else None,
    )
    return row


def _free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def run_sweep(
    cases: Iterable[Case],
    writer: RunWriter,
    device: str,
    timing: TimingConfig = TimingConfig(),
    seed: int = 0,
    show_progress: bool = True,
    on_row: Callable[[dict], None] | None = None,
) -> None:
    """Run every case not already in ``writer`` (so the same call also resumes a run)."""
    done = writer.finished_case_ids()
    todo = [c for c in cases if c.case_id not in done]
    inputs_key, inputs = None, None
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]  # fmt: skip
    with Progress(*columns, console=make_console(), disable=not show_progress) as progress:
        task = progress.add_task("cases", total=len(todo))
        for case in todo:
            progress.update(task, description=f"{case.provider} {case.mode} N={case.shape.seqlen}")
            if case.shape_key != inputs_key:
                inputs = None
                _free(device)
                try:
                    inputs = make_inputs(case, device, seed)
                    inputs_key = case.shape_key
                except Exception as exc:  # noqa: BLE001
                    if not _is_oom(exc):
                        raise
                    inputs_key = None
            if inputs is None:
                row = {**case.columns(), "case_id": case.case_id, "device": device,
                       "status": Status.OOM.value, "note": "inputs do not fit",
                       "repro": repro_command(case)}  # fmt: skip
            else:
                row = run_case(case, inputs, device, timing)
            row["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            writer.append(row)
            if show_progress:
                progress.console.print(_summary_line(row), highlight=False, markup=False)
            if on_row:
                on_row(row)
            progress.advance(task)
            _free_if_oom(row, device)
    inputs = None
    _free(device)


def _summary_line(row: dict) -> str:
    """One line per finished case, printed above the bar (and readable in a log file)."""
    shape = f"B{row['batch']} H{row['heads_q']}/{row['heads_kv']} N{row['seqlen']} D{row['head_dim']}"
    text = f"{row['provider']:<11} {row['mode']:<7} {shape:<24} {row['dtype']:<5} {row['status']:<11}"
    if row["status"] == Status.OK.value:
        text += f" {row['ms']:10.4f} ms  rel_err {row['rel_err']:.1e}"
    elif row.get("note"):
        text += f" {str(row['note'])[:90]}"
    return text


def _free_if_oom(row: dict, device: str) -> None:
    if row.get("status") == Status.OOM.value:
        _free(device)
