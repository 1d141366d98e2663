"""What the benchmark takes from a training config.

The `model` settings of the config file (--config; default
configs/internlm2_7b_disc.py for 7b and tiny, configs/internlm2_20b_qlora_lawgpt.py
for 20b), read with mmengine's Config.fromfile: torch_dtype, quantization_config,
the LoRA config (r, alpha, dropout, target_modules: every linear layer but the output
head since 0.2; 0.1's None made XTuner take the head too), use_activation_checkpointing,
use_varlen_attn; and batch_size, max_length, lr, betas, weight_decay, max_norm
(grad clipping) and the AMP dtype of optim_wrapper. If the config cannot be
loaded, the values mirrored in MIRROR below are used and a warning says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"

DEFAULT_CONFIG = {
    "7b": "internlm2_7b_disc",
    "tiny": "internlm2_7b_disc",
    "20b": "internlm2_20b_qlora_lawgpt",
}


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
    attention_path: str = "auto"  # isolated packing's kernel (the config's attention_path)
    system: str = field(repr=False, default="")
    path: str = field(repr=False, default="")  # the config file (origin "config")

    def comparable(self) -> dict:
        d = {k: v for k, v in vars(self).items() if k not in ("origin", "system", "path")}
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
        lora=dict(r=8, lora_alpha=16, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                  target_modules=["wqkv", "wo", "w1", "w2", "w3"]),
        use_activation_checkpointing=True, use_varlen_attn=False, batch_size=4,
        max_length=2048, lr=5e-5, betas=(0.9, 0.999), weight_decay=0, max_norm=1,
        amp_dtype="auto", corpus="disc"),
    "internlm2_20b_qlora_lawgpt": dict(
        torch_dtype="float16", quantization=_QLORA,
        lora=dict(r=64, lora_alpha=16, lora_dropout=0.1, bias="none", task_type="CAUSAL_LM",
                  target_modules=["wqkv", "wo", "w1", "w2", "w3"]),
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
        attention_path=str(cfg.get("attention_path", "auto")),
        system=str(cfg.get("SYSTEM", "") or ""),
        path=str(path),
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
