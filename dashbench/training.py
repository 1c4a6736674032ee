"""``dashbench train``: a small Llama-architecture model per attention method, from scratch, on
the offline synthetic tasks (``dashbench.tasks``).

Every method sees the same initial weights (one seed), the same batches in the same order
(batch ``i`` is generated from seed ``seed * 1_000_003 + i``; evaluation uses another range)
and the same schedule. The schedule is a length curriculum (:data:`DEFAULT_STAGES`): long-range
retrieval is learnt at short lengths first, where it is cheap, then carried to the target
length (``init_from`` instead fine-tunes a trained checkpoint, converted to the method, on the
same schedule). The sparse methods train at a stated target sparsity:

- InfLLMv2 and NSA: ``topk`` set per stage from the length (``dashbench.sparsity``), so the
  prefill's mean token density is the target (or the closest the forced blocks allow);
- DashAttention: ``scaling`` is calibrated at the start of each stage (bisection on the
  stage's first batch) and then steered every ``steer_every`` steps by the density measured on
  the current batch (``scaling *= density / target``, at most 1.5x a step: density falls as
  scaling grows), since a fixed scaling gives a density that drifts as q and k learn. At short
  lengths a target may be out of reach (few chunks); the log shows the density reached.

The log (``train_log.csv``) records, per logged step, the task, the loss, the accuracy on the
batch's questions (teacher-forced, before the step's update; for ``copy``, its token accuracy),
the
measured density, the knob and the throughput (which, for the sparse methods, includes the
forward passes that measure and steer the density).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from dashbench.models.config import SparseAttentionConfig, settings_of, store_settings

TRAIN_SEED_STRIDE = 1_000_003
# DashAttention's scaling while training and evaluating: past ~1e3 routing is a hard argmax
# whose gradients vanish; a target out of reach at a short length stops at the bound
SCALING_RANGE = (1e-3, 1e3)
# evaluation only sets the knob: up to a hard argmax (one routed chunk and the diagonal), the
# sparsest DashAttention gets (at 8k, the training range stopped at 0.88 sparsity)
EVAL_SCALING_RANGE = (1e-3, 1e5)
EVAL_SEED_BASE = 10**9  # held-out examples: seeds no training batch uses


def task_knobs(task: str, seqlen: int) -> dict:
    """Task knobs for training and evaluation at ``seqlen``: from 512 tokens on, a question for
    each of 32 mqar pairs and 8 niah needles of 4 tokens (32 answer tokens a sequence); shorter
    sequences hold fewer (``seqlen / 16`` pairs, ``seqlen / 32`` needles). With a few answers a
    sequence a small model did not learn to retrieve within the budget."""
    if task == "mqar":
        n = min(32, max(4, seqlen // 16))
        return {"n_pairs": n, "n_queries": n}
    if task == "niah":
        n = min(8, max(2, seqlen // 32))
        return {"n_needles": n, "n_questions": n}
    return {}


@dataclass(frozen=True)
class Stage:
    seqlen: int
    batch: int
    steps: int


# Sized for a dense model in under five minutes on an H100 (2 layers: 278 s while three sparse
# models trained beside it; those took over 8.7 min, see results/reference/h100-pareto). The
# sparse methods learn better fine-tuned from the dense model (``init_from``). The first stage
# is short: there the induction circuit retrieval needs forms (on the CPU at 64 tokens, copy +
# mqar jumped from 12% to 90% of questions around step 1200; at 512 tokens nothing formed in
# 3600 steps); the later stages carry it to the evaluation length.
DEFAULT_STAGES = (Stage(128, 256, 3000), Stage(512, 64, 800), Stage(2048, 16, 400), Stage(8192, 8, 300))


@dataclass
class TrainConfig:
    method: str = "dense"
    target_sparsity: float = 0.75
    tasks: tuple[str, ...] = ("copy", "spans", "mqar", "niah")  # cycled by step
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    lr: float = 1e-3
    layers: int = 2  # decoder layers of the tiny model (4 did not learn retrieval)
    warmup: int = 100
    weight_decay: float = 0.01
    seed: int = 0
    steer_every: int = 25
    log_every: int = 25
    max_seconds: float | None = None  # stop early (and say so) past this wall time
    # start from this checkpoint's weights, converted to ``method`` (its new parameters set as
    # in training-free conversion), instead of a fresh model: sparse fine-tuning of a dense model
    init_from: str | None = None
    # DashAttention's prior temperature (None: the settings' or the init checkpoint's). 1 is the
    # full prior and trains the router; 1e6 flattens it (the router then barely learns)
    dash_sigma: float | None = None
    settings: SparseAttentionConfig = field(default_factory=SparseAttentionConfig)

    def check(self) -> TrainConfig:
        from dashbench.tasks import task_names

        replace(self.settings, method=self.method).check()
        if not 0 <= self.target_sparsity < 1:
            raise ValueError(f"target sparsity must be in [0, 1); got {self.target_sparsity}")
        known = [*task_names(), *WARMUP_TASKS]
        unknown = [t for t in self.tasks if t not in known]
        if unknown or not self.tasks:
            raise ValueError(f"unknown tasks {unknown or '(none given)'}; choose from {', '.join(known)}")
        if self.dash_sigma is not None and not (0 < self.dash_sigma < math.inf):
            raise ValueError(f"dash_sigma must be positive and finite; got {self.dash_sigma}")
        if self.layers < 1:
            raise ValueError(f"layers must be >= 1; got {self.layers}")
        if not self.stages or any(s.seqlen < 64 or s.batch < 1 or s.steps < 1 for s in self.stages):
            raise ValueError("each stage needs seqlen >= 64, batch >= 1 and steps >= 1")
        return self

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)


def copy_batch(n: int, seqlen: int, seed: int, vocab, device, *, span: int | None = None):
    """The ``copy`` warm-up: a random filler segment, a gap of random length, then the segment
    again; loss on the repetition (from its second token). Every repeated token is an
    induction step (find the earlier occurrence of the current token, copy its successor), the
    circuit the retrieval tasks need, with a dense signal: the sparse answers of mqar and niah
    alone left a small model guessing among the context's values. The gap varies per row, so
    a fixed positional offset cannot solve it (with a fixed one, the model learnt the offset
    and the skill did not carry over to retrieval).

    With ``span`` (the ``spans`` task) the repeat is the segment's spans of ``span`` tokens in
    a shuffled order, scored from each span's second token: after one lookup a model cannot go
    on copying by relative position, every span needs a fresh lookup, as every mqar question
    does."""
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(seed)
    S = (seqlen - 1) // 2
    if span:
        S = max(span, S // span * span)
    seg = torch.randint(vocab.filler.start, vocab.filler.stop, (n, S), generator=g)
    noise = torch.randint(vocab.filler.start, vocab.filler.stop, (n, seqlen), generator=g)
    gap = torch.randint(0, max(1, S // 2), (n, 1), generator=g)  # the repeat's end may fall off
    p = torch.arange(seqlen)[None, :].expand(n, -1)
    in_seg = (p >= 1) & (p < 1 + S)  # then the gap (noise), then the repeat
    r = p - 1 - S - gap  # position within the repeat
    rep = (r >= 0) & (r < S)
    if span:
        order = torch.argsort(torch.rand(n, S // span, generator=g), dim=1)  # a shuffle per row
        j = (r.clamp(0, S - 1) // span)
        src_rep = order.gather(1, j) * span + r.clamp(0, S - 1) % span
        first = r % span == 0
    else:
        src_rep, first = r, r == 0  # the first repeated token follows a gap token: unpredictable
    src = torch.where(in_seg, p - 1, torch.where(rep, src_rep, 0)).clamp(0, S - 1)
    ids = torch.where(in_seg | rep, seg.gather(1, src), noise)
    ids[:, 0] = vocab.bos
    answer = rep & ~first
    labels = torch.where(answer, ids, torch.full_like(ids, -100))
    return SimpleNamespace(input_ids=ids.to(device), labels=labels.to(device), answer_mask=answer.to(device),
                           task="spans" if span else "copy", seqlen=seqlen)  # fmt: skip


WARMUP_TASKS = ("copy", "spans")
SPAN = 4  # tokens per span of the ``spans`` warm-up


def training_batch(cfg: TrainConfig, step: int, stage: Stage, vocab, device):
    """Batch ``step``: the same for every method. Tasks alternate by step."""
    from dashbench.tasks import generate

    task = cfg.tasks[step % len(cfg.tasks)]
    if task in WARMUP_TASKS:
        return copy_batch(stage.batch, stage.seqlen, cfg.seed * TRAIN_SEED_STRIDE + step, vocab, device,
                          span=SPAN if task == "spans" else None)  # fmt: skip
    return generate(task, stage.batch, stage.seqlen, seed=cfg.seed * TRAIN_SEED_STRIDE + step, device=device,
                    vocab=vocab, **task_knobs(task, stage.seqlen))  # fmt: skip


def knob_for_stage(settings: SparseAttentionConfig, target: float, seqlen: int) -> SparseAttentionConfig:
    """The top-k methods' ``topk`` for ``target`` sparsity at this length (Dash: unchanged,
    it is calibrated on inputs). Target 0 means dense: every block, or DashAttention's lowest
    ``scaling`` (a flat prior over every chunk)."""
    import warnings

    from dashbench.sparsity import topk_for_sparsity

    if target == 0 and settings.method in ("infllmv2", "nsa"):
        return replace(settings, topk=max(-(-seqlen // settings.block_size), settings.topk)).check()
    if target == 0 and settings.method == "dash":
        return replace(settings, scaling=SCALING_RANGE[0]).check()
    if settings.method not in ("infllmv2", "nsa"):
        return settings
    forced = settings.init_blocks + settings.local_blocks + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unreachable targets are visible in the logged density
        topk = topk_for_sparsity(target, seqlen, settings.block_size, min_topk=forced)
    return replace(settings, topk=max(topk, forced)).check()


def measured_density(model, input_ids) -> float:
    from dashbench.models.attention import record_density

    with torch.no_grad(), record_density() as log:
        model(input_ids=input_ids, logits_to_keep=1)
    return log.mean


def steer_scaling(scaling: float, density: float, target_density: float, *, max_factor: float = 1.5) -> float:
    """One step of DashAttention's density controller (density falls as scaling grows), at most
    ``max_factor`` either way, within :data:`SCALING_RANGE`."""
    ratio = max(density, 1e-4) / max(target_density, 1e-4)
    ratio = min(max(ratio, 1 / max_factor), max_factor)
    return float(min(max(scaling * ratio, SCALING_RANGE[0]), SCALING_RANGE[1]))


def calibrate_scaling_in_model(model, input_ids, target_density: float, *, iters: int = 10,
                               tol: float = 0.01, bounds: tuple[float, float] = SCALING_RANGE) -> tuple[float, float]:  # fmt: skip
    """DashAttention's ``scaling`` for ``target_density`` on ``input_ids`` (bisection in log
    space over ``bounds``, the model's own forward as the measure); sets it and
    returns ``(scaling, density)``. An unreachable target ends at the range's nearer end."""
    settings = settings_of(model.config)

    def density(log_s: float) -> float:
        store_settings(model.config, replace(settings, scaling=math.exp(log_s)))
        return measured_density(model, input_ids)

    lo, hi = (math.log(x) for x in bounds)
    best = None
    for _ in range(iters):
        mid = (lo + hi) / 2
        d = density(mid)
        if best is None or abs(d - target_density) < abs(best[1] - target_density):
            best = (mid, d)
        if abs(d - target_density) <= tol:
            break
        lo, hi = (mid, hi) if d > target_density else (lo, mid)
    store_settings(model.config, replace(settings, scaling=math.exp(best[0])))
    return math.exp(best[0]), best[1]


def bf16_autocast(device: str):
    """bf16 autocast on a GPU (the kernels' dtype); a disabled one elsewhere (the references
    run in fp32)."""
    if str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _lr(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.total_steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _converted(cfg: TrainConfig, max_len: int):
    """``cfg.init_from``'s model as ``cfg.method`` (the checkpoint's settings, its new
    parameters initialised as in training-free conversion), in fp32: the optimizer's master
    weights."""
    from dashbench.models.checkpoint import load_checkpoint, saved_settings

    saved = saved_settings(cfg.init_from)
    if saved.method not in ("dense", cfg.method):
        raise ValueError(f"--init-from {cfg.init_from} is a {saved.method} checkpoint; start {cfg.method} from "
                         f"a dense one or a {cfg.method} one")  # fmt: skip
    knobs = {"sigma": cfg.dash_sigma} if cfg.dash_sigma is not None and cfg.method == "dash" else {}
    model = load_checkpoint(cfg.init_from, method=cfg.method, dtype=torch.float32, **knobs)
    if model.config.max_position_embeddings < max_len:
        model.config.max_position_embeddings = max_len
    return model


def train(cfg: TrainConfig, out_dir: Path, *, device: str, progress=None, vocab=None) -> dict:
    """Train one model; write ``out_dir`` (checkpoint, ``train_log.csv``, ``train.json``) and
    return the summary."""
    import pandas as pd

    from dashbench.models.checkpoint import save_checkpoint
    from dashbench.models.tiny import build_model, tiny_config
    from dashbench.tasks import VOCAB
    from dashbench.tasks.scoring import question_exact_match

    cfg.check()
    vocab = vocab or VOCAB
    max_len = max(s.seqlen for s in cfg.stages)
    settings = replace(cfg.settings, method=cfg.method)
    if cfg.dash_sigma is not None and cfg.method == "dash":
        settings = replace(settings, sigma=cfg.dash_sigma)
    if cfg.init_from:
        model = _converted(cfg, max_len).to(device)
    else:
        config = tiny_config(vocab.size, max_positions=max(max_len, 4096), num_hidden_layers=cfg.layers)
        model = build_model(config, settings, seed=cfg.seed).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    autocast = bf16_autocast(device)
    target_density = 1 - cfg.target_sparsity if cfg.method != "dense" else 1.0
    rows, step, t0 = [], 0, time.perf_counter()
    task_id = progress.add_task(f"train {cfg.method}", total=cfg.total_steps) if progress else None
    stopped_at = None
    for stage in cfg.stages:
        if stopped_at is not None:
            break
        store_settings(model.config, knob_for_stage(settings_of(model.config), cfg.target_sparsity, stage.seqlen))
        if cfg.method == "dash" and cfg.target_sparsity > 0:  # each length starts calibrated
            with autocast:
                calibrate_scaling_in_model(model, training_batch(cfg, step, stage, vocab, device).input_ids,
                                           target_density)  # fmt: skip
        tokens, t_stage = 0, time.perf_counter()
        for _ in range(stage.steps):
            if cfg.max_seconds is not None and time.perf_counter() - t0 > cfg.max_seconds:
                stopped_at = step
                break
            batch = training_batch(cfg, step, stage, vocab, device)
            for group in opt.param_groups:
                group["lr"] = _lr(step, cfg)
            with autocast:
                out = model(input_ids=batch.input_ids, labels=batch.labels)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            tokens += batch.input_ids.numel()
            s = settings_of(model.config)
            density = None
            if cfg.method == "dash" and cfg.target_sparsity > 0 and step % cfg.steer_every == 0:
                with autocast:
                    density = measured_density(model, batch.input_ids)
                store_settings(model.config, replace(s, scaling=steer_scaling(s.scaling, density, target_density)))
            last = step == cfg.total_steps - 1 or (cfg.max_seconds is not None
                                                   and time.perf_counter() - t0 > cfg.max_seconds)  # fmt: skip
            if step % cfg.log_every == 0 or last:
                if density is None and cfg.method != "dense":
                    with autocast:
                        density = measured_density(model, batch.input_ids)
                if batch.task in WARMUP_TASKS:  # the warm-up: token accuracy on the repetition
                    hits = out.logits.detach()[:, :-1].argmax(-1) == batch.input_ids[:, 1:]
                    acc = float(hits[batch.answer_mask[:, 1:]].float().mean())
                else:
                    right, asked = question_exact_match(out.logits.detach(), batch)
                    acc = right / asked
                rate = tokens / max(1e-9, time.perf_counter() - t_stage)
                rows.append(dict(step=step, task=batch.task, seqlen=stage.seqlen, batch=stage.batch, loss=out.loss.item(),
                                 question_accuracy=acc, token_density=1.0 if density is None else density,
                                 knob=s.knob, knob_value=s.knob_value, lr=_lr(step, cfg), tokens_per_s=rate,
                                 elapsed_s=time.perf_counter() - t0))  # fmt: skip
                if progress:
                    progress.update(task_id, description=f"train {cfg.method} L={stage.seqlen} loss {out.loss.item():.3f} "
                                    f"acc {acc:.2f} dens {rows[-1]['token_density']:.2f} {rate / 1e3:.0f}k tok/s")  # fmt: skip
            step += 1
            if progress:
                progress.advance(task_id)
    if not rows:
        raise ValueError(f"the time budget ({cfg.max_seconds:g} s) ended before the first step")
    out_dir = Path(out_dir)
    save_checkpoint(model, out_dir)
    pd.DataFrame(rows).to_csv(out_dir / "train_log.csv", index=False)
    summary = dict(method=cfg.method, target_sparsity=cfg.target_sparsity if cfg.method != "dense" else 0.0,
                   final=next((r for r in reversed(rows) if r["task"] not in WARMUP_TASKS), rows[-1]),
                   seconds=time.perf_counter() - t0, steps_run=step,
                   stopped_early=None if stopped_at is None else f"time budget {cfg.max_seconds:g} s reached at step {stopped_at} of {cfg.total_steps}",
                   parameters=sum(p.numel() for p in model.parameters()),
                   checkpoint_bytes=(out_dir / "model.safetensors").stat().st_size,
                   config={**asdict(cfg), "settings": settings_of(model.config).to_dict()})  # fmt: skip
    (out_dir / "train.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
