"""Score LawBench zero-shot prediction files the way LawBench publishes them.

A prediction directory holds one ``<task>.json`` per LawBench task (``1-1.json``
... ``3-8.json``), each a JSON object keyed ``"0"`` .. ``"N-1"`` whose values are
``{"origin_prompt", "prediction", "refr"}`` (``origin_prompt`` is a string or a
list of ``{"role", "prompt"}`` turns; only its shape is checked). Every task
gets a :class:`TaskScore` on LawBench's 0-1 scale plus an abstention rate over
all items of the file. The rules below reproduce the numbers of LawBench's own
evaluation (and so its published zero-shot table) to float precision; they were
written from the task descriptions, not copied.

Building blocks
---------------
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

Per task
--------
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
LawBench does. Chinese numerals are converted with ``cn2an.transform(text,
"cn2an")``, which handles malformed numerals itself (keeps them, with a
warning that is silenced here); the published numbers match cn2an
0.5.19-0.5.23.

The label sets in ``lawbench_labels.json`` (beside this module) are data from
LawBench (https://github.com/open-compass/LawBench, Apache-2.0): the label
lists its evaluation uses for tasks 2-2, 2-3, 2-4, 2-6, 2-9 and 3-3.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from legal_eagle_xtuner.data.corpus import json_type
from legal_eagle_xtuner.resources import LAWBENCH_LABELS

__all__ = [
    "TASKS",
    "OPTIONAL_TASKS",
    "TaskScore",
    "LawBenchError",
    "load_predictions",
    "load_labels",
    "score_task",
    "score_dir",
    "table_lines",
    "scores_json",
    "option_judge",
    "labels_in",
    "set_f1",
    "char_f1",
    "lcs_length",
    "rouge_l",
    "gold_entities",
    "predicted_entities",
    "entity_f1",
    "trigger_f1",
    "chinese_numerals_to_digits",
    "article_numbers",
    "term_months",
    "log_distance",
    "amount_judge",
]

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

MAX_LOG_DISTANCE = math.log(216)
"""Distance of an abstaining 3-4/3-5 item, and the scale of their score."""

_ENTITY_ABSTENTION_NOTE = (
    "abstention is the real rate (items with a gold but no predicted entity); "
    "LawBench publishes 0 because its code stores it under a misspelled key"
)


class LawBenchError(Exception):
    """A bad prediction file or item; ``str()`` is ``PATH: what is wrong`` or
    ``PATH:KEY: what is wrong``."""


class _BadItem(Exception):
    """An item whose reference does not have the task's format."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


@dataclass
class TaskScore:
    task: str
    score: float | None
    """0-1 scale; ``None`` only for a task that is not scored (2-1)."""
    abstention_rate: float | None
    """Over all items of the file."""
    items: int
    scored_items: int
    """Items in the denominator of the score."""
    note: str | None = None


# --------------------------------------------------------------------------
# Loading


def load_predictions(path) -> list[dict]:
    """The items of one prediction file, in key order ``"0"`` .. ``"N-1"``.

    Raises :class:`LawBenchError` (``PATH: ...`` / ``PATH:KEY: ...``) for an
    unreadable file, invalid JSON, anything but a non-empty object keyed
    exactly ``"0"`` .. ``"N-1"``, or an item without string ``prediction`` and
    ``refr`` or with a malformed ``origin_prompt``.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise LawBenchError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise LawBenchError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LawBenchError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LawBenchError(
            f'{path}: expected a JSON object keyed "0".."N-1", got a JSON {json_type(data)}'
        )
    if not data:
        raise LawBenchError(f"{path}: no items")
    expected = [str(i) for i in range(len(data))]
    if set(data) != set(expected):
        odd = sorted((k for k in data if k not in set(expected)), key=str)
        missing = [k for k in expected if k not in data]
        detail = f"unexpected key {odd[0]!r}" + (f", missing {missing[0]!r}" if missing else "")
        raise LawBenchError(
            f'{path}: keys must be "0".."{len(data) - 1}" (one per item): {detail}'
        )
    items = []
    for key in expected:
        item = data[key]
        problem = _item_problem(item)
        if problem:
            raise LawBenchError(f"{path}:{key}: {problem}")
        items.append(item)
    return items


def _item_problem(item) -> str | None:
    if not isinstance(item, dict):
        return f"an item must be an object, got a JSON {json_type(item)}"
    for field in ("prediction", "refr"):
        if field not in item:
            return f"missing {field!r}"
        if not isinstance(item[field], str):
            return f"{field!r} must be a string, got a JSON {json_type(item[field])}"
    prompt = item.get("origin_prompt", "")
    if isinstance(prompt, str):
        return None
    if isinstance(prompt, list) and all(
        isinstance(turn, dict) and isinstance(turn.get("prompt"), str) for turn in prompt
    ):
        return None
    return "'origin_prompt' must be a string or a list of {role, prompt} objects"


@functools.lru_cache(maxsize=None)
def _packaged_labels() -> dict:
    with open(LABELS_FILE, encoding="utf-8") as f:
        return json.load(f)


def load_labels() -> dict[str, list[str]]:
    """The label sets LawBench scores with, keyed by task (a fresh copy)."""
    return {task: list(labels) for task, labels in _packaged_labels().items()}


# --------------------------------------------------------------------------
# Building blocks


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


def gold_entities(reference: str) -> dict[str, str]:
    """``{type: value}`` of a 2-6 reference ``type:value;type:value``."""
    if not reference.strip():
        return {}
    entities = {}
    for segment in reference.split(";"):
        parts = segment.split(":")
        if len(parts) < 2:
            raise ValueError(f"segment {segment!r} has no 'type:value'")
        entities[parts[0]] = parts[1]
    return entities


def predicted_entities(prediction: str, entity_types) -> dict[str, str]:
    """``{type: value}`` found in a 2-6 prediction: a type name directly
    followed by ``:`` or ``：`` (at least 3 characters before the end), the
    value up to the first newline or space; ``无`` / ``未提及`` are ignored and a
    later mention overrides an earlier one."""
    found = {}
    for etype in entity_types:
        start = prediction.find(etype)
        while start != -1:
            end = start + len(etype)
            if end < len(prediction) - 2 and prediction[end] in ":：":
                value = re.split("[\n ]", prediction[end + 1 :].strip())[0].strip()
                if value not in ("无", "未提及"):
                    found[etype] = value
            start = prediction.find(etype, end)
    return found


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


@functools.lru_cache(maxsize=None)
def _cn2an_transform():
    import cn2an

    return cn2an.transform


def chinese_numerals_to_digits(text: str) -> str:
    """``cn2an.transform(text, "cn2an")`` with its warnings silenced; the text
    unchanged should cn2an raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _cn2an_transform()(text, "cn2an")
        except Exception:  # cn2an keeps malformed numerals itself; never seen raising
            return text


_CLAUSE = re.compile(r"第.*?款")
_ARTICLE = re.compile(r"第(.*?)条")
_DIGITS = re.compile(r"\d+")


def article_numbers(prediction: str) -> set[int]:
    """3-1: the article numbers of a prediction. Per ``、``-separated chunk:
    ``万元`` -> ``元`` (so amounts do not grow digits), each span from a ``第``
    to the next ``款`` deleted, ``第X条`` -> ``X``, Chinese numerals to digits,
    then the first run of digits (if any) is the chunk's article."""
    numbers = set()
    for chunk in prediction.split("、"):
        chunk = chunk.replace("万元", "元")
        chunk = _CLAUSE.sub("", chunk)
        chunk = _ARTICLE.sub(r"\1", chunk)
        digits = _DIGITS.search(chinese_numerals_to_digits(chunk))
        if digits:
            numbers.add(int(digits.group()))
    return numbers


def term_months(prediction: str) -> int | None:
    """3-4/3-5: the predicted prison term in months, ``None`` when none is
    found. After numeral conversion: the first ``N个月``, else the first
    ``N月``, else the first ``N年`` times 12."""
    text = chinese_numerals_to_digits(prediction)
    for pattern, factor in ((r"(\d+)个月", 1), (r"(\d+)月", 1), (r"(\d+)年", 12)):
        found = re.search(pattern, text)
        if found:
            return int(found.group(1)) * factor
    return None


def log_distance(gold_months: int, predicted_months: int | None) -> float:
    """``|ln(gold+1) - ln(pred+1)|``; ``ln 216`` when nothing was predicted."""
    if predicted_months is None:
        return MAX_LOG_DISTANCE
    return abs(math.log(gold_months + 1) - math.log(predicted_months + 1))


_NUMBER = re.compile(r"\d+\.?\d*")


def amount_judge(prediction: str, gold: float) -> tuple[int, bool]:
    """3-7 ``(right, abstained)``: right when some number in the prediction
    equals ``gold``; no digits at all is an abstention."""
    numbers = [float(n) for n in _NUMBER.findall(prediction)]
    return int(gold in numbers), not numbers


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


# --------------------------------------------------------------------------
# Scoring


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise LawBenchError(f"unknown LawBench task {task!r}; tasks: {', '.join(TASKS)}")


def _score_items(task: str, items: list[dict], labels: dict | None) -> TaskScore:
    if task in OPTIONAL_TASKS:
        return TaskScore(task, None, None, len(items), 0, f"not scored: {OPTIONAL_TASKS[task]}")
    spec = _REGISTRY[task]
    if isinstance(spec.labels, str):
        table = labels if labels is not None else _packaged_labels()
        if spec.labels not in table:
            raise LawBenchError(f"no label set for task {spec.labels} in the labels given")
        options = table[spec.labels]
    else:
        options = spec.labels
    values, abstained = [], 0
    for index, item in enumerate(items):
        try:
            gold = spec.gold(item["refr"])
        except ValueError as exc:
            refr = item["refr"][:60]
            message = f"refr {refr!r} not in the form of task {task}: {exc}"
            raise _BadItem(str(index), message) from None
        if gold is _SKIP:
            continue
        value, abstains = spec.judge(item["prediction"], gold, options)
        values.append(value)
        abstained += abstains
    if not values:
        return TaskScore(task, None, abstained / len(items) if items else None, len(items), 0,
                         "no item has a gold that is scored")
    return TaskScore(task, spec.finish(values), abstained / len(items), len(items), len(values),
                     spec.note)


def score_task(task: str, items: list[dict], labels: dict | None = None) -> TaskScore:
    """Score the items of one task (as from :func:`load_predictions`).

    ``labels``: label sets keyed by task as in ``lawbench_labels.json``;
    default the packaged ones. Raises :class:`LawBenchError` for an unknown
    task, or an item without string ``prediction`` / ``refr`` or whose
    ``refr`` is not in the task's form (``task T, item K: ...``)."""
    _check_task(task)
    for index, one in enumerate(items):
        problem = _item_problem(one)
        if problem:
            raise LawBenchError(f"task {task}, item {index}: {problem}")
    try:
        return _score_items(task, items, labels)
    except _BadItem as exc:
        raise LawBenchError(f"task {task}, item {exc.key}: {exc.message}") from None


def score_dir(pred_dir, tasks=None, progress: bool | None = None) -> dict[str, TaskScore]:
    """Score every ``<task>.json`` in ``pred_dir`` whose name is a LawBench
    task id (other files are ignored), in :data:`TASKS` order.

    ``tasks``: only these (each must have a file). ``progress``: a tqdm bar
    over the tasks; ``None`` shows it only when stderr is a terminal. Raises
    :class:`LawBenchError` for a missing directory, a directory without any
    task file, an unknown or missing requested task, or a bad file/item
    (``PATH: ...`` / ``PATH:KEY: ...``)."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise LawBenchError(f"{pred_dir}: not a directory")
    if tasks is None:
        chosen = [t for t in TASKS if (pred_dir / f"{t}.json").is_file()]
        if not chosen:
            raise LawBenchError(f"{pred_dir}: no LawBench prediction files (1-1.json ... 3-8.json)")
    else:
        wanted = set()
        for task in tasks:
            _check_task(task)
            wanted.add(task)
        chosen = [t for t in TASKS if t in wanted]
        for task in chosen:
            path = pred_dir / f"{task}.json"
            if not path.is_file():
                raise LawBenchError(f"{path}: no prediction file for task {task}")

    from tqdm.auto import tqdm

    if progress is None:
        progress = sys.stderr.isatty()
    scores = {}
    for task in tqdm(chosen, desc="LawBench", unit="task", disable=not progress, leave=False):
        path = pred_dir / f"{task}.json"
        items = load_predictions(path)
        try:
            scores[task] = _score_items(task, items, None)
        except _BadItem as exc:
            raise LawBenchError(f"{path}:{exc.key}: {exc.message}") from None
    return scores


# --------------------------------------------------------------------------
# Reporting


def _average(scores: dict[str, TaskScore]) -> tuple[float | None, list[str], list[str]]:
    scored = [s for s in scores.values() if s.score is not None]
    skipped = [s.task for s in scores.values() if s.score is None]
    mean = _mean([s.score for s in scored]) if scored else None
    return mean, [s.task for s in scored], skipped


def table_lines(scores: dict[str, TaskScore]) -> list[str]:
    """A plain-text table (0-1 scale, 4 decimals) and an ``average`` line over
    the scored tasks."""

    def fmt(value):
        return "-" if value is None else f"{value:.4f}"

    lines = [f"{'task':<8}{'score':>8}{'abstain':>9}{'items':>9}  note"]
    for s in scores.values():
        items = str(s.items) if s.scored_items == s.items else f"{s.scored_items}/{s.items}"
        row = f"{s.task:<8}{fmt(s.score):>8}{fmt(s.abstention_rate):>9}{items:>9}"
        lines.append(f"{row}  {s.note}" if s.note else row)
    mean, scored, skipped = _average(scores)
    tail = f"mean of {len(scored)} scored task{'s' if len(scored) != 1 else ''}"
    if skipped:
        tail += f"; {', '.join(skipped)} not scored, excluded"
    lines.append(f"{'average':<8}{fmt(mean):>8}{'':>9}{'':>9}  {tail}")
    return lines


def scores_json(scores: dict[str, TaskScore]) -> dict:
    """``{task: {"score", "abstention_rate"}, ..., "average": {"score",
    "tasks", "not_scored"}}``; the average is over the scored tasks."""
    out: dict = {
        s.task: {"score": s.score, "abstention_rate": s.abstention_rate} for s in scores.values()
    }
    mean, scored, skipped = _average(scores)
    out["average"] = {"score": mean, "tasks": len(scored), "not_scored": skipped}
    return out
