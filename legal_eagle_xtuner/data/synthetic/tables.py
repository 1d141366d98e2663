"""The synthetic corpora's phrase tables, read once from ``resources/synthetic_*.json``.

JSON has no tuples: every list comes back as a tuple (statutes, cities and
periods as tuples of tuples), so the generator sees the types it was written
for and builds the same pools.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from legal_eagle_xtuner.resources import SYNTHETIC_PHRASES, SYNTHETIC_TOPICS, SYNTHETIC_WORDS


@dataclass(frozen=True)
class _Law:
    """A statute: full and short name, LAW-GPT category prefix and version date."""

    full: str
    short: str
    category: str
    date: str


@dataclass(frozen=True)
class _Topic:
    """Hand-written material of one kind of case; ``{slot}`` fields are
    filled when the pools are built, Ⓐ/Ⓑ/Ⓒ per record."""

    cause: str
    subject: str
    criminal: bool
    statutes: tuple[tuple[str, int, int, str], ...]  # law key, article, sub-article, text
    facts: tuple[str, ...]        # third person, as in judgments
    personal: tuple[str, ...]     # first person, as in consultations (end with "，")
    tails: tuple[str, ...]        # question endings
    short: tuple[str, ...]        # complete short questions
    advice: tuple[str, ...]       # answer sentences
    reasoning: tuple[str, ...]    # "本院认为" sentences
    outcomes: tuple[str, ...]     # judgment items
    events: tuple[str, ...]       # event types (event detection)
    evidence: str


def _tuples(value):
    """``value`` with every JSON list turned into a tuple, recursively."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _load(path: Path):
    return _tuples(json.loads(path.read_text(encoding="utf-8")))


@functools.cache
def _topic_file() -> dict:
    return _load(SYNTHETIC_TOPICS)


@functools.cache
def _laws() -> dict[str, _Law]:
    """Statutes by the key topics cite them with (``"民法典"``, ``"刑法"`` …)."""
    return {key: _Law(**law) for key, law in _topic_file()["laws"].items()}


@functools.cache
def _topics() -> tuple[_Topic, ...]:
    """The kinds of case, in file order (a topic's position is part of the seed's output)."""
    return tuple(_Topic(**topic) for topic in _topic_file()["topics"])


@functools.cache
def _words() -> dict:
    """Slot values by name: ``surnames`` (one string), ``cities`` ((name, plate
    prefix) pairs), ``periods`` ((word, first hour, last hour)), word tuples."""
    return _load(SYNTHETIC_WORDS)


@functools.cache
def _phrases() -> dict:
    """Shared sentences by name; ``instructions`` maps a DISC task to its prompts."""
    return _load(SYNTHETIC_PHRASES)
