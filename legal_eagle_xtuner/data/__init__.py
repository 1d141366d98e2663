"""Files of legal records, in bounded memory: read (``records``), check (``corpus``),
``convert``, ``dedupe``, ``split``, ``decontaminate``, ``inspect``, and ``synthetic`` corpora.
Imports ``sources`` and ``data`` only — never ``train``, ``eval`` or torch."""

# 0.1 had a module ``legal_eagle_xtuner.data`` holding the dataset builder;
# configs copied from then import ``legal_sft_dataset`` from here. Forwarded
# with a DeprecationWarning for one release (remove in 0.3, with ``_moved``).
_OLD_BUILDER_NAMES = ("PACKERS", "build_best_fit", "default_num_proc", "held_out_dataset",
                      "legal_sft_dataset")


def __getattr__(name):
    if name in _OLD_BUILDER_NAMES:
        import importlib

        from legal_eagle_xtuner._moved import warn_moved

        warn_moved(f"{__name__}.{name}", f"legal_eagle_xtuner.train.dataset.{name}")
        return getattr(importlib.import_module("legal_eagle_xtuner.train.dataset"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
