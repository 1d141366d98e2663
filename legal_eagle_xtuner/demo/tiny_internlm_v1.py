"""A tiny, randomly initialised InternLM v1 (``internlm-chat-7b``'s code) built offline.

``internlm/internlm-chat-7b`` is loaded with ``trust_remote_code=True``: its model
directory carries ``configuration_internlm.py``, ``modeling_internlm.py``,
``tokenization_internlm.py`` and the SentencePiece ``tokenizer.model`` (vocab
103168). :func:`build_tiny_internlm_v1` copies exactly those files from a folder
the caller names (the project's tests use ``../shared/models/internlm-v1``; none of
them ships with this package), writes a ``config.json`` and
``tokenizer_config.json`` whose ``auto_map`` point at them, as the hub checkpoint's
do, and saves random weights of a small shape. Everything a user's first run
touches -- the remote modeling code, the real tokenizer, XTuner's train,
``pth_to_hf`` and chat -- is then the real thing; only the weights are not.
It is for smoke runs and tests -- it knows no law.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from legal_eagle_xtuner.demo.tiny import (SourceFilesMissing, cached_build,  # noqa: F401
                                          require_source_files, save_random_model)

REMOTE_CODE = ("configuration_internlm.py", "modeling_internlm.py", "tokenization_internlm.py")
"""The remote-code files of the InternLM v1 hub checkpoints."""
SOURCE_FILES = (*REMOTE_CODE, "tokenizer.model")
"""What :func:`build_tiny_internlm_v1` needs in its ``source_dir``."""

INTERNLM_V1_AUTO_MAP = {
    "AutoConfig": "configuration_internlm.InternLMConfig",
    "AutoModel": "modeling_internlm.InternLMForCausalLM",
    "AutoModelForCausalLM": "modeling_internlm.InternLMForCausalLM",
}
TOKENIZER_AUTO_MAP = {"AutoTokenizer": ["tokenization_internlm.InternLMTokenizer", None]}

# Bump when the files written below change, so cached models are rebuilt.
_BUILD_VERSION = 1


@dataclass(frozen=True)
class TinyInternLMv1Spec:
    """Shape of the tiny model. The vocabulary is the real tokenizer's, so the
    embedding and output matrices (103168 x hidden) are its largest tensors."""

    hidden_size: int = 64
    """Width of the residual stream."""
    intermediate_size: int = 176
    """Width of the SwiGLU feed-forward layer."""
    num_hidden_layers: int = 2
    """Number of decoder layers."""
    num_attention_heads: int = 4
    """Attention heads (InternLM v1 has no grouped-query attention)."""
    vocab_size: int = 103168
    """Must equal the tokenizer's (checked at build time)."""
    max_position_embeddings: int = 2048
    """As internlm-chat-7b (its training length)."""
    seed: int = 0
    """Seed of the weight initialisation."""


def check_source_dir(source_dir: str | os.PathLike) -> Path:
    """``source_dir`` as a Path, or :class:`SourceFilesMissing` naming what it lacks."""
    return require_source_files(source_dir, SOURCE_FILES,
                                "the InternLM v1 tokenizer.model and remote"
                                " code of internlm/internlm-chat-7b")


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_model(out: Path, source: Path, spec: TinyInternLMv1Spec, digests: dict) -> None:
    from transformers import AutoTokenizer

    for name in SOURCE_FILES:
        shutil.copyfile(source / name, out / name)  # not its (read-only) mode
    # What the hub checkpoint's tokenizer files say (pad = eos, as InternLM's).
    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "</s>",
               "unk_token": "<unk>"}
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"auto_map": TOKENIZER_AUTO_MAP, "tokenizer_class": "InternLMTokenizer",
         "clean_up_tokenization_spaces": False, **special}, indent=2), encoding="utf-8")
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2),
                                                 encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(out, trust_remote_code=True)
    if len(tokenizer) != spec.vocab_size:
        raise ValueError(f"{source / 'tokenizer.model'}: vocabulary of {len(tokenizer)}, "
                         f"the spec says {spec.vocab_size}")

    config = {
        "architectures": ["InternLMForCausalLM"],
        "auto_map": dict(INTERNLM_V1_AUTO_MAP),
        "model_type": "internlm",
        "hidden_act": "silu",
        "hidden_size": spec.hidden_size,
        "intermediate_size": spec.intermediate_size,
        "num_hidden_layers": spec.num_hidden_layers,
        "num_attention_heads": spec.num_attention_heads,
        "max_position_embeddings": spec.max_position_embeddings,
        "vocab_size": spec.vocab_size,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-6,
        "bias": True,
        # internlm-chat-7b's ids: pad 0 (<unk>) in the model config, while its
        # tokenizer pads with </s> (2).
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": 0,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "use_cache": True,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_random_model(out, {"build_version": _BUILD_VERSION, **asdict(spec),
                            "sha256": digests}, spec.seed)


def build_tiny_internlm_v1(
    cache_dir: str | os.PathLike | None,
    source_dir: str | os.PathLike,
    spec: TinyInternLMv1Spec = TinyInternLMv1Spec(),
) -> Path:
    """Return the directory of a tiny InternLM v1 (model, remote code, real
    tokenizer), building it on first use from the files of ``source_dir``
    (:data:`SOURCE_FILES`). The directory name hashes the spec, the build
    version and the contents of those files, so a change of any of them builds
    a fresh one. ``cache_dir=None`` is the default cache
    (:func:`~legal_eagle_xtuner.demo.tiny.default_cache_dir`)."""
    source = check_source_dir(source_dir)
    digests = {name: _file_digest(source / name) for name in SOURCE_FILES}
    key = {"v": _BUILD_VERSION, **asdict(spec), "files": digests}
    return cached_build(cache_dir, "tiny-internlm-v1", key,
                        lambda out: _write_model(out, source, spec, digests))
