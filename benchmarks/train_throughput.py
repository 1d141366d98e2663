"""Training throughput of our LoRA / QLoRA settings: XTuner's stream packing
against our best-fit packing, on one GPU (or a tiny model on CPU).

    python benchmarks/train_throughput.py --shape 7b      # InternLM2-7B, LoRA, fp16 AMP
    python benchmarks/train_throughput.py --shape 20b     # InternLM2-20B, QLoRA 4-bit nf4
    python benchmarks/train_throughput.py --shape tiny    # tiny model, CPU or GPU, seconds

What is built
  A randomly initialised InternLM2 of the real shape (7b: hidden 4096, 32 layers,
  32 heads, 8 KV heads, FFN 14336, vocab 92544, rope theta 1e6, 32768 positions;
  20b: hidden 6144, 48 layers, 48 heads, 8 KV heads, FFN 16384, same vocab), from
  the InternLM2 modeling files that xtuner ships (xtuner/_lite/modelings/internlm2),
  written with a config.json into a temporary directory exactly as
  legal_eagle_xtuner.demo.tiny does -- no hub, no checkpoint. It is wrapped by XTuner's
  own SupervisedFinetune with the `model` settings of the config file
  (--config; default configs/internlm2_7b_disc.py for 7b and tiny,
  configs/internlm2_20b_qlora_lawgpt.py for 20b), read with mmengine's
  Config.fromfile: torch_dtype, quantization_config, the LoRA config (r, alpha,
  dropout; target_modules=None, so XTuner targets every linear layer, the output
  head included), use_activation_checkpointing, use_varlen_attn; and batch_size,
  max_length, lr, betas, weight_decay, max_norm (grad clipping) and the AMP dtype
  of optim_wrapper. If the config cannot be loaded, the values mirrored in MIRROR
  below are used and a warning says so.

  The model goes through SupervisedFinetune's own build path (a config dict whose
  `type` is this script's builder), so XTuner's choices apply as in `xtuner train`:
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
  flash_attention_2 force one. The report names the attention class used.

Data (two modes, same samples, same model, side by side)
  Sample lengths follow the config's sources: synthetic records of the real
  sources' shape (legal_eagle_xtuner.data.synthetic; DISC-Law-SFT Pair/Triplet for the
  7B config, LAW-GPT 52k/92k for the 20B one, drawn by the real files' sizes),
  characters of all fields plus the system prompt divided by --chars-per-token
  (default 1.5, an assumption for InternLM2's tokenizer on Chinese), plus 15 tokens
  of internlm2_chat template, truncated to max_length as XTuner's encode_fn does.
  On --shape tiny the lengths are scaled by max_length/2048. Token ids are random.
  Each source is packed on its own (as ConcatDataset does), packs are shuffled.
    xtuner  XTuner's stream packing (xtuner.dataset.utils.Packer): samples are
            concatenated and cut every max_length tokens; every pack is exactly
            max_length long (Packer keeps each source's last, partial pack as
            residue, and a short pack it makes of a source too small for one
            is dropped here), samples straddling a cut are split.
    ours    legal_eagle_xtuner.train.packing.plan_packs(lengths, max_length, seed=...):
            whole samples, best fit; packs are padded per batch by
            xtuner.dataset.collate_fns.default_collate_fn.
  Batches are collated by default_collate_fn (use_varlen_attn=False, so attention
  spans the whole pack, across sample borders, as in our configs) before timing;
  the data loader is not timed. Throughput counts real tokens only (the attention
  mask's ones), never padding.

Training step
  One step = one micro-batch of batch_size packs: forward, backward, AdamW step
  on the trainable (LoRA) parameters, gradients clipped to max_norm. On a GPU,
  autocast in the config's AMP dtype ("auto": bf16 on GPUs that support it, else
  float16 with a GradScaler), as the configs' AutoAmpOptimWrapper; --bf16 also
  switches weights and compute dtype to bf16. On CPU: fp32, no autocast, one thread (--threads). Gradient
  accumulation is left out: it only skips optimizer steps, whose cost for LoRA is
  negligible.
  --warmup steps (default 10; tiny: 2) then --steps measured steps (default 200;
  tiny: 10) per mode, each mode with its own fresh optimizer. --max-seconds
  (default 170) stops a mode's measured phase early so that a --shape 7b or 20b
  run stays within about 8 minutes; the report says how many steps were measured.

Metrics
  tokens/s/GPU  real tokens of the measured steps / their wall time (one GPU).
  step time     mean wall time of a measured step (synchronised).
  MFU           model FLOPs of the measured steps / time / peak FLOP/s.
  HFU           the same with the activation-checkpointing recompute counted.
  peak memory   GPU: torch.cuda.max_memory_allocated, reset at the start of each
                mode (so it holds the weights, that mode's optimizer state and
                activations, but not the build: the 20B model exists in fp16,
                ~40 GB, for a moment before it is quantized, which a real
                from_pretrained never does, so 20b needs that much free to
                start); CPU: the process's peak RSS (getrusage, one number
                for the whole process). GB = 10^9 bytes.

MFU formula (model FLOPs per real token; recompute NOT counted, the usual MFU
convention):
    6 * N_trainable                forward 2N + backward 4N (activation and weight
                                   gradients) of the LoRA matrices
  + 4 * N_frozen                   frozen weights need activation gradients only:
                                   forward 2N + backward 2N
  + 12 * n_layers * hidden * s     attention scores QK^T and A.V, forward (4*d*s)
                                   plus backward (8*d*s), per layer
  N counts matmul weights only: every linear layer including the output head, at
  its logical in*out size (4-bit weights too); the embedding table (a lookup) and
  the norm weights are not counted. s is the number of tokens a token attends to,
  without halving for the causal mask (PaLM's convention): without varlen
  attention a token attends over its whole pack row, so a row with r real tokens
  costs 12*L*d*r*r; for XTuner's packs r = max_length. Padding is not model work
  and is never counted. HFU adds the recompute of activation checkpointing, one
  more forward: 2*(N_trainable + N_frozen) + 4*L*d*s per token.
  Peak FLOP/s: --peak-tflops, else picked from torch.cuda.get_device_name()
  (H100/H200/H800 SXM 989, H100 PCIe 756, A100/A800 312 dense fp16/bf16), else 989
  with a warning. On CPU MFU is reported as n/a.

Targets (printed beside the numbers, GPU only)
  --shape 7b:  MFU >= 45% on an H100 (LoRA).
  --shape 20b: peak memory <= 40 GB with max_length 2048 (QLoRA).

Output
  A table, the targets, and as the last line one machine-readable line of
  key=value pairs, for example
    shape=7b device=cuda mode=ours tokens_per_s=... step_s=... mfu=0.47 peak_gb=31.2
    split=0 loss=11.2 ... xtuner_tokens_per_s=... xtuner_split=812 ... ratio=1.08
  (one line; `ratio` is ours / xtuner tokens per second, `split` the number of
  samples cut across packs, `target` met / missed / n/a for the ours mode).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

# -- shapes -------------------------------------------------------------------------

SHAPES = {
    "7b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, intermediate_size=14336, vocab_size=92544,
               rope_theta=1000000, max_position_embeddings=32768),
    "20b": dict(hidden_size=6144, num_hidden_layers=48, num_attention_heads=48,
                num_key_value_heads=8, intermediate_size=16384, vocab_size=92544,
                rope_theta=1000000, max_position_embeddings=32768),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, intermediate_size=176, vocab_size=2048,
                 rope_theta=1000000, max_position_embeddings=4096),
}

DEFAULT_CONFIG = {
    "7b": "internlm2_7b_disc",
    "tiny": "internlm2_7b_disc",
    "20b": "internlm2_20b_qlora_lawgpt",
}

# InternLM2's special token ids (<unk>, <s>, </s>); random tokens are drawn above.
BOS, EOS, PAD = 1, 2, 2
FIRST_TOKEN = 3
# internlm2_chat template around a sample: <s>, <|im_start|>system\n ... <|im_end|>\n,
# <|im_start|>user\n ... <|im_end|>\n<|im_start|>assistant\n ... <|im_end|>.
TEMPLATE_TOKENS = 15
REFERENCE_LENGTH = 2048  # --shape tiny scales sample lengths by max_length / this

# Where a config's samples come from, weighted by the real files' sizes (records).
CORPORA = {
    "disc": (("disc_pair", 257_000), ("disc_triplet", 16_000)),
    "lawgpt": (("lawgpt_52k", 52_000), ("lawgpt_92k", 92_000)),
}

# Dense fp16/bf16 tensor-core peak, TFLOP/s, by a substring of the device name
# (first match wins).
PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("H200", 989.0),
    ("H800", 989.0),
    ("GH200", 989.0),
    ("A100", 312.0),
    ("A800", 312.0),
)
DEFAULT_PEAK_TFLOPS = 989.0

MFU_TARGET = 0.45  # 7B LoRA on an H100
PEAK_GB_TARGET = 40.0  # 20B QLoRA at max_length 2048


# -- settings from the config -------------------------------------------------------

@dataclass
class Settings:
    """What the benchmark takes from a training config."""

    config: str
    origin: str  # "config" (read with Config.fromfile) or "mirror"
    torch_dtype: str  # "float16" / "bfloat16" / "float32"
    quantization: dict | None  # BitsAndBytesConfig kwargs, or None
    lora: dict  # LoraConfig kwargs
    use_activation_checkpointing: bool
    use_varlen_attn: bool
    batch_size: int
    max_length: int
    lr: float
    betas: tuple
    weight_decay: float
    max_norm: float
    amp_dtype: str  # the optim wrapper dtype ("auto": bf16 where supported, else fp16)
    corpus: str  # key of CORPORA
    system: str = field(repr=False, default="")

    def comparable(self) -> dict:
        d = {k: v for k, v in vars(self).items() if k not in ("origin", "system")}
        d["betas"] = tuple(float(b) for b in self.betas)
        d["system_chars"] = len(self.system)
        return d


_QLORA = dict(load_in_4bit=True, load_in_8bit=False, llm_int8_threshold=6.0,
              llm_int8_has_fp16_weight=False, bnb_4bit_compute_dtype="float16",
              bnb_4bit_use_double_quant=True, bnb_4bit_quant_type="nf4")

# Mirror of the configs' values, used only if a config cannot be loaded (and
# checked against the configs by tests/test_train_throughput.py).
MIRROR = {
    "internlm2_7b_disc": dict(
        torch_dtype="float16", quantization=None,
        lora=dict(r=8, lora_alpha=16, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM"),
        use_activation_checkpointing=True, use_varlen_attn=False, batch_size=4,
        max_length=2048, lr=5e-5, betas=(0.9, 0.999), weight_decay=0, max_norm=1,
        amp_dtype="auto", corpus="disc"),
    "internlm2_20b_qlora_lawgpt": dict(
        torch_dtype="float16", quantization=_QLORA,
        lora=dict(r=64, lora_alpha=16, lora_dropout=0.1, bias="none", task_type="CAUSAL_LM"),
        use_activation_checkpointing=True, use_varlen_attn=False, batch_size=4,
        max_length=2048, lr=1e-4, betas=(0.9, 0.999), weight_decay=0, max_norm=1,
        amp_dtype="auto", corpus="lawgpt"),
}


def _dtype_name(value) -> str:
    import torch

    if isinstance(value, torch.dtype):
        return str(value).replace("torch.", "")
    return str(value).replace("torch.", "")


def _plain(d) -> dict:
    """A ConfigDict (or dict) as a plain dict without its ``type``, dtypes as names."""
    out = {}
    for k, v in dict(d).items():
        if k == "type":
            continue
        out[k] = _dtype_name(v) if "dtype" in k else v
    return out


def settings_from_config(path: str | Path) -> Settings:
    """Read the benchmark's settings from an XTuner config with Config.fromfile."""
    import legal_eagle_xtuner  # noqa: F401  (the CPU shim; configs import through it)
    from mmengine.config import Config

    path = Path(path)
    cfg = Config.fromfile(str(path))
    model = cfg.model
    quant = model.llm.get("quantization_config")
    if "disc_pair_path" in cfg or "disc_triplet_path" in cfg:
        corpus = "disc"
    elif "crime_kg_assitant_path" in cfg or "law_reference_data_path" in cfg:
        corpus = "lawgpt"
    else:
        corpus = "disc"
    lora = _plain(model.lora)
    if lora.get("target_modules") is not None:
        raise SystemExit(f"{path}: LoRA target_modules is set; the benchmark assumes "
                         "XTuner's default (every linear layer)")
    lora.pop("target_modules", None)
    return Settings(
        config=path.stem,
        origin="config",
        torch_dtype=_dtype_name(model.llm.get("torch_dtype", "float16")),
        quantization=_plain(quant) if quant is not None else None,
        lora=lora,
        use_activation_checkpointing=bool(model.get("use_activation_checkpointing", True)),
        use_varlen_attn=bool(model.get("use_varlen_attn", False)),
        batch_size=int(cfg.batch_size),
        max_length=int(cfg.max_length),
        lr=float(cfg.lr),
        betas=tuple(cfg.betas),
        weight_decay=float(cfg.weight_decay),
        max_norm=float(cfg.max_norm),
        amp_dtype=str(cfg.optim_wrapper.get("dtype", "float16")),
        corpus=corpus,
        system=str(cfg.get("SYSTEM", "") or ""),
    )


def mirrored_settings(name: str) -> Settings:
    from legal_eagle_xtuner import LEGAL_SYSTEM

    values = json.loads(json.dumps(MIRROR[name]))  # deep copy
    values["betas"] = tuple(values["betas"])
    return Settings(config=name, origin="mirror", system=LEGAL_SYSTEM, **values)


def load_settings(config: str) -> Settings:
    path = Path(config)
    if not path.suffix:
        path = CONFIGS / f"{config}.py"
    try:
        return settings_from_config(path)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure: fall back loudly
        if path.stem not in MIRROR:
            raise
        print(f"WARNING: could not load {path} ({type(exc).__name__}: {exc}); "
              f"using the values mirrored in this script (MIRROR[{path.stem!r}])",
              flush=True)
        return mirrored_settings(path.stem)


# -- FLOPs --------------------------------------------------------------------------

def matmul_params(shape: dict) -> int:
    """Weights of every linear layer of an InternLM2 of ``shape`` (output head
    included, embedding table and norms not): the N_frozen of the MFU formula."""
    d = shape["hidden_size"]
    head_dim = d // shape["num_attention_heads"]
    qkv = d * (shape["num_attention_heads"] + 2 * shape["num_key_value_heads"]) * head_dim
    per_layer = qkv + d * d + 3 * d * shape["intermediate_size"]
    return shape["num_hidden_layers"] * per_layer + d * shape["vocab_size"]


def flops_per_token(n_trainable: float, n_frozen: float, n_layers: int, hidden: int,
                    attn_len: float, recompute: bool = False) -> float:
    """Training FLOPs of one token (see the module docstring):
    6*N_trainable + 4*N_frozen + 12*n_layers*hidden*attn_len, plus one more forward,
    2*(N_trainable + N_frozen) + 4*n_layers*hidden*attn_len, if ``recompute``
    (activation checkpointing; not counted in MFU)."""
    flops = 6 * n_trainable + 4 * n_frozen + 12 * n_layers * hidden * attn_len
    if recompute:
        flops += 2 * (n_trainable + n_frozen) + 4 * n_layers * hidden * attn_len
    return float(flops)


def batch_flops(row_lengths, n_trainable: float, n_frozen: float, n_layers: int,
                hidden: int, recompute: bool = False) -> float:
    """FLOPs of a batch whose rows hold ``row_lengths`` real tokens each (no
    varlen attention: each token of a row attends to the row's real tokens)."""
    return float(sum(
        int(r) * flops_per_token(n_trainable, n_frozen, n_layers, hidden, int(r), recompute)
        for r in row_lengths
    ))


def peak_tflops_for(device_name: str) -> float | None:
    for key, value in PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return value
    return None


# -- data ---------------------------------------------------------------------------

def _chars(value) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(_chars(v) for v in value)
    if isinstance(value, dict):
        return sum(_chars(v) for k, v in value.items() if k != "id")
    return 0


def sample_lengths(corpus: str, n_tokens: int, max_length: int, *, system_chars: int,
                   chars_per_token: float, seed: int, scale: float = 1.0) -> dict:
    """Token lengths of synthetic samples of ``corpus``'s sources, drawn by the
    real files' sizes, until their total (after truncation to ``max_length``)
    reaches ``n_tokens``. Returns {source: int64 array} in draw order."""
    from legal_eagle_xtuner.data.synthetic import iter_records

    sources = CORPORA[corpus]
    weights = np.array([w for _, w in sources], dtype=float)
    rng = np.random.default_rng(seed)
    streams = {name: iter_records(name, seed=seed) for name, _ in sources}
    out = {name: [] for name, _ in sources}
    total = 0
    while total < n_tokens:
        name = sources[rng.choice(len(sources), p=weights / weights.sum())][0]
        record = next(streams[name])
        tokens = math.ceil((system_chars + _chars(record)) / chars_per_token) + TEMPLATE_TOKENS
        tokens = min(max_length, max(2, round(tokens * scale)))
        out[name].append(tokens)
        total += tokens
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items() if v}


def count_stream_splits(lengths, max_length: int) -> int:
    """Samples that XTuner's stream packing cuts: a pack border falls inside them."""
    ends = np.cumsum(lengths)
    starts = ends - lengths
    return int(np.count_nonzero(starts // max_length != (ends - 1) // max_length))


def _random_tokens(lengths, vocab_size: int, rng) -> list:
    flat = rng.integers(FIRST_TOKEN, vocab_size, size=int(np.sum(lengths)), dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [flat[bounds[i]:bounds[i + 1]] for i in range(len(lengths))]


def xtuner_packs(lengths_by_source: dict, max_length: int, vocab_size: int, seed: int):
    """XTuner's stream packing (xtuner.dataset.utils.Packer) of each source.
    Returns (packs as {"input_ids", "labels"} lists, samples split)."""
    from xtuner.dataset.utils import Packer

    rng = np.random.default_rng(seed + 1)
    packs, split = [], 0
    for lengths in lengths_by_source.values():
        samples = [t.tolist() for t in _random_tokens(lengths, vocab_size, rng)]
        packed = Packer(chunk_size=max_length)({"input_ids": samples, "labels": samples})
        # Only full packs: Packer hands out a short one only when a whole source
        # has fewer than max_length tokens (never with real data).
        packs += [{"input_ids": i, "labels": l}
                  for i, l in zip(packed["input_ids"], packed["labels"])
                  if len(i) == max_length]
        split += count_stream_splits(lengths, max_length)
    if not packs:
        raise SystemExit("too few tokens for one full pack")
    order = np.random.default_rng(seed + 2).permutation(len(packs))
    return [packs[i] for i in order], split


def load_planner(spec: str):
    """``module:function``, e.g. legal_eagle_xtuner.train.packing:plan_packs."""
    module, _, func = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), func or "plan_packs")
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"cannot import the pack planner {spec!r} ({exc}); "
                         "pass --plan-packs MODULE:FUNCTION") from exc


def our_packs(lengths_by_source: dict, max_length: int, vocab_size: int, seed: int,
              planner):
    """Best-fit packs from ``planner(lengths, max_length, seed=seed)`` (one list of
    index arrays per source). Checks its contract: every sample in exactly one
    pack (else exits), at most max_length tokens per pack (an overfull pack is cut
    at max_length and the samples cut are counted as split)."""
    rng = np.random.default_rng(seed + 1)
    packs, split = [], 0
    for lengths in lengths_by_source.values():
        tokens = _random_tokens(lengths, vocab_size, rng)
        plan = planner([int(x) for x in lengths], max_length, seed=seed)
        seen = np.zeros(len(lengths), dtype=np.int64)
        for idx in plan:
            idx = np.asarray(idx, dtype=np.int64)
            seen[idx] += 1
            ids = np.concatenate([tokens[i] for i in idx]) if len(idx) else np.empty(0, np.int64)
            if len(ids) > max_length:
                ends = np.cumsum(lengths[idx])
                split += int(np.count_nonzero(ends > max_length))
                ids = ids[:max_length]
            if len(ids):
                packs.append({"input_ids": ids.tolist(), "labels": ids.tolist()})
        if not np.all(seen == 1):
            bad = int(np.flatnonzero(seen != 1)[0])
            raise SystemExit(f"pack planner broke its contract: sample {bad} is in "
                             f"{int(seen[bad])} packs (expected exactly 1)")
    order = np.random.default_rng(seed + 2).permutation(len(packs))
    return [packs[i] for i in order], split


def make_batches(packs: list, batch_size: int, n_batches: int) -> list:
    """Collate consecutive packs with XTuner's default_collate_fn, cycling through
    the packs if there are too few. Each batch: (data dict, real tokens per row)."""
    from xtuner.dataset.collate_fns import default_collate_fn

    batches, i = [], 0
    for _ in range(n_batches):
        group = [packs[(i + j) % len(packs)] for j in range(batch_size)]
        i += batch_size
        data = default_collate_fn(group)["data"]
        rows = data["attention_mask"].sum(dim=1).tolist()
        batches.append((data, rows))
    return batches


# -- model --------------------------------------------------------------------------

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


# -- measuring ----------------------------------------------------------------------

def peak_rss_gb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1e9 if sys.platform == "darwin" else rss * 1024 / 1e9


def run_mode(model, batches, *, warmup: int, settings: Settings, device: str,
             amp_dtype, max_seconds: float, flops_args: dict, peak_flops: float | None):
    import torch

    cuda = device == "cuda"
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.lr, betas=settings.betas,
                            weight_decay=settings.weight_decay)
    scaler = torch.amp.GradScaler("cuda") if cuda and amp_dtype == torch.float16 else None
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    times, losses, tokens, mflops, hflops = [], [], 0, 0.0, 0.0
    measured_start = None
    for i, (data, rows) in enumerate(batches):
        if i == warmup:
            measured_start = time.perf_counter()
        t0 = time.perf_counter()
        data = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v
                for k, v in data.items()}
        ctx = torch.autocast("cuda", dtype=amp_dtype) if cuda else contextlib.nullcontext()
        with ctx:
            loss = model(data, mode="loss")["loss"]
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, settings.max_norm)
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.max_norm)
            opt.step()
        opt.zero_grad(set_to_none=True)
        value = loss.item()
        if cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
            losses.append(value)
            tokens += sum(rows)
            mflops += batch_flops(rows, **flops_args)
            hflops += batch_flops(rows, **flops_args, recompute=True)
            if max_seconds and time.perf_counter() - measured_start > max_seconds:
                break
    wall = sum(times)
    peak = torch.cuda.max_memory_allocated() / 1e9 if cuda else peak_rss_gb()
    del opt, scaler, params
    model.zero_grad(set_to_none=True)
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return dict(
        steps=len(times),
        tokens=tokens,
        tokens_per_s=tokens / wall if wall else 0.0,
        step_s=wall / len(times) if times else float("nan"),
        tflops=mflops / wall / 1e12 if wall else 0.0,
        mfu=mflops / wall / peak_flops if wall and peak_flops else None,
        hfu=hflops / wall / peak_flops if wall and peak_flops else None,
        peak_gb=peak,
        loss=float(np.mean(losses)) if losses else float("nan"),
        loss_finite=bool(losses) and all(math.isfinite(x) for x in losses),
    )


def _fmt(x, spec=".3f"):
    return "n/a" if x is None else format(x, spec)


def _pct(x):
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _count(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3f} {unit}"
    return str(int(n))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b",
                        help="model shape (default 7b; tiny runs on CPU in seconds)")
    parser.add_argument("--config", help="XTuner config whose model / optimizer settings "
                        "are used: a path, or a name under configs/ (default: "
                        "internlm2_7b_disc for 7b and tiny, internlm2_20b_qlora_lawgpt for 20b)")
    parser.add_argument("--steps", type=int, help="measured steps per mode "
                        "(default 200; tiny: 10)")
    parser.add_argument("--warmup", type=int, help="warm-up steps per mode, not measured "
                        "(default 10; tiny: 2)")
    parser.add_argument("--max-seconds", type=float, default=170.0,
                        help="stop a mode's measured phase after this many seconds "
                        "(default 170, so a 7b/20b run fits in ~8 minutes; 0: no limit)")
    parser.add_argument("--batch-size", type=int,
                        help="packs per step (default: the config's batch_size, 4)")
    parser.add_argument("--max-length", type=int,
                        help="tokens per pack (default: the config's max_length, 2048; tiny: 128)")
    parser.add_argument("--bf16", action="store_true",
                        help="bf16 weights, 4-bit compute dtype and autocast instead of "
                        "the config's fp16 (no GradScaler); GPU only")
    parser.add_argument("--attn", default="auto",
                        choices=["auto", "eager", "sdpa", "flash_attention_2"],
                        help="attention implementation; auto (default) is XTuner's own "
                        "choice: flash_attention_2 if flash-attn is installed, else the "
                        "model config's eager")
    parser.add_argument("--peak-tflops", type=float,
                        help="peak dense fp16/bf16 TFLOP/s for MFU (default: from the "
                        "GPU's name: H100/H200 989, H100 PCIe 756, A100 312; else 989)")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                        help="auto (default): cuda if available, else cpu (tiny only)")
    parser.add_argument("--chars-per-token", type=float, default=1.5,
                        help="characters per InternLM2 token, to turn synthetic records "
                        "into token lengths (default 1.5)")
    parser.add_argument("--plan-packs", default="legal_eagle_xtuner.train.packing:plan_packs",
                        metavar="MODULE:FUNCTION",
                        help="our pack planner (default legal_eagle_xtuner.train.packing:plan_packs)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU only: torch threads (default 1; the tiny model is "
                        "latency-bound and more threads only contend on shared cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed of lengths, tokens, "
                        "packing and weights (default 0)")
    args = parser.parse_args(argv)

    tiny = args.shape == "tiny"
    steps = args.steps if args.steps is not None else (10 if tiny else 200)
    warmup = args.warmup if args.warmup is not None else (2 if tiny else 10)
    if steps < 1 or warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")

    planner = load_planner(args.plan_packs)  # fail before the expensive part

    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU available")
    if device == "cpu" and not tiny:
        parser.error(f"--shape {args.shape} needs a CUDA GPU; use --shape tiny on CPU")
    if args.bf16 and device != "cuda":
        parser.error("--bf16 is for GPUs")
    if args.attn == "flash_attention_2":
        try:
            import flash_attn  # noqa: F401
        except ImportError:
            parser.error("--attn flash_attention_2: flash-attn is not installed")

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.manual_seed(args.seed)
    if device == "cpu":
        torch.set_num_threads(max(1, args.threads))

    settings = load_settings(args.config or DEFAULT_CONFIG[args.shape])
    if args.batch_size:
        settings.batch_size = args.batch_size
    if args.max_length:
        settings.max_length = args.max_length
    elif tiny:
        settings.max_length = 128
    if settings.quantization is not None and device != "cuda":
        parser.error(f"{settings.config} is 4-bit QLoRA, which needs a CUDA GPU")
    shape = SHAPES[args.shape]
    max_length, batch_size = settings.max_length, settings.batch_size
    n_batches = warmup + steps

    # Data first (cheap), so a broken planner fails before the model is built.
    lengths = sample_lengths(
        settings.corpus, int(n_batches * batch_size * max_length * 1.05) + max_length,
        max_length, system_chars=len(settings.system),
        chars_per_token=args.chars_per_token, seed=args.seed,
        scale=max_length / REFERENCE_LENGTH if tiny else 1.0)
    n_samples = sum(len(v) for v in lengths.values())
    x_packs, x_split = xtuner_packs(lengths, max_length, shape["vocab_size"], args.seed)
    o_packs, o_split = our_packs(lengths, max_length, shape["vocab_size"], args.seed, planner)
    modes = {
        "xtuner": (make_batches(x_packs, batch_size, n_batches), x_split, len(x_packs)),
        "ours": (make_batches(o_packs, batch_size, n_batches), o_split, len(o_packs)),
    }
    all_lengths = np.concatenate(list(lengths.values()))
    total_tokens = int(all_lengths.sum())

    from legal_eagle_xtuner.train.precision import amp_dtype as resolve_amp

    amp_name = resolve_amp() if settings.amp_dtype == "auto" else settings.amp_dtype
    amp_dtype = torch.bfloat16 if args.bf16 else getattr(torch, amp_name)
    device_name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    peak_flops = None
    peak_note = ""
    if device == "cuda":
        peak = args.peak_tflops or peak_tflops_for(device_name)
        if peak is None:
            peak = DEFAULT_PEAK_TFLOPS
            peak_note = f" (WARNING: unknown GPU, assumed {peak:g}; set --peak-tflops)"
        peak_flops = peak * 1e12

    print(f"== train throughput: shape={args.shape} config={settings.config} "
          f"({settings.origin}) device={device_name}", flush=True)
    quant = settings.quantization
    print(f"   {'QLoRA 4-bit ' + quant.get('bnb_4bit_quant_type', '') if quant else 'LoRA'} "
          f"r={settings.lora.get('r')} alpha={settings.lora.get('lora_alpha')} "
          f"dropout={settings.lora.get('lora_dropout')}, all linear layers; "
          f"built in {'bfloat16' if args.bf16 else settings.torch_dtype}, "
          f"AMP {str(amp_dtype).replace('torch.', '') if device == 'cuda' else 'off (fp32)'}; "
          f"activation checkpointing {'on' if settings.use_activation_checkpointing else 'off'}; "
          f"varlen attention {'on' if settings.use_varlen_attn else 'off'}")
    print(f"   batch {batch_size} x {max_length} tokens; {warmup} warm-up + {steps} "
          f"measured steps per mode (cap {args.max_seconds:g} s); lr {settings.lr:g}, "
          f"max_norm {settings.max_norm:g}", flush=True)
    print(f"   data: {n_samples} samples ({settings.corpus}), {total_tokens} tokens, "
          f"mean {all_lengths.mean():.0f} / max {all_lengths.max()} tokens; "
          f"xtuner {len(x_packs)} packs, {x_split} samples split; "
          f"ours {len(o_packs)} packs, {o_split} split", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="train-throughput-"))
    # A fixed basename: transformers caches remote code per directory name, so
    # every run reuses one cache entry instead of leaving one behind.
    model_dir = tmp / "train-throughput-internlm2"
    model_dir.mkdir()
    try:
        t0 = time.perf_counter()
        model = build_model(settings, write_model_dir(model_dir, shape), device, args.attn,
                            args.bf16)
        if device == "cuda":
            torch.cuda.synchronize()
            gc.collect()
            torch.cuda.empty_cache()
        build_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_frozen = matmul_params(shape)
    attn_used = sorted({type(m).__name__ for m in model.modules()
                        if type(m).__name__.startswith("InternLM2")
                        and "Attention" in type(m).__name__})
    frozen_dtypes = sorted({str(p.dtype).replace("torch.", "") for p in model.parameters()
                            if not p.requires_grad})
    flops_args = dict(n_trainable=n_trainable, n_frozen=n_frozen,
                      n_layers=shape["num_hidden_layers"], hidden=shape["hidden_size"])
    print(f"   model built in {build_s:.1f} s: {_count(n_frozen)} frozen matmul "
          f"weights ({'/'.join(frozen_dtypes)} after peft), {_count(n_trainable)} "
          f"trainable (LoRA); attention "
          f"{', '.join(attn_used) or '?'}; peak {_fmt(peak_flops and peak_flops / 1e12, 'g')} "
          f"TFLOP/s{peak_note}", flush=True)

    results = {}
    for mode, (batches, split, n_packs) in modes.items():
        t0 = time.perf_counter()
        r = run_mode(model, batches, warmup=warmup, settings=settings, device=device,
                     amp_dtype=amp_dtype, max_seconds=args.max_seconds,
                     flops_args=flops_args, peak_flops=peak_flops)
        r["split"] = split
        r["packs"] = n_packs
        slots = r["steps"] * batch_size * max_length
        r["fill"] = r["tokens"] / slots if slots else float("nan")
        results[mode] = r
        print(f"   {mode}: {r['steps']} steps measured in {time.perf_counter() - t0:.1f} s "
              f"(warm-up included)", flush=True)

    mem = "peak GPU GB" if device == "cuda" else "peak RSS GB"
    print()
    print(f"{'mode':<8}{'tokens/s/GPU':>14}{'step s':>10}{'TFLOP/s':>10}{'MFU':>8}"
          f"{'HFU':>8}{mem:>13}{'fill':>8}{'split':>8}{'loss':>9}")
    for mode, r in results.items():
        print(f"{mode:<8}{r['tokens_per_s']:>14.1f}{r['step_s']:>10.4f}{r['tflops']:>10.3f}"
              f"{_pct(r['mfu']):>8}{_pct(r['hfu']):>8}"
              f"{r['peak_gb']:>13.2f}{100 * r['fill']:>7.1f}%{r['split']:>8}{r['loss']:>9.3f}")
    ratio = (results["ours"]["tokens_per_s"] / results["xtuner"]["tokens_per_s"]
             if results["xtuner"]["tokens_per_s"] else float("nan"))
    print(f"ours / xtuner real tokens per second: {ratio:.3f}")
    print("MFU = (6*N_trainable + 4*N_frozen + 12*layers*hidden*s) * real tokens / time / peak; "
          "s = real tokens of the token's pack row (no causal halving); recompute of "
          "activation checkpointing not counted (HFU counts it: +2*N + 4*layers*hidden*s). "
          "fill = real tokens / (steps * batch * max_length).")

    target = {m: "n/a" for m in results}
    if device == "cuda" and args.shape == "7b":
        note = "" if "H100" in device_name else f" (device is {device_name}, not an H100: indicative only)"
        for m, r in results.items():
            target[m] = "met" if r["mfu"] is not None and r["mfu"] >= MFU_TARGET else "missed"
            print(f"target 7B LoRA MFU >= {100 * MFU_TARGET:.0f}% on an H100 [{m}]: "
                  f"{100 * r['mfu']:.1f}% -> target {target[m]}{note}")
    elif device == "cuda" and args.shape == "20b":
        for m, r in results.items():
            if max_length != 2048:
                print(f"target 20B QLoRA peak <= {PEAK_GB_TARGET:g} GB at 2048 tokens [{m}]: "
                      f"n/a (max_length {max_length})")
                continue
            target[m] = "met" if r["peak_gb"] <= PEAK_GB_TARGET else "missed"
            print(f"target 20B QLoRA peak <= {PEAK_GB_TARGET:g} GB at 2048 tokens [{m}]: "
                  f"{r['peak_gb']:.2f} GB -> target {target[m]}")
    else:
        print("targets: n/a (GPU runs of --shape 7b / 20b only)")

    def keys(r, prefix=""):
        return [f"{prefix}tokens_per_s={r['tokens_per_s']:.1f}", f"{prefix}step_s={r['step_s']:.4f}",
                f"{prefix}mfu={_fmt(r['mfu'], '.4f')}", f"{prefix}hfu={_fmt(r['hfu'], '.4f')}",
                f"{prefix}peak_gb={r['peak_gb']:.2f}", f"{prefix}split={r['split']}",
                f"{prefix}fill={r['fill']:.4f}", f"{prefix}loss={r['loss']:.4f}",
                f"{prefix}steps={r['steps']}"]

    o, x = results["ours"], results["xtuner"]
    line = [f"shape={args.shape}", f"device={device}", f"config={settings.config}",
            f"max_length={max_length}", f"batch={batch_size}", "mode=ours", *keys(o),
            f"target={target['ours']}", *keys(x, "xtuner_"), f"xtuner_target={target['xtuner']}",
            f"ratio={ratio:.4f}"]
    print(" ".join(line), flush=True)
    ok = o["loss_finite"] and x["loss_finite"]
    if not ok:
        print("ERROR: non-finite loss", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
