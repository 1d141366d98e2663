"""The model: a randomly initialised InternLM2 of the real shape, built by XTuner.

A randomly initialised InternLM2 of the real shape (7b: hidden 4096, 32 layers,
32 heads, 8 KV heads, FFN 14336, vocab 92544, rope theta 1e6, 32768 positions;
20b: hidden 6144, 48 layers, 48 heads, 8 KV heads, FFN 16384, same vocab), from
the InternLM2 modeling files that xtuner ships (xtuner/_lite/modelings/internlm2),
written with a config.json into a temporary directory exactly as
legal_eagle_xtuner.demo.tiny does -- no hub, no checkpoint. It is wrapped by XTuner's
own SupervisedFinetune with the config's settings (throughput.settings).

The model goes through SupervisedFinetune's own build path (a config dict whose
`type` is build_random_llm), so XTuner's choices apply as in `xtuner train`:
with flash-attn installed it switches to flash_attention_2 (and bf16 weights);
peft's prepare_model_for_kbit_training then casts every non-4-bit fp16/bf16
weight to fp32, so the "fp16" 7B LoRA actually keeps fp32 base weights and runs
its matmuls in fp16 under autocast, exactly like a real run. The weights are
created on the GPU directly (`with torch.device("cuda")`). For QLoRA the model is
built in the config's torch_dtype and every linear layer but the output head (the
layer transformers' bitsandbytes loader also leaves unquantized) is replaced by a
bitsandbytes Linear4bit with the config's quant type, double quantization and
compute dtype -- what from_pretrained(quantization_config=...) produces. GPU only.

Attention (--attn): by default XTuner's own choice, flash_attention_2 when
flash-attn is installed, else what the hub's InternLM2 config.json says, eager --
which is what `xtuner train` of our configs runs on such a box. --attn sdpa or
flash_attention_2 force one.
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


def build_model(settings: Settings, model_dir: Path, device: str, attn: str, bf16: bool):
    import legal_eagle_xtuner  # noqa: F401  (CPU shim for SupervisedFinetune)
    from mmengine.config import ConfigDict
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig
    from xtuner.model import SupervisedFinetune

    torch_dtype = "bfloat16" if bf16 else settings.torch_dtype
    # A ConfigDict, as `xtuner train` hands it over (XTuner reads it by attribute).
    llm = ConfigDict(type=build_random_llm, pretrained_model_name_or_path=str(model_dir),
                     trust_remote_code=True, torch_dtype=torch_dtype,
                     attn_override=attn, device=device)
    if settings.quantization is not None:
        q = dict(settings.quantization)
        if bf16:
            q["bnb_4bit_compute_dtype"] = "bfloat16"
        llm["quantization_config"] = dict(type=BitsAndBytesConfig, **q)
    return SupervisedFinetune(
        llm=llm,
        lora=ConfigDict(type=LoraConfig, **settings.lora),
        use_activation_checkpointing=settings.use_activation_checkpointing,
        use_varlen_attn=settings.use_varlen_attn,
    )
