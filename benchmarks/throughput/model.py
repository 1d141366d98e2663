"""The model: the config's own model, built as `xtuner train` builds it, with random
weights of the real shape.

A randomly initialised InternLM2 of the real shape (7b: hidden 4096, 32 layers,
32 heads, 8 KV heads, FFN 14336, vocab 92544, rope theta 1e6, 32768 positions;
20b: hidden 6144, 48 layers, 48 heads, 8 KV heads, FFN 16384, same vocab), from
the InternLM2 modeling files that xtuner ships (xtuner/_lite/modelings/internlm2),
written with a config.json into a temporary directory exactly as
legal_eagle_xtuner.demo.tiny does -- no hub, no checkpoint.

:func:`build_model` loads the config with mmengine's ``Config.fromfile`` and builds its
``model`` dict with mmengine's ``MODELS.build``, which is what ``xtuner train`` does:
the config's model class (legal_eagle_xtuner's SupervisedFinetune, resolved through the
package, so every shim of ``compat`` is in force -- the frozen base stays 16-bit, LoRA
weights fp32), its LoRA, activation checkpointing and training loss (``loss_impl``).
Only the ``llm`` entry's ``from_pretrained`` becomes :func:`build_random_llm`: the same
config.json shape, ``torch_dtype`` and quantization, random weights created on the
device. ``tests/test_train_throughput.py`` checks that the two builds give the same
parameter dtypes, trainable names, LoRA targets and loss.

For QLoRA the model is built in the config's torch_dtype and every linear layer but the
output head (the layer transformers' bitsandbytes loader also leaves unquantized) is
replaced by a bitsandbytes Linear4bit with the config's quant type, double quantization
and compute dtype -- what from_pretrained(quantization_config=...) produces. GPU only.

Attention (--attn): by default XTuner's own choice, flash_attention_2 when
flash-attn is installed, else what the hub's InternLM2 config.json says, eager --
which is what `xtuner train` of our configs runs on such a box. --attn sdpa or
flash_attention_2 force one. Isolated packing (the configs' default) replaces the
attention layers' forward on top of either (legal_eagle_xtuner.train.attention).
"""

from __future__ import annotations

import os
from pathlib import Path

from .data import BOS, EOS, PAD
from .settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def write_model_dir(out: Path, shape: dict) -> Path:
    """config.json (auto_map to the copied xtuner modeling files), as tiny.py.
    Attention is "eager", as in the hub's InternLM2 configs; XTuner switches to
    flash_attention_2 when flash-attn is installed."""
    from legal_eagle_xtuner.demo.tiny import write_internlm2_config

    write_internlm2_config(out, **shape, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                           torch_dtype="float16", use_cache=False, initializer_range=0.02)
    return out


def quantize_4bit_(model, bnb_config, skip=("output",)):
    """Replace every nn.Linear but ``skip`` by a bitsandbytes Linear4bit holding
    its weight quantized as ``bnb_config`` says (in place; CUDA only) -- what
    transformers' from_pretrained(quantization_config=...) loads."""
    import bitsandbytes as bnb
    import torch
    from torch import nn

    if not getattr(bnb_config, "load_in_4bit", False):
        raise SystemExit("only 4-bit quantization configs are supported")
    compute = bnb_config.bnb_4bit_compute_dtype
    if isinstance(compute, str):
        compute = getattr(torch, compute)
    storage = getattr(bnb_config, "bnb_4bit_quant_storage", torch.uint8)
    if isinstance(storage, str):
        storage = getattr(torch, storage)
    # Names only: holding the modules would keep every fp16 weight alive until the end.
    targets = [name for name, mod in model.named_modules()
               if type(mod) is nn.Linear and name.split(".")[-1] not in skip]
    for name in targets:
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        old = getattr(parent, name.rpartition(".")[2])
        new = bnb.nn.Linear4bit(
            old.in_features, old.out_features, bias=old.bias is not None,
            compute_dtype=compute,
            compress_statistics=bnb_config.bnb_4bit_use_double_quant,
            quant_type=bnb_config.bnb_4bit_quant_type,
            quant_storage=storage,
            device="meta",
        )
        weight = bnb.nn.Params4bit(
            old.weight.data, requires_grad=False, blocksize=64,
            compress_statistics=bnb_config.bnb_4bit_use_double_quant,
            quant_type=bnb_config.bnb_4bit_quant_type,
            quant_storage=storage, module=new,
        ).to(old.weight.device)  # quantizes
        new._parameters["weight"] = weight
        if old.bias is not None:
            new.bias = nn.Parameter(old.bias.data, requires_grad=False)
        setattr(parent, name.rpartition(".")[2], new)
        del old, weight
    model.is_loaded_in_4bit = True
    model.is_quantized = True
    model.config.quantization_config = bnb_config
    model.config._pre_quantization_dtype = next(
        p.dtype for p in model.parameters() if p.is_floating_point())
    return model


def build_random_llm(pretrained_model_name_or_path, torch_dtype="float16",
                     quantization_config=None, attn_implementation=None,
                     attn_override="auto", device="cpu", trust_remote_code=True,
                     **_ignored):
    """Builder that SupervisedFinetune calls in place of from_pretrained: a
    randomly initialised model from the directory's config.json, created on
    ``device``; 4-bit quantized if ``quantization_config`` says so."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if isinstance(torch_dtype, str):
        torch_dtype = getattr(torch, torch_dtype.replace("torch.", ""))
    config = AutoConfig.from_pretrained(pretrained_model_name_or_path,
                                        trust_remote_code=trust_remote_code)
    if attn_override != "auto":
        config.attn_implementation = attn_override
    elif attn_implementation:  # XTuner's choice (flash_attention_2 if installed)
        config.attn_implementation = attn_implementation
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(
            config, trust_remote_code=trust_remote_code, torch_dtype=torch_dtype)
    if quantization_config is not None:
        if torch.device(device).type != "cuda":
            raise SystemExit("4-bit QLoRA (bitsandbytes) needs a CUDA GPU")
        quantize_4bit_(model, quantization_config)
        torch.cuda.empty_cache()
    return model


def build_model(settings: Settings, model_dir: Path, device: str, attn: str, bf16: bool, *,
                overrides: dict | None = None):
    """The config's ``model``, built by mmengine's ``MODELS.build`` as ``xtuner train``
    builds it, with :func:`build_random_llm` in place of ``from_pretrained``.
    ``overrides``: entries of the model dict to set first (``loss_impl``,
    ``use_activation_checkpointing``); ``bf16`` switches the weights and the 4-bit
    compute dtype to bf16."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS

    if settings.origin != "config" or not settings.path:
        raise SystemExit(f"{settings.config}: the config could not be loaded, and the "
                         "benchmark builds the model only from the config")
    cfg = Config.fromfile(settings.path)
    model_cfg = cfg.model
    for key, value in (overrides or {}).items():
        model_cfg[key] = value
    llm = model_cfg.llm
    llm.type = build_random_llm
    llm.pretrained_model_name_or_path = str(model_dir)
    llm.attn_override = attn
    llm.device = device
    if bf16:
        llm.torch_dtype = torch.bfloat16
        if llm.get("quantization_config") is not None:
            llm.quantization_config.bnb_4bit_compute_dtype = torch.bfloat16
    return MODELS.build(model_cfg)


def describe(model) -> dict:
    """What the built model is, for the benchmark's last line and the tests: the dtypes
    of its frozen and of its trainable parameters, the trainable names, the LoRA target
    modules and the training loss."""
    frozen = sorted({str(p.dtype).replace("torch.", "") for p in model.parameters()
                     if not p.requires_grad})
    trainable = {n: str(p.dtype).replace("torch.", "") for n, p in model.named_parameters()
                 if p.requires_grad}
    peft_config = getattr(model.llm, "peft_config", {}).get("default")
    targets = sorted(peft_config.target_modules) if peft_config is not None else []
    return dict(base_dtype="/".join(frozen), lora_dtype="/".join(sorted(set(trainable.values()))),
                trainable=sorted(trainable), lora_targets=targets,
                loss_impl=getattr(model, "loss_impl", "full"),
                checkpointing=bool(getattr(model.llm, "is_gradient_checkpointing", False)))
