"""Read benchmark files and index their questions (:func:`load_benchmarks`).

*Benchmark side*: the ``question`` of every item (for files that are not
LawBench-shaped, :func:`~legal_eagle_xtuner.sources.question_text` of the item);
LawBench's ``instruction`` is the same prompt for every item of a task and is
never used, nor is ``answer``. A ``.csv`` file is DISC-Law-Eval's: each row's
``input`` (the question) with its options ``A``-``D`` joined to it, one item per
row (gold ``output`` never used). The task name is the file stem (``3-2``,
``mcq_sing_cpa``). An item whose normalised question has at least ``n``
characters (default 13, the usual decontamination n-gram) contributes every
character ``n``-gram of it; an item shorter than ``n`` but with at least
``min_chars`` characters (default 8) contributes its whole normalised question
as one gram, matched as a substring of the training question; shorter items
are not checked (they are the ``items - checked`` of a task).

*Refinement, boilerplate*: a gram that occurs in more than ``max_gram_items``
(default 10) distinct benchmark items is not used. LawBench's case tasks repeat
formulae and quoted statutes in hundreds of items (``行为触犯了中华人民共和国刑法``
in 344 items, ``处三年以上十年以下有期徒刑`` in 251 items of 3-5), and the same text
is everywhere in legal training data, so such grams would flag records that
share no item-specific content. Text that is specific to an item is repeated in
at most about six items (LawBench reuses one CAIL case in 3-1, 3-3, 3-4, 3-5,
2-5 and 3-7), which stays under the limit. ``max_gram_items=None`` keeps every
gram (the plain rule).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from legal_eagle_xtuner.data.corpus import json_type
from legal_eagle_xtuner.sources import question_text
from legal_eagle_xtuner.data.records import FileFormatError, Problem, Record, iter_records
from legal_eagle_xtuner.data.decontaminate.ngrams import BenchmarkIndex, _gram_tables
from legal_eagle_xtuner.data.decontaminate.normalize import _normalize_batch


class DecontaminationError(Exception):
    """A user-facing failure; ``FILE:LINE: message`` when it is about one item."""


def _benchmark_question(value) -> str:
    """LawBench's ``question``; for other files the record's question text."""
    if isinstance(value, Mapping) and isinstance(value.get("question"), str):
        return value["question"]
    return question_text(value)


def _csv_items(path: str):
    """:class:`Record` per row of a DISC-Law-Eval CSV: ``{"question": input +
    options}``, ``line`` where the row starts."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if "input" not in (reader.fieldnames or ()):
                raise DecontaminationError(
                    f"{path}: a CSV benchmark file needs an 'input' column "
                    "(DISC-Law-Eval: input, output, A, B, C, D, ...)")
            start = reader.line_num + 1
            for index, row in enumerate(reader, 1):
                parts = [row.get(k) or "" for k in ("input", "A", "B", "C", "D")]
                yield Record(path, start, index, {"question": "\n".join(p for p in parts if p)})
                start = reader.line_num + 1
    except OSError as exc:
        raise DecontaminationError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DecontaminationError(f"{path}: not a readable UTF-8 CSV file: {exc}") from None


def load_benchmarks(
    paths, *, n: int = 13, min_chars: int = 8, max_gram_items: int | None = 10
) -> BenchmarkIndex:
    """Read benchmark files (LawBench's ``data/<setting>/<task>.json``, any
    JSON array / JSONL of records, DISC-Law-Eval's ``.csv``) and index their
    questions' grams (see the module docstring for the rule). Raises
    :class:`DecontaminationError` for an unreadable file or item, an item
    without question text (``FILE:LINE: benchmark item has no 'question'
    text``), or two files with one stem."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(min_chars, int) or min_chars < 1:
        raise ValueError(f"min_chars must be a positive integer, got {min_chars!r}")
    if max_gram_items is not None and (not isinstance(max_gram_items, int) or max_gram_items < 1):
        raise ValueError(
            f"max_gram_items must be a positive integer or None, got {max_gram_items!r}"
        )
    paths = [str(p) for p in paths]
    if not paths:
        raise DecontaminationError("no benchmark files given")
    tasks, items, checked = [], [], []
    questions, item_task, item_index = [], [], []
    seen: dict[str, str] = {}
    for task_no, path in enumerate(paths):
        task = Path(path).stem
        if task in seen:
            raise DecontaminationError(
                f"{path}: task name {task!r} (the file stem) is also that of {seen[task]}; "
                "give benchmark files distinct names"
            )
        seen[task] = path
        total = 0
        try:
            reader = _csv_items if path.lower().endswith(".csv") else iter_records
            for item in reader(path):
                if isinstance(item, Problem):
                    raise DecontaminationError(str(item))
                total += 1
                if not isinstance(item.value, Mapping):
                    raise DecontaminationError(
                        f"{path}:{item.line}: benchmark item is not a JSON object "
                        f"(got {json_type(item.value)})"
                    )
                question = _benchmark_question(item.value)
                if not question.strip():
                    raise DecontaminationError(
                        f"{path}:{item.line}: benchmark item has no 'question' text"
                    )
                questions.append(question)
                item_task.append(task_no)
                item_index.append(item.index - 1)
        except FileFormatError as exc:
            raise DecontaminationError(str(exc)) from None
        tasks.append(task)
        items.append(total)

    codes, lengths = _normalize_batch(questions)
    del questions
    item_task = np.asarray(item_task, dtype=np.int32)
    item_index = np.asarray(item_index, dtype=np.int32)
    usable = lengths >= min_chars  # shorter items are not checked
    checked = np.bincount(item_task[usable], minlength=len(tasks)).tolist()
    text_of = np.repeat(usable, lengths)
    codes, lengths = codes[text_of].copy(), lengths[usable]
    item_task, item_index = item_task[usable], item_index[usable]
    item_start = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=item_start[1:])
    tables, dropped = _gram_tables(codes, lengths, item_start, n, max_gram_items)
    return BenchmarkIndex(
        n=n,
        min_chars=min_chars,
        max_gram_items=max_gram_items,
        tasks=tasks,
        paths=paths,
        items=items,
        checked=checked,
        item_task=item_task,
        item_index=item_index,
        item_start=item_start,
        codes=codes,
        tables=tables,
        boilerplate_grams=dropped,
    )
