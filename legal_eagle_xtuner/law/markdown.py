"""One LawRefBook Markdown file → its law and articles, or counted rejects.

The format (``lawrefbook/法律法规模版.md``): the first ``# `` line is the title, an
optional second ``# `` line a subtitle (the part of a law split by part, ``婚姻家庭编``),
then the dates (``2020年5月28日 …通过``) down to ``<!-- INFO END -->``; below it
``##``/``###`` headings (编/章/节) and paragraphs that begin ``第X条 `` (also ``第X条之一``).
A paragraph without ``第X条`` is a further 款 of the article before it. A file named
``NAME(2019-12-02).md`` is the version of that date.

Nothing here raises on bad input: a file that cannot be read, is empty, has no title
or no article is one :class:`Reject` with ``FILE:LINE: what is wrong``; an article line
whose number cannot be read is a reject of its own and the rest of the file is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import cn2an

from legal_eagle_xtuner.sources.citation_parse import normalize_law

__all__ = ["Article", "LawFile", "Reject", "parse_law_file", "parse_law_text", "to_int"]

_NUM = r"[0-9０-９]+|[零〇一二两三四五六七八九十百千万]+"
_ARTICLE_LINE_RE = re.compile(
    rf"^第\s*(?P<num>{_NUM})\s*条(?:之(?P<sub>{_NUM}))?(?:[\s\u3000]+(?P<text>.*)|$)")
_LOOKS_LIKE_ARTICLE_RE = re.compile(r"^第\S{1,12}?条[\s\u3000]")
_HEADING_RE = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<text>.*?)\s*$")
_COMMENT_RE = re.compile(r"<!--.*?-->")
_DATE_RE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_FILE_DATE_RE = re.compile(r"^(?P<name>.+?)\s*\((?P<date>\d{4}-\d{2}-\d{2})\)$")
INFO_END = "<!-- INFO END -->"


def to_int(numeral: str) -> int:
    """``"1079"``, ``"１０７９"`` or ``"一千零七十九"`` → 1079; ``ValueError`` if malformed."""
    numeral = numeral.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if numeral.isdigit():
        return int(numeral)
    return int(cn2an.cn2an(numeral, "normal"))


@dataclass
class Article:
    """One statute article, as the index stores it."""

    law: str
    """Normalised law name: ``民法典``, ``刑法`` (no 中华人民共和国, no 《》)."""
    number: int
    """Article number, ``1079`` for 第一千零七十九条."""
    suffix: str
    """``""``, or ``"之一"`` for 第一百三十三条之一 (articles inserted by amendments)."""
    text: str
    """The article's text, its 款 one a line."""
    title: str = ""
    """The law's full title (``中华人民共和国民法典``)."""
    part: str = ""
    """The subtitle of a law split by part (``婚姻家庭编``), else empty."""
    chapter: str = ""
    """The 编/章/节 headings above the article, joined by spaces."""
    version: str = ""
    """``YYYY-MM-DD``: the file's date, else the latest date in its header."""
    current: bool = True
    """False when a later version of the same law has an article of the same number."""
    source: str = ""
    """``FILE:LINE`` where the article starts."""
    charges: list[str] = field(default_factory=list)
    """Criminal Law only: the charges (罪名) the judicial interpretations give it."""
    kind: str = ""
    """The corpus folder the file is in (``民法典``, ``行政法规``, ``司法解释``…), or ``records``."""

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.law, self.number, self.suffix)

    def citation(self) -> str:
        """``《民法典》第一千零七十九条`` (official numerals)."""
        return f"《{self.law}》第{cn2an.an2cn(str(self.number))}条{self.suffix}"

    def to_json(self) -> dict:
        return {"law": self.law, "number": self.number, "suffix": self.suffix,
                "text": self.text, "version": self.version, "current": self.current,
                "title": self.title, "part": self.part, "chapter": self.chapter,
                "source": self.source, "charges": list(self.charges), "kind": self.kind}

    @classmethod
    def from_json(cls, value: dict) -> "Article":
        return cls(**value)


@dataclass(frozen=True)
class Reject:
    """Something that was not indexed: ``where`` is ``FILE`` or ``FILE:LINE``."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class LawFile:
    """What one file gave: its law (None if the file was rejected) and articles."""

    path: str
    law: str | None = None
    title: str = ""
    version: str = ""
    articles: list[Article] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def _iso(match: re.Match) -> str:
    year, month, day = (int(g) for g in match.groups())
    return f"{year:04d}-{month:02d}-{day:02d}"


def parse_law_file(path: Path, name: str | None = None, kind: str = "") -> LawFile:
    """Parse one file; ``name`` is how messages and ``source`` name it (default: ``path``),
    ``kind`` the folder it is filed under."""
    name = name or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return LawFile(name, rejects=[Reject(name, f"cannot read: {exc.strerror or exc}")])
    if not data.strip():
        return LawFile(name, rejects=[Reject(name, "empty file")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return LawFile(name, rejects=[Reject(f"{name}:{line}",
                                             "not UTF-8 text (a binary file?); not a law")])
    match = _FILE_DATE_RE.match(path.stem)
    parsed = parse_law_text(text, name, file_date=match["date"] if match else "")
    for article in parsed.articles:
        article.kind = kind
    return parsed


def parse_law_text(text: str, name: str, file_date: str = "") -> LawFile:
    """Parse the text of one LawRefBook file (see the module documentation)."""
    result = LawFile(name)
    lines = text.splitlines()
    titles: list[str] = []
    dates: list[str] = []
    body_start = 0
    has_info_end = INFO_END in text
    for number, line in enumerate(lines):
        stripped = line.strip()
        if has_info_end and stripped.startswith(INFO_END):
            body_start = number + 1
            break
        heading = _HEADING_RE.match(stripped)
        if heading and len(heading["hashes"]) == 1 and len(titles) < 2:
            titles.append(_COMMENT_RE.sub("", heading["text"]).strip())
            continue
        if not has_info_end and (heading or _LOOKS_LIKE_ARTICLE_RE.match(stripped)):
            body_start = number
            break
        dates += [_iso(m) for m in _DATE_RE.finditer(stripped)]
    if not titles or not titles[0]:
        result.rejects.append(Reject(f"{name}:1", "no '# ' title line; not a law"))
        return result
    result.title = titles[0]
    result.law = normalize_law(titles[0])
    part = titles[1] if len(titles) > 1 else ""
    result.version = file_date or (max(dates) if dates else "")

    headings: dict[int, str] = {}
    current: Article | None = None
    paragraphs: list[str] = []

    def finish() -> None:
        if current is not None:
            current.text = "\n".join(paragraphs)
            if current.text:
                result.articles.append(current)
            else:
                result.rejects.append(Reject(current.source, "article without text"))

    for number in range(body_start, len(lines)):
        line = _COMMENT_RE.sub("", lines[number]).strip()
        if not line:
            continue
        heading = _HEADING_RE.match(line)
        if heading:
            level = len(heading["hashes"])
            headings = {k: v for k, v in headings.items() if k < level}
            headings[level] = heading["text"]
            continue
        article = _ARTICLE_LINE_RE.match(line)
        if article is None and _LOOKS_LIKE_ARTICLE_RE.match(line):
            finish()
            current, paragraphs = None, []
            result.rejects.append(Reject(f"{name}:{number + 1}",
                                         f"cannot read the article number of {line[:20]!r}"))
            continue
        if article is None:
            if current is not None:  # a further 款 of the article before
                paragraphs.append(line)
            continue
        try:
            value = to_int(article["num"])
            suffix = f"之{cn2an.an2cn(str(to_int(article['sub'])))}" if article["sub"] else ""
        except ValueError:
            finish()
            current, paragraphs = None, []
            result.rejects.append(Reject(f"{name}:{number + 1}",
                                         f"cannot read the article number of {line[:20]!r}"))
            continue
        finish()
        current = Article(result.law, value, suffix, "", title=result.title, part=part,
                          chapter=" ".join(headings[k] for k in sorted(headings)),
                          version=result.version, source=f"{name}:{number + 1}")
        paragraphs = [article["text"].strip()] if article["text"] and article["text"].strip() \
            else []
    finish()
    if not result.articles and not result.rejects:
        result.rejects.append(Reject(name, "no article lines (第X条 ); not split into "
                                           "articles, not indexed"))
    return result
