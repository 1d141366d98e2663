"""Mixed precision that agrees with XTuner's DeepSpeed configs.

XTuner's ``deepspeed_zero2`` / ``deepspeed_zero3`` JSONs set ``fp16`` and
``bf16`` to ``"auto"``, which ``xtuner train --deepspeed`` resolves to bf16
on a GPU that supports it and fp16 otherwise. Our configs follow the same
rule without DeepSpeed (:class:`AutoAmpOptimWrapper` with ``dtype="auto"``),
so a recipe trains in the same precision with and without ``--deepspeed``.
The Legal-Eagle seeds trained in fp16, which is what a GPU without bf16
(V100, T4) still gets; on A100 / H100 bf16 needs no loss scaling to stay
finite.
"""

from __future__ import annotations

import torch
from mmengine.optim import AmpOptimWrapper

__all__ = ["AutoAmpOptimWrapper", "amp_dtype"]


def amp_dtype(bf16_supported: bool | None = None) -> str:
    """``"bfloat16"`` where the GPU supports it, else ``"float16"``: the rule
    of XTuner's ``"auto"`` DeepSpeed precision. ``bf16_supported=None`` asks
    the current device."""
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return "bfloat16" if bf16_supported else "float16"


class AutoAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` whose ``dtype="auto"`` means
    :func:`amp_dtype` (any other value is passed on unchanged)."""

    def __init__(self, *args, dtype: str | None = "auto", **kwargs) -> None:
        super().__init__(*args, dtype=amp_dtype() if dtype == "auto" else dtype, **kwargs)
