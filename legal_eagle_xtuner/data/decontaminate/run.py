"""Check training files against a :class:`BenchmarkIndex`, write the clean
copy and the flagged records (:func:`decontaminate`), report per task.

*Training side*: the record's :func:`~legal_eagle_xtuner.sources.question_text`
(raw records of the four sources, or the user inputs of a converted record
without its ``参考法条：`` block), normalised. A record is flagged when any of its
``n``-character substrings equals a benchmark ``n``-gram, or any substring
equals a short item's whole question. Answers are not compared: statute texts
are shared between benchmark answers and training answers by design (both
quote the same law), so comparing them would flag nearly everything.

*Counts*: a record overlapping items of several tasks is one ``flagged``
record, and counts once in the ``records_flagged`` of each of those tasks;
``items_hit`` counts the items of a task that share a gram with at least one
training record (a gram shared by several items hits all of them).
``read == kept + flagged`` always. Records whose question has no letter or
digit are kept (``no_question``).

*Outputs*: the clean copy holds the kept records, ``json.dumps(value,
ensure_ascii=False)`` one per line in input order; the flagged file one line
``{"file", "line", "matches": [{"task", "item", "text"}], "record"}`` per
flagged record, ``item`` the 0-based position in the benchmark file, ``text``
the shared normalised gram, and at most one match per task (the one earliest
in the record, then the lowest item). Both are written to a temp file beside
the target and renamed at the end, so an error leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from legal_eagle_xtuner.data.corpus import byte_progress, json_type
from legal_eagle_xtuner.sources import question_text
from legal_eagle_xtuner.data.files import AtomicJsonl, OutputError
from legal_eagle_xtuner.data.records import FileFormatError, Problem, iter_records
from legal_eagle_xtuner.data.decontaminate.benchmarks import DecontaminationError
from legal_eagle_xtuner.data.decontaminate.ngrams import BenchmarkIndex, _match_batch
from legal_eagle_xtuner.data.decontaminate.normalize import _normalize_batch

_BATCH_CHARS = 1 << 18
"""Training characters normalised and hashed at a time (bounds the arrays to a few MB)."""
_BATCH_RECORDS = 4096


# -- the command --------------------------------------------------------------


@dataclass
class TaskOverlap:
    """Overlap with one benchmark task."""

    task: str
    """Task name (the benchmark file's stem)."""
    items: int
    """Items in the task."""
    checked: int
    """Items long enough to be checked (at least ``min_chars`` normalised characters)."""
    records_flagged: int
    """Training records overlapping at least one item of the task."""
    items_hit: int
    """Items of the task overlapped by at least one training record."""


@dataclass
class DecontaminationResult:
    """What :func:`decontaminate` did."""

    read: int
    """Training records read (``kept + flagged``)."""
    kept: int
    """Records that overlap no benchmark item (written to ``output_path``)."""
    flagged: int
    """Records that overlap at least one item (written to ``flagged_path``)."""
    tasks: list[TaskOverlap]
    """One entry per benchmark task, in the order the benchmark files were given."""
    output_path: Path | None
    """The clean copy written, if any."""
    flagged_path: Path | None
    """The flagged records written, if any."""
    no_question: int = 0
    """Records whose question text has no letter or digit (nothing to compare;
    counted in ``kept``)."""


def _writer(path: Path) -> AtomicJsonl:
    try:
        return AtomicJsonl(path, make_parents=False)
    except OutputError as exc:
        raise DecontaminationError(str(exc)) from None


def decontaminate(
    paths,
    index: BenchmarkIndex,
    *,
    output=None,
    flagged=None,
    progress: bool | None = None,
    source: str | None = None,
) -> DecontaminationResult:
    """Check every record of the training files ``paths`` (JSONL or JSON arrays
    of raw or converted records) against ``index``; ``source`` declares the
    source of raw records (which field is the question) instead of detecting it.

    ``output``: write the records that overlap nothing, one compact JSON per
    line, in input order. ``flagged``: write one JSON line per flagged record,
    ``{"file", "line", "matches": [{"task", "item", "text"}, ...], "record"}``
    with at most one match per task (the earliest in the record). Both are
    written to a temp file and renamed at the end, so an error leaves neither
    (and an existing file untouched); either may be one of ``paths``.
    Raises :class:`DecontaminationError` (``FILE:LINE: ...``) for an item that
    is not valid JSON or not an object, or an unreadable file, and ``cannot
    write PATH: ...`` for an output that cannot be written. ``progress``: tqdm
    bar over the input bytes (``None``: only on a terminal).
    """
    paths = [str(p) for p in paths]
    output = Path(output) if output is not None else None
    flagged = Path(flagged) if flagged is not None else None
    if output is not None and flagged is not None and output.resolve() == flagged.resolve():
        raise DecontaminationError(f"the clean copy and the flagged records would both be {output}")
    task_count = len(index.tasks)
    records_flagged = np.zeros(task_count, dtype=np.int64)
    item_hit = np.zeros(len(index.item_task), dtype=bool)
    counts = {"read": 0, "kept": 0, "flagged": 0, "no_question": 0}
    writers: list[AtomicJsonl] = []
    try:
        out_w = _writer(output) if output is not None else None
        if out_w:
            writers.append(out_w)
        flag_w = _writer(flagged) if flagged is not None else None
        if flag_w:
            writers.append(flag_w)

        batch: list[tuple[str, int, object]] = []
        texts: list[str] = []
        size = 0

        def flush():
            codes, lengths = _normalize_batch(texts)
            counts["no_question"] += int((lengths == 0).sum())
            found, hit = _match_batch(index, codes, lengths)
            item_hit[hit] = True
            for number, (path, line, value) in enumerate(batch):
                matches = found.get(number)
                if not matches:
                    counts["kept"] += 1
                    if out_w:
                        out_w.write(value)
                    continue
                counts["flagged"] += 1
                for task_no, _, _ in matches:
                    records_flagged[task_no] += 1
                if flag_w:
                    flag_w.write(
                        {
                            "file": path,
                            "line": line,
                            "matches": [
                                {
                                    "task": index.tasks[t],
                                    "item": int(index.item_index[o]),
                                    "text": text,
                                }
                                for t, o, text in matches
                            ],
                            "record": value,
                        }
                    )
            batch.clear()
            texts.clear()

        with byte_progress(paths, "decontaminate", progress) as on_bytes:
            for path in paths:
                try:
                    for item in iter_records(path, on_bytes=on_bytes):
                        if isinstance(item, Problem):
                            raise DecontaminationError(str(item))
                        if not isinstance(item.value, Mapping):
                            raise DecontaminationError(
                                f"{path}:{item.line}: record is not a JSON object "
                                f"(got {json_type(item.value)})"
                            )
                        counts["read"] += 1
                        text = question_text(item.value, source)
                        batch.append((path, item.line, item.value))
                        texts.append(text)
                        size += len(text)
                        if size >= _BATCH_CHARS or len(batch) >= _BATCH_RECORDS:
                            flush()
                            size = 0
                except FileFormatError as exc:
                    raise DecontaminationError(str(exc)) from None
            flush()
        for writer in writers:
            writer.commit()
    except BaseException as exc:
        for writer in writers:
            writer.discard()
        if isinstance(exc, OutputError):
            raise DecontaminationError(str(exc)) from None
        raise
    first_item = np.searchsorted(index.item_task, np.arange(task_count + 1))
    tasks = [
        TaskOverlap(
            task=index.tasks[t],
            items=index.items[t],
            checked=index.checked[t],
            records_flagged=int(records_flagged[t]),
            items_hit=int(item_hit[first_item[t] : first_item[t + 1]].sum()),
        )
        for t in range(task_count)
    ]
    return DecontaminationResult(
        read=counts["read"],
        kept=counts["kept"],
        flagged=counts["flagged"],
        tasks=tasks,
        output_path=output,
        flagged_path=flagged,
        no_question=counts["no_question"],
    )


def report_lines(result: DecontaminationResult) -> list[str]:
    """A per-task table (task, items, checked, training records overlapping,
    items hit), then ``read N, kept K, flagged F``."""
    header = ("task", "items", "checked", "training records overlapping", "items hit")
    rows = [
        (t.task, str(t.items), str(t.checked), str(t.records_flagged), str(t.items_hit))
        for t in result.tasks
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        return "  ".join(cells).rstrip()

    lines = [fmt(header), *(fmt(r) for r in rows)]
    summary = f"read {result.read}, kept {result.kept}, flagged {result.flagged}"
    if result.no_question:
        summary += f" ({result.no_question} kept without question text to compare)"
    lines.append(summary)
    return lines
