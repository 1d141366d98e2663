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
from typing import Callable

from xtuner.registry import MAP_FUNC

from legal_eagle_xtuner.sources import (
    LEGAL_SYSTEM,
    REFERENCE_HEADING,
    REFERENCE_PLACEMENTS,
    SOURCE_FIELDS,
    detect_source,
    format_record_ref,
    to_conversation,
)
from legal_eagle_xtuner.sources.base import check_placement, check_system
from legal_eagle_xtuner.sources.convert import check_source

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

SOURCES = tuple(SOURCE_FIELDS)
"""Names of the raw sources the map function accepts."""


def _map_record(
    example: dict, *, reference_placement: str, system: str | None, source: str | None = None
) -> dict:
    # Top-level so that functools.partial objects of it pickle (datasets
    # sends the map function to worker processes when num_proc > 1).
    return to_conversation(example, reference_placement=reference_placement, system=system,
                           source=source)


_DOTTED_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def _resolve_dotted_constant(value):
    if isinstance(value, str) and _DOTTED_PATH.fullmatch(value):
        from mmengine.utils import get_object_from_string

        resolved = get_object_from_string(value)
        if isinstance(resolved, str):
            return resolved
    return value


def legal_qa_map_fn_factory(
    reference_placement: str = "prompt", system: str | None = None, source: str | None = None
) -> Callable[[dict], dict]:
    """Build a map function with the given reference placement and system.

    ``reference_placement`` is one of :data:`REFERENCE_PLACEMENTS`;
    ``system=None`` means :data:`LEGAL_SYSTEM`. The result is a picklable
    ``functools.partial`` usable with ``datasets.Dataset.map(num_proc=N)``.

    ``system`` may also be the dotted path of a string constant (e.g.
    ``"legal_eagle_xtuner.LEGAL_SYSTEM"``): that is how mmengine writes an
    imported constant when it dumps a config into the work dir, and a run
    restarted from that copy must train with the same prompt.

    ``source`` (``"disc_pair"``, ``"disc_triplet"``, ``"lawgpt_52k"``,
    ``"lawgpt_92k"``; ``None`` = detect from the fields) declares the source of
    every record, as ``legal-eagle data … --source`` does: DISC pairs without
    ``id`` are then not taken for LAW-GPT 52k records.
    """
    check_placement(reference_placement)
    system = check_system(_resolve_dotted_constant(system))
    if source is not None:
        check_source(source)
        if source not in SOURCE_FIELDS:
            raise ValueError(f"invalid source {source!r} for a map function; valid sources: "
                             + ", ".join(SOURCE_FIELDS))
        return functools.partial(_map_record, reference_placement=reference_placement,
                                 system=system, source=source)
    return functools.partial(
        _map_record, reference_placement=reference_placement, system=system
    )


def legal_qa_map_fn(example: dict) -> dict:
    """Default map function: references in the prompt, :data:`LEGAL_SYSTEM`."""
    return to_conversation(example)


# force=True: re-importing (or reloading) this module replaces the entry with
# the current function object instead of raising a duplicate-name KeyError.
MAP_FUNC.register_module(name="legal_qa_map_fn", module=legal_qa_map_fn, force=True)
