"""The statute index in evaluation: retrieved articles put into the questions
(``eval generate --rag INDEX``), and every article the answers cite checked against the
index (``eval score --citations INDEX``, ``eval compare --citations INDEX``).

The prompt with retrieved articles is built by :mod:`legal_eagle_xtuner.law.render`, the
code that builds training's ``参考法条：`` user turn, so the model is asked as it was
trained. The prediction file keeps the retrieved citations under ``rag`` per item.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable

from legal_eagle_xtuner.law import STATUSES, LawIndex, check_citations, prompt_with_references

__all__ = ["CITATION_KEYS", "add_retrieved", "citation_counts", "citation_lines",
           "prediction_texts", "run_citation_counts"]

CITATION_KEYS = (*STATUSES, "quoted", "quote matches")


def add_retrieved(items: Iterable, index: LawIndex, k: int) -> int:
    """Put the ``k`` best articles for each item's user turn before it (in place);
    returns how many items got at least one article."""
    with_articles = 0
    for item in items:
        hits = index.search(item.user, k=k)
        item.user = prompt_with_references(item.user, hits)
        item.extra["rag"] = [hit.citation() for hit in hits]
        with_articles += bool(hits)
    return with_articles


def citation_counts(answers: Iterable[str], index: LawIndex) -> dict[str, int]:
    """Over all answers: how many cited articles are found, no such article,
    superseded; how many were quoted and how many quotes match; and the answers."""
    counts = Counter({key: 0 for key in CITATION_KEYS})
    answered = 0
    for answer in answers:
        answered += 1
        for check in check_citations(answer, index):
            counts[check.status] += 1
            if check.quote_match is not None:
                counts["quoted"] += 1
                counts["quote matches"] += check.quote_match
    return {"answers": answered, "cited": sum(counts[s] for s in STATUSES), **counts}


def prediction_texts(path: Path) -> list[str]:
    """The ``prediction`` of every item of one prediction file (``{key: {prediction}}``);
    other JSON files give none."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict):
        return []
    return [v["prediction"] for v in data.values()
            if isinstance(v, dict) and isinstance(v.get("prediction"), str)]


def run_citation_counts(path, index: LawIndex) -> dict[str, int]:
    """:func:`citation_counts` over every prediction file of a run (a folder, searched
    recursively, or one file)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*.json")
                                                 if not p.name.startswith("_"))
    return citation_counts((text for file in files for text in prediction_texts(file)), index)


def citation_lines(counts: dict[str, int]) -> list[str]:
    """``cited articles: N (found F, no such article X, superseded S); quotes: Q (M match)``."""
    cited = counts["cited"]

    def share(n: int) -> str:
        return f"{n} ({100 * n / cited:.1f}%)" if cited else str(n)

    return [f"answers: {counts['answers']}; cited articles: {cited}",
            f"  found {share(counts['found'])}, no such article "
            f"{share(counts['no such article'])}, superseded {share(counts['superseded'])}",
            f"  quoted {counts['quoted']}, of which match {counts['quote matches']}"]
