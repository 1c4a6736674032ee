"""A benchmark case: provider x mode x shape x dtype (x method knobs), and sweep expansion."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field

from dashbench.providers.registry import DTYPES, MODES


@dataclass(frozen=True)
class Shape:
    batch: int
    heads_q: int
    heads_kv: int
    seqlen: int  # keys in the cache (decode) or tokens in the sequence (prefill)
    head_dim: int

    def __post_init__(self):
        for name in ("batch", "heads_q", "heads_kv", "seqlen", "head_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.heads_q % self.heads_kv:
            raise ValueError(
                f"heads_q ({self.heads_q}) must be a multiple of heads_kv ({self.heads_kv})"
            )

    @property
    def gqa_ratio(self) -> int:
        return self.heads_q // self.heads_kv


@dataclass(frozen=True)
class Case:
    provider: str
    mode: str
    shape: Shape
    dtype: str
    knobs: tuple[tuple[str, object], ...] = field(default=())
    inputs: str = "random"  # the input generator (dashbench.harness.inputs.INPUTS)
    sparsity: float | None = None  # target sparsity of a sparse method; None: its default setting

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} not in {MODES}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r} not in {tuple(DTYPES)}")
        if self.sparsity is not None and not 0 < self.sparsity < 1:
            raise ValueError(f"a sparse case's target sparsity must be in (0, 1); got {self.sparsity}")

    @property
    def case_id(self) -> str:
        """Stable key used for resume and for matching cases across runs."""
        s = self.shape
        parts = [
            self.provider,
            self.mode,
            f"B{s.batch}",
            f"H{s.heads_q}/{s.heads_kv}",
            f"N{s.seqlen}",
            f"D{s.head_dim}",
            self.dtype,
        ]
        parts += [f"{k}={v}" for k, v in self.knobs]
        if self.inputs != "random":
            parts.append(f"inputs={self.inputs}")
        if self.sparsity is not None:
            parts.append(f"sparsity={self.sparsity:g}")
        return "|".join(parts)

    @property
    def shape_key(self) -> tuple:
        """Cases with equal keys run on the same input tensors and are compared with each other."""
        return (self.mode, self.shape, self.dtype, self.inputs)

    def columns(self) -> dict:
        out = {"provider": self.provider, "mode": self.mode, **asdict(self.shape), "dtype": self.dtype}
        out["knobs"] = ";".join(f"{k}={v}" for k, v in self.knobs)
        out["inputs"] = self.inputs
        out["sparsity"] = self.sparsity
        return out


def expand_sweep(
    providers: list[str],
    modes: list[str],
    seqlens: list[int],
    batches: list[int],
    heads: list[tuple[int, int]],
    head_dims: list[int],
    dtypes: list[str],
    sparsities: list[float] = (0.0,),
    inputs: list[str] = ("random",),
    sparse: frozenset[str] = frozenset(),
    chunk_sizes: list[int] = (64,),
    chunked: frozenset[str] = frozenset(),
) -> list[Case]:
    """Cartesian product, ordered so one shape's providers run back to back on the same inputs
    (the baseline is then timed next to the methods it is compared with).

    Sparsity 0 is the dense case: dense providers run once per shape and inputs. The providers
    named in ``sparse`` run once per non-zero target sparsity, or at their default setting when
    the sweep has none. The providers named in ``chunked`` (DashAttention's) run once per chunk
    size, as a ``chunk_size`` knob, when the sweep asks for other than the default 64."""
    targets = [s for s in dict.fromkeys(sparsities) if s != 0] or [None]
    chunk_sizes = list(dict.fromkeys(chunk_sizes))
    chunk_knobs = [()] if chunk_sizes == [64] else [(("chunk_size", c),) for c in chunk_sizes]

    def knobs(p):
        return chunk_knobs if p in chunked else [()]

    cases = []
    for mode, dtype, d, (hq, hkv), b, n, kind in itertools.product(
        modes, dtypes, head_dims, heads, batches, seqlens, inputs
    ):
        shape = Shape(b, hq, hkv, n, d)
        cases += [Case(p, mode, shape, dtype, kn, inputs=kind) for p in providers if p not in sparse
                  for kn in knobs(p)]  # fmt: skip
        cases += [Case(p, mode, shape, dtype, kn, inputs=kind, sparsity=t) for t in targets
                  for p in providers if p in sparse for kn in knobs(p)]  # fmt: skip
    return cases
