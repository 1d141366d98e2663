"""The statute index: every article (all versions) for exact lookup, and BM25 (bm25s)
over the current ones for search. Saved as one folder, written atomically.

Layout of ``INDEX/``: ``meta.json`` (format, tokenizer, weights, counts), ``articles.jsonl``
(one article a line, all versions), ``docs.json`` (the article of each BM25 document) and
``bm25/`` (bm25s's own files). The folder is built beside its destination and renamed
into place, so a reader finds the old index, the new one, or none — never half of one.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from legal_eagle_xtuner.law.markdown import Article
from legal_eagle_xtuner.law.tokenize import tokenize
from legal_eagle_xtuner.sources.citation_parse import normalize_law, parse_citations

__all__ = ["DEFAULT_KIND_WEIGHTS", "FORMAT", "Hit", "LawIndexError", "LawIndex", "build_index",
           "load_index"]

FORMAT = 1
DEFAULT_KIND_WEIGHTS = {"民法典": 1.3, "刑法": 1.3, "司法解释": 0.6, "行政法规": 0.5,
                        "部门规章": 0.5, "案例": 0.3}
"""Score multipliers by corpus folder: the two codes answer most questions, a law answers
before a regulation or an interpretation, which still rank (measured in docs/law.md)."""
DEFAULT_ROUTES = [{"pattern": "罪|判刑|刑事|坐牢|判几年|量刑|拘役|有期徒刑|被告人|公诉",
                   "laws": {"刑法": 2.0}}]
"""A query that speaks of crime and punishment multiplies the Criminal Law's scores."""
DEFAULT_TOKENIZER = "bigram"
"""Measured (docs/law.md): bigrams retrieve as well as jieba words or both, and only they
index the whole corpus in under a minute on two cores."""
DEFAULT_SUPERSEDED_WEIGHT = 0.9
"""Score multiplier of an article of a superseded version: still found (old judgments
cite old numbers), after the current text when both match alike."""
DEFAULT_LAW_WEIGHT = 3
"""How many times an article's law name (and part, chapter, charges) enter its index text."""


_YEAR_BEFORE_ARTICLE_RE = re.compile(r"(?<=[法案典例定则释])[（(]?\d{4}\s*年(?:修正|修订|修改)?[）)]?"
                                     r"(?=第)")


_BARE_AMENDMENT_RE = re.compile(r"(?<![《\u4e00-\u9fff])((?:中华人民共和国)?(?:宪法|刑法)修正案"
                                r"(?:（[一二三四五六七八九十]+）)?)(?=第)")


@functools.lru_cache(maxsize=1)
def _query_terms() -> dict[str, str]:
    from legal_eagle_xtuner.resources import LAW_QUERY_TERMS

    return json.loads(LAW_QUERY_TERMS.read_text("utf-8"))["terms"]


def expand_query(query: str) -> str:
    """The query plus the statute terms of the everyday words it uses (孩子 → 子女, 房东 →
    出租人, 醉驾 → 醉酒 驾驶 机动车; ``resources/law_query_terms.json``)."""
    extra = [terms for word, terms in _query_terms().items() if word in query]
    return query + (" " + " ".join(extra) if extra else "")


class LawIndexError(ValueError):
    """An index that cannot be read: one line saying why."""


@dataclass
class Hit:
    """One article found for a query."""

    law: str
    number: int
    suffix: str
    text: str
    version: str
    current: bool
    score: float
    """BM25 score (after the folder weight); for a citation hit, its BM25 score or 0."""
    title: str = ""
    match: str = "bm25"
    """``"citation"``: named in the query and looked up exactly; ``"bm25"``: ranked."""
    article: Article | None = None

    @classmethod
    def of(cls, article: Article, score: float, match: str = "bm25") -> "Hit":
        return cls(article.law, article.number, article.suffix, article.text, article.version,
                   article.current, float(score), article.title, match, article)

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.law, self.number, self.suffix)

    def citation(self) -> str:
        return self.article.citation() if self.article else f"《{self.law}》第{self.number}条"

    def to_json(self) -> dict:
        return {"law": self.law, "number": self.number, "suffix": self.suffix,
                "text": self.text, "version": self.version, "current": self.current,
                "score": round(self.score, 4), "citation": self.citation(),
                "title": self.title, "match": self.match}


def index_head(article: Article) -> str:
    """The words that say where an article stands: law, part, chapter, charges."""
    return " ".join([article.law, article.part, article.chapter, *article.charges])


class LawIndex:
    """Articles by (law, number, suffix), and BM25 over the current ones."""

    def __init__(self, articles: list[Article], docs: list[int], bm25, meta: dict,
                 embeddings: np.ndarray | None = None):
        self.articles = articles
        self.docs = np.asarray(docs, dtype=np.int64)
        self.bm25 = bm25
        self.meta = meta
        self.tokenizer = meta["tokenizer"]
        self.embeddings = embeddings  # one unit row per document, with --embedding-model
        self._encoder = None
        self.set_weights(meta.get("kind_weights", {}), meta.get("superseded_weight", 1.0))
        doc_laws = np.array([articles[i].law for i in docs]) if docs else np.array([], str)
        self._routes = [(re.compile(route["pattern"]),
                         [(doc_laws == law, weight) for law, weight in route["laws"].items()])
                        for route in meta.get("routes", [])]
        self._by_key: dict[tuple[str, int, str], list[Article]] = {}
        for article in articles:
            self._by_key.setdefault(article.key, []).append(article)
        for versions in self._by_key.values():
            versions.sort(key=lambda a: (a.current, a.version), reverse=True)
        self.laws = sorted({a.law for a in articles}, key=len, reverse=True)
        self._law_set = set(self.laws)
        self._vocab = bm25.vocab_dict if bm25 is not None else {}

    def set_weights(self, kind_weights: dict[str, float], superseded_weight: float) -> None:
        """Score multipliers: by corpus folder, and for articles of superseded versions."""
        self.meta["kind_weights"], self.meta["superseded_weight"] = kind_weights, superseded_weight
        self._prior = np.array([kind_weights.get(self.articles[i].kind, 1.0)
                                * (1.0 if self.articles[i].current else superseded_weight)
                                for i in self.docs], np.float32)

    # --- exact lookup ---------------------------------------------------------------
    def resolve_law(self, name: str) -> str | None:
        """The indexed law a name means: its normalised form (``中华人民共和国民法典`` →
        ``民法典``), else the longest indexed law it ends with (LawBench writes
        ``民法商法农民专业合作社法`` for 农民专业合作社法), else None."""
        law = normalize_law(name)
        if law in self._law_set:
            return law
        for known in self.laws:  # longest first
            if len(known) >= 2 and law.endswith(known):
                return known
        return None

    def versions(self, law: str, number: int, suffix: str = "") -> list[Article]:
        """Every indexed version of an article, the current one first."""
        resolved = self.resolve_law(law)
        return list(self._by_key.get((resolved, number, suffix), [])) if resolved else []

    def lookup(self, law: str, number: int, suffix: str = "") -> Article | None:
        """The article (its current version if there is one), or None."""
        found = self.versions(law, number, suffix)
        return found[0] if found else None

    def cited(self, text: str) -> list[Article]:
        """The articles a text cites that the index has (``《民法典》第1079条``…)."""
        found = []
        # A year between the law and the article names the version (宪法修正案2004年第二十三条,
        # 刑法（2020年修正）第X条); the parser wants the name right before 第X条.
        text = _YEAR_BEFORE_ARTICLE_RE.sub("", text)
        text = _BARE_AMENDMENT_RE.sub(r"《\1》", text)  # the parser takes 修正案 only in 《》
        for citation in parse_citations(text):
            suffix = f"之{_cn(citation.sub)}" if citation.sub else ""
            article = self.lookup(citation.law, citation.article, suffix)
            if article is not None and article not in found:
                found.append(article)
        return found

    # --- search ---------------------------------------------------------------------
    def scores(self, query: str, laws: Iterable[str] | None = None,
               retriever: str | None = None) -> np.ndarray:
        """The score of every document for ``query``: ``bm25`` (times the weights),
        ``dense`` (cosine) or ``hybrid`` (both rankings fused; :mod:`.dense`). The
        default is hybrid for an index with embeddings, else BM25."""
        retriever = retriever or ("hybrid" if self.embeddings is not None else "bm25")
        if retriever not in ("bm25", "dense", "hybrid"):
            raise ValueError(f"unknown retriever {retriever!r}; one of bm25, dense, hybrid")
        if retriever != "bm25" and self.embeddings is None:
            raise LawIndexError(f"retriever {retriever}: this index has no embeddings "
                                "(build it with --embedding-model DIR)")
        scores = self._bm25_scores(query) if retriever != "dense" else None
        if retriever != "bm25":
            dense = self._dense_scores(query)
            if retriever == "dense":
                scores = dense
            else:
                from legal_eagle_xtuner.law.dense import fuse

                n = min(100, len(dense))
                rankings = [np.argsort(-dense, kind="stable")[:n],
                            np.argsort(-scores, kind="stable")[:int((scores > 0).sum())][:n]]
                scores = fuse(rankings, len(dense))
        if laws is not None:
            wanted = {self.resolve_law(name) or name for name in laws}
            mask = np.array([self.articles[i].law in wanted for i in self.docs])
            scores = np.where(mask, scores, 0.0)
        return scores

    def _dense_scores(self, query: str) -> np.ndarray:
        if self._encoder is None:
            from legal_eagle_xtuner.law.dense import Encoder

            self._encoder = Encoder(self.meta["embedding_model"])
        return (self.embeddings @ self._encoder.encode([query])[0]).astype(np.float32)

    def _bm25_scores(self, query: str) -> np.ndarray:
        if self.meta.get("expand_queries"):
            query = expand_query(query)
        tokens = [t for t in tokenize(query, self.tokenizer) if t in self._vocab]
        if not tokens or self.bm25 is None:
            return np.zeros(len(self.docs), np.float32)
        scores = self.bm25.get_scores(tokens) * self._prior
        for pattern, boosts in self._routes:
            if pattern.search(query):
                for mask, weight in boosts:
                    scores = np.where(mask, scores * weight, scores)
        return scores

    def search(self, query: str, k: int = 5, laws: Iterable[str] | None = None,
               retriever: str | None = None) -> list[Hit]:
        """The ``k`` best articles for ``query``: articles it cites explicitly first
        (looked up exactly), then by score (:meth:`scores`), one hit per (law, number,
        suffix)."""
        if k <= 0:
            return []
        hits = [Hit.of(article, 0.0, "citation") for article in self.cited(query)]
        seen = {hit.key for hit in hits}
        scores = self.scores(query, laws, retriever)
        want = min(len(scores), k * 4 + len(hits))
        if want:
            top = np.argpartition(-scores, want - 1)[:want]
            top = top[np.argsort(-scores[top], kind="stable")]
            for doc in top:
                article = self.articles[self.docs[doc]]
                if scores[doc] <= 0:
                    break
                if article.key in seen:
                    for hit in hits:
                        if hit.key == article.key and hit.match == "citation":
                            hit.score = float(scores[doc])
                    continue
                seen.add(article.key)
                hits.append(Hit.of(article, scores[doc]))
        return hits[:k]

    # --- files ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the index folder atomically (see the module documentation)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            tmp.mkdir()
            with open(tmp / "articles.jsonl", "w", encoding="utf-8") as out:
                for article in self.articles:
                    out.write(json.dumps(article.to_json(), ensure_ascii=False) + "\n")
            (tmp / "docs.json").write_text(json.dumps(self.docs.tolist()), "utf-8")
            if self.embeddings is not None:
                np.save(tmp / "embeddings.npy", self.embeddings)
            self.bm25.save(str(tmp / "bm25"), show_progress=False)
            (tmp / "meta.json").write_text(json.dumps(self.meta, ensure_ascii=False, indent=1),
                                           "utf-8")
            old = None
            if path.exists():
                if not (path / "meta.json").is_file():
                    raise LawIndexError(f"{path}: exists and is not an index; not overwritten")
                old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _cn(number: int) -> str:
    import cn2an

    return cn2an.an2cn(str(number))


def build_index(articles: list[Article], tokenizer: str = DEFAULT_TOKENIZER,
                law_weight: int = DEFAULT_LAW_WEIGHT,
                kind_weights: dict[str, float] | None = None,
                superseded_weight: float = DEFAULT_SUPERSEDED_WEIGHT,
                routes: list[dict] | None = None,
                expand_queries: bool = True,
                embedding_model: str | None = None, device: str = "cpu",
                embed_progress: Callable[[Iterable], Iterable] | None = None,
                map_fn: Callable[[Callable, list], list] | None = None,
                counts: dict | None = None) -> LawIndex:
    """BM25 over the articles (with ``superseded_weight`` 0, over the current ones only;
    all versions stay for lookup). ``map_fn(tokenizer, texts)`` may spread the
    tokenisation over processes (default: this one)."""
    import bm25s
    from bm25s.tokenization import Tokenized

    docs = [i for i, article in enumerate(articles) if article.current or superseded_weight > 0]
    heads = sorted({index_head(articles[i]) for i in docs})
    run = map_fn or _map_serial
    head_tokens = dict(zip(heads, run(tokenizer, heads)))
    text_tokens = run(tokenizer, [articles[i].text for i in docs])
    # The head enters law_weight times: a question naming the law or the charge finds it.
    tokens = [head_tokens[index_head(articles[i])] * law_weight + text
              for i, text in zip(docs, text_tokens)]
    # Term ids made here, one dict lookup a term: bm25s's own conversion of string lists
    # takes twice as long on the whole corpus.
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(term, len(vocab)) for term in doc] for doc in tokens]
    del tokens
    bm25 = bm25s.BM25()
    bm25.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)
    meta = {"format": FORMAT, "tokenizer": tokenizer, "law_weight": law_weight,
            "kind_weights": DEFAULT_KIND_WEIGHTS if kind_weights is None else kind_weights,
            "superseded_weight": superseded_weight, "expand_queries": expand_queries,
            "routes": DEFAULT_ROUTES if routes is None else routes,
            "built": time.strftime("%Y-%m-%dT%H:%M:%S"), "counts": counts or {},
            "articles": len(articles), "documents": len(docs)}
    embeddings = None
    if embedding_model is not None:
        from legal_eagle_xtuner.law.dense import Encoder

        encoder = Encoder(embedding_model, device)
        embeddings = encoder.encode([index_head(articles[i]) + "\n" + articles[i].text
                                     for i in docs], progress=embed_progress)
        meta["embedding_model"] = str(Path(embedding_model).resolve())
    return LawIndex(articles, docs, bm25, meta, embeddings)


def _map_serial(tokenizer: str, texts: list[str]) -> list[list[str]]:
    return [tokenize(text, tokenizer) for text in texts]


def load_index(path: str | os.PathLike) -> LawIndex:
    """Read an index folder written by ``legal-eagle law index``; :class:`LawIndexError`
    (one line) when it is missing, incomplete or of another format."""
    import bm25s

    path = Path(path)
    meta_file = path / "meta.json"
    if not path.is_dir():
        raise LawIndexError(f"{path}: no such index folder (build one with legal-eagle law index)")
    if not meta_file.is_file():
        raise LawIndexError(f"{path}: not a law index (no meta.json)")
    try:
        meta = json.loads(meta_file.read_text("utf-8"))
        if meta.get("format") != FORMAT:
            raise LawIndexError(f"{path}: index format {meta.get('format')!r}, this version "
                              f"reads {FORMAT}; rebuild it with legal-eagle law index")
        articles = []
        with open(path / "articles.jsonl", encoding="utf-8") as lines:
            for line in lines:
                articles.append(Article.from_json(json.loads(line)))
        docs = json.loads((path / "docs.json").read_text("utf-8"))
        bm25 = bm25s.BM25.load(str(path / "bm25"))
        embeddings = np.load(path / "embeddings.npy") if "embedding_model" in meta else None
    except LawIndexError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LawIndexError(f"{path}: damaged index ({type(exc).__name__}: {exc})") from None
    return LawIndex(articles, docs, bm25, meta, embeddings)
