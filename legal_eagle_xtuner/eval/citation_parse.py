"""The citation parser moved to :mod:`legal_eagle_xtuner.sources.citation_parse` (the
``law`` stage uses it and may not import ``eval``); this path keeps working."""

from legal_eagle_xtuner.sources.citation_parse import (  # noqa: F401
    LAW_ALIASES,
    Citation,
    normalize_law,
    parse_citations,
    reference_citations,
)

__all__ = ["LAW_ALIASES", "Citation", "normalize_law", "parse_citations", "reference_citations"]
