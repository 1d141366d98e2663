"""One record, any source, to XTuner's conversation — detected, checked and
converted in one call. Training (``legal_qa_map_fn``) and every data command
(``data.corpus``) come here, so what validates there trains here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from legal_eagle_xtuner.sources.base import (
    REFERENCE_HEADING,
    check_placement,
    check_reference,
    check_system,
    check_text,
    record_error,
)
from legal_eagle_xtuner.sources.conversation import CONVERSATION, PROVENANCE, check_conversation
from legal_eagle_xtuner.sources.detect import SOURCE_SPECS, detect_source, record_source
from legal_eagle_xtuner.sources.references import normalize_references

__all__ = ["Converted", "RecordError", "convert_record", "output_record", "to_conversation"]


class RecordError(ValueError):
    """A record whose source is known but which fails that source's checks."""

    def __init__(self, message: str, source: str):
        super().__init__(message)
        self.source = source


def _conversation(record: Mapping, source: str, reference_placement: str, system: str) -> dict:
    spec = SOURCE_SPECS[source]
    values: dict[str, Any] = {}
    for field in spec.fields:
        if field not in record:
            raise record_error(record, source, f"missing required field '{field}'")
        value = record[field]
        if field == spec.reference:
            values[field] = check_reference(record, source, value)
        else:
            values[field] = check_text(record, source, field, value)

    question = values[spec.question].strip()
    answer = values[spec.answer].strip()

    user = question
    if reference_placement == "prompt" and spec.reference is not None:
        lines = normalize_references(values[spec.reference])
        if lines:
            user = "\n".join([REFERENCE_HEADING, *lines]) + "\n\n" + question

    return {"conversation": [{"system": system, "input": user, "output": answer}]}


def to_conversation(
    record: dict, reference_placement: str = "prompt", system: str | None = None
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
    ``system=None`` means :data:`~legal_eagle_xtuner.sources.base.LEGAL_SYSTEM`.

    Raises ``ValueError`` for an invalid placement or system, a record that
    is not a dict or fits no source, and for a required field that is
    missing, None, not a string, empty or whitespace-only (``reference``:
    not a list of strings).
    """
    check_placement(reference_placement)
    system = check_system(system)
    return _conversation(record, detect_source(record), reference_placement, system)


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
class Converted:
    """A record that passed its source's checks."""

    source: str
    """``disc_pair`` … ``lawgpt_92k``, or ``conversation``."""
    output: dict
    """The record as ``convert`` writes it (conversation + provenance)."""
    extra_fields: tuple[str, ...]
    """Fields of the record its source does not use (left out)."""


def convert_record(value: Mapping, *, reference_placement: str = "prompt",
                   system: str | None = None) -> Converted:
    """Detect the source of a JSON object, check it and convert it — raw
    sources and records already in conversation format alike. Raises
    ``ValueError`` with the message a data command prints after ``FILE:LINE:``:
    a :class:`RecordError` (which carries the source) when the fields fit a
    source but fail its checks. An invalid placement or system raises
    ``ValueError`` before any record is looked at."""
    check_placement(reference_placement)
    system = check_system(system)
    source = record_source(value)
    try:
        if source == CONVERSATION:
            output = check_conversation(value)
            used = {"conversation", *PROVENANCE}
        else:
            conversation = _conversation(value, source, reference_placement, system)
            output = output_record(value, source, conversation)
            used = set(SOURCE_SPECS[source].fields) | {"id"}
    except ValueError as exc:
        raise RecordError(str(exc), source) from None
    return Converted(source, output, tuple(key for key in value if key not in used))
