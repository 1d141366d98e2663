"""Compatibility shims for upstream bugs, one module per upstream library
(``xtuner``, ``mmengine``, ``deepspeed``, ``bitsandbytes``, ``transformers``). Each
shim names the bug, the versions it affects and when it can be removed; it patches
only where the bug bites and is idempotent. Nothing else lives here.
Imports ``train`` (the resume lookup's checkpoint check), nothing else of ours.

:func:`apply` runs when :mod:`legal_eagle_xtuner` is imported; :func:`apply_model_shims`
when a config resolves ``legal_eagle_xtuner.SupervisedFinetune``, i.e. before the model
is built, in ``xtuner train`` and ``xtuner convert pth_to_hf`` alike. Our configs
import ``SupervisedFinetune`` *through* the package for that reason: lazy configs never
run a bare side-effect ``import legal_eagle_xtuner``. When the package is imported
earlier decides what :func:`apply` can reach:

- ``xtuner train CONFIG --deepspeed NAME`` reads ``cfg.optim_wrapper.type`` -- one of
  our classes in the shipped configs -- before it resolves the DeepSpeed JSON and
  builds the runner, so the package is imported then;
- smoke configs (``legal_eagle_xtuner.train.smoke``) are plain configs that name it in
  ``custom_imports``: it is imported when the config is loaded;
- ``xtuner train`` has imported deepspeed and ``xtuner.tools.utils`` before either.
"""

from __future__ import annotations

import sys

from legal_eagle_xtuner.compat import bitsandbytes, deepspeed, mmengine, transformers, xtuner


def apply() -> None:
    """Apply the shims that need no heavy import (each of the launch-time ones
    patches only a module that is already imported); idempotent."""
    xtuner._patch_cpu_bf16_probe()
    bitsandbytes._patch_bnb_triton_ops()
    transformers._patch_internlm_v1_tokenizer_init()
    xtuner._patch_deepspeed_precision_on_cpu()
    deepspeed._patch_cpu_shm_comm_build()
    deepspeed._patch_single_process_without_mpi()
    if "mmengine.dist.utils" in sys.modules:
        mmengine._patch_launcher_cuda_device()


def apply_model_shims() -> None:
    """Apply the shims of ``xtuner.model`` (imports it); idempotent. Called
    when a config resolves ``legal_eagle_xtuner.SupervisedFinetune``."""
    apply()
    xtuner._patch_lora_fp32_upcast()
    xtuner._patch_varlen_attn_fallback()
    xtuner._patch_zero_checkpoint_dtype()
    mmengine._patch_checkpoint_io()
    mmengine._patch_mmengine_weights_only_load()
    mmengine._patch_launcher_cuda_device()
    mmengine._patch_model_seed()
