"""Shims for transformers >= 4.34 (pinned 4.48.0) with the remote code of older
InternLM v1 checkpoints."""

from __future__ import annotations

import functools
import logging
import os


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
