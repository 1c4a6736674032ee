"""Named sweeps: ``suites/<name>.toml`` files that ``dashbench kernel --suite <name>`` runs.

A suite file holds a ``description`` and a ``[sweep]`` table whose keys are the options of
``dashbench kernel`` (lists for the axes)::

    description = "Long prefill: DashAttention, InfLLMv2 and NSA vs FA3"
    [sweep]
    mode = ["fwd"]
    seqlen = ["8k", "32k", "128k"]
    sparsity = [0, 0.5, 0.75, 0.9]
    methods = ["dash", "infllmv2"]

Options typed on the command line override the suite's. Errors name the file, the key and
the type expected.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

# key: (what a value is, python types accepted for each element, is it a list)
SWEEP_KEYS = {
    "mode": ("a list of modes (fwd, fwd+bwd, decode)", (str,), True),
    "seqlen": ("a list of sizes (e.g. [\"8k\", 131072])", (str, int), True),
    "batch": ("a list of batch sizes", (int,), True),
    "heads": ("a list of \"Hq/Hkv\" strings", (str,), True),
    "head_dim": ("a list of head dims", (int,), True),
    "dtype": ("a list of dtypes (bf16, fp16, fp32)", (str,), True),
    "providers": ("a list of dense provider names", (str,), True),
    "methods": ("a list of sparse method names", (str,), True),
    "sparsity": ("a list of numbers in [0, 1)", (int, float), True),
    "inputs": ("a list of input generators", (str,), True),
    "chunk_size": ("a list of DashAttention chunk sizes (32, 64, 128)", (int,), True),
    "baseline": ("a provider name or \"auto\"", (str,), False),
    "warmup": ("a number of milliseconds", (int, float), False),
    "rep": ("a number of milliseconds", (int, float), False),
    "cuda_graph": ("true or false", (bool,), False),
    "min_runs": ("an integer", (int,), False),
    "seed": ("an integer", (int,), False),
}


class SuiteError(ValueError):
    """A suite file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    path: Path
    sweep: dict  # key -> value, as typed in the file

    def option_text(self, key: str) -> str:
        """The value as ``dashbench kernel`` takes it on the command line."""
        value = self.sweep[key]
        if isinstance(value, list):
            return ",".join(_scalar_text(x) for x in value)
        return _scalar_text(value)


def _scalar_text(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def search_path() -> list[Path]:
    """Where suites are looked up: ``$DASHBENCH_SUITES`` (colon-separated), ``./suites``, and
    the suites shipped with the package."""
    dirs = [Path(p) for p in os.environ.get("DASHBENCH_SUITES", "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "suites", _shipped()]
    return list(dict.fromkeys(d.resolve() for d in dirs))


def _shipped() -> Path:
    """The repository's suites/, installed as the dashbench.suite_files package."""
    try:
        import dashbench.suite_files as shipped

        return Path(shipped.__path__[0])
    except ImportError:  # a checkout that was not installed
        return Path(__file__).resolve().parent.parent / "suites"


def find_suite(name: str) -> Path:
    """A suite's file: a path to a ``.toml`` file, or a name looked up on :func:`search_path`."""
    if name.endswith(".toml") or os.sep in name:
        path = Path(name)
        if not path.is_file():
            raise SuiteError(f"{name}: no such suite file")
        return path
    for d in search_path():
        if (d / f"{name}.toml").is_file():
            return d / f"{name}.toml"
    known = ", ".join(s.name for s in list_suites()) or "none"
    raise SuiteError(f"no suite {name!r} (known: {known}); suites live in {', '.join(map(str, search_path()))}")


def load_suite(name: str) -> Suite:
    path = find_suite(name)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(data) - {"description", "sweep"}
    if unknown:
        raise SuiteError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
                         "expected 'description' (a string) and a [sweep] table")  # fmt: skip
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SuiteError(f"{path}: key 'description' must be a string; got {type(description).__name__}")
    sweep = data.get("sweep")
    if not isinstance(sweep, dict) or not sweep:
        raise SuiteError(f"{path}: needs a non-empty [sweep] table")
    for key, value in sweep.items():
        _check_value(path, key, value)
    return Suite(path.stem, description, path, sweep)


def _check_value(path: Path, key: str, value) -> None:
    if key not in SWEEP_KEYS:
        raise SuiteError(f"{path}: unknown key 'sweep.{key}'; known keys: {', '.join(SWEEP_KEYS)}")
    what, types, is_list = SWEEP_KEYS[key]
    items = value if is_list else [value]
    if is_list and (not isinstance(value, list) or not value):
        raise SuiteError(f"{path}: key 'sweep.{key}' must be {what}; got {_describe(value)}")

    def ok(x):  # bool is an int in Python; only cuda_graph takes one
        return isinstance(x, types) and (bool in types or not isinstance(x, bool))

    bad = [x for x in items if not ok(x)]
    if bad:
        raise SuiteError(f"{path}: key 'sweep.{key}' must be {what}; got {_describe(bad[0])}")


def _describe(value) -> str:
    return f"{type(value).__name__} {value!r}"


def list_suites() -> list[Suite]:
    """Every suite on the search path (the first of a name wins); broken files are skipped
    here and reported by :func:`load_suite`."""
    seen, out = set(), []
    for d in search_path():
        for path in sorted(d.glob("*.toml")) if d.is_dir() else []:
            if path.stem in seen:
                continue
            seen.add(path.stem)
            try:
                out.append(load_suite(str(path)))
            except SuiteError:
                out.append(Suite(path.stem, "(invalid: run `dashbench kernel --suite` for the error)", path, {}))
    return out
