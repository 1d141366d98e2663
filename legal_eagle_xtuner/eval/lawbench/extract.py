"""Read the answer out of a LawBench prediction (or reference) where matching
is not enough: entities (2-6), article numbers (3-1), prison terms (3-4/3-5)
and amounts (3-7).

Chinese numerals are converted with ``cn2an.transform(text, "cn2an")``, which
handles malformed numerals itself (keeps them, with a warning that is silenced
here); the published numbers match cn2an 0.5.19-0.5.23.
"""

from __future__ import annotations

import functools
import re
import warnings


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


_NUMBER = re.compile(r"\d+\.?\d*")


def amount_judge(prediction: str, gold: float) -> tuple[int, bool]:
    """3-7 ``(right, abstained)``: right when some number in the prediction
    equals ``gold``; no digits at all is an abstention."""
    numbers = [float(n) for n in _NUMBER.findall(prediction)]
    return int(gold in numbers), not numbers
