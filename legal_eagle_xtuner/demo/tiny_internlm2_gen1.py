"""A tiny, randomly initialised InternLM2 on the hub's *first* generation of remote code.

``internlm/internlm2-chat-7b`` and ``-20b`` folders downloaded before mid-2024 (and the
mirrors made from them) carry the first generation of ``modeling_internlm2.py``: a tuple
KV cache holding keys after rotary embedding, ``rotary_emb(x, seq_len)``, eager and
flash-attention classes only. The second generation (2024-07: a ``Cache`` object,
``rotary_emb(x, position_ids)``, SDPA) is what xtuner 0.2.0 ships and what
:func:`~legal_eagle_xtuner.demo.tiny.build_tiny_internlm2` builds on.

:func:`build_tiny_internlm2_gen1` copies the first generation's files from a folder the
caller names (the project's tests use ``../shared/models/internlm2-hub-2024-01``; none of
them ships with this package) into the model directory, with the same config and
tokenizer as the second-generation tiny model, and saves random weights. It is for
tests -- it knows no law.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from legal_eagle_xtuner.demo.tiny import (SourceFilesMissing,  # noqa: F401
                                          TinyInternLM2Spec, cached_build,
                                          require_source_files, write_tiny_internlm2)

REMOTE_CODE = ("configuration_internlm2.py", "modeling_internlm2.py")
"""The first generation's model code (the names the second generation has too)."""
TOKENIZER_CODE = ("tokenization_internlm2.py", "tokenization_internlm2_fast.py")
"""The hub's SentencePiece tokenizer classes of InternLM2."""
SOURCE_FILES = (*REMOTE_CODE, *TOKENIZER_CODE)
"""What the source folder must hold."""

TOKENIZER_AUTO_MAP = {"AutoTokenizer": ["tokenization_internlm2.InternLM2Tokenizer",
                                        "tokenization_internlm2_fast.InternLM2TokenizerFast"]}
"""``tokenizer_config.json``'s ``auto_map`` of the hub's InternLM2 chat models."""

# Bump when the files written below change, so cached models are rebuilt.
_BUILD_VERSION = 1


def check_source_dir(source_dir: str | os.PathLike) -> Path:
    """``source_dir`` as a Path, or :class:`SourceFilesMissing` naming what it lacks."""
    return require_source_files(source_dir, SOURCE_FILES,
                                "the first generation of"
                                " internlm/internlm2-chat-7b's remote code")


def _write_model(out: Path, source: Path, spec: TinyInternLM2Spec, digests: dict) -> None:
    def first_generation_code(folder: Path) -> None:  # in place of xtuner's copy
        for name in REMOTE_CODE:
            shutil.copyfile(source / name, folder / name)  # not its (read-only) mode

    write_tiny_internlm2(out, spec, {"build_version": _BUILD_VERSION, "generation": 1,
                                     **asdict(spec), "sha256": digests},
                         replace_code=first_generation_code)


def build_tiny_internlm2_gen1(
    cache_dir: str | os.PathLike | None,
    source_dir: str | os.PathLike,
    spec: TinyInternLM2Spec = TinyInternLM2Spec(),
) -> Path:
    """Return the directory of a tiny InternLM2 on the first-generation remote code of
    ``source_dir`` (:data:`SOURCE_FILES`; the tokenizer is the tiny byte-level BPE of
    :func:`~legal_eagle_xtuner.demo.tiny.build_tiny_internlm2`), building it on first use.
    The directory name hashes the spec, the build version and the files' contents.
    ``cache_dir=None`` is the default cache."""
    source = check_source_dir(source_dir)
    digests = {name: hashlib.sha256((source / name).read_bytes()).hexdigest()
               for name in SOURCE_FILES}
    key = {"v": _BUILD_VERSION, **asdict(spec), "files": digests}
    return cached_build(cache_dir, "tiny-internlm2-gen1", key,
                        lambda out: _write_model(out, source, spec, digests))
