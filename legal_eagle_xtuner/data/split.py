"""Deterministic, stratified held-out split of one corpus file.

:func:`split_file` reads one JSONL or JSON-array file (raw source records or
records already converted to XTuner's conversation format; any JSON object is
accepted) and writes ``train.jsonl``, ``eval.jsonl`` and a ``split.json``
manifest into an output directory. :func:`report_lines` summarises the result
for people.

The rule
--------

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

Reading and writing
-------------------

The file is read twice in bounded memory. Pass 1 keeps a 64-bit key and a
32-bit stratum number per record in :class:`array.array` (12 bytes a record);
choosing the eval set takes about 17 more bytes a record for a moment (numpy).
Pass 2 writes every record, in input order, as one compact JSON object a line
(``json.dumps(value, ensure_ascii=False)``: values round-trip, formatting does
not; a lone surrogate from a ``"\\udXXX"`` escape is written back as that
escape) to hidden temporary files in the output directory, which are renamed
to ``train.jsonl``, ``eval.jsonl`` and ``split.json`` only when everything has
been written. The output directory is created if needed; existing output files
there are replaced. On any error nothing new is left behind.

Errors are raised as :class:`SplitError`, whose text is a user-facing message:
``FILE:LINE: ...`` for an item that is not valid JSON (the reader's message) or
not a JSON object (``record is not a JSON object (got array)``), ``FILE:LINE:
...`` from :class:`~legal_eagle_xtuner.data.records.FileFormatError` for a file that
cannot be read, and the option messages documented on :func:`split_file`.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from dataclasses import dataclass
from pathlib import Path

from legal_eagle_xtuner.data.corpus import byte_progress, json_type
from legal_eagle_xtuner.sources import question_text, stratum
from legal_eagle_xtuner.data.dedupe import normalize_text
from legal_eagle_xtuner.data.records import FileFormatError, Problem, detect_encoding, iter_records

__all__ = [
    "EVAL_NAME",
    "MANIFEST_NAME",
    "TRAIN_NAME",
    "SplitError",
    "SplitResult",
    "eval_target",
    "holdout_flags",
    "record_key",
    "report_lines",
    "split_file",
    "stratum_quotas",
]

TRAIN_NAME = "train.jsonl"
"""File name of the training part in the output directory."""
EVAL_NAME = "eval.jsonl"
"""File name of the held-out part in the output directory."""
MANIFEST_NAME = "split.json"
"""File name of the manifest in the output directory."""

_MANIFEST_VERSION = 1


class SplitError(Exception):
    """The split cannot be made; ``str()`` is a user-facing message
    (``FILE:LINE: ...`` when it is about one item of the file)."""


@dataclass
class SplitResult:
    """What :func:`split_file` did."""

    read: int
    """Records read from the input file (``train + eval``)."""
    train: int
    """Records written to ``train.jsonl``."""
    eval: int
    """Records written to ``eval.jsonl``; more than :attr:`target` only when
    records sharing a question were kept together."""
    strata: dict[str, tuple[int, int]]
    """Stratum name → (records, of which in eval), sorted by name."""
    seed: int
    """The seed the keys were computed with."""
    train_path: Path
    """``out_dir/train.jsonl``."""
    eval_path: Path
    """``out_dir/eval.jsonl``."""
    manifest_path: Path
    """``out_dir/split.json``."""
    target: int = 0
    """K, the eval size asked for (``eval_size``, or derived from ``eval_ratio``)."""


def record_key(value, seed: int) -> int:
    """The 64-bit split key of a record (see the module docstring): BLAKE2b of
    the seed and the normalised question, or of the canonical JSON of a record
    without question text."""
    question = question_text(value)
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


def _items(path: str, encoding: str, on_bytes):
    """The JSON objects of ``path`` in order; SplitError for anything else."""
    for item in iter_records(path, encoding=encoding, on_bytes=on_bytes):
        if isinstance(item, Problem):
            raise SplitError(str(item))
        if not isinstance(item.value, dict):
            raise SplitError(
                f"{item.path}:{item.line}: record is not a JSON object "
                f"(got {json_type(item.value)})"
            )
        yield item.value


def _keys(values, seed: int):
    """(keys, stratum numbers, stratum names) of the records ``values``, in order."""
    keys = array("Q")
    ids = array("I")
    numbers: dict[str, int] = {}
    for value in values:
        name = stratum(value)
        number = numbers.get(name)
        if number is None:
            number = numbers[name] = len(numbers)
        ids.append(number)
        keys.append(record_key(value, seed))
    names = sorted(numbers, key=numbers.__getitem__)
    return keys, ids, names


def _pass1(path: str, encoding: str, seed: int, progress):
    """(keys, stratum numbers, stratum names) of the records, in file order."""
    with byte_progress([path], "split (pass 1/2)", progress) as on_bytes:
        return _keys(_items(path, encoding, on_bytes), seed)


def holdout_flags(values, *, eval_size: int | None = None, eval_ratio: float | None = None,
                  seed: int = 42, name: str = "dataset"):
    """Eval flags (a numpy bool array, in order) for records already in memory
    (any iterable of JSON objects): the records :func:`split_file` would write
    to ``eval.jsonl`` for a file holding them, by the same rule and with the
    same messages (``name`` stands for the file name in them)."""
    import numpy as np

    _check_options(eval_size, eval_ratio, seed)
    keys, ids, names = _keys(values, seed)
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


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _remove(paths) -> None:
    """Delete the temporary files that exist (best effort)."""
    for tmp in paths:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def split_file(
    path,
    out_dir,
    *,
    eval_size: int | None = None,
    eval_ratio: float | None = None,
    seed: int = 42,
    progress: bool | None = None,
) -> SplitResult:
    """Split the JSONL / JSON-array file ``path`` into ``out_dir/train.jsonl``
    and ``out_dir/eval.jsonl`` (plus the manifest ``out_dir/split.json``) by
    the rule in the module docstring, and return the counts.

    Give exactly one of ``eval_size`` (records) or ``eval_ratio`` (0 < r < 1).
    ``progress`` shows a byte progress bar per pass (``None``: only when
    stderr is a terminal). Raises :class:`SplitError` with one of these
    messages, having written nothing:

    * ``give either --eval-size or --eval-ratio, not both``
    * ``give --eval-size or --eval-ratio``
    * ``--eval-ratio must be between 0 and 1 (exclusive), got X``
    * ``--eval-size must be at least 1, got X``
    * ``--eval-size X leaves no training records: the file has N records``
    * ``PATH: no records to split`` / ``PATH: at least 2 records are needed
      to split, found N`` (ratio)
    * ``FILE:LINE: ...`` for an item that is not valid JSON or not an object,
      or a file that cannot be read
    * ``PATH: every record would go to eval: ...`` when kept-together
      questions leave no training record
    * ``PATH: the output would overwrite the input file; ...``
    * ``DIR: cannot create the output directory: ...`` / ``DIR: cannot write
      the output: ...``
    """
    _check_options(eval_size, eval_ratio, seed)
    path = str(path)
    out = Path(out_dir)
    train_path, eval_path = out / TRAIN_NAME, out / EVAL_NAME
    manifest_path = out / MANIFEST_NAME
    for target in (train_path, eval_path, manifest_path):
        if _same_file(Path(path), target):
            raise SplitError(
                f"{path}: the output would overwrite the input file; "
                "choose another output directory"
            )

    try:
        encoding = detect_encoding(path)
        keys, ids, names = _pass1(path, encoding, seed, progress)
    except FileFormatError as exc:
        raise SplitError(str(exc)) from None
    n = len(keys)
    k = eval_target(path, n, eval_size, eval_ratio)
    flags, eval_counts, sizes = _choose(keys, ids, names, k)
    del keys, ids
    n_eval = sum(eval_counts)
    if n_eval >= n:
        raise SplitError(
            f"{path}: every record would go to eval: records with the same question are "
            f"kept on one side, and the {k} chosen share their questions with all {n}; "
            "deduplicate the file or use a smaller eval size"
        )
    strata = {
        name: (sizes[i], eval_counts[i])
        for i, name in sorted(enumerate(names), key=lambda item: item[1])
    }

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SplitError(
            f"{out}: cannot create the output directory: {exc.strerror or exc}"
        ) from None
    suffix = f".{os.getpid()}.tmp"
    temps = {
        final: out / f".{final.name}{suffix}"
        for final in (train_path, eval_path, manifest_path)
    }
    try:
        try:
            with open(temps[train_path], "w", encoding="utf-8", errors="backslashreplace",
                      newline="\n") as train_file, \
                 open(temps[eval_path], "w", encoding="utf-8", errors="backslashreplace",
                      newline="\n") as eval_file:
                written = 0
                with byte_progress([path], "split (pass 2/2)", progress) as on_bytes:
                    for value in _items(path, encoding, on_bytes):
                        if written >= n:
                            raise _changed(path)
                        target_file = eval_file if flags[written] else train_file
                        target_file.write(json.dumps(value, ensure_ascii=False) + "\n")
                        written += 1
                if written != n:
                    raise _changed(path)
            manifest = {
                "version": _MANIFEST_VERSION,
                "input": path,
                "seed": seed,
                "eval_size": eval_size,
                "eval_ratio": eval_ratio,
                "target": k,
                "read": n,
                "train": n - n_eval,
                "eval": n_eval,
                "strata": {
                    name: {"records": total, "train": total - held, "eval": held}
                    for name, (total, held) in strata.items()
                },
                "files": {"train": TRAIN_NAME, "eval": EVAL_NAME},
            }
            with open(temps[manifest_path], "w", encoding="utf-8", newline="\n") as f:
                json.dump(manifest, f, ensure_ascii=False, indent=2)
                f.write("\n")
            for final, tmp in temps.items():
                os.replace(tmp, final)
        except FileFormatError as exc:
            raise SplitError(str(exc)) from None
        except OSError as exc:
            raise SplitError(f"{out}: cannot write the output: {exc.strerror or exc}") from None
    except BaseException:
        _remove(temps.values())
        raise

    return SplitResult(
        read=n,
        train=n - n_eval,
        eval=n_eval,
        strata=strata,
        seed=seed,
        train_path=train_path,
        eval_path=eval_path,
        manifest_path=manifest_path,
        target=k,
    )


def _changed(path: str) -> SplitError:
    return SplitError(f"{path}: the file changed while it was being split; run again")


def report_lines(result: SplitResult) -> list[str]:
    """A human summary: a table of records / train / eval per stratum, a
    ``read N, train T, eval E`` line, a note when eval exceeds the target,
    and where the files are."""
    header = ("stratum", "records", "train", "eval")
    rows = [
        (name, str(total), str(total - held), str(held))
        for name, (total, held) in result.strata.items()
    ]
    rows.append(("total", str(result.read), str(result.train), str(result.eval)))
    width = max(len(row[0]) for row in [header, *rows])
    nums = [max(len(row[i]) for row in [header, *rows]) for i in (1, 2, 3)]

    def fmt(row) -> str:
        return "  ".join([row[0].ljust(width)] + [row[i + 1].rjust(nums[i]) for i in range(3)])

    lines = [fmt(header)] + [fmt(row) for row in rows]
    lines.append(f"read {result.read}, train {result.train}, eval {result.eval}")
    extra = result.eval - result.target
    if result.target and extra > 0:
        lines.append(
            f"eval has {extra} more than the {result.target} asked for: "
            "records with the same question are kept on one side"
        )
    lines.append(f"seed {result.seed}; wrote {result.train_path}, {result.eval_path}, "
                 f"{result.manifest_path}")
    return lines
