"""Deterministic, stratified held-out split of one corpus file.

:func:`split_file` reads one JSONL or JSON-array file (raw source records or
records already converted to XTuner's conversation format; any JSON object is
accepted) and writes ``train.jsonl``, ``eval.jsonl`` and a ``split.json``
manifest into an output directory. :func:`report_lines` summarises the result
for people.

The rule that chooses the eval records (size, keys, stratification, records
with the same question kept together) is described in
:mod:`legal_eagle_xtuner.data.holdout`.

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

import json
import os
from dataclasses import dataclass
from pathlib import Path

from legal_eagle_xtuner.data.corpus import byte_progress, json_type
from legal_eagle_xtuner.data.holdout import (SplitError, _check_options, _choose, _keys,
                                             eval_target, holdout_flags, record_key,
                                             stratum_quotas)
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


def _pass1(path: str, encoding: str, seed: int, progress, source: str | None):
    """(keys, stratum numbers, stratum names) of the records, in file order."""
    with byte_progress([path], "split (pass 1/2)", progress) as on_bytes:
        return _keys(_items(path, encoding, on_bytes), seed, source)


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
    source: str | None = None,
) -> SplitResult:
    """Split the JSONL / JSON-array file ``path`` into ``out_dir/train.jsonl``
    and ``out_dir/eval.jsonl`` (plus the manifest ``out_dir/split.json``) by
    the rule of :mod:`legal_eagle_xtuner.data.holdout`, and return the counts.

    Give exactly one of ``eval_size`` (records) or ``eval_ratio`` (0 < r < 1).
    ``progress`` shows a byte progress bar per pass (``None``: only when
    stderr is a terminal). ``source`` declares the source of every raw record
    (its strata and question field) instead of detecting it. Raises :class:`SplitError` with one of these
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
        keys, ids, names = _pass1(path, encoding, seed, progress, source)
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
