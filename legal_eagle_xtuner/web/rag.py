"""``legal-eagle web --rag INDEX``: the articles retrieved for a question go into both
prompts exactly as training renders ``参考法条：`` (``law.prompt_with_references``) and
are shown beside the answers; every article an answer cites is marked found / no such
article / superseded against the same index (``law.check_citations``)."""

from __future__ import annotations

from dataclasses import dataclass

from legal_eagle_xtuner.law import (check_citations, load_index, prompt_with_references,
                                    render_references)

__all__ = ["MARKS", "Retrieval", "Retrieved"]

MARKS = {"found": "✓ found", "no such article": "✗ no such article",
         "superseded": "⚠ superseded"}


@dataclass
class Retrieved:
    """What one question retrieved."""

    user: str
    """The user turn both models receive: the 参考法条 block, a blank line, the question."""
    block: str
    """The 参考法条 block alone ("" when nothing was found)."""
    citations: list[str]
    """The retrieved articles' citations (``《民法典》第一千零七十九条``)."""


class Retrieval:
    """A loaded statute index (``LawIndexError``, one line, when it cannot be read)."""

    def __init__(self, path, k: int = 3):
        self.path, self.k = str(path), k
        self.index = load_index(path)

    def retrieve(self, question: str) -> Retrieved:
        hits = self.index.search(question, self.k)
        return Retrieved(prompt_with_references(question, hits), render_references(hits),
                         [hit.citation() for hit in hits])

    def check(self, answer: str) -> str:
        """The articles ``answer`` cites, one Markdown line each with its mark."""
        checks = check_citations(answer, self.index)
        if not checks:
            return "Cites no article."
        lines = []
        for c in checks:
            version = f" ({c.version})" if c.version else ""
            unknown = "" if c.law_indexed else ", a law the index does not hold"
            lines.append(f"- {c.citation}: {MARKS[c.status]}{version}{unknown}")
        return "Cited articles:\n" + "\n".join(lines)


def references_markdown(retrieved: Retrieved | None) -> str:
    if retrieved is None:
        return ""
    if not retrieved.block:
        return "**参考法条**: nothing retrieved for this question."
    heading, *lines = retrieved.block.splitlines()
    return f"**{heading}**\n\n" + "\n\n".join(line for line in lines if line.strip())
