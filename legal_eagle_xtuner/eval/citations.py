"""Citation accuracy of model answers on held-out legal QA data.

A legal answer is judged here on the statutes it cites: the ``(law, article)``
pairs parsed from the answer (:mod:`legal_eagle_xtuner.eval.citation_parse`) are
compared with those of the reference answer. ROUGE-L over characters is reported
next to it as a coarse measure of overlap with the reference text.

Metrics
-------

:func:`citation_prf` compares one answer's citation set with the gold set;
a side with no citations scores 1.0 only if the other side has none either
(see there). :func:`score_items` reports micro-averaged precision, recall and F1
over a whole file (total correct / total predicted, total correct / total
gold), macro F1 over the items whose gold has citations, the share of blank
answers (abstentions) and mean character-level ROUGE-L F1.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from legal_eagle_xtuner.sources.citation_parse import (
    LAW_ALIASES,
    Citation,
    normalize_law,
    parse_citations,
    reference_citations,
)
from legal_eagle_xtuner.eval.lawbench import lcs_length  # bit-parallel LCS over any two sequences

__all__ = [
    "LAW_ALIASES",
    "Citation",
    "CitationScore",
    "citation_prf",
    "lcs_length",
    "normalize_law",
    "parse_citations",
    "report_lines",
    "rouge_l",
    "score_items",
]

_WS_RE = re.compile(r"\s+")


# --- citation metrics ------------------------------------------------------


def _prf(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    if predicted == 0 and gold == 0:
        return 1.0, 1.0, 1.0
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def citation_prf(
    pred: Iterable[Citation], gold: Iterable[Citation]
) -> tuple[float, float, float]:
    """Precision, recall and F1 of one answer's citations against the gold set.

    Citations are compared as sets of ``(law, article, sub)``. Empty cases:
    no citations on either side is full agreement, ``(1.0, 1.0, 1.0)``; a side
    with none against a side with some is ``(0.0, 0.0, 0.0)`` (nothing cited
    when something was expected, or citations where none were expected).
    """
    pred, gold = set(pred), set(gold)
    return _prf(len(pred & gold), len(pred), len(gold))


# --- ROUGE-L ---------------------------------------------------------------


def rouge_l(prediction: str, reference: str) -> float:
    """Character-level ROUGE-L F1 (beta = 1) of *prediction* against *reference*.

    Whitespace is removed first. Two empty texts score 1.0; an empty text
    against a non-empty one scores 0.0.
    """
    pred = _WS_RE.sub("", prediction)
    ref = _WS_RE.sub("", reference)
    if not pred or not ref:
        return 1.0 if pred == ref else 0.0
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


# --- corpus scoring --------------------------------------------------------


@dataclass
class CitationScore:
    """Citation accuracy and ROUGE-L over a set of answers."""

    items: int = 0
    items_with_gold: int = 0
    """Items whose gold answer cites at least one article."""
    abstentions: int = 0
    """Items with a blank prediction."""
    gold: int = 0
    """Gold citations, summed over items (each item's set counted once)."""
    predicted: int = 0
    correct: int = 0
    precision: float = 0.0
    """Micro: correct / predicted over all items (1.0 with nothing predicted
    and no gold at all, 0.0 with nothing predicted otherwise)."""
    recall: float = 0.0
    """Micro: correct / gold over all items."""
    f1: float = 0.0
    macro_f1: float | None = None
    """Mean per-item F1 over the items with gold citations; ``None`` if none."""
    rouge_l: float = 0.0
    """Mean character-level ROUGE-L F1 of prediction against reference answer."""

    @property
    def abstention(self) -> float:
        """Share of items with a blank prediction."""
        return self.abstentions / self.items if self.items else 0.0


def _text_field(item: Mapping, key: str, index: int) -> str:
    if key not in item:
        raise KeyError(f"item {index}: missing {key!r}")
    value = item[key]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"item {index}: {key!r} must be a string, got {type(value).__name__}")
    return value


def score_items(items: Iterable[Mapping]) -> CitationScore:
    """Score answers against their references.

    Each item is ``{"prediction": str, "refr": str, "references": [str, ...]}``;
    ``references`` is optional. The gold citations are those of
    ``references`` when it has a non-blank entry, else those parsed from the
    reference answer ``refr``. A ``None`` or whitespace-only prediction is an
    abstention: it predicts no citations and scores 0 ROUGE-L against a
    non-empty reference.

    Precision, recall and F1 are micro averages (total correct over total
    predicted / total gold), so items without gold citations still count
    against precision with whatever they cite, and add nothing to recall.
    Macro F1 averages :func:`citation_prf` F1 over the items with gold
    citations only. An empty *items* raises ``ValueError`` (most likely the
    wrong file, not a perfect score).
    """
    score = CitationScore()
    macro_sum = 0.0
    rouge_sum = 0.0
    for index, item in enumerate(items):
        prediction = _text_field(item, "prediction", index)
        refr = _text_field(item, "refr", index)
        references = item.get("references") or []
        if isinstance(references, str):
            raise TypeError(f"item {index}: 'references' must be a list of strings")

        if any(isinstance(ref, str) and ref.strip() for ref in references):
            gold = set(reference_citations(references))
        else:
            gold = set(parse_citations(refr))
        pred = set(parse_citations(prediction))
        correct = len(pred & gold)

        score.items += 1
        score.abstentions += not prediction.strip()
        score.gold += len(gold)
        score.predicted += len(pred)
        score.correct += correct
        if gold:
            score.items_with_gold += 1
            macro_sum += _prf(correct, len(pred), len(gold))[2]
        rouge_sum += rouge_l(prediction, refr)

    if not score.items:
        raise ValueError("no items to score")
    score.precision, score.recall, score.f1 = _prf(score.correct, score.predicted, score.gold)
    if score.items_with_gold:
        score.macro_f1 = macro_sum / score.items_with_gold
    score.rouge_l = rouge_sum / score.items
    return score


def report_lines(score: CitationScore) -> list[str]:
    """A short human-readable summary of *score*, one line per entry."""
    macro = "n/a" if score.macro_f1 is None else f"{score.macro_f1:.2%}"
    return [
        f"items: {score.items} (with gold citations: {score.items_with_gold}, "
        f"blank predictions: {score.abstentions} = {score.abstention:.2%})",
        f"citations: gold {score.gold}, predicted {score.predicted}, correct {score.correct}",
        f"micro precision {score.precision:.2%}, recall {score.recall:.2%}, F1 {score.f1:.2%}",
        f"macro F1 over {score.items_with_gold} items with gold citations: {macro}",
        f"ROUGE-L (characters, F1): {score.rouge_l:.2%}",
    ]
