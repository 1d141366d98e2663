"""Records already in XTuner's conversation format (what ``convert`` writes):
``{"conversation": [{"system", "input", "output"}, ...], "source", "id"}``."""

from __future__ import annotations

from collections.abc import Mapping

from legal_eagle_xtuner.sources.base import REFERENCE_HEADING

__all__ = ["CONVERSATION", "PROVENANCE", "check_conversation", "split_reference_block",
           "turn_questions"]

CONVERSATION = "conversation"
"""Source name of records already in XTuner's conversation format."""

PROVENANCE = ("source", "id")
"""Top-level fields ``convert`` writes beside ``conversation``."""

_TURN_FIELDS = ("system", "input", "output")


def split_reference_block(text: str) -> tuple[list[str], str]:
    """A user turn written with ``reference_placement="prompt"`` split into its
    reference lines and the question; ``([], text)`` when it has no block."""
    if text.startswith(REFERENCE_HEADING):
        head, sep, rest = text.partition("\n\n")
        if sep:
            return [line.strip() for line in head.splitlines()[1:] if line.strip()], rest
    return [], text


def turn_questions(value: Mapping) -> str:
    """The ``input`` of every turn, without its reference block, joined by newlines."""
    turns = value.get("conversation")
    if not isinstance(turns, list):
        return ""
    parts = [
        split_reference_block(turn["input"].strip())[1]
        for turn in turns
        if isinstance(turn, Mapping) and isinstance(turn.get("input"), str)
    ]
    return "\n".join(part for part in parts if part)


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
    for name in PROVENANCE:
        if isinstance(value.get(name), (str, int)) and not isinstance(value.get(name), bool):
            out[name] = str(value[name])
    return out
