"""The benchmark's own answer-extraction rule (:func:`benchmark_letters`), the default.

DISC-Law-Eval scores its multiple-choice exams with a regular-expression evaluator
(``McqRegexEvaluator`` in ``eval/src/eval.py`` of FudanDISC/DISC-LawLLM). This module
is our implementation of the rule it applies, written from reading it; the steps and
their order are the rule's, the code is ours:

1. An answer shorter than ten characters is taken whole (``"B"``, ``"答案：AC"``).
2. Else the first *answer phrase* of :data:`ANSWER_PHRASES` that occurs (in that
   order of phrases, the first place each occurs) gives its run of letters and
   separators: ``答案是B``, ``应该选择A、C``, ``故选：D``, ``BC</s>`` ...
3. Else every lettered option the answer spells out (``A.`` or ``A．``), in order.
4. Else the first *verdict phrase* of :data:`VERDICT_PHRASES` with any occurrence
   gives all its occurrences' runs: ``A、B都是正确的``, ``选项C正确`` ...
5. Else the whole answer.

The chosen letters are the capital A-D in what was taken (so a whole long answer
counts every A-D in it, ``A公司`` included); an answer is right when they equal the
gold set. No letter is an abstention. Half-width letters only: the rule does not
fold full-width ``Ａ``-``Ｄ`` (ours, :mod:`.extract`, does).
"""

from __future__ import annotations

import re

__all__ = ["ANSWER_PHRASES", "VERDICT_PHRASES", "benchmark_letters", "extracted_text"]

_RUN = r"([ABCD,，、\s]+)"
"""A run of option letters and the separators between them: commas (half and full
width), the enumeration comma and white space."""

ANSWER_PHRASES = [re.compile(p.format(run=_RUN)) for p in (
    r"答案应?该?[为是]{run}",      # 答案为 / 答案是 / 答案应为 / 答案应该是
    r"答案是{run}",
    r"选项应?该?[是为]{run}",      # 选项是 / 选项应为 ...
    r"答案{run}",                  # 答案 A
    r"答案应该?选\s?{run}",        # 答案应选 / 答案应该选
    r"选择{run}",
    r"故?选[:：]?{run}",           # 选A / 故选：A
    r"选择答案{run}",
    r"^\s*选{run}[,，项．\.]",      # an answer that starts 选B，...
    r"{run}</s>",                  # letters right before an end-of-sequence mark
    r"^{run}。",                   # an answer that starts AB。
)]
"""Step 2, in the rule's order: the first phrase found decides."""

_LETTERED_OPTION = re.compile(r"([ABCD][\.．])\s?")
"""Step 3: an option spelled out with its letter, ``A.`` or ``A．``."""

VERDICT_PHRASES = [re.compile(p.format(run=_RUN)) for p in (
    r"{run}都?是正确的",
    r"选项{run}正确",
    r"{run}选项正确",
    r"{run}\s?都?[是为]正确答案",
    r"{run}\s?都?[是为]正确选项",
    r"{run}\s?选?项?都?属于[^错不]",   # A、B属于... (not 属于错误 / 不属于)
)]
"""Step 4, in the rule's order: the first phrase with any occurrence decides, and
all of its occurrences count."""

SHORT = 10
"""Answers shorter than this many characters are taken whole (step 1)."""


def extracted_text(answer: str) -> str:
    """What the rule takes out of ``answer`` (steps 1-5) before reading letters."""
    if len(answer) < SHORT:
        return answer
    for phrase in ANSWER_PHRASES:
        found = phrase.search(answer)
        if found:
            return found.group(1).strip()
    options = _LETTERED_OPTION.findall(answer)
    if options:
        return "".join(options).strip()
    for phrase in VERDICT_PHRASES:
        runs = phrase.findall(answer)
        if runs:
            return "".join(runs).strip()
    return answer


def benchmark_letters(answer: str, item_text: str = "") -> frozenset[str]:
    """The option letters ``answer`` chooses under the benchmark's rule.
    ``item_text`` is accepted for the same call as :func:`.extract.answer_letters`
    and not used: the benchmark's rule does not look at the question."""
    return frozenset(c for c in extracted_text(answer) if c in "ABCD")
