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

import functools
import logging
import os
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


@functools.lru_cache(maxsize=None)
def _torch_load_defaults_to_weights_only() -> bool:
    """Whether a plain ``torch.load(f)`` refuses pickled Python objects (torch >= 2.6
    unless ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set); asked of torch itself."""
    import io
    import pickle
    import types
    import warnings

    buffer = io.BytesIO()
    torch.save(types.SimpleNamespace(), buffer)
    buffer.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.4/2.5 warn about the coming default
        try:
            torch.load(buffer)
        except pickle.UnpicklingError:
            return True
    return False


def _patch_mmengine_weights_only_load() -> bool:
    """mmengine 0.10.6 cannot resume from its own checkpoints under torch >= 2.6.

    Bug: torch 2.6 made ``weights_only=True`` the default of ``torch.load``;
    mmengine's local checkpoint loader (``load_from_local``, used by ``resume`` and
    ``load_from``) calls it without the argument, and mmengine checkpoints pickle
    Python objects (``HistoryBuffer``, numpy arrays, ``ExactResumeHook``'s RNG
    state): ``UnpicklingError: Weights only load failed ... Unsupported global:
    GLOBAL mmengine.logging.history_buffer.HistoryBuffer`` (open-mmlab/mmengine#1655).
    Affects: mmengine 0.10.x (checked on 0.10.6) with torch >= 2.6 (checked on
    2.14.1 and 2.15.0); inactive on torch 2.5.1. Remove when mmengine passes
    ``weights_only`` itself.

    Re-registers the ``''`` scheme of ``CheckpointLoader`` as the same loader with
    ``weights_only=False`` (torch's pre-2.6 behaviour), for local files only; URL
    loaders keep torch's default. ``xtuner train --resume PATH`` reads the seed with
    a bare ``torch.load`` before any config import can apply this: use
    ``--cfg-options resume=True load_from=PATH`` (docs/torch_stacks.md).
    """
    import os.path as osp

    from mmengine.runner import checkpoint as mm_checkpoint

    current = mm_checkpoint.CheckpointLoader._schemes.get("")
    if getattr(current, "legal_eagle_shim", False) or not _torch_load_defaults_to_weights_only():
        return False

    def load_from_local(filename, map_location):  # mmengine logs the name after "load_from_"
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f"{filename} can not be found.")
        return torch.load(filename, map_location=map_location, weights_only=False)

    load_from_local.legal_eagle_shim = True
    mm_checkpoint.CheckpointLoader.register_scheme("", loader=load_from_local, force=True)
    mm_checkpoint.load_from_local = load_from_local
    return True


def _triton_lacks_ops() -> bool:
    """A ``triton`` is installed and has no ``triton.ops`` (triton >= 3.2); read
    from its files, without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("triton")
    paths = (spec.submodule_search_locations or []) if spec else []
    return bool(paths) and not any(os.path.exists(os.path.join(p, "ops")) for p in paths)


def _bnb_needs_triton_ops() -> bool:
    """``import bitsandbytes`` would fail on ``triton.ops``: bitsandbytes <= 0.45.0
    beside a triton without it."""
    import importlib.metadata

    from packaging.version import Version

    try:
        old = Version(importlib.metadata.version("bitsandbytes")) < Version("0.45.1")
    except importlib.metadata.PackageNotFoundError:
        return False
    return old and "triton.ops" not in sys.modules and _triton_lacks_ops()


def _patch_bnb_triton_ops(force: bool = False) -> bool:
    """bitsandbytes 0.45.0 (xtuner 0.2.0's pin) cannot be imported beside triton >= 3.2.

    Bug: bitsandbytes <= 0.45.0 imports ``triton.ops.matmul_perf_model`` whenever
    triton is installed; triton 3.2 (torch >= 2.6's) dropped ``triton.ops``, so
    ``import bitsandbytes`` -- run by peft's LoRA injection and transformers' QLoRA
    quantization -- raises ``No module named 'triton.ops'``
    (bitsandbytes-foundation/bitsandbytes#1492, fixed in 0.45.1).
    Affects: bitsandbytes <= 0.45.0 with triton >= 3.2. Inactive on both supported
    stacks: the pinned one has triton 3.1 and stacks/torch-2.14.txt bitsandbytes
    0.48.2 (the fix that also reaches ``xtuner chat``, which never imports this
    package); active where bitsandbytes 0.45.0 came back beside a newer triton.
    Remove with xtuner's ``bitsandbytes==0.45.0`` pin.

    Registers a stand-in ``triton.ops.matmul_perf_model`` with the two names
    bitsandbytes imports; they serve only its triton int8 matmul's autotuner
    (``SwitchBackLinear``, unused by xtuner, peft and transformers) and raise
    ``NotImplementedError`` if called. ``force`` skips the bitsandbytes version
    check (tests); a real ``triton.ops`` is never replaced.
    """
    import importlib.machinery
    import types

    if "triton.ops" in sys.modules or not (_triton_lacks_ops() if force
                                           else _bnb_needs_triton_ops()):
        return False

    def unavailable(*args, **kwargs):
        raise NotImplementedError(
            "triton.ops is gone from triton >= 3.2; legal_eagle_xtuner.compat's stand-in "
            "only lets bitsandbytes <= 0.45.0 import. Its triton int8 matmul "
            "(SwitchBackLinear) needs bitsandbytes >= 0.45.1 or triton < 3.2.")

    ops, perf = (types.ModuleType(n) for n in ("triton.ops", "triton.ops.matmul_perf_model"))
    ops.__spec__ = importlib.machinery.ModuleSpec(ops.__name__, None, is_package=True)
    ops.__path__ = []
    perf.__spec__ = importlib.machinery.ModuleSpec(perf.__name__, None)
    perf.early_config_prune = perf.estimate_matmul_time = unavailable
    ops.matmul_perf_model = perf
    ops.legal_eagle_shim = perf.legal_eagle_shim = True
    sys.modules.update({ops.__name__: ops, perf.__name__: perf})
    return True


def _preload_sp_model(cls) -> bool:
    """Give an ``InternLMTokenizer`` whose ``__init__`` loads ``self.sp_model`` after
    the base ``__init__`` (read from its source) an ``__init__`` that loads it first."""
    import inspect

    try:
        source = inspect.getsource(cls.__init__) if cls.__name__ == "InternLMTokenizer" else ""
    except (OSError, TypeError):
        source = ""
    if getattr(cls, "_legal_eagle_sp_model_preload", False) \
            or not -1 < source.find("super().__init__(") < source.find("self.sp_model = "):
        return False
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        import sentencepiece as spm

        vocab_file = kwargs["vocab_file"] if "vocab_file" in kwargs else args[0]
        self.sp_model = spm.SentencePieceProcessor(**(kwargs.get("sp_model_kwargs") or {}))
        self.sp_model.Load(vocab_file)
        logging.getLogger("legal_eagle_xtuner").warning(
            "%s predates transformers 4.34 (InternLM PR #419): it loads through "
            "legal_eagle_xtuner's shim, but `xtuner chat` fails on it; replace it with the "
            "current tokenization_internlm.py of internlm/internlm-chat-7b.",
            os.path.join(os.path.dirname(os.path.normpath(vocab_file)), "tokenization_internlm.py"))
        original(self, *args, **kwargs)

    cls.__init__, cls._legal_eagle_sp_model_preload = __init__, True
    return True


def _patch_internlm_v1_tokenizer_init() -> bool:
    """Old copies of InternLM v1's remote tokenizer fail to load.

    Bug: tokenization_internlm.py of internlm-chat-7b snapshots older than InternLM
    PR #419 (Oct 2023) sets ``self.sp_model`` after ``PreTrainedTokenizer.__init__``,
    which since transformers 4.34 reads it (via ``vocab_size``): ``AutoTokenizer``
    raises ``AttributeError: InternLMTokenizer has no attribute vocab_size``.
    Affects: those copies, transformers >= 4.34 (pinned 4.48.0); the current file is
    untouched. Remove when no supported checkpoint ships the old file. The shim
    wraps ``dynamic_module_utils.get_class_in_module`` with :func:`_preload_sp_model`.
    """
    import transformers.dynamic_module_utils as dynamic

    original = dynamic.get_class_in_module
    if getattr(original, "legal_eagle_shim", False):
        return False

    @functools.wraps(original)
    def get_class_in_module(*args, **kwargs):
        cls = original(*args, **kwargs)
        _preload_sp_model(cls)
        return cls

    get_class_in_module.legal_eagle_shim = True
    dynamic.get_class_in_module = get_class_in_module
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


def apply() -> None:
    """Apply the shims that need no heavy import; idempotent."""
    _patch_cpu_bf16_probe()
    _patch_bnb_triton_ops()
    _patch_internlm_v1_tokenizer_init()


def apply_model_shims() -> None:
    """Apply the shims of ``xtuner.model`` (imports it); idempotent. Called
    when a config resolves ``legal_eagle_xtuner.SupervisedFinetune``."""
    _patch_cpu_bf16_probe()
    _patch_lora_fp32_upcast()
    _patch_checkpoint_io()
    _patch_mmengine_weights_only_load()
    _patch_varlen_attn_fallback()
