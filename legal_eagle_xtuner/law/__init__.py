"""The law at hand: a statute index built from LawRefBook Markdown (``corpus``,
``markdown``), exact lookup and BM25 search over it (``index``, ``tokenize``), retrieved
articles rendered into the user turn exactly as training renders ``参考法条：``
(``render``), and the articles an answer cites checked against it (``check``); optional
dense and hybrid search with a local encoder (``dense``).

Public API (stable; the web UI and ``eval`` use it)::

    from legal_eagle_xtuner.law import (load_index, LawIndex, Hit, Article,
        render_references, prompt_with_references, check_citations, CitationCheck)

Imports ``sources`` (reference rendering, the citation parser), ``data`` (reading
records) and ``resources``; never ``eval``, ``train`` or ``cli``.
"""

from legal_eagle_xtuner.law.check import STATUSES, CitationCheck, check_citations
from legal_eagle_xtuner.law.index import Hit, LawIndex, LawIndexError, build_index, load_index
from legal_eagle_xtuner.law.markdown import Article
from legal_eagle_xtuner.law.render import prompt_with_references, render_references

__all__ = ["Article", "CitationCheck", "Hit", "LawIndex", "LawIndexError", "STATUSES",
           "build_index", "check_citations", "load_index", "prompt_with_references",
           "render_references"]
