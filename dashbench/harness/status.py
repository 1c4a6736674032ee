"""Outcome of one case. Only ``OK`` rows carry a time and a speedup."""

from enum import Enum


class Status(str, Enum):
    OK = "OK"  # checked against the reference, then timed
    INCORRECT = "INCORRECT"  # failed the check: not timed
    OOM = "OOM"  # out of memory; the sweep goes on
    UNSUPPORTED = "UNSUPPORTED"  # the provider does not handle this mode/dtype/shape
    UNAVAILABLE = "UNAVAILABLE"  # the provider's library is not installed or usable here
    ERROR = "ERROR"  # any other exception, with its message in `note`
