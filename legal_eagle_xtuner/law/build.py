"""``legal-eagle law index``'s work: folders (and record files) → a saved index, with
the tokenisation spread over processes and the counts it prints."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable

from legal_eagle_xtuner.law.corpus import Corpus, load_corpus, record_articles
from legal_eagle_xtuner.law.index import DEFAULT_TOKENIZER, LawIndex, build_index
from legal_eagle_xtuner.law.markdown import Reject
from legal_eagle_xtuner.law.tokenize import tokenize

__all__ = ["Built", "build", "default_jobs"]


@dataclass
class Built:
    index: LawIndex
    corpus: Corpus
    seconds: float


def default_jobs() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def _tokenize_chunk(args: tuple[str, list[str]]) -> list[list[str]]:
    tokenizer, texts = args
    return [tokenize(text, tokenizer) for text in texts]


def _parallel(jobs: int) -> Callable[[str, list[str]], list[list[str]]]:
    def run(tokenizer: str, texts: list[str]) -> list[list[str]]:
        # Bigrams are cheaper to make than to send between processes: only jieba spreads.
        if jobs <= 1 or len(texts) < 2000 or tokenizer == "bigram":
            return _tokenize_chunk((tokenizer, texts))
        tokenize("预热", tokenizer)  # load jieba's dictionary once, before the fork
        size = (len(texts) + jobs * 4 - 1) // (jobs * 4)
        chunks = [(tokenizer, texts[i:i + size]) for i in range(0, len(texts), size)]
        with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
            return [tokens for part in pool.map(_tokenize_chunk, chunks) for tokens in part]
    return run


def _record_refs(files: Iterable[Path], rejects: list[Reject]):
    from legal_eagle_xtuner.data.encoding import FileFormatError
    from legal_eagle_xtuner.data.records import Problem, iter_records

    for path in files:
        try:
            for item in iter_records(path):
                if isinstance(item, Problem):
                    rejects.append(Reject(f"{item.path}:{item.line}", item.message))
                    continue
                refs = item.value.get("reference") if isinstance(item.value, dict) else None
                if isinstance(refs, list):
                    yield f"{item.path}:{item.line}", refs
        except (OSError, FileFormatError) as exc:
            message = str(exc) if isinstance(exc, FileFormatError) else f"{path}: {exc.strerror}"
            rejects.append(Reject(*message.split(": ", 1)))


def build(paths: list[Path], out: Path | None, tokenizer: str = DEFAULT_TOKENIZER,
          records: list[Path] = (), jobs: int | None = None,
          progress: Callable[[Iterable], Iterable] | None = None,
          embedding_model: str | None = None, device: str = "cpu",
          embed_progress: Callable[[Iterable], Iterable] | None = None) -> Built:
    """Parse, index and (with ``out``) save; the index is built even when some files are
    rejected, and :attr:`Built.corpus` holds the counts and rejects."""
    start = time.perf_counter()
    corpus = load_corpus(paths, progress=progress)
    if records:
        known = {a.key for a in corpus.articles}
        extra, rejects = record_articles(_record_refs(records, corpus.rejects), known)
        corpus.articles += extra
        corpus.rejects += rejects
        corpus.records_articles = len(extra)
    counts = {"files": corpus.files, "files_indexed": corpus.files_indexed,
              "files_rejected": corpus.files_rejected, "laws": corpus.laws,
              "articles": len(corpus.articles), "rejects": len(corpus.rejects),
              "charges": corpus.charges, "records_articles": corpus.records_articles}
    index = build_index(corpus.articles, tokenizer, map_fn=_parallel(jobs or default_jobs()),
                        counts=counts, embedding_model=embedding_model, device=device,
                        embed_progress=embed_progress) if corpus.articles else None
    if index is not None and out is not None:
        index.save(out)
    return Built(index, corpus, time.perf_counter() - start)
