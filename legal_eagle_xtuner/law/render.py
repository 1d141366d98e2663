"""Articles into the user turn, exactly as training renders a record's references.

Training (``sources.convert``) normalises a record's reference strings with
``sources.references.normalize_references`` and builds the user turn with
``sources.base.user_turn``; here retrieved articles are written as the reference
strings DISC-Law-SFT Triplet records carry (``《民法典》第一千零七十九条：正文``, the
款 run together as those records write them) and go through the same two functions.
So a prompt with retrieved articles is a training prompt::

    参考法条：
    《民法典》第一千零七十九条 夫妻一方要求离婚的，……

    <question>
"""

from __future__ import annotations

from typing import Iterable, Union

from legal_eagle_xtuner.law.index import Hit
from legal_eagle_xtuner.law.markdown import Article
from legal_eagle_xtuner.sources.base import reference_block, user_turn
from legal_eagle_xtuner.sources.references import normalize_references

__all__ = ["prompt_with_references", "reference_lines", "reference_string",
           "render_references"]

Item = Union[Article, Hit]


def reference_string(item: Item) -> str:
    """The reference as a DISC-Law-SFT Triplet record writes it."""
    return f"{item.citation()}：{''.join(item.text.splitlines())}"


def reference_lines(items: Iterable[Item]) -> list[str]:
    """The normalised ``《法名》第X条 正文`` lines training puts under ``参考法条：``."""
    return normalize_references([reference_string(item) for item in items])


def render_references(items: Iterable[Item]) -> str:
    """The ``参考法条：`` block of these articles (or hits); empty string for none."""
    lines = reference_lines(items)
    return reference_block(lines) if lines else ""


def prompt_with_references(question: str, hits: Iterable[Item]) -> str:
    """The whole user turn: the block, a blank line and the question (stripped, as
    training strips it); the question alone when there are no articles."""
    return user_turn(question.strip(), reference_lines(hits))
