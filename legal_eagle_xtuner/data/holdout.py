"""How :func:`~legal_eagle_xtuner.data.split.split_file` chooses the held-out records.

The same rule serves a file (:mod:`legal_eagle_xtuner.data.split`) and records
already in memory (:func:`holdout_flags`, used by the training dataset builder).

*Eval size.* Exactly one of ``eval_size`` (K records) or ``eval_ratio`` is
given. With a ratio, ``K = round(ratio * N)`` (Python's ``round``, i.e. halves
to even) for N records, clamped to at least 1 and at most N - 1. With a size,
K must be at least 1 and below N.

*Key.* Every record gets a 64-bit key, the BLAKE2b digest (8 bytes, big
endian) of ``f"{seed}\\x1f{normalize_text(question_text(value))}"``
(:func:`~legal_eagle_xtuner.sources.question_text`,
:func:`~legal_eagle_xtuner.data.dedupe.normalize_text`). A record without question
text is keyed by its canonical JSON instead
(``json.dumps(value, sort_keys=True, ensure_ascii=False)``). Neither Python's
``hash()`` nor ``random`` is used, so a seed gives the same split on every
machine and Python version, whatever the order of the records in the file.

*Stratification.* Records are grouped by
:func:`~legal_eagle_xtuner.sources.stratum` (``"disc_pair/<task>"``,
``"lawgpt_92k"``, ``"conversation"``, ``"unknown"``, ...). Stratum ``s`` with
``n_s`` records gets the quota ``K * n_s / N`` rounded by the largest-remainder
method: every stratum gets the integer part, and the strata with the largest
remainders (ties broken by stratum name) get one more each until the quotas sum
to exactly K. Within a stratum the eval records are the ``quota`` records with
the smallest keys.

*Records with the same question are never split across train and eval.*
Records with equal keys form a group. If a quota boundary falls inside a group,
the whole group goes to eval; and a group that reaches eval in one stratum
pulls its members in every other stratum into eval too (the same question in
``lawgpt_52k`` and ``lawgpt_92k``, say). So within a stratum eval is exactly
"every record whose key is at most the quota-th smallest key" (which makes the
tie order by file position moot), plus the records of other strata's eval
questions. Eval can therefore hold a few more than K records; the result,
report and manifest give the real counts (and K as ``target``). Without
duplicate questions eval has exactly K records. If the groups leave no
training record at all, :class:`SplitError` is raised.
"""

from __future__ import annotations

import hashlib
import json
from array import array

from legal_eagle_xtuner.data.dedupe import normalize_text
from legal_eagle_xtuner.sources import question_text, stratum

__all__ = ["SplitError", "eval_target", "holdout_flags", "record_key", "stratum_quotas"]


class SplitError(Exception):
    """The split cannot be made; ``str()`` is a user-facing message
    (``FILE:LINE: ...`` when it is about one item of the file)."""


def record_key(value, seed: int, source: str | None = None) -> int:
    """The 64-bit split key of a record (see the module docstring): BLAKE2b of
    the seed and the normalised question, or of the canonical JSON of a record
    without question text. ``source`` overrides detection (which field is the
    question)."""
    question = question_text(value, source)
    if question:
        text = normalize_text(question)
    else:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    data = f"{seed}\x1f{text}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def stratum_quotas(sizes: dict[str, int], k: int) -> dict[str, int]:
    """Split ``k`` over strata proportionally to ``sizes`` by the largest
    remainder method (ties broken by stratum name); the quotas sum to ``k``.
    Exact integer arithmetic, no floating point."""
    total = sum(sizes.values())
    if total <= 0:
        return {name: 0 for name in sizes}
    quotas = {name: k * n // total for name, n in sizes.items()}
    left = k - sum(quotas.values())
    by_remainder = sorted(sizes, key=lambda name: (-(k * sizes[name] % total), name))
    for name in by_remainder[:left]:
        quotas[name] += 1
    return quotas


def _check_options(eval_size, eval_ratio, seed) -> None:
    if eval_size is not None and eval_ratio is not None:
        raise SplitError("give either --eval-size or --eval-ratio, not both")
    if eval_size is None and eval_ratio is None:
        raise SplitError("give --eval-size or --eval-ratio")
    if eval_ratio is not None:
        if isinstance(eval_ratio, bool) or not isinstance(eval_ratio, (int, float)):
            raise SplitError(f"--eval-ratio must be a number, got {eval_ratio!r}")
        if not 0 < eval_ratio < 1:  # also rejects NaN
            raise SplitError(f"--eval-ratio must be between 0 and 1 (exclusive), got {eval_ratio}")
    if eval_size is not None:
        if isinstance(eval_size, bool) or not isinstance(eval_size, int):
            raise SplitError(f"--eval-size must be a whole number, got {eval_size!r}")
        if eval_size < 1:
            raise SplitError(f"--eval-size must be at least 1, got {eval_size}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SplitError(f"--seed must be a whole number, got {seed!r}")


def eval_target(path, n: int, eval_size: int | None, eval_ratio: float | None) -> int:
    """K for a file of ``n`` records (options already checked); raises
    :class:`SplitError` when the file cannot be split so."""
    if n == 0:
        raise SplitError(f"{path}: no records to split")
    if eval_size is not None:
        if eval_size >= n:
            noun = "record" if n == 1 else "records"
            raise SplitError(
                f"--eval-size {eval_size} leaves no training records: the file has {n} {noun}"
            )
        return eval_size
    if n < 2:
        raise SplitError(f"{path}: at least 2 records are needed to split, found {n}")
    return min(max(round(eval_ratio * n), 1), n - 1)


def _keys(values, seed: int, source: str | None = None):
    """(keys, stratum numbers, stratum names) of the records ``values``, in order;
    ``source`` overrides detection."""
    keys = array("Q")
    ids = array("I")
    numbers: dict[str, int] = {}
    for value in values:
        name = stratum(value, source)
        number = numbers.get(name)
        if number is None:
            number = numbers[name] = len(numbers)
        ids.append(number)
        keys.append(record_key(value, seed, source))
    names = sorted(numbers, key=numbers.__getitem__)
    return keys, ids, names


def holdout_flags(values, *, eval_size: int | None = None, eval_ratio: float | None = None,
                  seed: int = 42, name: str = "dataset", source: str | None = None):
    """Eval flags (a numpy bool array, in order) for records already in memory
    (any iterable of JSON objects): the records :func:`split_file` would write
    to ``eval.jsonl`` for a file holding them, by the same rule and with the
    same messages (``name`` stands for the file name in them); ``source``
    as in :func:`split_file`."""
    import numpy as np

    _check_options(eval_size, eval_ratio, seed)
    keys, ids, names = _keys(values, seed, source)
    k = eval_target(name, len(keys), eval_size, eval_ratio)
    flags, _, _ = _choose(keys, ids, names, k)
    return np.frombuffer(flags, dtype=bool)


def _choose(keys: array, ids: array, names: list[str], k: int):
    """Eval flags (one byte a record, in file order) and eval counts per stratum."""
    import numpy as np

    key_np = np.frombuffer(keys, dtype=np.uint64)
    id_np = np.frombuffer(ids, dtype=f"u{ids.itemsize}")
    sizes = np.bincount(id_np, minlength=len(names))
    quotas = stratum_quotas({name: int(sizes[i]) for i, name in enumerate(names)}, k)
    order = np.argsort(id_np, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(sizes)))
    chosen = []
    for number, name in enumerate(names):
        quota = quotas[name]
        if quota <= 0:
            continue
        group = key_np[order[bounds[number] : bounds[number + 1]]]
        threshold = np.partition(group, quota - 1)[quota - 1]
        chosen.append(group[group <= threshold])
    del order
    eval_keys = np.unique(np.concatenate(chosen)) if chosen else np.empty(0, np.uint64)
    if len(eval_keys):
        at = np.searchsorted(eval_keys, key_np)
        np.minimum(at, len(eval_keys) - 1, out=at)
        flags = eval_keys[at] == key_np
        del at
    else:
        flags = np.zeros(len(key_np), dtype=bool)
    counts = np.bincount(id_np[flags], minlength=len(names))
    return flags.tobytes(), [int(c) for c in counts], [int(s) for s in sizes]
