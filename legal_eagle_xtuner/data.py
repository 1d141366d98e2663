"""Dataset builders for configs.

``legal_sft_dataset`` is XTuner's ``process_hf_dataset`` with two additions that
mmengine configs need: the map function may be given as a config dict (lazy
configs cannot call a factory such as ``legal_qa_map_fn_factory``, so it is built
here), and the number of tokenisation processes defaults to what the host has
instead of XTuner's fixed 32.
"""

from __future__ import annotations

import os


def default_num_proc() -> int:
    """Worker processes for ``datasets.map``: the usable CPUs, at most 32."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(32, cpus))


def legal_sft_dataset(*, dataset_map_fn=None, map_num_proc=None, **kwargs):
    """Build a tokenised (and, if asked, packed) SFT dataset.

    Takes every argument of ``xtuner.dataset.process_hf_dataset``. Differences:
    ``dataset_map_fn`` may be a dict such as
    ``dict(type=legal_qa_map_fn_factory, reference_placement="none")``, and
    ``map_num_proc=None`` means :func:`default_num_proc`.
    """
    from xtuner.dataset import process_hf_dataset
    from xtuner.registry import BUILDER

    if isinstance(dataset_map_fn, dict):
        dataset_map_fn = BUILDER.build(dataset_map_fn)
    if map_num_proc is None:
        map_num_proc = default_num_proc()
    return process_hf_dataset(
        dataset_map_fn=dataset_map_fn, map_num_proc=map_num_proc, **kwargs
    )
