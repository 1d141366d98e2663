"""legal-eagle-xtuner: fine-tune InternLM / InternLM2 chat models into Chinese
legal assistants with XTuner.

The pipeline, one subpackage a stage (each ``__init__`` says what it may import):
``sources`` (one legal format each: detect, check, convert) → ``data`` (files of
records: read, convert, dedupe, split, decontaminate, inspect) → ``train`` (dataset
builder, tokenize, packing, validation, resume, precision) → ``eval`` (generate,
score, compare); ``demo`` and ``cli`` sit on top, ``compat`` holds every upstream
shim, ``map_fns`` the map function XTuner configs name.

This module holds the names configs use, nothing else.
"""

from legal_eagle_xtuner import _moved, compat

compat.apply()
_moved.install()

from legal_eagle_xtuner.map_fns import (  # noqa: E402
    LEGAL_SYSTEM,
    legal_qa_map_fn,
    legal_qa_map_fn_factory,
)

__version__ = "0.1.0"

# Imported on first use, because they pull in transformers, peft and mmengine's
# runner (several seconds) that the data tools never need.
_TRAINING_NAMES = {
    "legal_sft_dataset": "legal_eagle_xtuner.train.dataset",
    "AutoAmpOptimWrapper": "legal_eagle_xtuner.train.precision",
    "ExactResumeHook": "legal_eagle_xtuner.train.resume",
    "ValLoss": "legal_eagle_xtuner.train.validation",
    "ValLossLoop": "legal_eagle_xtuner.train.validation",
}


def __getattr__(name):
    # ``SupervisedFinetune`` is xtuner's own class with our chunked loss
    # (train/model.py), imported by configs through this package: resolving the model
    # type then applies the shims in compat before the model is built.
    if name == "SupervisedFinetune":
        compat.apply_model_shims()
        from legal_eagle_xtuner.train.model import SupervisedFinetune

        return SupervisedFinetune
    if name in _TRAINING_NAMES:
        import importlib

        return getattr(importlib.import_module(_TRAINING_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LEGAL_SYSTEM",
    "SupervisedFinetune",
    "legal_qa_map_fn",
    "legal_qa_map_fn_factory",
    *_TRAINING_NAMES,
    "__version__",
]
