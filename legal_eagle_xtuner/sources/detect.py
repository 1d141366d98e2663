"""Which source a record comes from, judged by its fields, and the facts the
data tools derive from that: its stratum and its question text."""

from __future__ import annotations

from collections.abc import Mapping

from legal_eagle_xtuner.sources.base import Source, format_record_ref, has
from legal_eagle_xtuner.sources.conversation import CONVERSATION, turn_questions
from legal_eagle_xtuner.sources.disc import DISC_PAIR, DISC_TRIPLET, disc_task
from legal_eagle_xtuner.sources.lawgpt import LAWGPT_52K, LAWGPT_92K

__all__ = ["SOURCE_SPECS", "SOURCE_FIELDS", "detect_source", "question_text", "record_source",
           "stratum"]

SOURCE_SPECS: dict[str, Source] = {
    source.name: source for source in (DISC_PAIR, DISC_TRIPLET, LAWGPT_52K, LAWGPT_92K)
}
"""The raw sources by name."""

SOURCE_FIELDS: dict[str, tuple[str, ...]] = {name: s.fields for name, s in SOURCE_SPECS.items()}
"""Required fields of each source, in the order they are validated."""


def detect_source(record: dict) -> str:
    """Return the source a record comes from, judged by its fields.

    ``question`` + ``answer`` → ``"lawgpt_92k"``; ``input`` + ``output`` with
    ``reference`` → ``"disc_triplet"``, with ``id`` → ``"disc_pair"``, else
    ``"lawgpt_52k"``. Fields whose value is ``None`` count as absent.

    A record with only one of the two text fields of a family (e.g. a
    ``question`` but no ``answer``) is still attributed to that family, so that
    the conversion can name the missing field. Any mapping is accepted
    (``datasets`` passes a ``LazyRow``). Raises ``ValueError`` for a
    non-mapping, or a record with none of ``question``/``answer``/``input``/
    ``output`` set to a non-None value.
    """
    if not isinstance(record, Mapping):
        raise ValueError(
            f"record must be a dict or other mapping, got {type(record).__name__}"
        )
    if has(record, "question") and has(record, "answer"):
        return LAWGPT_92K.name
    if has(record, "input") and has(record, "output"):
        return _disc_or_52k(record)
    if has(record, "question") or has(record, "answer"):
        return LAWGPT_92K.name
    if has(record, "input") or has(record, "output"):
        return _disc_or_52k(record)
    fields = ", ".join(repr(key) for key in record if record[key] is not None) or "none"
    expected = "; ".join(
        f"{source} ({', '.join(fields_)})" for source, fields_ in SOURCE_FIELDS.items()
    )
    raise ValueError(
        f"{format_record_ref(record)}: fields fit no known source "
        f"(non-null fields: {fields}); expected the fields of one of: {expected}"
    )


def _disc_or_52k(record: Mapping) -> str:
    if has(record, "reference"):
        return DISC_TRIPLET.name
    if has(record, "id"):
        return DISC_PAIR.name
    return LAWGPT_52K.name


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
        return turn_questions(value)
    question = value.get(SOURCE_SPECS[source].question)
    return question.strip() if isinstance(question, str) else ""
