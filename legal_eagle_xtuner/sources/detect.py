"""Which source a record comes from, judged by its fields, and the facts the
data tools derive from that: its stratum and its question text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from legal_eagle_xtuner.sources.base import Source, format_record_ref, has
from legal_eagle_xtuner.sources.conversation import CONVERSATION, turn_questions
from legal_eagle_xtuner.sources.disc import DISC_PAIR, DISC_TRIPLET, disc_task
from legal_eagle_xtuner.sources.lawgpt import LAWGPT_52K, LAWGPT_92K

__all__ = ["SOURCE_SPECS", "SOURCE_FIELDS", "Detection", "detect_source", "explain_source",
           "question_text", "record_source", "stratum"]

SOURCE_SPECS: dict[str, Source] = {
    source.name: source for source in (DISC_PAIR, DISC_TRIPLET, LAWGPT_52K, LAWGPT_92K)
}
"""The raw sources by name."""

SOURCE_FIELDS: dict[str, tuple[str, ...]] = {name: s.fields for name, s in SOURCE_SPECS.items()}
"""Required fields of each source, in the order they are validated."""


@dataclass(frozen=True)
class Detection:
    """Which source a record was taken for, and on what evidence."""

    source: str
    """The source name."""
    fields: tuple[str, ...]
    """The fields that decided it (empty when the source was given)."""
    guess: bool = False
    """True when another source has the same fields: DISC-Law-SFT-Pair records
    without ``id`` look exactly like LAW-GPT 52k records."""


def explain_source(record) -> Detection:
    """Detect the source of a record (rules as :func:`detect_source`) and say
    which fields decided it."""
    if not isinstance(record, Mapping):
        raise ValueError(
            f"record must be a dict or other mapping, got {type(record).__name__}"
        )
    both_92k = has(record, "question") and has(record, "answer")
    both_disc = has(record, "input") and has(record, "output")
    # Complete pairs first, so a stray field of the other family decides nothing.
    if both_92k or (not both_disc and (has(record, "question") or has(record, "answer"))):
        present = tuple(f for f in ("question", "answer") if has(record, f))
        return Detection(LAWGPT_92K.name, present)
    if both_disc or has(record, "input") or has(record, "output"):
        present = tuple(f for f in ("input", "output") if has(record, f))
        if has(record, "reference"):
            return Detection(DISC_TRIPLET.name, (*present, "reference"))
        if has(record, "id"):
            return Detection(DISC_PAIR.name, (*present, "id"))
        return Detection(LAWGPT_52K.name, present, guess=True)
    fields = ", ".join(repr(key) for key in record if record[key] is not None) or "none"
    expected = "; ".join(
        f"{source} ({', '.join(fields_)})" for source, fields_ in SOURCE_FIELDS.items()
    )
    raise ValueError(
        f"{format_record_ref(record)}: fields fit no known source "
        f"(non-null fields: {fields}); expected the fields of one of: {expected}"
    )


def detect_source(record: dict) -> str:
    """Return the source a record comes from, judged by its fields.

    ``question`` + ``answer`` → ``"lawgpt_92k"``; ``input`` + ``output`` with
    ``reference`` → ``"disc_triplet"``, with ``id`` → ``"disc_pair"``, else
    ``"lawgpt_52k"`` (a guess: see :class:`Detection`). Fields whose value is ``None`` count as absent.

    A record with only one of the two text fields of a family (e.g. a
    ``question`` but no ``answer``) is still attributed to that family, so that
    the conversion can name the missing field. Any mapping is accepted
    (``datasets`` passes a ``LazyRow``). Raises ``ValueError`` for a
    non-mapping, or a record with none of ``question``/``answer``/``input``/
    ``output`` set to a non-None value.
    """
    return explain_source(record).source


def record_source(value) -> str:
    """``"conversation"`` for a record in XTuner's format (it has a
    ``conversation`` field), else the raw source :func:`detect_source` finds.
    Raises ``ValueError`` like :func:`detect_source`."""
    if isinstance(value, Mapping) and value.get("conversation") is not None:
        return CONVERSATION
    return detect_source(value)


def _source_of(value, source: str | None) -> str:
    if source is None or (isinstance(value, Mapping) and value.get("conversation") is not None):
        return record_source(value)
    return source


def stratum(value, source: str | None = None) -> str:
    """The group a record is stratified by when splitting: the source, and for
    DISC records whose id names a task, ``"<source>/<task>"``. Converted
    records use the ``source`` and ``id`` that ``convert`` stored. Records
    that fit no source are ``"unknown"``. ``source`` overrides detection for
    raw records."""
    try:
        source = _source_of(value, source)
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


def question_text(value, source: str | None = None) -> str:
    """The user's question(s) of a record, without a ``参考法条：`` block:
    the question field of a raw record, or the ``input`` of every turn of a
    converted one, joined by newlines. ``""`` when there is none. ``source``
    overrides detection for raw records."""
    if not isinstance(value, Mapping):
        return ""
    try:
        source = _source_of(value, source)
    except ValueError:
        return ""
    if source == CONVERSATION:
        return turn_questions(value)
    question = value.get(SOURCE_SPECS[source].question)
    return question.strip() if isinstance(question, str) else ""
