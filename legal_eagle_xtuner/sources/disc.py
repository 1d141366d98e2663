"""DISC-Law-SFT (ShengbinYue/DISC-Law-SFT): pairs and triplets with references.

Both have ``id``, ``input`` and ``output``; triplets add ``reference``. Ids
name the DISC task the record comes from (``legal_question_answering_12``).
"""

from __future__ import annotations

import re

from legal_eagle_xtuner.sources.base import Source

__all__ = ["DISC_PAIR", "DISC_TRIPLET", "disc_task"]

DISC_PAIR = Source(
    name="disc_pair",
    corpus="DISC-Law-SFT-Pair(.jsonl), -Pair-QA-released",
    fields=("id", "input", "output"),
    question="input",
    answer="output",
)

DISC_TRIPLET = Source(
    name="disc_triplet",
    corpus="DISC-Law-SFT-Triplet-released, -Triplet-QA-released",
    fields=("id", "reference", "input", "output"),
    question="input",
    answer="output",
    reference="reference",
)

_DISC_ID = re.compile(r"^(?P<task>[A-Za-z][A-Za-z0-9_\-]*?)[_\-]?\d+$")


def disc_task(record_id) -> str | None:
    """The DISC-Law-SFT task an id names: ``"legal_question_answering_12"`` →
    ``"legal_question_answering"``. ``None`` when the id does not have the
    ``<task>_<number>`` shape (numbers only, missing, not a string)."""
    if not isinstance(record_id, str):
        return None
    match = _DISC_ID.match(record_id.strip())
    return match.group("task") if match else None
