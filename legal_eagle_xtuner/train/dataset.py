"""Dataset builders for configs.

``legal_sft_dataset`` takes every argument of XTuner's ``process_hf_dataset``
and is what our configs use. Differences:

* ``packer="best_fit"`` (the default) packs with :mod:`legal_eagle_xtuner.train.packing`:
  whole samples only, best-fit decreasing into ``max_length`` packs, samples
  longer than ``max_length`` truncated or dropped (``overlong``) and counted in
  the log. ``packer="xtuner"`` is XTuner's own path (a token stream cut every
  ``max_length`` tokens), unchanged.
* Tokenisation (best-fit path) calls the fast tokenizer once per batch
  (:mod:`legal_eagle_xtuner.train.tokenize`) in one ``datasets.map`` with the template
  applied in the same pass, token-for-token what XTuner's ``encode_fn`` gives.
* The map function may be a config dict such as
  ``dict(type=legal_qa_map_fn_factory, reference_placement="none")`` (lazy
  configs cannot call a factory, so it is built here).
* ``map_num_proc=None`` means :func:`default_num_proc` (XTuner: always 32,
  which oversubscribes small hosts).
* Caching: every step is a ``datasets`` map over a file-backed dataset, so
  ``datasets`` reuses its cache files when nothing changed (same files, map
  function, tokenizer, template, settings); the packed table is written next to
  them, keyed by the tokenised data's fingerprint and the packing settings. A
  second run therefore starts without re-tokenising or re-packing.
* Validation hold-out: ``holdout`` (records, or a ratio below 1) keeps that
  many records out: ``holdout_part="train"`` builds the rest, ``"eval"`` the
  held-out records, chosen by :func:`legal_eagle_xtuner.data.split.holdout_flags`
  (stratified by source / DISC task, by question hash with ``holdout_seed``),
  i.e. the records ``legal-eagle data split --eval-size N`` would put in
  ``eval.jsonl``. The same question never lands on both sides.
* Distributed: like XTuner, rank 0 builds and the dataset (memory-mapped, so
  only its file names travel) is broadcast to the other ranks.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from datetime import timedelta

PACKERS = ("best_fit", "xtuner")
"""Values of ``packer``: ours (whole samples) or XTuner's stream cutter."""


def default_num_proc() -> int:
    """Worker processes for ``datasets.map``: the usable CPUs, at most 32."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(32, cpus))


def _log(message: str, level=logging.INFO) -> None:
    from mmengine.logging import print_log

    print_log(message, logger="current", level=level)


def _template_of(template_map_fn):
    """The prompt template inside ``template_map_fn`` (a config dict of
    ``template_map_fn_factory`` or the partial it returns)."""
    if template_map_fn is None:
        return None
    if isinstance(template_map_fn, dict):
        return template_map_fn["template"]
    keywords = getattr(template_map_fn, "keywords", None) or {}
    if "template" in keywords:
        return keywords["template"]
    raise ValueError(
        "packer='best_fit' needs template_map_fn=dict(type=template_map_fn_factory, "
        f"template=...); got {template_map_fn!r}"
    )


def _build_map_fn(dataset_map_fn):
    from mmengine.utils import get_object_from_string
    from xtuner.registry import BUILDER, MAP_FUNC

    if isinstance(dataset_map_fn, dict):
        return BUILDER.build(dataset_map_fn)
    if isinstance(dataset_map_fn, str):
        return MAP_FUNC.get(dataset_map_fn) or get_object_from_string(dataset_map_fn)
    return dataset_map_fn


def _origin(dataset, split):
    from datasets import DatasetDict, concatenate_datasets
    from xtuner.registry import BUILDER

    if isinstance(dataset, dict) or type(dataset).__name__ in ("Config", "ConfigDict"):
        dataset = BUILDER.build(dataset)
    if isinstance(dataset, DatasetDict):
        dataset = concatenate_datasets(list(dataset.values())) if split is None else dataset[split]
    return dataset


def held_out_dataset(dataset, *, holdout, part: str = "train", split: str | None = "train",
                     seed: int = 42):
    """``dataset`` (a ``datasets`` dataset or its config) without its
    validation hold-out (``part="train"``) or only that (``part="eval"``).

    ``holdout`` is a number of records (int >= 1) or a ratio (0 < r < 1);
    ``seed`` is the split seed. Used through ``legal_sft_dataset(holdout=...)``
    so that only the rank that builds the data loads and hashes it.
    """
    import numpy as np

    from legal_eagle_xtuner.data.split import SplitError, holdout_flags

    if part not in ("train", "eval"):
        raise ValueError(f"part must be 'train' or 'eval', got {part!r}")
    name = _describe(dataset)
    data = _origin(dataset, split)
    size, ratio = (holdout, None) if isinstance(holdout, int) else (None, holdout)
    try:
        flags = holdout_flags(iter(data), eval_size=size, eval_ratio=ratio, seed=seed,
                              name=name)
    except SplitError as exc:
        raise ValueError(f"validation hold-out: {str(exc).replace('--eval-size', 'holdout')}"
                         .replace("--eval-ratio", "holdout")) from None
    held = int(flags.sum())
    if part == "eval":
        _log(f"validation hold-out: {held} of {len(data)} records of {name} "
             f"(seed {seed}, stratified by source / task)")
    return data.select(np.flatnonzero(flags if part == "eval" else ~flags))


def _describe(dataset) -> str:
    """The data files of a ``load_dataset`` config, for messages."""
    files = dataset.get("data_files") if hasattr(dataset, "get") else None
    if isinstance(files, dict):
        files = [f for value in files.values()
                 for f in ([value] if isinstance(value, str) else value)]
    if isinstance(files, str):
        files = [files]
    return ", ".join(map(str, files)) if files else "the dataset"


def _pack_cache_file(dataset, settings: dict) -> str | None:
    files = getattr(dataset, "cache_files", None)
    if not files:
        return None
    key = hashlib.sha256(
        json.dumps({"data": dataset._fingerprint, **settings}, sort_keys=True).encode()
    ).hexdigest()[:20]
    return os.path.join(os.path.dirname(files[0]["filename"]), f"legal-eagle-packed-{key}.arrow")


def _map_and_encode(batch: dict, *, map_fn, encoder) -> dict:
    """A ``datasets`` batch → tokenised samples; ``map_fn`` (per example, may
    be None for data already in conversation format) then ``encoder``."""
    if map_fn is None:
        conversations = batch["conversation"]
    else:
        columns = list(batch)
        size = len(batch[columns[0]]) if columns else 0
        conversations = [
            map_fn({name: batch[name][i] for name in columns})["conversation"]
            for i in range(size)
        ]
    return encoder({"conversation": conversations})


def _lengths(packed) -> list[int]:
    """Pack lengths, set as ``dataset.length`` like XTuner's path does (its
    ``LengthGroupedSampler`` reads it)."""
    import pyarrow.compute as pc

    return pc.list_value_length(packed.data.column("input_ids")).to_pylist()


def build_best_fit(
    *,
    dataset,
    tokenizer,
    max_length: int,
    dataset_map_fn=None,
    template_map_fn=None,
    split: str = "train",
    max_dataset_length: int | None = None,
    use_varlen_attn: bool = False,
    overlong: str = "truncate",
    pack_window: int = 8192,
    seed: int = 42,
    map_num_proc: int | None = None,
):
    """Our path in one process: load, map, template + tokenise (batched),
    best-fit pack. Returns the packed ``datasets.Dataset``."""
    from datasets import Dataset
    from xtuner.registry import BUILDER

    from legal_eagle_xtuner.train.packing import pack_dataset
    from legal_eagle_xtuner.train.tokenize import batch_encoder

    num_proc = map_num_proc or default_num_proc()
    if isinstance(tokenizer, dict) or type(tokenizer).__name__ in ("Config", "ConfigDict"):
        tokenizer = BUILDER.build(tokenizer)
    template = _template_of(template_map_fn)
    data = _origin(dataset, split)
    if max_dataset_length is not None and max_dataset_length < len(data):
        data = data.shuffle(seed=seed).select(range(max_dataset_length))
    # Worker processes cost a second or two each to start; small sets don't need them.
    num_proc = max(1, min(num_proc, len(data) // 1000 or 1))
    map_fn = _build_map_fn(dataset_map_fn)
    if map_fn is None and "conversation" not in data.column_names:
        raise ValueError(
            "the dataset has no 'conversation' column and no dataset_map_fn was given"
        )
    # One pass: map function, template and tokenisation per batch.
    data = data.map(
        functools.partial(_map_and_encode, map_fn=map_fn,
                          encoder=batch_encoder(tokenizer, template)),
        batched=True,
        batch_size=1000,
        num_proc=num_proc,
        remove_columns=data.column_names,
        desc="map + template + tokenise",
    )
    settings = dict(max_length=max_length, varlen=use_varlen_attn, overlong=overlong,
                    window=pack_window, seed=seed, packer="best_fit-1")
    cache_file = _pack_cache_file(data, settings)
    if cache_file and os.path.exists(cache_file):
        _log(f"packed dataset loaded from cache {cache_file}")
        packed = Dataset.from_file(cache_file)
        packed.length = _lengths(packed)
        return packed
    packed, stats = pack_dataset(
        data.select_columns(["input_ids", "labels"]), max_length,
        use_varlen_attn=use_varlen_attn, seed=seed, window=pack_window, overlong=overlong,
        cache_file=cache_file,  # written to a temp name and renamed by pack_dataset
    )
    packed.length = _lengths(packed)
    _log(stats.summary())
    if stats.truncated or stats.dropped:
        _log(f"{stats.truncated} samples longer than max_length={max_length} were "
             f"truncated and {stats.dropped} dropped (overlong={overlong!r})",
             level=logging.WARNING)
    return packed


def legal_sft_dataset(
    *,
    dataset_map_fn=None,
    map_num_proc=None,
    packer: str = "best_fit",
    overlong: str = "truncate",
    pack_window: int = 8192,
    seed: int = 42,
    holdout: int | float | None = None,
    holdout_part: str = "train",
    holdout_seed: int = 42,
    isolate_samples: bool = False,
    **kwargs,
):
    """Build a tokenised (and, if asked, packed) SFT dataset.

    Takes every argument of ``xtuner.dataset.process_hf_dataset``, plus
    ``packer`` (:data:`PACKERS`), ``overlong`` ("truncate" or "drop": what
    happens to a sample longer than ``max_length``), ``pack_window`` (samples
    packed together; larger windows pack tighter but group lengths) and
    ``seed`` (packing order), and ``holdout`` / ``holdout_part`` /
    ``holdout_seed`` (see :func:`held_out_dataset`; ``holdout=None`` or 0
    keeps everything). With ``pack_to_max_length=False`` or
    ``packer="xtuner"`` it is XTuner's ``process_hf_dataset``.

    On the best-fit path ``shuffle_before_pack`` is implied (samples are
    always shuffled, with ``seed``), unused columns are always removed, and
    ``rename_maps`` / image tokens / ``input_ids_with_output=False`` are not
    supported (XTuner's path has them).

    ``isolate_samples=True`` writes each pack's sample boundaries and restarting
    positions (the ``cumulative_len`` and ``position_ids`` columns of XTuner's varlen
    format, on either packer) for ``isolated_collate_fn``; unpacked data needs none.
    """
    if packer not in PACKERS:
        raise ValueError(f"packer must be one of {', '.join(map(repr, PACKERS))}, got {packer!r}")
    if map_num_proc is None:
        map_num_proc = default_num_proc()
    if holdout:
        # Built lazily, by whichever rank builds the data.
        kwargs["dataset"] = dict(type=held_out_dataset, dataset=kwargs["dataset"],
                                 holdout=holdout, part=holdout_part,
                                 split=kwargs.get("split", "train"), seed=holdout_seed)
    if isolate_samples and kwargs.get("pack_to_max_length", True):
        kwargs["use_varlen_attn"] = True
    if packer == "xtuner" or not kwargs.get("pack_to_max_length", True):
        from xtuner.dataset import process_hf_dataset

        return process_hf_dataset(
            dataset_map_fn=_build_map_fn(dataset_map_fn)
            if isinstance(dataset_map_fn, dict) else dataset_map_fn,
            map_num_proc=map_num_proc, **kwargs,
        )

    for name, default in (("rename_maps", []), ("with_image_token", False),
                          ("input_ids_with_output", True), ("do_dataset_tokenization", True)):
        if name in kwargs and kwargs[name] != default:
            raise ValueError(f"packer='best_fit' does not support {name}={kwargs[name]!r}; "
                             "use packer='xtuner'")
    ignored = {"remove_unused_columns", "shuffle_before_pack", "pack_to_max_length",
               "rename_maps", "input_ids_with_output", "with_image_token",
               "do_dataset_tokenization"}
    unknown = set(kwargs) - ignored - {"dataset", "tokenizer", "max_length", "template_map_fn",
                                       "split", "max_dataset_length", "use_varlen_attn"}
    if unknown:
        raise TypeError(f"legal_sft_dataset got unexpected arguments: {sorted(unknown)}")
    build = dict(
        dataset=kwargs["dataset"], tokenizer=kwargs["tokenizer"],
        max_length=kwargs["max_length"], dataset_map_fn=dataset_map_fn,
        template_map_fn=kwargs.get("template_map_fn"), split=kwargs.get("split", "train"),
        max_dataset_length=kwargs.get("max_dataset_length"),
        use_varlen_attn=kwargs.get("use_varlen_attn", False), overlong=overlong,
        pack_window=pack_window, seed=seed, map_num_proc=map_num_proc,
    )
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return build_best_fit(**build)
    # As XTuner does: rank 0 builds, a gloo barrier with a long timeout (the
    # build may take many minutes), then the dataset object is broadcast. It is
    # memory-mapped from the cache, so only file names travel.
    timeout = timedelta(minutes=int(os.getenv("XTUNER_DATASET_TIMEOUT", default=60)))
    group = dist.new_group(backend="gloo", timeout=timeout)
    objects = [build_best_fit(**build)] if dist.get_rank() == 0 else [None]
    dist.monitored_barrier(group=group, timeout=timeout)
    dist.broadcast_object_list(objects, src=0)
    return objects[0]
