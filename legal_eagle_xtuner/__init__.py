"""legal-eagle-xtuner: fine-tune InternLM / InternLM2 chat models into Chinese
legal assistants with XTuner."""

from . import compat

compat.apply()

from .map_fns import (  # noqa: E402
    LEGAL_SYSTEM,
    legal_qa_map_fn,
    legal_qa_map_fn_factory,
)

__version__ = "0.1.0"


def __getattr__(name):
    # ``SupervisedFinetune`` is xtuner's own class, re-exported so that configs
    # import it through this package: resolving the model type then applies the
    # shims above before the model is built (see compat.py). Imported on first use
    # because ``xtuner.model`` pulls in transformers and peft (several seconds),
    # which the data tools never need.
    if name == "SupervisedFinetune":
        from xtuner.model import SupervisedFinetune

        compat.apply_model_shims()
        return SupervisedFinetune
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "LEGAL_SYSTEM",
    "SupervisedFinetune",
    "legal_qa_map_fn",
    "legal_qa_map_fn_factory",
    "__version__",
]
