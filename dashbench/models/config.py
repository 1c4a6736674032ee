"""Which attention a model runs and with which knobs, stored in the checkpoint's ``config.json``.

The settings live under one key of the Hugging Face config (:data:`CONFIG_KEY`), so a
checkpoint says how it was trained and ``dashbench pareto`` can change the knob without
touching the weights. Each method has one sparsity knob (:data:`KNOBS`): DashAttention's
``scaling`` multiplies its routing scores; InfLLMv2 and NSA keep ``topk`` blocks.

The top-k methods default to a small-model configuration, not their papers' 8k-and-up one:
at 8k tokens the papers' 16 forced local blocks alone hold 14% of the keys, so a sweep to 95%
sparsity could not be run. Here each keeps its first block, one local block and its own
(``init_blocks=1, local_blocks=1``), and NSA a 128-token window; every field can be set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

METHODS = ("dense", "dash", "nsa", "infllmv2")
KNOBS = {"dash": "scaling", "nsa": "topk", "infllmv2": "topk"}
CONFIG_KEY = "dashbench_attention"


@dataclass(frozen=True)
class SparseAttentionConfig:
    method: str = "dense"
    # DashAttention
    chunk_size: int = 64
    scaling: float = 1.0
    sigma: float = 1.0
    # InfLLMv2 and NSA
    block_size: int = 64
    topk: int = 16
    init_blocks: int = 1
    local_blocks: int = 1
    cmp_size: int = 32
    cmp_stride: int = 16
    # NSA only: sliding window and compression map ("mlp": the DashAttention authors' NSA,
    # a per-channel MLP of a few thousand parameters instead of the paper's l*D x D matrices)
    window: int = 128
    compression: str = "mlp"
    mlp_hidden: int = 16

    def check(self) -> SparseAttentionConfig:
        if self.method not in METHODS:
            raise ValueError(f"attention method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if self.chunk_size not in (32, 64, 128):
            raise ValueError(f"DashAttention chunk_size must be 32, 64 or 128; got {self.chunk_size}")
        if not self.scaling > 0 or not self.sigma > 0:
            raise ValueError(f"DashAttention scaling and sigma must be positive; got {self.scaling}, {self.sigma}")
        if self.method == "infllmv2":
            self.infllmv2().check()
        if self.method == "nsa":
            self.nsa().check()
        return self

    @property
    def knob(self) -> str | None:
        """The sparsity knob's name (None for dense attention)."""
        return KNOBS.get(self.method)

    @property
    def knob_value(self) -> float | None:
        return None if self.knob is None else getattr(self, self.knob)

    def with_knob(self, value: float) -> SparseAttentionConfig:
        if self.knob is None:
            raise ValueError("dense attention has no sparsity knob")
        value = int(round(value)) if self.knob == "topk" else float(value)
        return replace(self, **{self.knob: value}).check()

    def infllmv2(self):
        from dashbench.kernels.reference.infllmv2 import InfLLMv2Config

        return InfLLMv2Config(block_size=self.block_size, kernel_size=self.cmp_size, kernel_stride=self.cmp_stride,
                              init_blocks=self.init_blocks, local_blocks=self.local_blocks, topk=self.topk)  # fmt: skip

    def nsa(self):
        from dashbench.kernels.reference.nsa import NSAConfig

        return NSAConfig(block_size=self.block_size, cmp_size=self.cmp_size, cmp_stride=self.cmp_stride,
                         topk=self.topk, init_blocks=self.init_blocks, local_blocks=self.local_blocks,
                         window=self.window, score="sum", compression=self.compression,
                         mlp_hidden=self.mlp_hidden)  # fmt: skip

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None, source: str = "config") -> SparseAttentionConfig:
        """From ``config.json``'s :data:`CONFIG_KEY` (None: dense). Unknown keys and wrong types
        are errors naming the key, not silently dropped."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"{source}: {CONFIG_KEY} must be a mapping; got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"{source}: unknown {CONFIG_KEY} keys {unknown}; known: {sorted(known)}")
        values = {}
        for name, value in data.items():
            want = type(getattr(cls(), name))
            ok = isinstance(value, want) or (want is float and isinstance(value, int) and not isinstance(value, bool))
            if not ok or (want is int and isinstance(value, bool)):
                raise ValueError(f"{source}: {CONFIG_KEY}.{name} must be {want.__name__}; got {value!r}")
            values[name] = want(value)
        return cls(**values).check()


_PARSED: dict[int, tuple[dict, SparseAttentionConfig]] = {}


def settings_of(config) -> SparseAttentionConfig:
    """The attention settings of a Hugging Face config (dense when it has none). Parsed once per
    stored dict (every layer call asks; :func:`store_settings` always stores a new dict)."""
    data = getattr(config, CONFIG_KEY, None)
    hit = _PARSED.get(id(data))
    if hit is not None and hit[0] is data:
        return hit[1]
    settings = SparseAttentionConfig.from_dict(data, source="model config")
    if len(_PARSED) > 256:
        _PARSED.clear()
    _PARSED[id(data)] = (data, settings)  # holding data keeps its id from being reused
    return settings


def store_settings(config, settings: SparseAttentionConfig) -> None:
    setattr(config, CONFIG_KEY, settings.check().to_dict())
