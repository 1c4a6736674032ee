"""Task accuracy and measured sparsity of a model at one setting of its attention knob.

Accuracy is exact match under teacher forcing on held-out generated questions
(``dashbench.tasks`` with the training knobs; seeds from ``EVAL_SEED_BASE`` on, which no
training batch uses): a question counts when every one of its answer tokens is the model's
argmax, which is what greedy decoding would produce. Each accuracy comes with its question
count and a 95% Wilson interval.

Sparsity is ``1 - token density``, measured on the same forward passes: the mean over every
attention call (layers, batch, KV heads, tokens) of the density its selection reached
(``dashbench.models.attention.record_density``). Dense attention has density 1.

Setting a target sparsity: InfLLMv2 and NSA get ``topk`` from the length; DashAttention's
``scaling`` is found by bisection in log space on a calibration batch (held out as well),
because its density depends on the inputs and on the learnt weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dashbench.models.config import settings_of, store_settings
from dashbench.training import (
    EVAL_SCALING_RANGE,
    EVAL_SEED_BASE,
    bf16_autocast,
    calibrate_scaling_in_model,
    knob_for_stage,
    task_knobs,
)

CALIBRATION_SEED = EVAL_SEED_BASE - 1


@dataclass
class Evaluation:
    task: str
    seqlen: int
    examples: int
    correct: int
    accuracy: float
    lo: float
    hi: float
    token_density: float

    @property
    def sparsity(self) -> float:
        return 1 - self.token_density


def evaluate(model, task: str, seqlen: int, examples: int, *, batch: int = 8, seed: int = 0, progress=None,
             task_id=None) -> Evaluation:  # fmt: skip
    """Exact match of ``model`` on the questions of ``examples`` held-out sequences of ``task``
    at ``seqlen`` (``Evaluation.examples`` counts questions)."""
    from dashbench.models.attention import record_density
    from dashbench.tasks import generate, wilson_interval
    from dashbench.tasks.scoring import question_exact_match

    from dashbench.tasks import VOCAB

    if examples < 1 or batch < 1:
        raise ValueError(f"examples and batch must be >= 1; got {examples}, {batch}")
    if model.config.vocab_size < VOCAB.size:
        raise ValueError(f"the model's vocabulary ({model.config.vocab_size} ids) is smaller than the tasks' "
                         f"({VOCAB.size}): evaluate checkpoints trained with `dashbench train`, or ones "
                         f"whose embeddings cover the task ids")  # fmt: skip
    device = next(model.parameters()).device
    correct, asked, densities, done, i = 0, 0, [], 0, 0
    while done < examples:
        n = min(batch, examples - done)
        data = generate(task, n, seqlen, seed=EVAL_SEED_BASE + seed * 100_003 + i, device=device,
                        **task_knobs(task, seqlen))  # fmt: skip
        with torch.no_grad(), bf16_autocast(device.type), record_density() as log:
            logits = model(input_ids=data.input_ids).logits
        right, total = question_exact_match(logits, data)
        correct, asked = correct + right, asked + total
        densities.append((log.mean if log.densities else 1.0) * n)  # weighted by sequences
        done, i = done + n, i + 1
        if progress is not None and task_id is not None:
            progress.advance(task_id, n)
    lo, hi = wilson_interval(correct, asked)
    return Evaluation(task, seqlen, asked, correct, correct / asked, lo, hi, sum(densities) / done)


def set_sparsity(model, target: float, seqlen: int, *, task: str = "mqar", calib_examples: int = 4,
                 tol: float = 0.01, max_iter: int = 14) -> float:  # fmt: skip
    """Set the model's knob for ``target`` sparsity at ``seqlen``; returns the knob value. Dense
    models ignore it (their sparsity is 0)."""
    from dashbench.tasks import generate

    settings = settings_of(model.config)
    if settings.method == "dense":
        return float("nan")
    if settings.method != "dash" or target == 0:
        settings = knob_for_stage(settings, target, seqlen)
        store_settings(model.config, settings)
        return float(settings.knob_value)
    device = next(model.parameters()).device
    data = generate(task, calib_examples, seqlen, seed=CALIBRATION_SEED, device=device, **task_knobs(task, seqlen))
    with bf16_autocast(device.type):
        scaling, _ = calibrate_scaling_in_model(model, data.input_ids, 1 - target, iters=max_iter, tol=tol,
                                                bounds=EVAL_SCALING_RANGE)  # fmt: skip
    return scaling


__all__ = ["Evaluation", "evaluate", "set_sparsity"]
