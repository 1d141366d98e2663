"""Normalisation of statute references attached to legal QA records.

Two upstream corpora attach the statutes an answer relies on, each in its own
format:

* DISC-Law-SFT (triplet subsets) writes one article per string::

      《民法典》第一千零七十九条：夫妻一方要求离婚的，……
      《中华人民共和国刑法》第二百六十四条 盗窃公私财物，……
      刑法第二百六十四条：盗窃公私财物，……

* LAW-GPT (``训练数据_带法律依据_92k.json``) writes one *paragraph* per string,
  copied from a source file listing, with a category prefix, a version date
  and JSON-ish quoting left in place::

      社会法-妇女权益保障法2022-10-30:    "第八十条 违反本法规定，……",\\n
      刑法2020-12-26:    "（一）入户盗窃的；",\\n

  Paragraphs that do not start with an article number continue the article
  before them.

:func:`normalize_references` turns either into clean, deduplicated lines of
the form ``《法名》第X条 正文`` with article numbers written in Chinese
numerals, the style of official statute texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import cn2an

__all__ = [
    "FULLWIDTH_DIGITS",
    "LAW_NAME_END_RE",
    "NUMERAL",
    "Article",
    "article_to_chinese",
    "normalize_references",
    "parse_reference",
]

# An article number: Arabic digits (ASCII or full-width) or Chinese numerals.
NUMERAL = r"[0-9０-９]+|[零〇一二两三四五六七八九十百千万]+"
# "第X条" optionally followed by "之Y" (articles inserted by amendments).
_ARTICLE = rf"第\s*(?:{NUMERAL})\s*条(?:\s*之\s*(?:{NUMERAL}))?"

_ARTICLE_PARTS_RE = re.compile(
    rf"第\s*(?P<num>{NUMERAL})\s*条(?:\s*之\s*(?P<sub>{NUMERAL}))?"
)
_ARTICLE_ONLY_RE = re.compile(
    rf"\s*(?:第\s*(?P<num>{NUMERAL})\s*条(?:\s*之\s*(?P<sub>{NUMERAL}))?"
    rf"|(?P<bare>{NUMERAL}))\s*"
)
# Separator allowed between an article number and its text.
_SEP = r"\s*[:：]?\s*"

# DISC style with the law name in 《》; the article number is optional.
_DISC_BRACKETED_RE = re.compile(
    rf"《\s*(?P<law>[^《》]+?)\s*》\s*(?P<article>{_ARTICLE})?{_SEP}(?P<text>.*)",
    re.DOTALL,
)
# DISC style without 《》: the law name must be directly followed by 第X条.
_DISC_BARE_RE = re.compile(
    rf"(?P<law>[^\s:：\"“”《》，。、；]{{1,40}}?)\s*"
    rf"(?P<article>{_ARTICLE}){_SEP}(?P<text>.*)",
    re.DOTALL,
)
# What a bare (un-bracketed) law name must end with, so that ordinary text
# such as "详见第三条" is not mistaken for a law name.
LAW_NAME_END_RE = re.compile(
    r"(?:法|典|条例|规定|解释|办法|决定|规则|细则)(?:（[一二三四五六七八九十]+）)?$"
)
# LAW-GPT style: [category-]law[YYYY-MM-DD]: "body",\n
_LAWGPT_RE = re.compile(
    r"(?:(?P<category>[^\s\-:：\"“”《》0-9]+)-)?"
    r"(?P<law>[^\s:：\"“”《》]+?)"
    r"(?P<date>\d{4}-\d{1,2}-\d{1,2})?"
    r"\s*[:：]\s*(?P<body>.*)",
    re.DOTALL,
)
# Body of a LAW-GPT entry: optional surrounding quotes and a trailing comma.
_LAWGPT_BODY_RE = re.compile(r'"?(?P<body>.*?)"?\s*,?', re.DOTALL)
# Trailing newlines, also when left as a literal backslash-n.
_TRAILING_NEWLINES_RE = re.compile(r"(?:\\n|\s)+$")
# Article number at the start of a paragraph, then its text.
_LEADING_ARTICLE_RE = re.compile(rf"(?P<article>{_ARTICLE}){_SEP}(?P<text>.*)", re.DOTALL)

_WHITESPACE_RE = re.compile(r"\s+")  # includes U+3000 and newlines
FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


@dataclass
class Article:
    """One statute reference: an article of a law, or a paragraph of one."""

    law: str | None
    """Law name without 《》, e.g. ``"民法典"``; ``None`` if none was found."""

    article: str | None
    """Article number in Chinese numerals, e.g. ``"第一千零七十九条"`` or
    ``"第二百六十四条之一"``; ``None`` for a paragraph without one."""

    text: str
    """Article text with whitespace collapsed; may be empty."""

    def line(self) -> str:
        """Render as ``《法名》第X条 正文``.

        The article part is left out when there is none (``《法名》 正文``);
        without a law only the article number (if any) and text remain.
        """
        head = "" if self.law is None else f"《{self.law}》"
        head += self.article or ""
        return " ".join(part for part in (head, self.text) if part)


def _collapse(text: str) -> str:
    return _WHITESPACE_RE.sub(" ", text).strip()


def _compact(text: str) -> str:
    """Dedup form of a text: whitespace carries no meaning in statute text."""
    return _WHITESPACE_RE.sub("", text)


def _numeral_to_chinese(num: str) -> str:
    num = num.translate(FULLWIDTH_DIGITS)
    if num.isdigit():
        return cn2an.an2cn(str(int(num)))
    # Round-trip so that variants ("两百", "一十一", "〇") get one spelling.
    return cn2an.an2cn(cn2an.cn2an(num, "normal"))


def article_to_chinese(s: str | int) -> str:
    """Normalise an article number to official Chinese-numeral style.

    Accepts ``"第1079条"``, ``"第 1079 条"``, ``"第一千零七十九条"``, a bare
    number (``"1079"``, ``1079``, ``"一千零七十九"``) and amendment articles
    (``"第264条之1"``, ``"第二百六十四条之一"``). Returns ``"第一千零七十九条"``
    or ``"第二百六十四条之一"``.

    Raises ``ValueError`` if *s* is not an article number.
    """
    if isinstance(s, int) and not isinstance(s, bool):
        s = str(s)
    if not isinstance(s, str):
        raise ValueError(f"not an article number: {s!r}")
    match = _ARTICLE_ONLY_RE.fullmatch(s)
    if match is None:
        raise ValueError(f"not an article number: {s!r}")
    try:
        number = _numeral_to_chinese(match["num"] or match["bare"])
        sub = match["sub"] and _numeral_to_chinese(match["sub"])
    except ValueError as exc:  # cn2an rejects malformed numerals
        raise ValueError(f"not an article number: {s!r}") from exc
    return f"第{number}条" + (f"之{sub}" if sub else "")


def _normalise_article(raw: str) -> str:
    try:
        return article_to_chinese(raw)
    except ValueError:
        # Malformed numeral (e.g. a typo): keep it, minus inner whitespace.
        return _WHITESPACE_RE.sub("", raw)


def _split_article(law: str | None, body: str) -> Article:
    """Split ``第X条 正文`` into article and text; other text is a paragraph."""
    match = _LEADING_ARTICLE_RE.fullmatch(body)
    if match is None:
        return Article(law, None, _collapse(body))
    return Article(law, _normalise_article(match["article"]), _collapse(match["text"]))


def parse_reference(s: str) -> Article | None:
    """Parse one reference string (DISC or LAW-GPT style).

    Returns ``None`` for an empty or whitespace-only entry. An entry whose
    law cannot be recognised comes back with ``law=None`` and its cleaned text
    (an article number at its start is still recognised).
    """
    s = _TRAILING_NEWLINES_RE.sub("", s).strip()
    if not s:
        return None

    match = _DISC_BRACKETED_RE.fullmatch(s)
    if match is not None:
        article = match["article"] and _normalise_article(match["article"])
        return Article(_collapse(match["law"]), article or None, _collapse(match["text"]))

    match = _DISC_BARE_RE.fullmatch(s)
    if match is not None and LAW_NAME_END_RE.search(match["law"]):
        return Article(
            match["law"], _normalise_article(match["article"]), _collapse(match["text"])
        )

    match = _LAWGPT_RE.fullmatch(s)
    if match is not None:
        quoted = match["body"].startswith('"')
        # Without a date, category, quotes or a law-like name, "xxx：yyy" is
        # just text.
        law_like = LAW_NAME_END_RE.search(match["law"]) is not None
        if match["date"] or match["category"] or quoted or law_like:
            body = _LAWGPT_BODY_RE.fullmatch(match["body"].strip())["body"]
            return _split_article(match["law"], body)

    return _split_article(None, s)


class _Line:
    """An output line under construction: an article plus its continuations."""

    def __init__(self, first: Article) -> None:
        self.first = first
        self.texts = [first.text] if first.text else []
        self.seen = {_compact(text) for text in self.texts}

    def add(self, text: str) -> None:
        if _compact(text) not in self.seen:
            self.texts.append(text)
            self.seen.add(_compact(text))

    def render(self) -> str:
        return Article(self.first.law, self.first.article, " ".join(self.texts)).line()


def normalize_references(refs: Iterable[str]) -> list[str]:
    """Normalise a record's references into ``《法名》第X条 正文`` lines.

    * Each entry is parsed with :func:`parse_reference`; empty entries are
      dropped.
    * A paragraph with a law but no article number (a LAW-GPT continuation)
      is appended, after a single space, to the most recent line of the same
      law, so that each article ends up on one line. If the law has no line
      yet it starts its own line ``《法名》 正文``, which later paragraphs of
      that law then continue.
    * Entries with the same (law, article, text), compared after normalising
      article numerals and ignoring whitespace, appear once (the first one's
      text is kept); a repeated entry also
      makes its line the one later continuations of that law attach to, so a
      repeated block "article, paragraph, paragraph" collapses into one line.
      A continuation whose text (ignoring whitespace) already is part of the
      line it would join is dropped.
    * Lines keep first-seen order; identical rendered lines appear once.
    """
    if isinstance(refs, str):
        raise TypeError("refs must be a list of strings, not a single string")

    lines: list[_Line] = []
    by_key: dict[tuple[str | None, str | None, str], _Line] = {}
    last_by_law: dict[str, _Line] = {}

    for index, ref in enumerate(refs):
        if not isinstance(ref, str):
            raise TypeError(f"refs[{index}] must be a string, got {type(ref).__name__}")
        article = parse_reference(ref)
        if article is None:
            continue

        if article.law is not None and article.article is None:
            # A paragraph without an article number: continuation.
            if not article.text:
                continue
            target = last_by_law.get(article.law)
            if target is not None:
                target.add(article.text)
                continue

        key = (article.law, article.article, _compact(article.text))
        line = by_key.get(key)
        if line is None:
            if article.article is None and not article.text:
                continue
            line = by_key[key] = _Line(article)
            lines.append(line)
        if article.law is not None:
            last_by_law[article.law] = line

    result: list[str] = []
    for line in lines:
        rendered = line.render()
        if rendered not in result:
            result.append(rendered)
    return result
