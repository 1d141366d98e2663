"""The statutes a legal answer cites: ``(law, article)`` pairs parsed from its text
or from a record's reference list, for :mod:`legal_eagle_xtuner.eval.citations` and
:mod:`legal_eagle_xtuner.law` (lives in ``sources`` so that ``law`` can use it without ``eval``).

Parsing (:func:`parse_citations`)
---------------------------------

* An article is ``第X条``, X in Chinese numerals (``第一千零七十九条``,
  ``第一百零三条``) or Arabic digits, ASCII or full-width (``第12条``,
  ``第１２条``), optionally followed by ``之Y`` for articles inserted by an
  amendment (``第二百六十四条之一``; the 之一 of ``有下列情形之一`` or
  ``第三条之一般规定`` is not one). ``第X款`` / ``第X项`` after it (clause,
  item) are ignored: citations are compared at article level. ``第X款``,
  ``第三章``, ``第5页`` and the like are never articles.
* The law an article belongs to is

  - the title in 《》 directly before it, or the last 《》 title earlier in the
    text (``《民法典》第一千零七十九条、第一千零八十四条`` gives two
    citations);
  - a law name written without 《》 directly before ``第X条`` (DISC-Law-SFT
    reference lists write ``刑法第二百六十四条：……``), provided it ends in
    法/典/条例/规定/解释/办法/决定/规则/细则 (so ``详见第三条`` names no law)
    and is more than that ending alone. A lead-in such as 根据/依照/依据/按照
    in front of it is cut off (``依照刑法第二百六十四条`` → 刑法), and so is
    规定 used as a verb (``刑法规定第X条``); a bare name also becomes the
    law later articles refer to;
  - ``本法``/``该法``/``上述规定``… directly before ``第X条`` refer to the last
    law named.

  A 《》 title that is not a law (one not ending as above, nor in 修正案 or
  意见, e.g. ``《借款合同》``), and a contract or agreement named without
  《》 (``合同第五条``), own the articles after them: these are not statute
  citations and are not counted, and a non-law 《》 title also ends the scope
  of the law before it.
* **An article with no law anywhere before it in the text is not counted**:
  ``第三条`` alone cannot be matched against anything (a law named only
  *after* the article does not count either).
* Article ranges (``第一条至第五条``) give their two ends only.
* Citations come back in order of appearance, duplicates removed.

Representation (:class:`Citation`)
----------------------------------

``Citation(law, article, sub)`` with ``article`` an ``int`` and ``sub`` the
number after ``之`` (0 if none): ``第二百六十四条之一`` is
``Citation("刑法", 264, 1)``, a different article from ``Citation("刑法",
264)``. ``str()`` renders the official style with Chinese numerals,
``《刑法》第二百六十四条之一``.

Law names are normalised by :func:`normalize_law`: 《》 and whitespace removed,
half-width parentheses made full-width, a ``中华人民共和国`` prefix removed
(also inside an embedded 〈〉 title), a trailing version note such as
``（2020修正）`` removed, and three standard abbreviations expanded
(:data:`LAW_ALIASES`). Nothing else is merged: 婚姻法 and 民法典 stay
different laws.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import cn2an

from legal_eagle_xtuner.sources.references import (
    FULLWIDTH_DIGITS,
    LAW_NAME_END_RE,
    NUMERAL,
    article_to_chinese,
    parse_reference,
)

__all__ = ["LAW_ALIASES", "Citation", "normalize_law", "parse_citations", "reference_citations"]

# --- law names -------------------------------------------------------------

LAW_ALIASES: dict[str, str] = {
    "刑诉法": "刑事诉讼法",
    "民诉法": "民事诉讼法",
    "行诉法": "行政诉讼法",
}
"""Standard abbreviations, matched against the whole normalised name only."""

_PRC = "中华人民共和国"
_PRC_RE = re.compile(rf"(^|[〈<《]){_PRC}")
_VERSION_NOTE_RE = re.compile(r"（[^（）]*(?:修正|修订|修改|年)[^（）]*）$")
_WS_RE = re.compile(r"\s+")
_HALF_TO_FULL_PARENS = str.maketrans("()", "（）")


def normalize_law(name: str) -> str:
    """Normalise a law name so that the spellings of one law compare equal.

    ``"《中华人民共和国民法典》"``, ``"中华人民共和国 民法典"`` and
    ``"民法典"`` all give ``"民法典"``; ``"刑法（2020修正）"`` gives
    ``"刑法"``; ``"刑诉法"`` gives ``"刑事诉讼法"``.
    """
    name = _WS_RE.sub("", name).strip("《》").translate(_HALF_TO_FULL_PARENS)
    name = _PRC_RE.sub(r"\1", name)
    name = _VERSION_NOTE_RE.sub("", name)
    return LAW_ALIASES.get(name, name)


# What a law name may end with: the endings the reference parser accepts for
# bare names, plus, for titles in 《》 (where the name's start is certain),
# amendments (《刑法修正案（十一）》) and the courts' normative opinions (意见).
_SUFFIX_WORDS = frozenset(
    {"法", "法律", "法规", "典", "条例", "规定", "解释", "办法", "决定", "规则", "细则"}
)
_TITLE_EXTRA_END_RE = re.compile(r"(?:修正案|意见)(?:（[一二三四五六七八九十]+）)?$")
# Names that stand for the law named last.
_DEICTIC_RE = re.compile(
    r"(?:本|该|此|同|上述|前述|相关|有关)(?:法|法律|典|条例|规定|解释|办法|决定|规则|细则)"
)
# Documents whose articles are not statute articles.
_OTHER_DOCUMENT_RE = re.compile(r"(?:合同|协议|协议书|章程|合约)$")
# Words introducing a law name, cut off in front of a bare name: everything up
# to the last multi-character one, then single characters at the start.
_LEAD_IN_RE = re.compile(r".*(?:根据|依据|依照|按照|参照|违反|参见|详见|以及|我国)")
_LEAD_CHARS_RE = re.compile(r"^[依据按和及与或见即且并由]+")
# "刑法规定第X条": 规定 as a verb after a law name.
_VERB_SUFFIX_RE = re.compile(r"(?<=[法典例])规定$")


def _is_law_name(name: str, *, bracketed: bool = False) -> bool:
    if not name or name in _SUFFIX_WORDS:
        return False
    if LAW_NAME_END_RE.search(name):
        return True
    return bracketed and _TITLE_EXTRA_END_RE.search(name) is not None


# --- citations -------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Citation:
    """One statute article: ``Citation("刑法", 264, 1)`` is 《刑法》第二百六十四条之一."""

    law: str
    """Normalised law name (see :func:`normalize_law`), without 《》."""
    article: int
    """Article number, ``1079`` for 第一千零七十九条."""
    sub: int = 0
    """Number after 之 for articles inserted by amendments; 0 for none."""

    def __str__(self) -> str:
        number = f"第{self.article}条" + (f"之{self.sub}" if self.sub else "")
        return f"《{self.law}》{article_to_chinese(number)}"


def _to_int(numeral: str) -> int:
    """``"1079"``, ``"１０７９"`` or ``"一千零七十九"`` → 1079; ValueError if malformed."""
    numeral = numeral.translate(FULLWIDTH_DIGITS)
    if numeral.isdigit():
        return int(numeral)
    return int(cn2an.cn2an(numeral, "normal"))


_TOKEN_RE = re.compile(
    r"《(?P<title>[^《》\n]{1,100})》"
    rf"|第\s*(?P<num>{NUMERAL})\s*条(?:\s*之\s*(?P<sub>{NUMERAL})(?![0-9０-９零〇一二两三四五六七八九十百千万般些]))?"
)
_ARTICLE_PARTS_RE = re.compile(rf"第(?P<num>{NUMERAL})条(?:之(?P<sub>{NUMERAL}))?")
# The run of name characters directly before an article (optional space between).
_RUN_RE = re.compile(r"([^\s\W_]*)\s*$")


def _bare_name(gap: str) -> str:
    """The would-be law name at the end of *gap*, lead-ins removed."""
    run = _RUN_RE.search(gap)[1]
    start = run.find(_PRC)
    if start >= 0:
        return _VERB_SUFFIX_RE.sub("", run[start:])
    run = _LEAD_IN_RE.sub("", run, count=1)
    return _VERB_SUFFIX_RE.sub("", _LEAD_CHARS_RE.sub("", run))


def parse_citations(text: str) -> list[Citation]:
    """Statute citations in *text*, in order of appearance, without duplicates.

    See the module documentation for the rules. For example::

        >>> [str(c) for c in parse_citations(
        ...     "根据《中华人民共和国刑法》第264条和第二百六十七条第一款")]
        ['《刑法》第二百六十四条', '《刑法》第二百六十七条']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    found: dict[Citation, None] = {}
    current: str | None = None  # the law later articles refer to
    last_end = 0
    for match in _TOKEN_RE.finditer(text):
        gap = text[last_end : match.start()]
        last_end = match.end()
        if match["title"] is not None:
            title = normalize_law(match["title"])
            current = title if _is_law_name(title, bracketed=True) else None
            continue

        law = current
        name = _bare_name(gap)
        if name and not _DEICTIC_RE.fullmatch(name):
            if _OTHER_DOCUMENT_RE.search(name):
                continue
            if _is_law_name(name):
                law = current = normalize_law(name)
        if law is None:
            continue  # no law named before this article
        try:
            article = _to_int(match["num"])
            sub = _to_int(match["sub"]) if match["sub"] else 0
        except ValueError:
            continue  # malformed numeral such as 第十百条
        if article > 0:
            found.setdefault(Citation(law, article, sub))
    return list(found)


def reference_citations(refs: Iterable[str]) -> list[Citation]:
    """Gold citations from a record's reference list (DISC or LAW-GPT style).

    Each entry's leading ``law + article`` is read with
    :func:`~legal_eagle_xtuner.sources.references.parse_reference`, so articles that a
    statute text mentions in passing are not counted. LAW-GPT continuation
    paragraphs (a law but no article) add nothing; an entry where no law was
    recognised at its start is searched with :func:`parse_citations`.
    """
    found: dict[Citation, None] = {}
    for ref in refs:
        if not isinstance(ref, str):
            raise TypeError(f"reference entries must be strings, got {type(ref).__name__}")
        parsed = parse_reference(ref)
        if parsed is None:
            continue
        if parsed.law is None:
            for citation in parse_citations(ref):
                found.setdefault(citation)
            continue
        match = parsed.article and _ARTICLE_PARTS_RE.fullmatch(parsed.article)
        if not match:
            continue
        try:
            article = _to_int(match["num"])
            sub = _to_int(match["sub"]) if match["sub"] else 0
        except ValueError:
            continue
        law = normalize_law(parsed.law)
        if article > 0 and _is_law_name(law, bracketed=True):
            found.setdefault(Citation(law, article, sub))
    return list(found)
