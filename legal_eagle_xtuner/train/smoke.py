"""Derive a CPU smoke-run variant of a training config.

A smoke variant keeps everything of the real config -- datasets, map function,
prompt template, hooks, schedule shape -- and changes only what a CPU cannot run
or what makes a run long: the validation hold-out shrinks to ``val_size``
records a file, the model (every ``pretrained_model_name_or_path``,
the tokenizer's included) is swapped for a local one, 4-bit quantization is
removed, the model loads in fp32, ``AmpOptimWrapper`` (GPU only) becomes the plain
``OptimWrapper`` with the same optimizer, clipping and accumulation, and
distributed runs use gloo and CPU DDP. The config imports this package when it is
loaded (``custom_imports``), so that its CPU shims reach the launcher and DeepSpeed.
The demo and the test suite use it; users can too (``legal-eagle smoke-config``)
before renting GPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


@dataclass
class SmokeOverrides:
    """What a smoke variant changes besides the CPU adaptations."""

    model_path: str
    """Local model directory that replaces every ``pretrained_model_name_or_path``."""
    data_files: Mapping[str, str] = field(default_factory=dict)
    """Data paths of the config (as written there) -> files to use instead."""
    max_iters: int | None = None
    """Stop after this many iterations (micro-batches; replaces ``max_epochs``),
    with the epoch-based schedule mapped onto them."""
    max_length: int | None = None
    """Replaces every ``max_length`` (shorter packs, for speed)."""
    val_size: int | None = 2
    """Records held out of each data file for validation, replacing the
    config's ``val_size`` (hundreds: more than small sample files hold) where
    it holds any out. ``None`` keeps the config's."""
    lora_target_modules: list[str] | None = None
    """Replaces the LoRA ``target_modules``, for a model of another family than the
    config's (an InternLM v1 config on the tiny InternLM2). ``None`` keeps them."""


def _walk(node, fn):
    """Call ``fn(container, key, value)`` for every item of nested dicts/lists."""
    if isinstance(node, dict):
        for key in list(dict.keys(node)):
            value = dict.__getitem__(node, key)
            fn(node, key, value)
            _walk(dict.__getitem__(node, key), fn)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            if isinstance(node, list):
                fn(node, index, value)
            _walk(node[index], fn)


def _materialise_constants(raw) -> None:
    """Replace lazily imported *data* (a system prompt, a prompt-template dict)
    by its value. A lazy config dumps such imports as dotted strings
    ('legal_eagle_xtuner.LEGAL_SYSTEM'), which only some consumers resolve back;
    writing the value itself keeps the smoke config equivalent to the real one.
    Imported callables (``type=...``) stay lazy and dump as dotted paths."""
    from mmengine.config.lazy import LazyAttr, LazyObject

    def resolve(container, key, value):
        if key == "type" or not isinstance(value, (LazyObject, LazyAttr)):
            return
        built = value.build()
        if isinstance(built, (str, int, float, bool, dict, list, tuple)):
            container[key] = _plain(built)

    _walk(raw, resolve)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _rescale_schedule(schedulers, max_epochs, max_iters: int) -> None:
    """Map an epoch-based schedule onto ``max_iters`` iterations, keeping its
    shape. Left epoch-based, a shortened run would follow the schedule of a
    tiny epoch instead: a 3% warmup of a two-iteration epoch rounds to zero
    iterations (mmengine rejects begin == end) and the decay would end long
    before the run does. Each phase keeps at least two iterations: mmengine's
    LinearLR over a single iteration never leaves ``start_factor``, so a
    one-iteration warmup would pin the learning rate at ``start_factor * lr``
    (1e-9 for the 20B recipe) for the whole run."""
    previous_end = 0
    for sched in schedulers:
        if not sched.get("by_epoch", True):
            continue
        begin = max(previous_end, round(sched.get("begin", 0) / max_epochs * max_iters))
        end = sched.get("end", max_epochs)
        end = max(begin + 2, round(min(end, max_epochs) / max_epochs * max_iters))
        sched.update(by_epoch=False, begin=begin, end=end)
        sched.pop("convert_to_iter_based", None)
        previous_end = end


def _type_name(value) -> str:
    if isinstance(value, str):
        return value
    name = getattr(value, "_imported", None) or getattr(value, "name", None)
    return str(name or getattr(value, "__name__", value))


def derive_smoke_config(src: str | os.PathLike, dst: str | os.PathLike,
                        overrides: SmokeOverrides) -> Path:
    """Write the smoke variant of config ``src`` to ``dst`` and return ``dst``."""
    import legal_eagle_xtuner  # noqa: F401  (the CPU shim, for Config's imports)
    from mmengine.config import Config

    cfg = Config.fromfile(str(src))
    raw = cfg._cfg_dict
    unused = set(overrides.data_files)

    def swap(container, key, value):
        if key == "pretrained_model_name_or_path":
            container[key] = str(overrides.model_path)
        elif isinstance(value, str) and value in overrides.data_files:
            container[key] = str(overrides.data_files[value])
            unused.discard(value)
        elif key == "max_length" and overrides.max_length is not None:
            container[key] = overrides.max_length
        elif key == "holdout" and value and overrides.val_size is not None:
            container[key] = overrides.val_size

    missing = [key for key in ("model", "optim_wrapper", "train_cfg") if key not in raw]
    if missing or "llm" not in raw["model"]:
        what = ", ".join(missing) if missing else "model.llm"
        raise ValueError(f"{src}: not an XTuner fine-tuning config (no {what})")
    _walk(raw, swap)
    if unused:
        raise ValueError(
            f"{src}: data paths not found in the config: {sorted(unused)}"
        )
    _materialise_constants(raw)

    llm = raw["model"]["llm"]
    if overrides.lora_target_modules is not None and "lora" in raw["model"]:
        raw["model"]["lora"]["target_modules"] = list(overrides.lora_target_modules)
    llm.pop("quantization_config", None)
    llm["torch_dtype"] = "float32"

    optim = raw["optim_wrapper"]
    if "Amp" in _type_name(optim["type"]):
        optim["type"] = "OptimWrapper"
        optim.pop("loss_scale", None)
        optim.pop("dtype", None)
    if overrides.max_iters is not None:
        train_cfg = raw["train_cfg"]
        epochs = train_cfg.pop("max_epochs", None)
        train_cfg["max_iters"] = overrides.max_iters
        if epochs:
            _rescale_schedule(raw.get("param_scheduler") or [], epochs,
                              overrides.max_iters)
    if "env_cfg" in raw and "dist_cfg" in raw["env_cfg"]:
        raw["env_cfg"]["dist_cfg"]["backend"] = "gloo"
    # mmengine wraps a distributed model in DDP with device_ids=[LOCAL_RANK],
    # which torch rejects for a module on the CPU; None is DDP's CPU form.
    raw.setdefault("model_wrapper_cfg", dict(
        type="MMDistributedDataParallel", device_ids=None, broadcast_buffers=False,
        find_unused_parameters=False))
    # A smoke config is a plain one (string types): mmengine imports its
    # custom_imports when it loads it, so the package's shims (compat) apply before
    # the launcher, DeepSpeed and the runner start -- as the shipped configs' own
    # class names make `xtuner train --deepspeed` import it.
    imports = dict(raw.get("custom_imports") or dict(allow_failed_imports=False))
    names = list(imports.get("imports") or [])
    imports["imports"] = names + ["legal_eagle_xtuner"] * ("legal_eagle_xtuner" not in names)
    raw["custom_imports"] = imports

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(dst))
    return dst
