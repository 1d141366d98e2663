"""One record, any source, to XTuner's conversation — detected, checked and
converted in one call. Training (``legal_qa_map_fn``) and every data command
(``data.corpus``) come here, so what validates there trains here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from legal_eagle_xtuner.sources.base import (
    check_placement,
    check_reference,
    check_system,
    check_text,
    record_error,
    user_turn,
)
from legal_eagle_xtuner.sources.conversation import CONVERSATION, PROVENANCE, check_conversation
from legal_eagle_xtuner.sources.detect import SOURCE_SPECS, Detection, explain_source
from legal_eagle_xtuner.sources.references import normalize_references

__all__ = ["ID_AS_TEXT", "NO_REFERENCES", "Converted", "RecordError", "check_source",
           "convert_record", "output_record", "to_conversation"]


class RecordError(ValueError):
    """A record whose source is known but which fails that source's checks."""

    def __init__(self, message: str, source: str):
        super().__init__(message)
        self.source = source


ID_AS_TEXT = "id_as_text"
"""Note on a record whose numeric ``id`` was written as text."""
NO_REFERENCES = "no_references"
"""Note on a record of a source with references that has none: missing, null,
``[]``, or entries that normalise to nothing."""


def _check_id(record: Mapping, source: str, value: Any) -> tuple[str, bool]:
    """An ``id`` is provenance, not training text: a string, or an integer
    (also an integral float, as spreadsheet exports write them), returned as
    text with whether it had to be converted."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise record_error(record, source, "field 'id' must be a string or an integer, "
                                           f"got {type(value).__name__}")
    if isinstance(value, float):
        if not value.is_integer():
            raise record_error(record, source, "field 'id' must be a string or an integer, "
                                               f"got float {value!r}")
        return str(int(value)), True
    if isinstance(value, int):
        return str(value), True
    return check_text(record, source, "id", value).strip(), False


def _convert(record: Mapping, source: str, reference_placement: str,
             system: str) -> tuple[dict, str | None, frozenset]:
    """The conversation, the id as text (or None) and the notes of one raw record."""
    spec = SOURCE_SPECS[source]
    values: dict[str, Any] = {}
    record_id, notes = None, set()
    for field in spec.fields:
        value = record.get(field)
        if field == "id":
            if value is not None:
                record_id, converted = _check_id(record, source, value)
                if converted:
                    notes.add(ID_AS_TEXT)
        elif field == spec.reference:
            # Missing, null or [] references: the record trains without a block.
            values[field] = [] if value is None else check_reference(record, source, value)
        elif field not in record:
            raise record_error(record, source, f"missing required field '{field}'")
        else:
            values[field] = check_text(record, source, field, value)

    question = values[spec.question].strip()
    answer = values[spec.answer].strip()

    user = question
    if spec.reference is not None:
        lines = normalize_references(values[spec.reference])
        if not lines:  # missing, null, [] or nothing but blank entries
            notes.add(NO_REFERENCES)
        elif reference_placement == "prompt":
            user = user_turn(question, lines)

    conversation = {"conversation": [{"system": system, "input": user, "output": answer}]}
    return conversation, record_id, frozenset(notes)


def check_source(source: Any) -> None:
    """Raise ``ValueError`` unless ``source`` is ``None`` (detect), a raw
    source name or ``"conversation"``."""
    if source is not None and source not in SOURCE_SPECS and source != CONVERSATION:
        valid = ", ".join([*SOURCE_SPECS, CONVERSATION])
        raise ValueError(f"invalid source {source!r}; valid sources: {valid}")


def _detection(value: Mapping, source: str | None) -> Detection:
    """The source of a record: detected from its fields, or the one given."""
    if not isinstance(value, Mapping):
        raise ValueError(f"record must be a dict or other mapping, got {type(value).__name__}")
    if source is not None:
        return Detection(source, ())
    if value.get("conversation") is not None:
        return Detection(CONVERSATION, ("conversation",))
    return explain_source(value)


def to_conversation(
    record: dict, reference_placement: str = "prompt", system: str | None = None,
    source: str | None = None,
) -> dict:
    """Convert one raw record of any supported source to XTuner's schema.

    The question and answer are stripped of leading and trailing whitespace
    (inner newlines are kept). With ``reference_placement="prompt"`` and
    references that normalise to at least one line, the user turn is::

        参考法条：
        <line 1>
        <line 2>

        <question>

    Otherwise (no references, or placement ``"none"``) it is the question.
    References that are missing, ``null`` or ``[]`` mean no block; an ``id``
    may be a string or an integer. ``source`` (a raw source name) skips
    detection: the record is checked against that source's fields.
    ``system=None`` means :data:`~legal_eagle_xtuner.sources.base.LEGAL_SYSTEM`.

    Raises ``ValueError`` for an invalid placement or system, a record that
    is not a dict or fits no source, and for a required field that is
    missing, None, not a string, empty or whitespace-only (``reference``:
    not a list of strings).
    """
    check_placement(reference_placement)
    system = check_system(system)
    check_source(source)
    if source == CONVERSATION:
        raise ValueError("to_conversation converts raw records; 'conversation' records "
                         "are already converted")
    if source is None:
        source = explain_source(record).source
    elif not isinstance(record, Mapping):
        raise ValueError(f"record must be a dict or other mapping, got {type(record).__name__}")
    return _convert(record, source, reference_placement, system)[0]


def output_record(source: str, conversation: dict, record_id: str | None) -> dict:
    """The line ``convert`` writes for a raw record: XTuner's ``conversation``
    plus ``source`` and, when the record has one, its ``id`` as text."""
    out = {"conversation": conversation["conversation"], "source": source}
    if record_id:
        out["id"] = record_id
    return out


@dataclass
class Converted:
    """A record that passed its source's checks."""

    source: str
    """``disc_pair`` … ``lawgpt_92k``, or ``conversation``."""
    output: dict
    """The record as ``convert`` writes it (conversation + provenance)."""
    extra_fields: tuple[str, ...]
    """Fields of the record its source does not use (left out)."""
    notes: frozenset = frozenset()
    """What was done to the record beyond conversion: :data:`ID_AS_TEXT`,
    :data:`NO_REFERENCES`."""
    detection: Detection | None = None
    """How the source was decided (``fields`` empty when it was given)."""


def convert_record(value: Mapping, *, reference_placement: str = "prompt",
                   system: str | None = None, source: str | None = None) -> Converted:
    """Detect the source of a JSON object, check it and convert it — raw
    sources and records already in conversation format alike. Raises
    ``ValueError`` with the message a data command prints after ``FILE:LINE:``:
    a :class:`RecordError` (which carries the source) when the fields fit a
    source but fail its checks. ``source`` skips detection: the record is
    checked against the fields of that source. An invalid placement, system or
    source raises ``ValueError`` before any record is looked at."""
    check_placement(reference_placement)
    system = check_system(system)
    check_source(source)
    detection = _detection(value, source)
    source = detection.source
    notes = frozenset()
    try:
        if source == CONVERSATION:
            if value.get("conversation") is None:
                raise ValueError("missing required field 'conversation'")
            output = check_conversation(value)
            used = {"conversation", *PROVENANCE}
        else:
            conversation, record_id, notes = _convert(value, source, reference_placement, system)
            output = output_record(source, conversation, record_id)
            used = set(SOURCE_SPECS[source].fields) | {"id"}
    except ValueError as exc:
        raise RecordError(str(exc), source) from None
    return Converted(source, output, tuple(key for key in value if key not in used), notes,
                     detection)
