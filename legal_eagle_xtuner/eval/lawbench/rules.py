"""The per-task rules of LawBench scoring: golds, judges, the task registry.

======  ==============================================================
1-1     ROUGE-L; reference with ``答案:`` removed
1-2     options A-D; gold = ``refr[5]`` after ``正确答案：``
2-1     not scored (see :data:`OPTIONAL_TASKS`)
2-2     options = the 16 dispute foci; gold = ``refr[7:-1]``; the gold
        ``赔偿`` (not a label) items are left out of score *and* abstention
        count (the rate still divides by all items)
2-3     Set-F1 over the 20 labels found as substrings; gold
        ``refr[3:-1]`` split on ``、``; none found = abstention
2-4     options = the 20 consultation labels; gold = ``refr``
2-5     Char-F1; reference with ``回答:`` removed
2-6     soft F1 over 10 entity types (see :func:`entity_f1`); gold
        ``type:value;...``; an empty gold scores 1 only when nothing is
        predicted. Abstention = items with a gold but no predicted entity.
        LawBench's published rate is 0 because its code stores the rate
        under a misspelled key; the real rate is reported here, with a note
2-7     ROUGE-L, raw texts
2-8     options A-E; gold = ``refr[6]`` after ``[正确答案]``
2-9     Set-F1 over the 20 event labels; gold split on ``;``; none found =
        abstention
2-10    per-position Char-F1 of the ``;``-separated pieces (see
        :func:`trigger_f1`); LawBench's own code for this task does not
        run, this is its evident intent
3-1     Set-F1 over criminal-law article numbers (see
        :func:`article_numbers`); empty predicted set = abstention
3-2     ROUGE-L, raw texts
3-3     Set-F1 over the 189 charge names found as substrings; gold
        ``refr`` minus ``罪名:`` split on ``;``; none found = abstention
3-4/3-5 log distance of prison terms in months (see :func:`term_months`);
        golds with 死刑 or 无期 are left out;
        score = ``(ln 216 - mean distance) / ln 216``
3-6     options A-D; gold = ``refr[5]`` after ``正确答案:``
3-7     right when the gold amount equals any number in the prediction;
        no digits = abstention
3-8     ROUGE-L; the reference keeps its ``回答:``
======  ==============================================================

Tasks without a notion of abstention (ROUGE-L, Char-F1, 2-10) report 0.0, as
LawBench does.

The label sets in ``lawbench_labels.json`` (:data:`LABELS_FILE`) are data from
LawBench (https://github.com/open-compass/LawBench, Apache-2.0): the label
lists its evaluation uses for tasks 2-2, 2-3, 2-4, 2-6, 2-9 and 3-3.
"""

from __future__ import annotations

import functools
import json
from typing import Callable, NamedTuple

from legal_eagle_xtuner.eval.lawbench.extract import (
    amount_judge,
    article_numbers,
    gold_entities,
    predicted_entities,
    term_months,
)
from legal_eagle_xtuner.eval.lawbench.metrics import (
    MAX_LOG_DISTANCE,
    char_f1,
    entity_f1,
    labels_in,
    log_distance,
    option_judge,
    rouge_l,
    set_f1,
    trigger_f1,
)
from legal_eagle_xtuner.resources import LAWBENCH_LABELS

TASKS: tuple[str, ...] = (
    "1-1", "1-2",
    "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "2-7", "2-8", "2-9", "2-10",
    "3-1", "3-2", "3-3", "3-4", "3-5", "3-6", "3-7", "3-8",
)  # fmt: skip

OPTIONAL_TASKS: dict[str, str] = {
    "2-1": "sentence correction needs ChERRANT-style character-level edit "
    "alignment against the source sentence (corpus-level F0.5), not implemented",
}

LABELS_FILE = LAWBENCH_LABELS

_ENTITY_ABSTENTION_NOTE = (
    "abstention is the real rate (items with a gold but no predicted entity); "
    "LawBench publishes 0 because its code stores it under a misspelled key"
)


@functools.lru_cache(maxsize=None)
def _packaged_labels() -> dict:
    with open(LABELS_FILE, encoding="utf-8") as f:
        return json.load(f)


def load_labels() -> dict[str, list[str]]:
    """The label sets LawBench scores with, keyed by task (a fresh copy)."""
    return {task: list(labels) for task, labels in _packaged_labels().items()}


# --------------------------------------------------------------------------
# Gold extraction. Each returns the gold of one reference, or _SKIP for an
# item that LawBench leaves out; ValueError for a reference of the wrong form.

_SKIP = object()


def _strip_all(*fragments: str) -> Callable[[str], str]:
    def gold(refr: str) -> str:
        for fragment in fragments:
            refr = refr.replace(fragment, "")
        return refr

    return gold


def _raw(refr: str) -> str:
    return refr


def _letter_at(prefix: str, options: str) -> Callable[[str], str]:
    index = len(prefix)

    def gold(refr: str) -> str:
        if not refr.startswith(prefix) or len(refr) <= index or refr[index] not in options:
            raise ValueError(f"expected {prefix!r} and one of {options}")
        return refr[index]

    return gold


def _dispute_gold(refr: str):
    if not refr.startswith("争议焦点类别："):
        raise ValueError("expected '争议焦点类别：...'")
    label = refr[7:-1]
    return _SKIP if label == "赔偿" else label


def _category_gold(refr: str) -> set[str]:
    if not refr.startswith("类别:"):
        raise ValueError("expected '类别:...。'")
    return set(refr[3:-1].split("、"))


def _charge_gold(refr: str) -> set[str]:
    return set(refr.replace("罪名:", "").split(";"))


def _event_gold(refr: str) -> set[str]:
    return set(refr.split(";"))


def _article_gold(refr: str) -> set[int]:
    if not (refr.startswith("法条:刑法第") and refr.endswith("条")):
        raise ValueError("expected '法条:刑法第N条'")
    pieces = refr.replace("法条:刑法第", "").replace("条", "").split("、")
    if not all(piece.isdigit() for piece in pieces):
        raise ValueError("expected article numbers separated by '、'")
    return {int(piece) for piece in pieces}


def _term_gold(refr: str):
    if "死刑" in refr or "无期" in refr:
        return _SKIP
    if not (refr.startswith("刑期:") and refr.endswith("个月")):
        raise ValueError("expected '刑期:N个月'")
    return int(refr.replace("刑期:", "").replace("个月", ""))


def _amount_gold(refr: str) -> float:
    if not (refr.startswith("上文涉及到的犯罪金额:") and refr.endswith("元。")):
        raise ValueError("expected '上文涉及到的犯罪金额:N元。'")
    return float(refr.replace("上文涉及到的犯罪金额:", "").replace("元。", ""))


# --------------------------------------------------------------------------
# Item judges: (prediction, gold, labels) -> (value, abstained)


def _judge_options(prediction, gold, labels):
    return option_judge(prediction, labels, gold)


def _judge_labels(prediction, gold, labels):
    found = labels_in(prediction, labels)
    return set_f1(found, gold), not found


def _judge_rouge(prediction, gold, labels):
    return rouge_l(prediction, gold), False


def _judge_chars(prediction, gold, labels):
    return char_f1(gold, prediction), False


def _judge_entities(prediction, gold, labels):
    found = predicted_entities(prediction, labels)
    return entity_f1(found, gold), bool(gold) and not found


def _judge_triggers(prediction, gold, labels):
    return trigger_f1(prediction, gold), False


def _judge_articles(prediction, gold, labels):
    found = article_numbers(prediction)
    return set_f1(found, gold), not found


def _judge_term(prediction, gold, labels):
    months = term_months(prediction)
    return log_distance(gold, months), months is None


def _judge_amount(prediction, gold, labels):
    return amount_judge(prediction, gold)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _log_distance_score(distances: list[float]) -> float:
    return (MAX_LOG_DISTANCE - _mean(distances)) / MAX_LOG_DISTANCE


class _Spec(NamedTuple):
    gold: Callable[[str], object]
    judge: Callable[[str, object, object], tuple[float, bool]]
    labels: str | tuple[str, ...] | None = None
    """A key of the label file, or the options themselves."""
    finish: Callable[[list[float]], float] = _mean
    note: str | None = None


_REGISTRY: dict[str, _Spec] = {
    "1-1": _Spec(_strip_all("答案:"), _judge_rouge),
    "1-2": _Spec(_letter_at("正确答案：", "ABCD"), _judge_options, tuple("ABCD")),
    "2-2": _Spec(_dispute_gold, _judge_options, "2-2"),
    "2-3": _Spec(_category_gold, _judge_labels, "2-3"),
    "2-4": _Spec(_raw, _judge_options, "2-4"),
    "2-5": _Spec(_strip_all("回答:"), _judge_chars),
    "2-6": _Spec(gold_entities, _judge_entities, "2-6", note=_ENTITY_ABSTENTION_NOTE),
    "2-7": _Spec(_raw, _judge_rouge),
    "2-8": _Spec(_letter_at("[正确答案]", "ABCDE"), _judge_options, tuple("ABCDE")),
    "2-9": _Spec(_event_gold, _judge_labels, "2-9"),
    "2-10": _Spec(_raw, _judge_triggers),
    "3-1": _Spec(_article_gold, _judge_articles),
    "3-2": _Spec(_raw, _judge_rouge),
    "3-3": _Spec(_charge_gold, _judge_labels, "3-3"),
    "3-4": _Spec(_term_gold, _judge_term, finish=_log_distance_score),
    "3-5": _Spec(_term_gold, _judge_term, finish=_log_distance_score),
    "3-6": _Spec(_letter_at("正确答案:", "ABCD"), _judge_options, tuple("ABCD")),
    "3-7": _Spec(_amount_gold, _judge_amount),
    "3-8": _Spec(_raw, _judge_rouge),
}
assert set(_REGISTRY) | set(OPTIONAL_TASKS) == set(TASKS)
