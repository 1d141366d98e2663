"""Shims for xtuner 0.2.0 (pinned by this project): the CPU bf16 probe, the LoRA
fp32 upcast, varlen attention without flash-attn, ``--deepspeed``'s precision on a
host without a GPU, and DeepSpeed checkpoints converted at fp16."""

from __future__ import annotations

import sys

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


def _patch_varlen_attn_fallback() -> bool:
    """xtuner 0.2.0 silently ignores ``use_varlen_attn=True`` without flash-attn.

    Bug: ``dispatch_modules`` swaps in varlen attention only if flash-attn 2 imports;
    otherwise the model's own attention runs over the whole packed row under one
    causal mask, so the samples of a pack attend to each other (while the collate
    function already restarted their positions). Affects: xtuner 0.2.0, every model
    (InternLM v1 remote code, InternLM2), without flash-attn. Remove when xtuner has
    a path without flash-attn itself.
    The shim keeps XTuner's dispatch and, where flash-attn is missing, gives the
    attention layers the isolated forward of ``legal_eagle_xtuner.train.attention``
    (scaled_dot_product_attention with a block-diagonal mask), which reads the samples'
    boundaries from the restarting position ids XTuner's varlen collate function
    produces. (Up to 0.1 this raised ``VarlenAttnUnavailable``: there is now always
    a path.)
    """
    import xtuner.model.modules.dispatch as dispatch
    import xtuner.model.sft as sft

    original = sft.dispatch_modules
    if getattr(original, "legal_eagle_shim", False):
        return False

    def dispatch_modules(model, use_varlen_attn=False):
        if use_varlen_attn and not dispatch.SUPPORT_FLASH2:
            from legal_eagle_xtuner.train.attention import isolate_attention

            original(model, use_varlen_attn=False)
            isolate_attention(model, "sdpa")
            return None
        return original(model, use_varlen_attn=use_varlen_attn)

    dispatch_modules.legal_eagle_shim = True
    sft.dispatch_modules = dispatch_modules
    return True


def _patch_deepspeed_precision_on_cpu() -> bool:
    """xtuner 0.2.0's ``--deepspeed`` cannot start on a host without a GPU.

    Bug: ``xtuner train --deepspeed deepspeed_zero2`` (any of XTuner's JSONs, whose
    ``fp16`` / ``bf16`` are ``"auto"``) resolves them in
    ``xtuner.tools.utils.auto_dtype_of_deepspeed_config`` with
    ``get_torch_device().is_available()`` / ``.is_bf16_supported()``. Without CUDA or
    NPU the device is ``torch.cpu``: ``is_bf16_supported`` does not exist
    (``AttributeError``), and ``is_available()`` is always True, so fp16 would be
    switched on for a CPU. Affects: xtuner 0.2.0, CPU-only hosts (a CPU rehearsal of a
    multi-GPU launch); GPU hosts are untouched. Remove when xtuner resolves "auto"
    from an accelerator that exists.

    Gives ``xtuner.tools.utils`` a ``get_torch_device`` that, where it would return
    ``torch.cpu``, answers "no fp16, no bf16": DeepSpeed then trains in fp32, as the
    same config does on a CPU without ``--deepspeed``. Patched only where
    ``xtuner.tools.utils`` is already imported -- ``xtuner train`` imports it before it
    loads the config, which imports this package (through the config's names, or
    ``custom_imports`` in smoke configs) before it reads the DeepSpeed JSON.
    """
    import types

    utils = sys.modules.get("xtuner.tools.utils")
    if utils is None or getattr(utils.get_torch_device, "legal_eagle_shim", False):
        return False
    original = utils.get_torch_device
    cpu = types.SimpleNamespace(is_available=lambda: False, is_bf16_supported=lambda: False)

    def get_torch_device():
        device = original()
        return cpu if device is torch.cpu else device

    get_torch_device.legal_eagle_shim = True
    utils.get_torch_device = get_torch_device
    return True


def _patch_zero_checkpoint_dtype() -> bool:
    """xtuner 0.2.0 converts DeepSpeed checkpoints at fp16.

    Bug: ``guess_load_checkpoint`` (used by ``xtuner convert pth_to_hf`` and
    ``--resume`` seeds) reads a DeepSpeed checkpoint folder with
    ``xtuner.utils.zero_to_any_dtype.get_state_dict_from_zero_checkpoint``, whose
    ``dtype`` defaults to ``torch.float16``: the fp32 master weights of the adapter are
    rounded to fp16 (relative error up to 5e-4) whatever the training precision, while
    the same run without DeepSpeed converts exactly. Affects: xtuner 0.2.0 with
    deepspeed installed. Remove when xtuner converts at the master weights' dtype.

    Makes the default ``torch.float32``, the dtype of ZeRO's master weights; the
    converted model then casts each value to its parameter's dtype as before (a LoRA
    adapter's are fp32). Applied with the model shims, i.e. before ``pth_to_hf`` loads
    the checkpoint; a no-op without deepspeed.
    """
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        return False
    import xtuner.utils.zero_to_any_dtype as zero

    original = zero.get_state_dict_from_zero_checkpoint
    if getattr(original, "legal_eagle_shim", False):
        return False

    def get_state_dict_from_zero_checkpoint(checkpoint_dir, tag=None,
                                            exclude_frozen_parameters=False,
                                            dtype=torch.float32):
        return original(checkpoint_dir, tag, exclude_frozen_parameters, dtype)

    get_state_dict_from_zero_checkpoint.legal_eagle_shim = True
    zero.get_state_dict_from_zero_checkpoint = get_state_dict_from_zero_checkpoint
    return True
