"""How index and query text become BM25 terms: ``jieba`` words, character ``bigram``s,
or ``both`` (the two term lists concatenated; a word and a bigram are different terms
even when spelled alike, so each keeps its own statistics).

Digits, dates, amounts and punctuation are no terms: a case's facts are full of dates
and sums of money, and matching them ranks the statutes' effective-date articles
(``本法自2021年1月1日起施行``) first. A few function words that every article has
are dropped too.
"""

from __future__ import annotations

import logging
import re

__all__ = ["TOKENIZERS", "tokenize", "tokenize_many"]

TOKENIZERS = ("jieba", "bigram", "both")

_HAN_RUN_RE = re.compile(r"[\u4e00-\u9fff]+|[A-Za-z]{2,}")
_STOP = frozenset("的 了 和 与 或 及 是 在 为 对 由 等 其 之 以 于 而 并 或者 以及 应当 可以 "
                  "依照 根据 规定 本法 有关 前款 下列 情形 之一 一 二 三 四 五 六 七 八 九 十 "
                  "年 月 日 条 款 项 我 你 他 她 请问 什么 如何 怎么 吗 呢 吧".split())
_jieba = None


def _get_jieba():
    global _jieba
    if _jieba is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _jieba = jieba
    return _jieba


def _words(text: str) -> list[str]:
    jieba = _get_jieba()
    out = []
    for run in _HAN_RUN_RE.findall(text):
        out += [w for w in jieba.lcut(run, HMM=False) if w not in _STOP]
    return out


def _bigrams(text: str) -> list[str]:
    out = []
    for run in _HAN_RUN_RE.findall(text):
        if run.isascii():
            out.append(run.lower())
        elif len(run) == 1:
            if run not in _STOP:
                out.append(run)
        else:
            out += [run[i:i + 2] for i in range(len(run) - 1)]
    return out


def tokenize(text: str, tokenizer: str = "bigram") -> list[str]:
    """The terms of ``text``; bigrams are prefixed ``~`` under ``both`` so that they
    never share a term with a two-character word."""
    if tokenizer == "jieba":
        return _words(text)
    if tokenizer == "bigram":
        return _bigrams(text)
    if tokenizer == "both":
        return _words(text) + ["~" + b for b in _bigrams(text)]
    raise ValueError(f"unknown tokenizer {tokenizer!r}; one of {', '.join(TOKENIZERS)}")


def tokenize_many(texts: list[str], tokenizer: str = "bigram") -> list[list[str]]:
    return [tokenize(text, tokenizer) for text in texts]
