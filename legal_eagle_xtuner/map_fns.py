"""XTuner dataset map functions for Chinese legal QA corpora.

A map function turns one raw record into XTuner's single-turn conversation
schema::

    {"conversation": [{"system": ..., "input": ..., "output": ...}]}

Supported sources, recognised by their fields (other fields are ignored):

============== ================================================ ==========================
source         corpus                                           fields
============== ================================================ ==========================
disc_pair      DISC-Law-SFT-Pair(.jsonl), -Pair-QA-released     id, input, output
disc_triplet   DISC-Law-SFT-Triplet-released, -Triplet-QA-...   id, reference, input, output
lawgpt_52k     LAW-GPT ``CrimeKgAssitant清洗后_52k.json``         input, output
lawgpt_92k     LAW-GPT ``训练数据_带法律依据_92k.json``            question, answer, reference
============== ================================================ ==========================

``legal_qa_map_fn`` is registered in XTuner's ``MAP_FUNC`` registry as
``"legal_qa_map_fn"`` when this module is imported, so configs may name it by
string.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Callable

from xtuner.registry import MAP_FUNC
from xtuner.utils import SYSTEM_TEMPLATE

from .references import normalize_references

__all__ = [
    "LEGAL_SYSTEM",
    "REFERENCE_HEADING",
    "REFERENCE_PLACEMENTS",
    "SOURCES",
    "SOURCE_FIELDS",
    "detect_source",
    "format_record_ref",
    "legal_qa_map_fn",
    "legal_qa_map_fn_factory",
    "to_conversation",
]

# The default system prompt is XTuner's own lawyer prompt, verbatim
# ("你现在是一名专业的中国律师，请根据用户的问题给出准确、有理有据的回复。\n").
# XTuner's lawyer configs (internlm*_lawyer / the CrimeKgAssitant + Law_QA
# recipes) train with exactly this text, so models fine-tuned here can be
# compared with, and prompted like, models from those recipes. Pass
# ``system=`` to the factory to use another prompt.
LEGAL_SYSTEM: str = SYSTEM_TEMPLATE.lawyer

REFERENCE_HEADING = "参考法条："
"""Heading of the reference block put before the question (placement "prompt")."""

REFERENCE_PLACEMENTS = ("prompt", "none")
"""``"prompt"``: normalised references precede the question in the user turn;
``"none"``: references are validated but left out."""

SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "disc_pair": ("id", "input", "output"),
    "disc_triplet": ("id", "reference", "input", "output"),
    "lawgpt_52k": ("input", "output"),
    "lawgpt_92k": ("question", "answer", "reference"),
}
"""Required fields of each source, in the order they are validated."""

SOURCES = tuple(SOURCE_FIELDS)

# (question field, answer field) of each source.
_QA_FIELDS = {
    "disc_pair": ("input", "output"),
    "disc_triplet": ("input", "output"),
    "lawgpt_52k": ("input", "output"),
    "lawgpt_92k": ("question", "answer"),
}

_SNIPPET_CHARS = 30


def _has(record: Mapping, field: str) -> bool:
    # A None value counts as absent: ``datasets`` fills the columns a record
    # lacks with None when files of different sources share one table.
    return record.get(field) is not None


def detect_source(record: dict) -> str:
    """Return the source a record comes from, judged by its fields.

    ``question`` + ``answer`` → ``"lawgpt_92k"``; ``input`` + ``output`` with
    ``reference`` → ``"disc_triplet"``, with ``id`` → ``"disc_pair"``, else
    ``"lawgpt_52k"``. Fields whose value is ``None`` count as absent.

    A record with only one of the two text fields of a family (e.g. a
    ``question`` but no ``answer``) is still attributed to that family, so that
    :func:`to_conversation` can name the missing field. Any mapping is
    accepted (``datasets`` passes a ``LazyRow``). Raises ``ValueError`` for a
    non-mapping, or a record with none of ``question``/``answer``/``input``/
    ``output`` set to a non-None value.
    """
    if not isinstance(record, Mapping):
        raise ValueError(
            f"record must be a dict or other mapping, got {type(record).__name__}"
        )
    if _has(record, "question") and _has(record, "answer"):
        return "lawgpt_92k"
    if _has(record, "input") and _has(record, "output"):
        return _disc_or_52k(record)
    if _has(record, "question") or _has(record, "answer"):
        return "lawgpt_92k"
    if _has(record, "input") or _has(record, "output"):
        return _disc_or_52k(record)
    fields = ", ".join(repr(key) for key in record if record[key] is not None) or "none"
    expected = "; ".join(
        f"{source} ({', '.join(fields_)})" for source, fields_ in SOURCE_FIELDS.items()
    )
    raise ValueError(
        f"{format_record_ref(record)}: fields fit no known source "
        f"(non-null fields: {fields}); expected the fields of one of: {expected}"
    )


def _disc_or_52k(record: dict) -> str:
    if _has(record, "reference"):
        return "disc_triplet"
    if _has(record, "id"):
        return "disc_pair"
    return "lawgpt_52k"


def format_record_ref(record: Any) -> str:
    """Identify a record in error messages.

    ``record id=<id>`` if it has a (non-empty string or integer) ``id``; else
    ``record "<text>"`` with the first 30 characters of the first non-empty
    ``question`` or ``input`` (whitespace collapsed, ``…`` appended when cut);
    else ``record without id, question or input``.
    """
    if not isinstance(record, Mapping):
        return f"record of type {type(record).__name__}"
    record_id = record.get("id")
    if isinstance(record_id, str) and record_id.strip():
        return f"record id={record_id.strip()}"
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        return f"record id={record_id}"
    for field in ("question", "input"):
        value = record.get(field)
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())
            if len(text) > _SNIPPET_CHARS:
                text = text[:_SNIPPET_CHARS] + "…"
            return f'record "{text}"'
    return "record without id, question or input"


def _error(record: dict, source: str, message: str) -> ValueError:
    return ValueError(f"{format_record_ref(record)} ({source}): {message}")


def _check_text(record: dict, source: str, field: str, value: Any) -> str:
    """Validate a required string value; ``field`` is its name in messages."""
    if value is None:
        raise _error(record, source, f"field '{field}' is None")
    if not isinstance(value, str):
        raise _error(
            record, source, f"field '{field}' must be a string, got {type(value).__name__}"
        )
    if not value:
        raise _error(record, source, f"field '{field}' is empty")
    if not value.strip():
        raise _error(record, source, f"field '{field}' is whitespace-only")
    return value


def _check_reference(record: dict, source: str, value: Any) -> list[str]:
    if value is None:
        raise _error(record, source, "field 'reference' is None")
    if not isinstance(value, list):
        raise _error(
            record,
            source,
            f"field 'reference' must be a list of strings, got {type(value).__name__}",
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            # Empty or blank entries are fine: normalisation drops them.
            raise _error(
                record,
                source,
                f"field 'reference[{index}]' must be a string, got {type(item).__name__}",
            )
    return value


def _check_placement(reference_placement: Any) -> None:
    if reference_placement not in REFERENCE_PLACEMENTS:
        valid = ", ".join(repr(p) for p in REFERENCE_PLACEMENTS)
        raise ValueError(
            f"invalid reference_placement {reference_placement!r}; "
            f"valid placements: {valid}"
        )


def _check_system(system: Any) -> str:
    if system is None:
        return LEGAL_SYSTEM
    if not isinstance(system, str):
        raise ValueError(f"system must be a string or None, got {type(system).__name__}")
    return system


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
    ``system=None`` means :data:`LEGAL_SYSTEM`.

    Raises ``ValueError`` for an invalid placement or system, a record that
    is not a dict or fits no source, and for a required field that is
    missing, None, not a string, empty or whitespace-only (``reference``:
    not a list of strings).
    """
    _check_placement(reference_placement)
    system = _check_system(system)
    source = detect_source(record)

    values: dict[str, Any] = {}
    for field in SOURCE_FIELDS[source]:
        if field not in record:
            raise _error(record, source, f"missing required field '{field}'")
        value = record[field]
        if field == "reference":
            values[field] = _check_reference(record, source, value)
        else:
            values[field] = _check_text(record, source, field, value)

    question_field, answer_field = _QA_FIELDS[source]
    question = values[question_field].strip()
    answer = values[answer_field].strip()

    user = question
    if reference_placement == "prompt" and "reference" in values:
        lines = normalize_references(values["reference"])
        if lines:
            user = "\n".join([REFERENCE_HEADING, *lines]) + "\n\n" + question

    return {"conversation": [{"system": system, "input": user, "output": answer}]}


def _map_record(
    example: dict, *, reference_placement: str, system: str | None
) -> dict:
    # Top-level so that functools.partial objects of it pickle (datasets
    # sends the map function to worker processes when num_proc > 1).
    return to_conversation(example, reference_placement=reference_placement, system=system)


_DOTTED_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def _resolve_dotted_constant(value):
    if isinstance(value, str) and _DOTTED_PATH.fullmatch(value):
        from mmengine.utils import get_object_from_string

        resolved = get_object_from_string(value)
        if isinstance(resolved, str):
            return resolved
    return value


def legal_qa_map_fn_factory(
    reference_placement: str = "prompt", system: str | None = None
) -> Callable[[dict], dict]:
    """Build a map function with the given reference placement and system.

    ``reference_placement`` is one of :data:`REFERENCE_PLACEMENTS`;
    ``system=None`` means :data:`LEGAL_SYSTEM`. The result is a picklable
    ``functools.partial`` usable with ``datasets.Dataset.map(num_proc=N)``.

    ``system`` may also be the dotted path of a string constant (e.g.
    ``"legal_eagle_xtuner.LEGAL_SYSTEM"``): that is how mmengine writes an
    imported constant when it dumps a config into the work dir, and a run
    restarted from that copy must train with the same prompt.
    """
    _check_placement(reference_placement)
    system = _check_system(_resolve_dotted_constant(system))
    return functools.partial(
        _map_record, reference_placement=reference_placement, system=system
    )


def legal_qa_map_fn(example: dict) -> dict:
    """Default map function: references in the prompt, :data:`LEGAL_SYSTEM`."""
    return to_conversation(example)


# force=True: re-importing (or reloading) this module replaces the entry with
# the current function object instead of raising a duplicate-name KeyError.
MAP_FUNC.register_module(name="legal_qa_map_fn", module=legal_qa_map_fn, force=True)
