"""Checkpoints: Hugging Face layout (``config.json`` + ``*.safetensors``), read with safetensors
only (nothing is unpickled), checked before use.

A checkpoint records its attention method and knobs in ``config.json``
(``dashbench.models.config``) and its sparse parameters beside the weights. Loading with
another ``method`` converts: from a dense checkpoint the new parameters start as
``dashbench.models.parameters`` describes (``init="convert"``), so it can be evaluated without
training; a sparse checkpoint's own parameters are dropped when converting it to another method
(with a warning).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from dashbench.models.config import CONFIG_KEY, SparseAttentionConfig, settings_of, store_settings
from dashbench.models.parameters import EXTRA_NAMES, attach_parameters, parameter_shapes

SUPPORTED_TYPES = ("llama",)
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def _config_json(path: Path) -> dict:
    if not path.is_dir():
        raise ValueError(f"checkpoint {path} is not a directory (expected config.json and *.safetensors)")
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise ValueError(f"checkpoint {path} has no config.json")
    try:
        data = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg_file} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{cfg_file} must hold a JSON object")
    model_type = data.get("model_type")
    if model_type not in SUPPORTED_TYPES:
        raise ValueError(f"{cfg_file}: model_type {model_type!r} is not supported; dashbench runs "
                         f"{', '.join(SUPPORTED_TYPES)} (Llama-architecture, incl. MiniCPM-style configs)")  # fmt: skip
    return data


def _weight_files(path: Path) -> list[Path]:
    """``model.safetensors``, or the shards ``model.safetensors.index.json`` lists; a folder
    with other or extra ``*.safetensors`` files is ambiguous and refused."""
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"{index} is not a safetensors index (a weight_map of tensor -> file): {e}") from None
        missing = [f for f in shards if not (path / f).is_file()]
        if missing:
            raise ValueError(f"{index} lists shards that are not there: {missing}")
        return [path / f for f in shards]
    files = sorted(path.glob("*.safetensors"))
    if not files:
        pickled = sorted(p.name for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        hint = f" (found {pickled}: pickled weights are never loaded; convert them to safetensors)" if pickled else ""
        raise ValueError(f"checkpoint {path} has no *.safetensors weights{hint}")
    if [f.name for f in files] != ["model.safetensors"]:
        raise ValueError(f"checkpoint {path} holds {[f.name for f in files]}: expected model.safetensors alone, "
                         "or shards listed in model.safetensors.index.json")  # fmt: skip
    return files


def _read_weights(files: list[Path]) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for f in files:
        try:
            part = load_file(str(f))
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(f"{f} is not a readable safetensors file: {e}") from None
        twice = sorted(set(part) & set(state))
        if twice:
            raise ValueError(f"{f} repeats tensors of another shard: {twice[:4]}")
        state.update(part)
    return state


def saved_settings(path) -> SparseAttentionConfig:
    """The attention settings a checkpoint directory was saved with (its ``config.json``), without
    loading its weights."""
    path = Path(path)
    return SparseAttentionConfig.from_dict(_config_json(path).get(CONFIG_KEY), source=str(path / "config.json"))


def load_checkpoint(path, *, method: str | None = None, device: str | torch.device = "cpu",
                    dtype: torch.dtype | None = None, attn_implementation: str | None = None,
                    **knobs):  # fmt: skip
    """A ``LlamaForCausalLM`` from a checkpoint directory, running ``method`` (default: the
    checkpoint's own) with ``knobs`` (e.g. ``scaling=2.0``, ``topk=8``) overriding its settings.

    ``attn_implementation`` defaults to the method's (``sdpa`` for dense). Every mismatch
    (missing or unexpected tensors, wrong shapes, unknown settings) raises a ``ValueError``
    naming it."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from dashbench.models.attention import register

    register()
    path = Path(path)
    data = _config_json(path)
    state = _read_weights(_weight_files(path))
    saved = SparseAttentionConfig.from_dict(data.pop(CONFIG_KEY, None), source=str(path / "config.json"))
    settings = replace(saved, method=method or saved.method, **knobs).check()
    try:
        config = LlamaConfig.from_dict(data)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path / 'config.json'} is not a valid Llama config: {e}") from None
    converting = settings.method != saved.method
    if not converting and parameter_shapes(config, settings) != parameter_shapes(config, saved):
        changed = sorted(k for k in knobs if getattr(settings, k) != getattr(saved, k))
        raise ValueError(f"{changed} change the shapes of this {saved.method} checkpoint's trained parameters; "
                         "only knobs that keep them (scaling, sigma, topk, ...) can be changed on load")  # fmt: skip
    store_settings(config, settings)
    model = LlamaForCausalLM(config)
    attach_parameters(model, saved, init="convert")  # the checkpoint's own tensors, to be loaded
    _load_state(model, state, path)
    if converting:
        if saved.method != "dense":
            warnings.warn(f"converting a {saved.method} checkpoint to {settings.method}: its "
                          f"{saved.method} parameters are dropped", stacklevel=2)  # fmt: skip
        attach_parameters(model, settings, init="convert")
    store_settings(model.config, settings)
    model.config.dashbench_converted_from = saved.method if converting else None
    impl = attn_implementation or ("sdpa" if settings.method == "dense" else settings.method)
    model.set_attn_implementation(impl)
    return model.to(device=device, dtype=dtype) if dtype else model.to(device)


def _load_state(model, state: dict[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    missing = sorted(set(own) - set(state) - tied)
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        extra = [k for k in unexpected if k.rsplit(".", 1)[-1] in EXTRA_NAMES]
        hint = (" (these belong to a sparse method the config.json does not name: is its "
                f"{CONFIG_KEY} missing?)") if extra else ""  # fmt: skip
        raise ValueError(f"checkpoint {path} does not match its config: missing {missing[:6]}"
                         f"{'...' if len(missing) > 6 else ''}, unexpected {unexpected[:6]}"
                         f"{'...' if len(unexpected) > 6 else ''}{hint}")  # fmt: skip
    for name, t in state.items():
        if tuple(t.shape) != tuple(own[name].shape):
            raise ValueError(f"checkpoint {path}: {name} has shape {tuple(t.shape)}, the config gives "
                             f"{tuple(own[name].shape)}")  # fmt: skip
    model.load_state_dict(state, strict=False)
    if tied:
        model.tie_weights()


def save_checkpoint(model, path, *, dtype: torch.dtype | None = torch.bfloat16) -> Path:
    """Write ``config.json`` (with the attention settings) and ``model.safetensors``; weights in
    ``dtype`` (bf16 by default: half the bytes of fp32)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    settings = settings_of(model.config)
    data = model.config.to_dict()
    for key in ("dashbench_converted_from", "_attn_implementation_autoset", "attn_implementation"):
        data.pop(key, None)
    data[CONFIG_KEY] = settings.to_dict()
    data["model_type"] = "llama"
    state = {}
    for name, t in model.state_dict().items():
        if name == "lm_head.weight" and getattr(model.config, "tie_word_embeddings", False):
            continue
        t = t.detach()
        state[name] = (t.to(dtype) if dtype is not None and t.is_floating_point() else t).contiguous().cpu()
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    (path / "config.json").write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return path
