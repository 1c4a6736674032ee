"""What machine and software a run happened on: for `dashbench env` and every run's env.json."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

import dashbench
from dashbench.providers.registry import all_providers


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=cwd, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def git_commit() -> str:
    """Commit of the dashbench source tree, with ``+dirty`` when it has uncommitted changes.

    ``DASHBENCH_GIT_COMMIT``, when set, says it: a tree copied to a lent GPU carries a stale
    .git (its HEAD is an older commit, and the copied files make it look dirty)."""
    if os.environ.get("DASHBENCH_GIT_COMMIT"):
        return os.environ["DASHBENCH_GIT_COMMIT"]
    src = Path(dashbench.__file__).resolve().parent.parent
    commit = _run(["git", "rev-parse", "--short=12", "HEAD"], cwd=src)
    if not commit:
        return os.environ.get("DASHBENCH_GIT_COMMIT", "")
    if commit and _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=src):
        commit += "+dirty"
    return commit


def machine() -> dict:
    info = {
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": _cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "",
        "triton": _version("triton"),
        "dashbench": dashbench.__version__,
        "git_commit": git_commit(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=props.name,
            gpu_count=torch.cuda.device_count(),
            sms=props.multi_processor_count,
            gpu_memory_gib=round(props.total_memory / 1024**3, 1),
            compute_capability=f"{props.major}.{props.minor}",
            driver=_run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
            .splitlines()[:1],
        )
        info["driver"] = info["driver"][0] if info["driver"] else ""
    return info


def providers_table() -> list[dict]:
    rows = []
    for p in all_providers():
        probe = p.probe()
        caps = p.caps()
        rows.append(
            {
                "name": p.name,
                "family": p.family,
                "backend": p.backend,
                "available": probe.available,
                "impl_or_reason": probe.impl if probe.available else probe.reason,
                "modes": sorted(caps.modes),
                "devices": sorted(caps.devices),
                "dtypes": sorted(caps.dtypes),
                "head_dims": "any" if caps.head_dims is None else _ranges(sorted(caps.head_dims)),
            }
        )
    return rows


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["dashbench", *sys.argv[1:]])


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001
        return ""


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _ranges(values: list[int]) -> str:
    """[8, 16, ..., 256] -> '8..256 step 8'; short lists are listed."""
    if len(values) > 4:
        steps = {b - a for a, b in zip(values, values[1:])}
        if len(steps) == 1:
            return f"{values[0]}..{values[-1]} step {steps.pop()}"
    return ",".join(map(str, values))
