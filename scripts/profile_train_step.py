"""Where a training step of the Pareto model goes (issue 6's slow sparse training): wall time per
step, GPU kernel time per step (torch profiler) and the top host functions (cProfile), per method,
at the fine-tune's shape (8k tokens, batch 4, from the committed dense checkpoint).

    python scripts/profile_train_step.py --out $OUT
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
from pathlib import Path

import torch

from dashbench.tasks import VOCAB
from dashbench.training import (Stage, TrainConfig, _converted, bf16_autocast, calibrate_scaling_in_model,
                                knob_for_stage, training_batch)
from dashbench.models import settings_of
from dashbench.models.config import store_settings
from profiling import kernel_times  # scripts/profiling.py

INIT = "results/reference/h100-pareto/scratch-a0f4564/dense"


def profile_method(method: str, steps: int, stage: Stage, device: str = "cuda") -> dict:
    cfg = TrainConfig(method=method, tasks=("mqar", "niah"), stages=(stage,), init_from=INIT, lr=3e-4)
    model = _converted(cfg, stage.seqlen).to(device)
    store_settings(model.config, knob_for_stage(settings_of(model.config), cfg.target_sparsity, stage.seqlen))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    autocast = bf16_autocast(device)
    batches = [training_batch(cfg, i, stage, VOCAB, device) for i in range(steps)]
    if method == "dash":  # as training does: scaling calibrated to the target on a batch
        with autocast:
            calibrate_scaling_in_model(model, batches[0].input_ids, 1 - cfg.target_sparsity)

    def step(i=0):
        with autocast:
            out = model(input_ids=batches[i % steps].input_ids, labels=batches[i % steps].labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    sync()
    wall_ms = (time.perf_counter() - t0) / steps * 1e3
    kernels = kernel_times(step, reps=3) if device == "cuda" else {}
    prof = cProfile.Profile()
    prof.enable()
    for i in range(3):
        step(i)
    sync()
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(30)
    return dict(method=method, seqlen=stage.seqlen, batch=stage.batch, wall_ms_per_step=wall_ms,
                kernel_ms_per_step=sum(kernels.values()), top_kernels_ms=dict(list(kernels.items())[:8]),
                tokens_per_s=stage.seqlen * stage.batch / wall_ms * 1e3, cprofile_3_steps=text.getvalue())  # fmt: skip


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    ap.add_argument("--methods", default="dense,dash,nsa,infllmv2")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seqlen", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    rows = []
    for method in args.methods.split(","):
        try:
            row = profile_method(method, args.steps, Stage(args.seqlen, args.batch, args.steps), args.device)
        except Exception as e:  # one method's failure must not hide the others' numbers
            rows.append(dict(method=method, error=f"{type(e).__name__}: {e}"))
            print(json.dumps(rows[-1]), flush=True)
            continue
        rows.append(row)
        print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()
                          if k not in ("cprofile_3_steps", "top_kernels_ms")}), flush=True)  # fmt: skip
        print("\n".join(row["cprofile_3_steps"].splitlines()[:45]), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "profile_train_step.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
