"""Compatibility shims for upstream bugs. Each shim names the bug, the versions
it affects and when it can be removed. Nothing else lives here.

Shims are applied when :mod:`legal_eagle_xtuner` is imported. Our configs import
``SupervisedFinetune`` *through* this package (``from legal_eagle_xtuner import
SupervisedFinetune``), so mmengine's lazy config loader imports the package -- and
applies the shims -- when it resolves the model's type, i.e. before the model is
built, in ``xtuner train`` and ``xtuner convert pth_to_hf`` alike. A bare side-effect
``import legal_eagle_xtuner`` in a config would not do that: lazy configs never run
imports whose names are unused.
"""

from __future__ import annotations

import logging
import os

import torch


def _patch_cpu_bf16_probe() -> bool:
    """xtuner 0.2.0 crashes on CPU-only hosts before training starts.

    Bug: ``SupervisedFinetune._prepare_for_flash_attn`` (and the QLoRA/ZeRO-3
    path) evaluate ``get_torch_device().is_bf16_supported()``; without CUDA or NPU
    the device module is ``torch.cpu``, which has no ``is_bf16_supported`` in any
    torch release up to at least 2.5, so ``xtuner train`` and ``xtuner convert
    pth_to_hf`` raise ``AttributeError`` on a machine without a GPU.
    Affects: xtuner 0.2.0 with torch 2.x on CPU. GPU runs are untouched (the probe
    is then ``torch.cuda.is_bf16_supported``).
    Remove when xtuner stops calling the probe on ``torch.cpu`` or torch ships it.

    The answer only selects the dtype for flash-attention / ZeRO-3 QLoRA, neither of
    which exists on CPU, so reporting ``False`` changes no CPU computation.
    """
    if hasattr(torch.cpu, "is_bf16_supported"):
        return False
    torch.cpu.is_bf16_supported = lambda: False  # type: ignore[attr-defined]
    return True


def _is_quantized(model) -> bool:
    return bool(
        getattr(model, "is_loaded_in_4bit", False)
        or getattr(model, "is_loaded_in_8bit", False)
        or getattr(model, "quantization_method", None)
        or getattr(model, "hqq_quantized", False)
    )


def _patch_lora_fp32_upcast() -> bool:
    """xtuner 0.2.0 + peft upcast a LoRA model's frozen fp16 weights to fp32.

    Bug: ``SupervisedFinetune._prepare_for_lora`` calls peft's
    ``prepare_model_for_kbit_training`` for every LoRA model, quantized or not.
    For a model that is *not* quantized that function only freezes the
    parameters and casts every fp16/bf16 one to fp32 (the cast exists for the
    few non-quantized layers of a k-bit model). A 7B LoRA run therefore holds
    29 GB of fp32 base weights instead of 15 GB of fp16, and autocast casts
    them back to fp16 in every forward. The Legal-Eagle seeds (LLaMA-Factory,
    HF Trainer + peft) keep the frozen base in fp16 with fp32 LoRA weights.
    Affects: xtuner 0.2.0 (``xtuner/model/sft.py``) with peft 0.14 (and
    earlier releases that cast the same way), non-quantized LoRA only.
    Remove when xtuner calls ``prepare_model_for_kbit_training`` only for
    quantized models.

    The shim freezes the parameters of a non-quantized model exactly as peft
    does, without the cast; quantized (QLoRA) models go through peft
    unchanged. LoRA weights are still fp32: ``get_peft_model`` casts adapters
    of fp16/bf16 models to fp32 (``autocast_adapter_dtype=True``).
    """
    import xtuner.model.sft as sft

    original = sft.prepare_model_for_kbit_training
    if getattr(original, "legal_eagle_shim", False):
        return False

    def prepare_model_for_kbit_training(model, use_gradient_checkpointing=True,
                                        gradient_checkpointing_kwargs=None):
        if _is_quantized(model):
            return original(model, use_gradient_checkpointing, gradient_checkpointing_kwargs)
        for param in model.parameters():
            param.requires_grad = False
        return model

    prepare_model_for_kbit_training.legal_eagle_shim = True
    sft.prepare_model_for_kbit_training = prepare_model_for_kbit_training
    return True


def _patch_checkpoint_io() -> bool:
    """mmengine 0.10.6 can resume from a checkpoint cut short by a kill.

    Bug: ``LocalBackend.put`` (which ``save_checkpoint`` uses) writes the file
    in place, and ``CheckpointHook`` then overwrites ``last_checkpoint`` in
    place; ``Runner``/``FlexibleRunner`` ``load_or_resume`` trusts whatever
    ``find_latest_checkpoint`` reads there. A kill while either is written
    leaves a truncated ``iter_N.pth`` or an empty ``last_checkpoint``, and
    ``resume=True`` then crashes in ``torch.load`` or silently starts over.
    Affects: mmengine 0.10.x (checked on 0.10.6). Remove when mmengine writes
    checkpoints through a temporary file and validates the resume point.

    The shim makes ``put`` write to a temporary file beside the target and
    rename it into place, and makes the resume lookup return the newest
    *complete* ``iter_N.pth`` when ``last_checkpoint`` is missing, empty, or
    names a file that is not a whole checkpoint (with a warning saying so).
    """
    import tempfile

    import mmengine.runner._flexible_runner as flexible
    import mmengine.runner.runner as runner_module
    from mmengine.fileio.backends.local_backend import LocalBackend
    from mmengine.logging import print_log

    if getattr(LocalBackend.put, "legal_eagle_shim", False):
        return False

    def put(self, obj: bytes, filepath) -> None:
        directory = os.path.dirname(os.fspath(filepath)) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(filepath)}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(obj)
            os.replace(tmp, filepath)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    put.legal_eagle_shim = True
    LocalBackend.put = put

    original = runner_module.find_latest_checkpoint

    def find_latest_checkpoint(path):
        from legal_eagle_xtuner.train.resume import is_complete_checkpoint, latest_complete_checkpoint

        named = original(path)
        if named and is_complete_checkpoint(named):
            return named
        fallback = latest_complete_checkpoint(path)
        if named or fallback:
            print_log(f"last_checkpoint names {named or 'nothing'!s}, which is not a whole "
                      f"checkpoint; resuming from {fallback or 'scratch'} instead",
                      logger="current", level=logging.WARNING)
        return fallback

    runner_module.find_latest_checkpoint = find_latest_checkpoint
    flexible.find_latest_checkpoint = find_latest_checkpoint
    return True


def apply() -> None:
    """Apply the shims that need no heavy import; idempotent."""
    _patch_cpu_bf16_probe()


def apply_model_shims() -> None:
    """Apply the shims of ``xtuner.model`` (imports it); idempotent. Called
    when a config resolves ``legal_eagle_xtuner.SupervisedFinetune``."""
    _patch_cpu_bf16_probe()
    _patch_lora_fp32_upcast()
    _patch_checkpoint_io()
