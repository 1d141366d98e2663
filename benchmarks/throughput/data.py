"""Synthetic samples and the two packing modes the benchmark compares.

Sample lengths follow the config's sources: synthetic records of the real
sources' shape (legal_eagle_xtuner.data.synthetic; DISC-Law-SFT Pair/Triplet for the
7B config, LAW-GPT 52k/92k for the 20B one, drawn by the real files' sizes),
characters of all fields plus the system prompt divided by --chars-per-token
(default 1.5, an assumption for InternLM2's tokenizer on Chinese), plus 15 tokens
of internlm2_chat template, truncated to max_length as XTuner's encode_fn does.
On --shape tiny the lengths are scaled by max_length/2048. Token ids are random.
Each source is packed on its own (as ConcatDataset does), packs are shuffled.
  xtuner  XTuner's stream packing (xtuner.dataset.utils.Packer): samples are
          concatenated and cut every max_length tokens; every pack is exactly
          max_length long (Packer keeps each source's last, partial pack as
          residue, and a short pack it makes of a source too small for one
          is dropped here), samples straddling a cut are split.
  ours    legal_eagle_xtuner.train.packing.plan_packs(lengths, max_length, seed=...):
          whole samples, best fit; packs are padded per batch by
          xtuner.dataset.collate_fns.default_collate_fn.
Batches are collated by default_collate_fn (use_varlen_attn=False, so attention
spans the whole pack, across sample borders: cross-attending packs) or, for the
isolated modes, by legal_eagle_xtuner.train.isolation.isolated_collate_fn (positions
restart per sample; the configs' default) before timing;
the data loader is not timed. Throughput counts real tokens only (the attention
mask's ones), never padding.
"""

from __future__ import annotations

import importlib
import math

import numpy as np

# InternLM2's special token ids (<unk>, <s>, </s>); random tokens are drawn above.
BOS, EOS, PAD = 1, 2, 2
FIRST_TOKEN = 3
# internlm2_chat template around a sample: <s>, <|im_start|>system\n ... <|im_end|>\n,
# <|im_start|>user\n ... <|im_end|>\n<|im_start|>assistant\n ... <|im_end|>.
TEMPLATE_TOKENS = 15
REFERENCE_LENGTH = 2048  # --shape tiny scales sample lengths by max_length / this

# Where a config's samples come from, weighted by the real files' sizes (records).
CORPORA = {
    "disc": (("disc_pair", 257_000), ("disc_triplet", 16_000)),
    "lawgpt": (("lawgpt_52k", 52_000), ("lawgpt_92k", 92_000)),
}


def _chars(value) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(_chars(v) for v in value)
    if isinstance(value, dict):
        return sum(_chars(v) for k, v in value.items() if k != "id")
    return 0


def sample_lengths(corpus: str, n_tokens: int, max_length: int, *, system_chars: int,
                   chars_per_token: float, seed: int, scale: float = 1.0) -> dict:
    """Token lengths of synthetic samples of ``corpus``'s sources, drawn by the
    real files' sizes, until their total (after truncation to ``max_length``)
    reaches ``n_tokens``. Returns {source: int64 array} in draw order."""
    from legal_eagle_xtuner.data.synthetic import iter_records

    sources = CORPORA[corpus]
    weights = np.array([w for _, w in sources], dtype=float)
    rng = np.random.default_rng(seed)
    streams = {name: iter_records(name, seed=seed) for name, _ in sources}
    out = {name: [] for name, _ in sources}
    total = 0
    while total < n_tokens:
        name = sources[rng.choice(len(sources), p=weights / weights.sum())][0]
        record = next(streams[name])
        tokens = math.ceil((system_chars + _chars(record)) / chars_per_token) + TEMPLATE_TOKENS
        tokens = min(max_length, max(2, round(tokens * scale)))
        out[name].append(tokens)
        total += tokens
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items() if v}


def count_stream_splits(lengths, max_length: int) -> int:
    """Samples that XTuner's stream packing cuts: a pack border falls inside them."""
    ends = np.cumsum(lengths)
    starts = ends - lengths
    return int(np.count_nonzero(starts // max_length != (ends - 1) // max_length))


def _random_tokens(lengths, vocab_size: int, rng) -> list:
    flat = rng.integers(FIRST_TOKEN, vocab_size, size=int(np.sum(lengths)), dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [flat[bounds[i]:bounds[i + 1]] for i in range(len(lengths))]


def xtuner_packs(lengths_by_source: dict, max_length: int, vocab_size: int, seed: int):
    """XTuner's stream packing (xtuner.dataset.utils.Packer) of each source.
    Returns (packs as {"input_ids", "labels"} lists, samples split)."""
    from xtuner.dataset.utils import Packer

    rng = np.random.default_rng(seed + 1)
    packs, split = [], 0
    for lengths in lengths_by_source.values():
        samples = [t.tolist() for t in _random_tokens(lengths, vocab_size, rng)]
        packed = Packer(chunk_size=max_length)({"input_ids": samples, "labels": samples})
        # Only full packs: Packer hands out a short one only when a whole source
        # has fewer than max_length tokens (never with real data).
        packs += [{"input_ids": i, "labels": l}
                  for i, l in zip(packed["input_ids"], packed["labels"])
                  if len(i) == max_length]
        split += count_stream_splits(lengths, max_length)
    if not packs:
        raise SystemExit("too few tokens for one full pack")
    order = np.random.default_rng(seed + 2).permutation(len(packs))
    return [packs[i] for i in order], split


def load_planner(spec: str):
    """``module:function``, e.g. legal_eagle_xtuner.train.packing:plan_packs."""
    module, _, func = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), func or "plan_packs")
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"cannot import the pack planner {spec!r} ({exc}); "
                         "pass --plan-packs MODULE:FUNCTION") from exc


def our_packs(lengths_by_source: dict, max_length: int, vocab_size: int, seed: int,
              planner):
    """Best-fit packs from ``planner(lengths, max_length, seed=seed)`` (one list of
    index arrays per source). Checks its contract: every sample in exactly one
    pack (else exits), at most max_length tokens per pack (an overfull pack is cut
    at max_length and the samples cut are counted as split)."""
    rng = np.random.default_rng(seed + 1)
    packs, split = [], 0
    for lengths in lengths_by_source.values():
        tokens = _random_tokens(lengths, vocab_size, rng)
        plan = planner([int(x) for x in lengths], max_length, seed=seed)
        seen = np.zeros(len(lengths), dtype=np.int64)
        for idx in plan:
            idx = np.asarray(idx, dtype=np.int64)
            seen[idx] += 1
            ids = np.concatenate([tokens[i] for i in idx]) if len(idx) else np.empty(0, np.int64)
            positions = (np.concatenate([np.arange(lengths[i]) for i in idx]) if len(idx)
                         else np.empty(0, np.int64))
            if len(ids) > max_length:
                ends = np.cumsum(lengths[idx])
                split += int(np.count_nonzero(ends > max_length))
                ids, positions = ids[:max_length], positions[:max_length]
            if len(ids):  # position_ids restart per sample: what isolated packing reads
                packs.append({"input_ids": ids.tolist(), "labels": ids.tolist(),
                              "position_ids": positions.tolist()})
        if not np.all(seen == 1):
            bad = int(np.flatnonzero(seen != 1)[0])
            raise SystemExit(f"pack planner broke its contract: sample {bad} is in "
                             f"{int(seen[bad])} packs (expected exactly 1)")
    order = np.random.default_rng(seed + 2).permutation(len(packs))
    return [packs[i] for i in order], split


def make_batches(packs: list, batch_size: int, n_batches: int, isolated: bool = False) -> list:
    """Collate consecutive packs with XTuner's default_collate_fn (one position range
    per row: cross-attending packs) or, ``isolated``, with our isolated_collate_fn
    (positions restart per sample), cycling through the packs if there are too few.
    Each batch: (data dict, real tokens per row)."""
    from xtuner.dataset.collate_fns import default_collate_fn

    from legal_eagle_xtuner.train.isolation import isolated_collate_fn

    collate = isolated_collate_fn if isolated else default_collate_fn
    batches, i = [], 0
    for _ in range(n_batches):
        group = [packs[(i + j) % len(packs)] for j in range(batch_size)]
        i += batch_size
        data = collate(group)["data"]
        rows = data["attention_mask"].sum(dim=1).tolist()
        batches.append((data, rows))
    return batches
