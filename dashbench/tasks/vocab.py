"""Token-id layout shared by the synthetic tasks (no tokenizer: models see these ids directly).

The default ``Vocab()`` (``VOCAB``) has 4096 ids, split into disjoint ranges::

    0 .. 15        special ids (16 reserved; 6..15 unused for now)
        0  pad      padding (never produced by the generators; free for collators)
        1  bos      first token of every sequence
        2  sep      reserved separator (not used by the current tasks)
        3  query    opens a question in the final query block
        4  needle   opens an evidence record (a key/value pair) in the haystack
        5  answer   reserved; not produced by the current generators (questions are
                    ``query key value...``: the answer tokens follow the key directly, and the
                    model predicts the first one at the key position)
    16 .. 527      keys      (n_keys = 512)   variable names / needle keys
    528 .. 1039    values    (n_values = 512) the tokens a model must retrieve
    1040 .. 4095   filler    (3056 ids)        i.i.d. uniform haystack tokens

The ranges are disjoint on purpose: a filler token can never be mistaken for a key, so the only
way to answer a question is to find the matching record far back in the context, and scoring can
check every answer token's range. Smaller or larger layouts are a matter of changing ``size``,
``n_keys`` and ``n_values`` (the filler gets whatever is left, at least one id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Vocab:
    """Id layout: ``N_SPECIAL`` special ids, then keys, then values, then filler up to ``size``."""

    size: int = 4096
    n_keys: int = 512
    n_values: int = 512

    N_SPECIAL: ClassVar[int] = 16
    pad: ClassVar[int] = 0
    bos: ClassVar[int] = 1
    sep: ClassVar[int] = 2
    query: ClassVar[int] = 3
    needle: ClassVar[int] = 4
    answer: ClassVar[int] = 5

    def __post_init__(self) -> None:
        for name in ("size", "n_keys", "n_values"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Vocab.{name} must be a positive int; got {value!r}")
        need = self.N_SPECIAL + self.n_keys + self.n_values + 1
        if self.size < need:
            raise ValueError(
                f"Vocab.size={self.size} is too small for {self.N_SPECIAL} special ids, "
                f"{self.n_keys} keys, {self.n_values} values and at least one filler id: "
                f"needs size >= {need}"
            )

    @property
    def specials(self) -> range:
        return range(0, self.N_SPECIAL)

    @property
    def keys(self) -> range:
        return range(self.N_SPECIAL, self.N_SPECIAL + self.n_keys)

    @property
    def values(self) -> range:
        start = self.keys.stop
        return range(start, start + self.n_values)

    @property
    def filler(self) -> range:
        return range(self.values.stop, self.size)

    def kind_of(self, token: int) -> str:
        """Which range ``token`` is in: ``special``, ``key``, ``value`` or ``filler``."""
        for kind, ids in (
            ("special", self.specials), ("key", self.keys),
            ("value", self.values), ("filler", self.filler),
        ):  # fmt: skip
            if token in ids:
                return kind
        raise ValueError(f"token {token} is outside the vocabulary [0, {self.size})")


VOCAB = Vocab()
