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


def apply() -> None:
    """Apply every shim; idempotent."""
    _patch_cpu_bf16_probe()
