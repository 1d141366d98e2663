"""Import paths of 0.1's flat layout, kept working for one release (remove in 0.3).

``import legal_eagle_xtuner.resume`` (as configs copied from 0.1 do) warns with
a ``DeprecationWarning`` naming the new module and returns that module itself,
so classes and functions are the same objects under both names. The old
``legal_eagle_xtuner.data`` module (the dataset builder) became the ``data``
subpackage of the data tools; its names are forwarded by ``data/__init__.py``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED: dict[str, str] = {
    "references": "sources.references",
    "records": "data.records",
    "corpus": "data.corpus",
    "convert": "data.convert",
    "dedupe": "data.dedupe",
    "split": "data.split",
    "decontaminate": "data.decontaminate",
    "synthetic": "data.synthetic",
    "files": "data.files",
    "stats": "data.inspect",
    "tokenize": "train.tokenize",
    "packing": "train.packing",
    "resume": "train.resume",
    "validation": "train.validation",
    "precision": "train.precision",
    "smoke": "train.smoke",
    "plot": "train.plot",
    "tiny": "demo.tiny",
}
"""Old module (under ``legal_eagle_xtuner.``) → where it lives now."""

_PACKAGE = "legal_eagle_xtuner"


def warn_moved(old: str, new: str, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{old} moved to {new}; the old path will be removed in legal-eagle-xtuner 0.3",
        DeprecationWarning, stacklevel=stacklevel)


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.rpartition(".")
        if prefix != _PACKAGE or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        old = module.__name__
        new = f"{_PACKAGE}.{MOVED[old.rpartition('.')[2]]}"
        warn_moved(old, new, stacklevel=7)
        # The import system hands back whatever sys.modules holds under the
        # name once this returns: the new module itself, not a copy.
        sys.modules[old] = importlib.import_module(new)


_FINDER = _Alias()


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (idempotent)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)
