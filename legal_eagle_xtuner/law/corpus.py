"""Folders of LawRefBook Markdown (and records' reference lists) → the articles of an
index, with counts that add up and every reject named.

* **Versions.** Files of one law (same normalised title) are ordered by version date;
  a file is superseded (its articles ``current=False``) when a later-dated file of the
  same law has an article of the same number. The parts of the Civil Code, one file
  each, share no article number and so are all current.
* **Charges.** The judicial interpretations that fix the charges (罪名) of the Criminal
  Law (files whose title has 罪名) name each charge beside its article, as
  ``盗窃罪（第264条）`` or in a table row ``| 第二百六十四条 | 盗窃罪 |``; those charges
  are attached to the Criminal Law's articles as extra index text.
* **Records** (``--from-records``): the references of DISC-Law-SFT Triplet and LAW-GPT
  92k records (``《民法典》第一千零七十九条：…``) add the articles the Markdown lacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from legal_eagle_xtuner.law.markdown import Article, LawFile, Reject, parse_law_file, to_int
from legal_eagle_xtuner.sources.citation_parse import normalize_law
from legal_eagle_xtuner.sources.references import parse_reference

__all__ = ["Corpus", "attach_charges", "load_corpus", "mark_current", "record_articles"]

CRIMINAL_LAW = "刑法"


@dataclass
class Corpus:
    """Articles plus the counts ``law index`` prints."""

    articles: list[Article] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    files: int = 0
    files_indexed: int = 0
    files_rejected: int = 0
    records_articles: int = 0
    charges: int = 0

    @property
    def laws(self) -> int:
        return len({a.law for a in self.articles})


def _markdown_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.md") if p.is_file())


def load_corpus(paths: Iterable[Path], progress: Callable[[Iterable], Iterable] | None = None,
                ) -> Corpus:
    """Parse every ``*.md`` under ``paths`` (files or folders). A folder with no Markdown
    file is a reject of its own; ``_index.md`` (a folder's name only) is skipped."""
    corpus = Corpus()
    files: list[tuple[Path, Path]] = []
    for root in paths:
        root = Path(root)
        if not root.exists():
            corpus.rejects.append(Reject(str(root), "no such file or directory"))
            continue
        found = [p for p in _markdown_files(root) if p.name != "_index.md"]
        if not found:
            corpus.rejects.append(Reject(str(root), "no Markdown (.md) law file in it"))
        files += [(root, p) for p in found]
    laws: list[LawFile] = []
    charge_files: list[Path] = []
    for root, path in (progress(files) if progress else files):
        corpus.files += 1
        kind = path.parent.name if path.parent != root else root.name
        parsed = parse_law_file(path, kind=kind)
        corpus.rejects += parsed.rejects
        if "罪名" in parsed.title:
            charge_files.append(path)
        if parsed.articles:
            corpus.files_indexed += 1
            laws.append(parsed)
        else:
            corpus.files_rejected += 1
    mark_current(laws)
    for law in laws:
        corpus.articles += law.articles
    corpus.charges = attach_charges(corpus.articles, charge_files)
    return corpus


def mark_current(laws: list[LawFile]) -> None:
    """Set ``current`` on every article (see the module documentation)."""
    by_law: dict[str, list[LawFile]] = {}
    for law in laws:
        by_law.setdefault(law.law, []).append(law)
    for files in by_law.values():
        files.sort(key=lambda f: f.version, reverse=True)
        for index, law in enumerate(files):
            numbers = {(a.number, a.suffix) for a in law.articles}
            newer = [f for f in files[:index] if f.version > law.version]
            superseded = any(numbers & {(a.number, a.suffix) for a in f.articles} for f in newer)
            for article in law.articles:
                article.current = not superseded


_CHARGE_PAREN_RE = re.compile(r"(?P<name>[\u4e00-\u9fff、，（）]{1,60}?罪)\s*（(?P<refs>第[^（）]*?条[^（）]*)）")
_CHARGE_ROW_RE = re.compile(
    r"^\|\s*第(?P<num>[零〇一二两三四五六七八九十百千万0-9]+)条(?:之(?P<sub>[一二三四五六七八九十]+))?"
    r"[^|]*\|\s*(?P<name>[^|（]+?罪)")
_REF_NUM_RE = re.compile(r"第(?P<num>[0-9]+|[零〇一二两三四五六七八九十百千万]+)条"
                         r"(?:之(?P<sub>[一二三四五六七八九十0-9]+))?")


def _charge_name(name: str) -> str:
    name = re.sub(r"^[0-9０-９]+[．.]", "", name.replace(" ", "")).strip("、，")
    return name


def _suffix(sub: str | None) -> str:
    if not sub:
        return ""
    import cn2an

    return f"之{cn2an.an2cn(str(to_int(sub)))}"


def attach_charges(articles: list[Article], files: list[Path]) -> int:
    """Attach the charge names in ``files`` to the current Criminal Law's articles;
    returns how many (charge, article) pairs were attached."""
    targets = {a.key: a for a in articles if a.law == CRIMINAL_LAW and a.current}
    attached = 0
    for path in files:
        try:
            source = Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        pairs: list[tuple[str, str, str | None]] = []
        for match in _CHARGE_PAREN_RE.finditer(source):
            for ref in _REF_NUM_RE.finditer(match["refs"]):
                pairs.append((_charge_name(match["name"]), ref["num"], ref["sub"]))
        for line in source.splitlines():
            row = _CHARGE_ROW_RE.match(line.strip())
            if row:
                pairs.append((_charge_name(row["name"]), row["num"], row["sub"]))
        for name, num, sub in pairs:
            try:
                key = (CRIMINAL_LAW, to_int(num), _suffix(sub))
            except ValueError:
                continue
            article = targets.get(key)
            if article is not None and name and name not in article.charges:
                article.charges.append(name)
                attached += 1
    return attached


def record_articles(records: Iterable[tuple[str, list]], known: set[tuple[str, int, str]],
                    ) -> tuple[list[Article], list[Reject]]:
    """Articles from records' reference lists that ``known`` lacks. ``records`` yields
    ``(where, references)``; a reference without law or article number is skipped."""
    found: dict[tuple[str, int, str], Article] = {}
    rejects: list[Reject] = []
    for where, refs in records:
        for ref in refs:
            if not isinstance(ref, str):
                rejects.append(Reject(where, f"reference is {type(ref).__name__}, not text"))
                continue
            parsed = parse_reference(ref)
            if parsed is None or parsed.law is None or parsed.article is None:
                continue
            match = _REF_NUM_RE.fullmatch(parsed.article)
            if match is None or not parsed.text:
                continue
            try:
                key = (normalize_law(parsed.law), to_int(match["num"]), _suffix(match["sub"]))
            except ValueError:
                rejects.append(Reject(where, f"cannot read the article number {parsed.article!r}"))
                continue
            if key in known or key in found:
                continue
            found[key] = Article(*key, parsed.text, title=parsed.law, source=where, kind="records")
    return list(found.values()), rejects
