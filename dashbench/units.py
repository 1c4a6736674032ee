"""Human-readable sizes for the command line: ``128k``, ``4k,32k,128k``, ``1m``.

``k`` means 1024 and ``m`` means 1024**2 (sequence lengths are powers of two by habit,
and ``128k`` should mean 131072, the length every long-context paper quotes).
"""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+)\s*([kKmM]?)\s*$")
_MULTIPLIER = {"": 1, "k": 1024, "m": 1024**2}

SIZE_HELP = "a size like 4096, 8k or 1m (k = 1024, m = 1024*1024), or a comma list: 4k,32k,128k"


def parse_size(text: str) -> int:
    """Parse one size: ``'8k'`` -> 8192. Raises ``ValueError`` naming what is accepted."""
    match = _SIZE.match(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a size; expected {SIZE_HELP}")
    value = int(match.group(1)) * _MULTIPLIER[match.group(2).lower()]
    if value < 1:
        raise ValueError(f"{text!r} must be at least 1")
    return value


def parse_size_list(text: str) -> list[int]:
    """Parse ``'4k,32k,128k'`` into ``[4096, 32768, 131072]``, keeping order, dropping repeats."""
    parts = [p for p in str(text).split(",") if p.strip()]
    if not parts:
        raise ValueError(f"{text!r} names no size; expected {SIZE_HELP}")
    return list(dict.fromkeys(parse_size(p) for p in parts))


def parse_heads(text: str) -> tuple[int, int]:
    """Parse ``'32/8'`` (query heads / key-value heads) or ``'16'`` (same count for both)."""
    pieces = str(text).strip().split("/")
    try:
        if len(pieces) == 1:
            hq = hkv = int(pieces[0])
        elif len(pieces) == 2:
            hq, hkv = int(pieces[0]), int(pieces[1])
        else:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"{text!r} is not a head count; expected Hq/Hkv like 32/8, or one number like 16"
        ) from None
    if hq < 1 or hkv < 1:
        raise ValueError(f"{text!r}: head counts must be at least 1")
    if hq % hkv:
        raise ValueError(f"{text!r}: query heads ({hq}) must be a multiple of KV heads ({hkv})")
    return hq, hkv


def format_size(value: int) -> str:
    """Inverse of :func:`parse_size` for display: 131072 -> '128k', 1000 -> '1000'."""
    for suffix, mult in (("m", 1024**2), ("k", 1024)):
        if value >= mult and value % mult == 0:
            return f"{value // mult}{suffix}"
    return str(value)
