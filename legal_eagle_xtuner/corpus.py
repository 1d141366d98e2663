"""Read users' corpora record by record, checked and converted.

This is what every ``legal-eagle data`` command stands on: :func:`iter_checked`
streams the files given (any of the four raw sources, or files already in
XTuner's conversation format) and yields one :class:`Checked` per item, either
converted through :func:`~legal_eagle_xtuner.map_fns.to_conversation` (the same
function training uses, so what validates here trains there) or carrying the
reason it cannot be used.

It also holds the small facts about a record the other commands share: which
source and stratum it belongs to (:func:`record_source`, :func:`stratum`), its
question text without the reference block (:func:`question_text`), and the
record a converted file stores (:func:`output_record`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from .map_fns import REFERENCE_HEADING, SOURCE_FIELDS, detect_source, to_conversation
from .records import FileFormatError, Problem, Record, iter_records

__all__ = [
    "CONVERSATION",
    "Checked",
    "byte_progress",
    "FileFormatError",
    "check_conversation",
    "disc_task",
    "iter_checked",
    "json_type",
    "output_record",
    "question_text",
    "record_source",
    "stratum",
]

CONVERSATION = "conversation"
"""Source name of records already in XTuner's conversation format."""

_PROVENANCE = ("source", "id")
"""Top-level fields ``convert`` writes beside ``conversation``."""

_TURN_FIELDS = ("system", "input", "output")

_DISC_ID = re.compile(r"^(?P<task>[A-Za-z][A-Za-z0-9_\-]*?)[_\-]?\d+$")


def disc_task(record_id) -> str | None:
    """The DISC-Law-SFT task an id names: ``"legal_question_answering_12"`` →
    ``"legal_question_answering"``. ``None`` when the id does not have the
    ``<task>_<number>`` shape (numbers only, missing, not a string)."""
    if not isinstance(record_id, str):
        return None
    match = _DISC_ID.match(record_id.strip())
    return match.group("task") if match else None


def record_source(value) -> str:
    """``"conversation"`` for a record in XTuner's format (it has a
    ``conversation`` field), else the raw source :func:`detect_source` finds.
    Raises ``ValueError`` like :func:`detect_source`."""
    if isinstance(value, Mapping) and value.get("conversation") is not None:
        return CONVERSATION
    return detect_source(value)


def stratum(value) -> str:
    """The group a record is stratified by when splitting: the source, and for
    DISC records whose id names a task, ``"<source>/<task>"``. Converted
    records use the ``source`` and ``id`` that ``convert`` stored. Records
    that fit no source are ``"unknown"``."""
    try:
        source = record_source(value)
    except ValueError:
        return "unknown"
    record_id = value.get("id")
    if source == CONVERSATION:
        stored = value.get("source")
        source = stored if isinstance(stored, str) and stored else CONVERSATION
    if source.startswith("disc_"):
        task = disc_task(record_id)
        if task:
            return f"{source}/{task}"
    return source


def split_reference_block(text: str) -> tuple[list[str], str]:
    """A user turn written with ``reference_placement="prompt"`` split into its
    reference lines and the question; ``([], text)`` when it has no block."""
    if text.startswith(REFERENCE_HEADING):
        head, sep, rest = text.partition("\n\n")
        if sep:
            return [line.strip() for line in head.splitlines()[1:] if line.strip()], rest
    return [], text


def _strip_reference_block(text: str) -> str:
    return split_reference_block(text)[1]


def question_text(value) -> str:
    """The user's question(s) of a record, without a ``参考法条：`` block:
    the question field of a raw record, or the ``input`` of every turn of a
    converted one, joined by newlines. ``""`` when there is none."""
    if not isinstance(value, Mapping):
        return ""
    try:
        source = record_source(value)
    except ValueError:
        return ""
    if source == CONVERSATION:
        turns = value.get("conversation")
        if not isinstance(turns, list):
            return ""
        parts = [
            _strip_reference_block(turn["input"].strip())
            for turn in turns
            if isinstance(turn, Mapping) and isinstance(turn.get("input"), str)
        ]
        return "\n".join(part for part in parts if part)
    question_field = "question" if source == "lawgpt_92k" else "input"
    question = value.get(question_field)
    return question.strip() if isinstance(question, str) else ""


def check_conversation(value: Mapping) -> dict:
    """Validate a record already in XTuner's format and return it as written
    by ``convert`` (``conversation`` plus ``source``/``id`` if present).
    Raises ``ValueError`` naming the turn and field that is wrong."""
    turns = value["conversation"]
    if not isinstance(turns, list):
        raise ValueError(
            f"field 'conversation' must be a list of turns, got {type(turns).__name__}"
        )
    if not turns:
        raise ValueError("field 'conversation' is empty")
    clean = []
    for number, turn in enumerate(turns):
        where = f"conversation[{number}]"
        if not isinstance(turn, Mapping):
            raise ValueError(f"{where} must be an object, got {type(turn).__name__}")
        kept = {}
        for name in _TURN_FIELDS:
            item = turn.get(name)
            if item is None:
                if name == "system":
                    continue
                raise ValueError(f"{where}: missing required field '{name}'")
            if not isinstance(item, str):
                raise ValueError(
                    f"{where}: field '{name}' must be a string, got {type(item).__name__}"
                )
            if name != "system" and not item.strip():
                raise ValueError(f"{where}: field '{name}' is empty or whitespace-only")
            kept[name] = item
        clean.append(kept)
    out = {"conversation": clean}
    for name in _PROVENANCE:
        if isinstance(value.get(name), (str, int)) and not isinstance(value.get(name), bool):
            out[name] = str(value[name])
    return out


def output_record(value: Mapping, source: str, conversation: dict) -> dict:
    """The line ``convert`` writes for a raw record: XTuner's ``conversation``
    plus ``source`` and, when the record has one, its ``id`` as a string."""
    out = {"conversation": conversation["conversation"], "source": source}
    record_id = value.get("id")
    if isinstance(record_id, (str, int)) and not isinstance(record_id, bool):
        if str(record_id).strip():
            out["id"] = str(record_id).strip()
    return out


@dataclass
class Checked:
    """One item of an input file after checking."""

    path: str
    """The file as given."""
    line: int
    """JSONL line, or the line where a JSON-array item starts (1-based)."""
    value: object = None
    """The parsed JSON value; ``None`` when the item is not valid JSON."""
    source: str | None = None
    """Detected source (``disc_pair`` … or ``conversation``); ``None`` if none fits."""
    output: dict | None = None
    """The record in XTuner's format as ``convert`` writes it; ``None`` if invalid."""
    error: str | None = None
    """Why the item cannot be used (without the ``FILE:LINE:`` prefix)."""
    extra_fields: tuple[str, ...] = field(default_factory=tuple)
    """Fields of a valid raw record that its source does not use (left out)."""

    @property
    def where(self) -> str:
        """``FILE:LINE``."""
        return f"{self.path}:{self.line}"

    @property
    def ok(self) -> bool:
        return self.error is None


def _check(record: Record, reference_placement: str, system: str | None) -> Checked:
    value = record.value
    item = Checked(record.path, record.line, value)
    if not isinstance(value, Mapping):
        item.error = f"record is not a JSON object (got {json_type(value)})"
        return item
    try:
        item.source = record_source(value)
    except ValueError as exc:
        item.error = str(exc)
        return item
    try:
        if item.source == CONVERSATION:
            item.output = check_conversation(value)
            used = {"conversation", *_PROVENANCE}
        else:
            conversation = to_conversation(
                value, reference_placement=reference_placement, system=system
            )
            item.output = output_record(value, item.source, conversation)
            used = set(SOURCE_FIELDS[item.source]) | {"id"}
    except ValueError as exc:
        item.error = str(exc)
        return item
    item.extra_fields = tuple(key for key in value if key not in used)
    return item


def json_type(value) -> str:
    """JSON's name for the type of a parsed value (``array``, ``string`` …)."""
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def iter_checked(
    paths: Iterable,
    *,
    reference_placement: str = "prompt",
    system: str | None = None,
    on_bytes=None,
    encoding: str | None = None,
) -> Iterator[Checked]:
    """Yield a :class:`Checked` for every item of every file, in order.

    Items that are not valid JSON come out with ``value=None`` and the
    reader's message as ``error``. A file that cannot be read at all raises
    :class:`~legal_eagle_xtuner.records.FileFormatError` before any of its
    items is yielded (encoding) or where reading fails (I/O). ``on_bytes``
    (optional) is called with the number of bytes read, for progress bars.
    ``encoding`` (optional) skips detection when the caller already knows it.
    """
    for path in paths:
        for item in iter_records(path, on_bytes=on_bytes, encoding=encoding):
            if isinstance(item, Problem):
                yield Checked(item.path, item.line, error=item.message)
            else:
                yield _check(item, reference_placement, system)


@contextlib.contextmanager
def byte_progress(paths: Iterable, desc: str, enabled: bool | None = None):
    """A tqdm bar over the total size of ``paths``; yields the ``on_bytes``
    callback to pass to :func:`iter_checked` / ``iter_records``.

    ``enabled=None`` shows the bar only when stderr is a terminal (so logs
    and captured output stay clean); ``False`` never, ``True`` always.
    """
    from tqdm.auto import tqdm

    total = 0
    for path in paths:
        try:
            total += os.path.getsize(path)
        except OSError:
            pass
    disable = None if enabled is None else not enabled
    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
              disable=disable, leave=False) as bar:
        yield bar.update
