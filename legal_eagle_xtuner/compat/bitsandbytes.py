"""Shims for bitsandbytes 0.45.0 (xtuner 0.2.0's pin) beside a triton without
``triton.ops``."""

from __future__ import annotations

import os
import sys


def _triton_lacks_ops() -> bool:
    """A ``triton`` is installed and has no ``triton.ops`` (triton >= 3.2); read
    from its files, without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("triton")
    paths = (spec.submodule_search_locations or []) if spec else []
    return bool(paths) and not any(os.path.exists(os.path.join(p, "ops")) for p in paths)


def _bnb_needs_triton_ops() -> bool:
    """``import bitsandbytes`` would fail on ``triton.ops``: bitsandbytes <= 0.45.0
    beside a triton without it."""
    import importlib.metadata

    from packaging.version import Version

    try:
        old = Version(importlib.metadata.version("bitsandbytes")) < Version("0.45.1")
    except importlib.metadata.PackageNotFoundError:
        return False
    return old and "triton.ops" not in sys.modules and _triton_lacks_ops()


def _patch_bnb_triton_ops(force: bool = False) -> bool:
    """bitsandbytes 0.45.0 (xtuner 0.2.0's pin) cannot be imported beside triton >= 3.2.

    Bug: bitsandbytes <= 0.45.0 imports ``triton.ops.matmul_perf_model`` whenever
    triton is installed; triton 3.2 (torch >= 2.6's) dropped ``triton.ops``, so
    ``import bitsandbytes`` -- run by peft's LoRA injection and transformers' QLoRA
    quantization -- raises ``No module named 'triton.ops'``
    (bitsandbytes-foundation/bitsandbytes#1492, fixed in 0.45.1).
    Affects: bitsandbytes <= 0.45.0 with triton >= 3.2. Inactive on both supported
    stacks: the pinned one has triton 3.1 and stacks/torch-2.14.txt bitsandbytes
    0.48.2 (the fix that also reaches ``xtuner chat``, which never imports this
    package); active where bitsandbytes 0.45.0 came back beside a newer triton.
    Remove with xtuner's ``bitsandbytes==0.45.0`` pin.

    Registers a stand-in ``triton.ops.matmul_perf_model`` with the two names
    bitsandbytes imports; they serve only its triton int8 matmul's autotuner
    (``SwitchBackLinear``, unused by xtuner, peft and transformers) and raise
    ``NotImplementedError`` if called. ``force`` skips the bitsandbytes version
    check (tests); a real ``triton.ops`` is never replaced.
    """
    import importlib.machinery
    import types

    if "triton.ops" in sys.modules or not (_triton_lacks_ops() if force
                                           else _bnb_needs_triton_ops()):
        return False

    def unavailable(*args, **kwargs):
        raise NotImplementedError(
            "triton.ops is gone from triton >= 3.2; legal_eagle_xtuner.compat's stand-in "
            "only lets bitsandbytes <= 0.45.0 import. Its triton int8 matmul "
            "(SwitchBackLinear) needs bitsandbytes >= 0.45.1 or triton < 3.2.")

    ops, perf = (types.ModuleType(n) for n in ("triton.ops", "triton.ops.matmul_perf_model"))
    ops.__spec__ = importlib.machinery.ModuleSpec(ops.__name__, None, is_package=True)
    ops.__path__ = []
    perf.__spec__ = importlib.machinery.ModuleSpec(perf.__name__, None)
    perf.early_config_prune = perf.estimate_matmul_time = unavailable
    ops.matmul_perf_model = perf
    ops.legal_eagle_shim = perf.legal_eagle_shim = True
    sys.modules.update({ops.__name__: ops, perf.__name__: perf})
    return True
