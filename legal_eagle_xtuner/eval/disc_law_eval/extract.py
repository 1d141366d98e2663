"""Read the chosen option letters out of a model's answer (:func:`answer_letters`).

The rule, written from the nine models' published answers and the published
accuracies (not from the benchmark's code):

* Every capital ``A``-``D`` in the answer is a chosen letter (full-width
  ``Ａ``-``Ｄ`` count as the same letters), wherever it stands: ``B.裁定不予受理``,
  ``答案：AC``, ``A、B、C三项均正确``, ``ABCD``, even inside a Latin word (the
  published scores count the D of ``LED`` and the C of ``PCT``).
* Except a letter that is part of a name the item itself uses: one directly
  followed by a Chinese character or a digit, where that two-character string
  also occurs in the question or its options (``B区法院``, ``A公司``, ``A1``).
  ``C. B区法院可以报请上一级法院指定管辖`` therefore answers C, not BC, while
  ``A、B、C属于纳税人权利`` still names C.
* No letter at all is an abstention (the empty set), which is never right.

An answer is right when its letter set equals the gold set (single and
multiple answer alike).
"""

from __future__ import annotations

import re

__all__ = ["LETTERS", "answer_letters", "gold_letters"]

LETTERS = "ABCD"

_FULL_WIDTH = str.maketrans("ＡＢＣＤ", LETTERS)
_LETTER = re.compile(f"[{LETTERS}]")
_NAME_PART = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff0-9０-９]")


def answer_letters(answer: str, item_text: str = "") -> frozenset[str]:
    """The option letters ``answer`` chooses; ``item_text`` is the question and
    its options (letters that are part of a name in it are not answers)."""
    answer = answer.translate(_FULL_WIDTH)
    chosen = set()
    for match in _LETTER.finditer(answer):
        end = match.end()
        follower = answer[end:end + 1]
        if follower and _NAME_PART.match(follower) and answer[match.start():end + 1] in item_text:
            continue
        chosen.add(match.group())
    return frozenset(chosen)


def gold_letters(gold: str) -> frozenset[str]:
    """The gold set of a benchmark ``output`` cell (``B``, ``ACD``); raises
    ``ValueError`` for anything but 1-4 distinct letters A-D."""
    letters = gold.strip()
    if not letters or any(c not in LETTERS for c in letters) or len(set(letters)) != len(letters):
        raise ValueError(f"gold answer {gold!r} is not 1-4 distinct letters A-D")
    return frozenset(letters)
