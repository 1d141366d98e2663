"""The generic measures of LawBench scoring.

*Option matching*: each candidate option counts when it occurs anywhere in the
raw prediction (case-sensitive substring). Right only when exactly one option
occurs and it is the gold one; no option at all is an abstention.

*ROUGE-L*: both texts are segmented with jieba (precise mode, HMM on) and
joined by spaces; a blank prediction becomes ``无内容``. The token sequence is
the one rouge-chinese 1.0.3 builds (its sentence splitter, whitespace runs
collapsed, so a whitespace-only "sentence" leaves one empty token, as in
rouge-chinese). Its ROUGE-L is the LCS of the two whole token sequences,
``F = 2PR / (P + R + 1e-8)``. The LCS length is computed here with a
bit-parallel algorithm instead of rouge-chinese's dictionary table (same value,
far faster; a test checks both agree). A blank reference, on which
rouge-chinese raises, scores 0.

*Char-F1*: lower-cased, only characters with ``str.isdigit`` or ``str.isalpha``
kept (CJK counts as letters), bag-of-characters F1; when either side is empty,
1 if both are, else 0.

*Set-F1*: precision and recall of a predicted label set against the gold set,
0 when either is 0.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import Counter
from typing import Callable

MAX_LOG_DISTANCE = math.log(216)
"""Distance of an abstaining 3-4/3-5 item, and the scale of their score."""


def option_judge(prediction: str, options, gold: str) -> tuple[int, bool]:
    """``(right, abstained)`` of an option-matching item: ``right`` is 1 when
    exactly one option occurs in ``prediction`` and it is ``gold``."""
    present = [option for option in dict.fromkeys(options) if option in prediction]
    return int(present == [gold]), not present


def labels_in(prediction: str, labels) -> set[str]:
    """The labels that occur in ``prediction`` as substrings."""
    return {label for label in labels if label in prediction}


def set_f1(predicted, gold) -> float:
    """F1 of two sets; 0 when precision or recall is 0 (or a set is empty)."""
    predicted, gold = set(predicted), set(gold)
    hits = len(predicted & gold)
    if not hits:
        return 0.0
    precision = hits / len(predicted)
    recall = hits / len(gold)
    return 2 * precision * recall / (precision + recall)


def _chars(text: str) -> list[str]:
    return [ch for ch in text.lower() if ch.isdigit() or ch.isalpha()]


def char_f1(gold: str, prediction: str) -> float:
    """Bag-of-characters F1 over lower-cased letters and digits; 1 when both
    sides have none, 0 when only one has."""
    gold_chars, pred_chars = _chars(gold), _chars(prediction)
    if not gold_chars or not pred_chars:
        return float(gold_chars == pred_chars)
    same = sum((Counter(gold_chars) & Counter(pred_chars)).values())
    if not same:
        return 0.0
    precision = same / len(pred_chars)
    recall = same / len(gold_chars)
    return 2 * precision * recall / (precision + recall)


@functools.lru_cache(maxsize=None)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


@functools.lru_cache(maxsize=None)
def _sentence_splitter() -> Callable[[str], list[str]]:
    from rouge_chinese import Rouge

    return Rouge(metrics=["rouge-l"]).cut_sent


def _segment(text: str) -> str:
    return " ".join(_jieba().cut(text))


def _rouge_tokens(segmented: str) -> list[str]:
    """The word sequence rouge-chinese scores for a space-joined text."""
    sentences = [" ".join(s.split()) for s in _sentence_splitter()(segmented) if s]
    return [word for sentence in sentences for word in sentence.split(" ")]


def lcs_length(a, b) -> int:
    """Length of the longest common subsequence of two token sequences
    (bit-parallel: one big-integer step per token of ``b``)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    where: dict = {}
    for i, token in enumerate(a):
        where[token] = where.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    row = full
    for token in b:
        match = row & where.get(token, 0)
        row = ((row + match) | (row - match)) & full
    return len(a) - row.bit_count()


def rouge_l(prediction: str, reference: str) -> float:
    """LawBench's ROUGE-L F of one item (jieba words, rouge-chinese tokens)."""
    hyp = _segment(prediction)
    if not hyp.strip():
        hyp = "无内容"
    hyp_tokens = _rouge_tokens(hyp)
    ref_tokens = _rouge_tokens(_segment(reference))
    if not ref_tokens:
        return 0.0
    common = lcs_length(ref_tokens, hyp_tokens)
    recall = common / len(ref_tokens)
    precision = common / len(hyp_tokens)
    return 2.0 * ((precision * recall) / (precision + recall + 1e-8))


def entity_f1(predicted: dict[str, str], gold: dict[str, str]) -> float:
    """Soft F1 of entity dicts: Char-F1 per shared type, summed;
    P = sum/|predicted|, R = sum/|gold|, F = 2PR/(P+R+1e-10). An empty gold
    scores 1 only against an empty prediction."""
    if not gold:
        return float(not predicted)
    shared = sum(char_f1(gold[etype], value) for etype, value in predicted.items() if etype in gold)
    precision = shared / len(predicted) if predicted else 0
    recall = shared / len(gold)
    return 2 * precision * recall / (precision + recall + 1e-10)


def trigger_f1(prediction: str, reference: str) -> float:
    """2-10: Char-F1 of the ``;``-separated pieces position by position
    (extra pieces on either side count 0); P = sum/|predicted pieces|,
    R = sum/|gold pieces|, F = 2PR/(P+R+1e-10)."""
    gold_pieces = reference.split(";")
    pred_pieces = prediction.split(";")
    shared = sum(char_f1(g, p) for g, p in zip(gold_pieces, pred_pieces))
    precision = shared / len(pred_pieces)
    recall = shared / len(gold_pieces)
    return 2 * precision * recall / (precision + recall + 1e-10)


def log_distance(gold_months: int, predicted_months: int | None) -> float:
    """``|ln(gold+1) - ln(pred+1)|``; ``ln 216`` when nothing was predicted."""
    if predicted_months is None:
        return MAX_LOG_DISTANCE
    return abs(math.log(gold_months + 1) - math.log(predicted_months + 1))
