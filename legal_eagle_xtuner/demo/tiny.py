"""A tiny, randomly initialised InternLM2 built offline.

The architecture comes from the modeling files the installed xtuner ships in
``xtuner/_lite/modelings/internlm2/``; they are copied into the model directory and
named in ``config.json``'s ``auto_map``, exactly like a hub checkpoint loaded with
``trust_remote_code=True``. The tokenizer is a byte-level BPE trained here with
``tokenizers`` on the packaged sample records, with the special tokens of both
InternLM chat templates, so every XTuner tool (train, pth_to_hf, chat) runs on it
unchanged. It is for smoke runs, the demo and tests -- it knows no law.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

SPECIAL_TOKENS = [
    "<unk>",
    "<s>",
    "</s>",
    # internlm2_chat template
    "<|im_start|>",
    "<|im_end|>",
    # internlm_chat template
    "<eoh>",
    "<eoa>",
    "<|System|>",
    "<|User|>",
    "<|Bot|>",
]

# Bump when the files written below change, so cached models are rebuilt.
_BUILD_VERSION = 3  # 3: encode adds BOS and generation stops at <|im_end|>, as InternLM2-chat's


@dataclass(frozen=True)
class TinyInternLM2Spec:
    """Shape of the tiny model. Defaults train in seconds on two CPU cores."""

    hidden_size: int = 64
    """Width of the residual stream."""
    intermediate_size: int = 176
    """Width of the SwiGLU feed-forward layer."""
    num_hidden_layers: int = 2
    """Number of decoder layers."""
    num_attention_heads: int = 2
    """Query heads: head size 64 / 2 = 32, the smallest vLLM's CPU attention has a
    kernel for (it has none for 16)."""
    num_key_value_heads: int = 1
    """Key/value heads (grouped-query attention, as in InternLM2)."""
    vocab_size: int = 2048
    """Target BPE vocabulary size (the trained vocabulary may be smaller)."""
    max_position_embeddings: int = 4096
    """Longest sequence the rotary embedding is set up for."""
    initializer_range: float = 0.1
    """Standard deviation of the random weights. Larger than a real model's 0.02: the
    LoRA targets leave the output head frozen, and at 0.02 its logits could hardly
    move from uniform, so the demo's loss could hardly fall."""
    seed: int = 0
    """Seed of the weight initialisation."""


def default_cache_dir() -> Path:
    """``$LEGAL_EAGLE_CACHE``, else ``$XDG_CACHE_HOME/legal-eagle-xtuner``, else
    ``~/.cache/legal-eagle-xtuner``."""
    if os.environ.get("LEGAL_EAGLE_CACHE"):
        return Path(os.environ["LEGAL_EAGLE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "legal-eagle-xtuner"


def _modeling_dir() -> Path:
    import xtuner

    return Path(xtuner.__file__).parent / "_lite" / "modelings" / "internlm2"


def _sample_texts() -> Iterator[str]:
    """Every string of the packaged sample records (the tokenizer's corpus)."""
    from legal_eagle_xtuner.resources import SAMPLES

    for path in sorted(SAMPLES.glob("*.json*")):
        text = path.read_text(encoding="utf-8")
        rows = (
            json.loads(text)
            if path.suffix == ".json"
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
        for row in rows:
            yield from _strings(row)


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def build_tokenizer(texts: Iterable[str], vocab_size: int):
    """Train a byte-level BPE tokenizer and wrap it for ``transformers``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # encode() starts with BOS, as InternLM2's tokenizer does (add_bos_token): what
    # `xtuner chat` and `eval generate` rely on, and what training's encode_fn adds.
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="</s>",
        additional_special_tokens=SPECIAL_TOKENS[3:],
        clean_up_tokenization_spaces=False,
    )


INTERNLM2_AUTO_MAP = {
    "AutoConfig": "configuration_internlm2.InternLM2Config",
    "AutoModel": "modeling_internlm2.InternLM2ForCausalLM",
    "AutoModelForCausalLM": "modeling_internlm2.InternLM2ForCausalLM",
}


def write_internlm2_config(out: Path, **fields) -> dict:
    """Make ``out`` loadable with ``trust_remote_code=True`` and no hub: copy
    xtuner's InternLM2 modeling files there and write a ``config.json`` whose
    ``auto_map`` points at them. ``fields`` (shape, token ids, dtype …) are
    added to the settings every InternLM2 shares; returns the config."""
    out = Path(out)
    for name in ("configuration_internlm2.py", "modeling_internlm2.py"):
        shutil.copy(_modeling_dir() / name, out / name)
    config = {
        "architectures": ["InternLM2ForCausalLM"],
        "auto_map": dict(INTERNLM2_AUTO_MAP),
        "model_type": "internlm2",
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_scaling": None,
        "bias": False,
        "tie_word_embeddings": False,
        "attn_implementation": "eager",
        **fields,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return config


def save_random_model(out: Path, spec_record: dict, seed: int) -> None:
    """Initialise the model that ``out/config.json`` (with its ``auto_map``
    remote code) describes with random weights (``seed``), save it to ``out``
    and write ``spec_record`` to ``out/tiny_spec.json`` (the mark of a
    finished build, see :func:`cached_build`)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    auto_map = json.loads((out / "config.json").read_text(encoding="utf-8"))["auto_map"]
    torch.manual_seed(seed)
    hf_config = AutoConfig.from_pretrained(out, trust_remote_code=True)
    model = AutoModelForCausalLM.from_config(
        hf_config, trust_remote_code=True, torch_dtype=torch.float32
    )
    model.save_pretrained(out, safe_serialization=True)
    # save_pretrained rewrites config.json; keep our auto_map pointing at the
    # local files rather than at a transformers dynamic-module cache path.
    saved = json.loads((out / "config.json").read_text(encoding="utf-8"))
    saved["auto_map"] = auto_map
    (out / "config.json").write_text(json.dumps(saved, indent=2), encoding="utf-8")
    (out / "tiny_spec.json").write_text(json.dumps(spec_record, indent=2), encoding="utf-8")


def cached_build(cache_dir: str | os.PathLike | None, name: str, key: dict,
                 write: Callable[[Path], None]) -> Path:
    """Return ``CACHE/NAME-<hash of key>``, calling ``write(tmp)`` to build it
    first when it holds no finished build (``tiny_spec.json``). ``CACHE`` is
    ``cache_dir`` or :func:`default_cache_dir`. The build goes to a temporary
    directory that is renamed into place, so an interrupted build is never
    picked up."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    target = cache / f"{name}-{digest}"
    if (target / "tiny_spec.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
    try:
        write(tmp)
        try:
            tmp.rename(target)
        except OSError:
            # Another process finished the same build first; theirs is as good.
            if not (target / "tiny_spec.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_model(out: Path, spec: TinyInternLM2Spec) -> None:
    write_tiny_internlm2(out, spec, {"build_version": _BUILD_VERSION, **asdict(spec)})


class SourceFilesMissing(FileNotFoundError):
    """A source folder of remote code lacks some files; the text names them."""


def require_source_files(source_dir: str | os.PathLike, names: Iterable[str],
                         what: str) -> Path:
    """``source_dir`` as a Path, or :class:`SourceFilesMissing` naming which of
    ``names`` it lacks and ``what`` they are."""
    source = Path(source_dir)
    missing = [name for name in names if not (source / name).is_file()]
    if missing:
        raise SourceFilesMissing(f"{source}: missing {', '.join(missing)} ({what})")
    return source


def write_tiny_internlm2(out: Path, spec: TinyInternLM2Spec, meta: dict,
                         replace_code=None) -> None:
    """Tokenizer, config.json (xtuner's InternLM2 code), random weights and generation
    config of a tiny InternLM2 into ``out``; ``replace_code(out)``, if given, puts other
    remote code in place of xtuner's before the weights are made; ``meta`` is recorded
    beside the weights."""
    tokenizer = build_tokenizer(_sample_texts(), spec.vocab_size)
    tokenizer.save_pretrained(out)

    write_internlm2_config(
        out,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        rope_theta=1000000,
        torch_dtype="float32",
        use_cache=True,
        initializer_range=spec.initializer_range,
    )
    if replace_code is not None:
        replace_code(out)
    save_random_model(out, meta, spec.seed)
    # As internlm2-chat's: generation ends at EOS or at <|im_end|>, which ends every
    # answer of the chat template (engines that serve it read this file).
    (out / "generation_config.json").write_text(json.dumps({
        "bos_token_id": tokenizer.bos_token_id, "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")],
    }, indent=2) + "\n", encoding="utf-8")


def build_tiny_internlm2(
    cache_dir: str | os.PathLike | None = None,
    spec: TinyInternLM2Spec = TinyInternLM2Spec(),
) -> Path:
    """Return the directory of a tiny InternLM2 (model + tokenizer), building it
    on first use. The directory name hashes the spec, the build version and the
    xtuner version, so a change of any of them builds a fresh one."""
    import xtuner

    key = {"v": _BUILD_VERSION, "xtuner": xtuner.__version__, **asdict(spec)}
    return cached_build(cache_dir, "tiny-internlm2", key, lambda out: _write_model(out, spec))
