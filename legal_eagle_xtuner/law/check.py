"""Every article an answer cites, checked against the statute index.

Citations are parsed as the evaluation parses them
(:func:`legal_eagle_xtuner.sources.citation_parse.parse_citations`: a law named before
the article, 《》 or not, ``第X条之Y``). Each gets a status:

* ``found``: the index has the article in a current version;
* ``superseded``: only in versions a later one replaced (an answer citing the 2018
  text of a law amended in 2022);
* ``no such article``: the index has no such article — an invented number, or a law
  the index does not hold (``law_indexed`` tells which).

Where the answer quotes the article — text in “…” or after a colon right after the
citation — ``quote_match`` says whether the quote (punctuation and spaces ignored) is
part of the article's text; ``None`` when there is no quote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cn2an

from legal_eagle_xtuner.law.index import LawIndex
from legal_eagle_xtuner.law.markdown import to_int
from legal_eagle_xtuner.sources.citation_parse import parse_citations

__all__ = ["STATUSES", "CitationCheck", "check_citations"]

STATUSES = ("found", "no such article", "superseded")

_MENTION_RE = re.compile(
    r"第\s*(?P<num>[0-9０-９]+|[零〇一二两三四五六七八九十百千万]+)\s*条"
    r"(?:之(?P<sub>[0-9]+|[一二三四五六七八九十]+))?")
_QUOTE_AFTER_RE = re.compile(
    r"^(?:第[^，。；：:“]{1,12}?[款项])*\s*(?:的)?(?:规定)?\s*(?:[:：]\s*)?“(?P<quoted>[^”]{4,})”"
    r"|^(?:第[^，。；：:“]{1,12}?[款项])*\s*(?:规定)?\s*[:：]\s*(?P<colon>[^“\n]{4,}?)(?:。|\n|$)")
_NOT_TEXT_RE = re.compile(r"[\s\W_]+")


@dataclass
class CitationCheck:
    """One cited article and what the index says of it."""

    law: str
    number: int
    suffix: str
    status: str
    """One of :data:`STATUSES`."""
    citation: str
    """``《民法典》第一千零七十九条``."""
    law_indexed: bool
    """Whether the index holds the law at all."""
    version: str = ""
    """The version found (the current one, or the newest superseded one)."""
    quote: str | None = None
    quote_match: bool | None = None

    def to_json(self) -> dict:
        return {"law": self.law, "number": self.number, "suffix": self.suffix,
                "status": self.status, "citation": self.citation,
                "law_indexed": self.law_indexed, "version": self.version,
                "quote": self.quote, "quote_match": self.quote_match}


def _compact(text: str) -> str:
    return _NOT_TEXT_RE.sub("", text)


def _quotes(answer: str) -> dict[tuple[int, int], str]:
    """The first quote after each mention of an article number, by (number, sub)."""
    found: dict[tuple[int, int], str] = {}
    for match in _MENTION_RE.finditer(answer):
        try:
            key = (to_int(match["num"]), to_int(match["sub"]) if match["sub"] else 0)
        except ValueError:
            continue
        after = _QUOTE_AFTER_RE.match(answer[match.end():match.end() + 600])
        if after and key not in found:
            found[key] = (after["quoted"] or after["colon"]).strip()
    return found


def check_citations(answer: str, index: LawIndex) -> list[CitationCheck]:
    """Check every article ``answer`` cites (see the module documentation)."""
    quotes = _quotes(answer)
    checks = []
    for citation in parse_citations(answer):
        suffix = f"之{cn2an.an2cn(str(citation.sub))}" if citation.sub else ""
        versions = index.versions(citation.law, citation.article, suffix)
        law = index.resolve_law(citation.law)
        if not versions:
            status, version = "no such article", ""
        elif versions[0].current:
            status, version = "found", versions[0].version
        else:
            status, version = "superseded", versions[0].version
        quote = quotes.get((citation.article, citation.sub))
        match = None
        if quote is not None and versions:
            match = _compact(quote) in _compact(versions[0].text)
        checks.append(CitationCheck(law or citation.law, citation.article, suffix, status,
                                    str(citation), law is not None, version, quote, match))
    return checks
