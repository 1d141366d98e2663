"""What every legal source shares: the :class:`Source` description, the default
system prompt, the reference heading, and the checks of one field's value.

A source module (``disc``, ``lawgpt``) only declares its :class:`Source`; the
checks and messages live here so that all four sources word their errors alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xtuner.utils import SYSTEM_TEMPLATE

__all__ = [
    "LEGAL_SYSTEM",
    "REFERENCE_HEADING",
    "REFERENCE_PLACEMENTS",
    "Source",
    "check_placement",
    "check_reference",
    "check_system",
    "check_text",
    "format_record_ref",
    "reference_block",
    "user_turn",
    "has",
    "record_error",
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



def reference_block(lines: list[str]) -> str:
    """The ``参考法条：`` block: the heading, then one normalised reference line each."""
    return "\n".join([REFERENCE_HEADING, *lines])


def user_turn(question: str, lines: list[str]) -> str:
    """The user turn as training builds it (placement ``"prompt"``): the reference
    block, a blank line, the question; the question alone without lines. Training
    (``convert``) and retrieval into the prompt (``law.render``) both build it here."""
    return reference_block(lines) + "\n\n" + question if lines else question


REFERENCE_PLACEMENTS = ("prompt", "none")
"""``"prompt"``: normalised references precede the question in the user turn;
``"none"``: references are validated but left out."""

_SNIPPET_CHARS = 30


@dataclass(frozen=True)
class Source:
    """One raw legal source format: its fields and which holds what."""

    name: str
    """Short name used in messages, counts and ``convert``'s ``source`` field."""
    corpus: str
    """The published files in this format."""
    fields: tuple[str, ...]
    """Required fields, in the order they are validated."""
    question: str
    """Field holding the user's question."""
    answer: str
    """Field holding the reference answer."""
    reference: str | None = None
    """Field holding the list of law references, if the source has one."""


def has(record: Mapping, field: str) -> bool:
    """Whether ``field`` is set. A None value counts as absent: ``datasets``
    fills the columns a record lacks with None when files of different sources
    share one table."""
    return record.get(field) is not None


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


def record_error(record: Mapping, source: str, message: str) -> ValueError:
    """``ValueError("<record ref> (<source>): <message>")``."""
    return ValueError(f"{format_record_ref(record)} ({source}): {message}")


def check_text(record: Mapping, source: str, field: str, value: Any) -> str:
    """Validate a required string value; ``field`` is its name in messages."""
    if value is None:
        raise record_error(record, source, f"field '{field}' is None")
    if not isinstance(value, str):
        raise record_error(
            record, source, f"field '{field}' must be a string, got {type(value).__name__}"
        )
    if not value:
        raise record_error(record, source, f"field '{field}' is empty")
    if not value.strip():
        raise record_error(record, source, f"field '{field}' is whitespace-only")
    return value


def check_reference(record: Mapping, source: str, value: Any) -> list[str]:
    """Validate a ``reference`` value: a list of strings."""
    if value is None:
        raise record_error(record, source, "field 'reference' is None")
    if not isinstance(value, list):
        raise record_error(
            record,
            source,
            f"field 'reference' must be a list of strings, got {type(value).__name__}",
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            # Empty or blank entries are fine: normalisation drops them.
            raise record_error(
                record,
                source,
                f"field 'reference[{index}]' must be a string, got {type(item).__name__}",
            )
    return value


def check_placement(reference_placement: Any) -> None:
    """Raise ``ValueError`` unless the placement is one of :data:`REFERENCE_PLACEMENTS`."""
    if reference_placement not in REFERENCE_PLACEMENTS:
        valid = ", ".join(repr(p) for p in REFERENCE_PLACEMENTS)
        raise ValueError(
            f"invalid reference_placement {reference_placement!r}; "
            f"valid placements: {valid}"
        )


def check_system(system: Any) -> str:
    """``None`` → :data:`LEGAL_SYSTEM`; a string as is; anything else raises."""
    if system is None:
        return LEGAL_SYSTEM
    if not isinstance(system, str):
        raise ValueError(f"system must be a string or None, got {type(system).__name__}")
    return system
