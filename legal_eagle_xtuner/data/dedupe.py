"""Exact and normalised duplicate detection across files.

Two converted records are duplicates when their conversations' user and
assistant texts (all turns; the system prompt is ignored) are

* **exact** duplicates: identical after conversion (which already strips
  leading and trailing whitespace), or
* **normalised** duplicates: identical after :func:`normalize_text` — Unicode
  NFKC (full-width letters, digits and ``，！？：；（）`` become half-width), the
  Chinese punctuation NFKC leaves alone mapped to its ASCII counterpart
  (``。、“”‘’【】「」《》…``), all whitespace removed and case folded.

The first occurrence wins; later ones are reported with the location of the
one kept. Memory: one dict entry per distinct record (a 64-bit BLAKE2b digest
of the normalised text as key; 32 bits of the exact digest and the location
packed into one int as value), about 110 bytes, independent of record size.
"Exact" is decided on 32 bits among records whose 64-bit normalised digests
already agree, so a misreported kind needs a 1-in-4-billion coincidence.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

__all__ = ["Duplicate", "Deduper", "normalize_text", "conversation_texts"]

_PUNCT = str.maketrans(
    {
        "。": ".",
        "、": ",",
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "【": "[",
        "】": "]",
        "〔": "[",
        "〕": "]",
        "《": "<",
        "》": ">",
        "〈": "<",
        "〉": ">",
        "—": "-",
        "–": "-",
        "～": "~",
        "·": ".",
        "…": "...",
    }
)


def normalize_text(text: str) -> str:
    """``text`` with width, punctuation style, whitespace and case differences
    removed (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT)
    return "".join(text.split()).casefold()


def conversation_texts(record: dict) -> list[str]:
    """The user and assistant texts of a converted record, in turn order."""
    texts = []
    for turn in record.get("conversation", ()):
        texts.append(turn.get("input", ""))
        texts.append(turn.get("output", ""))
    return texts


def _digest(parts: list[str]) -> int:
    data = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


@dataclass
class Duplicate:
    """A record whose content was seen before."""

    kind: str
    """``"exact"`` or ``"normalised"``."""
    first: str
    """``FILE:LINE`` of the occurrence that is kept."""


class Deduper:
    """Remembers records seen; :meth:`check` says whether one is a duplicate."""

    def __init__(self) -> None:
        # normalised digest -> exact digest (32 bits) | path index (16) | line (rest),
        # packed into one int: ~110 bytes per distinct record instead of ~370
        # for a tuple.
        self._seen: dict[int, int] = {}
        self._paths: list[str] = []
        self._path_index: dict[str, int] = {}
        self.exact = 0
        """Exact duplicates found so far."""
        self.normalised = 0
        """Normalised (but not exact) duplicates found so far."""

    def check(self, record: dict, path: str, line: int) -> Duplicate | None:
        """Register ``record`` (converted, found at ``path:line``); return a
        :class:`Duplicate` if an equal record was registered before."""
        texts = conversation_texts(record)
        exact = _digest(texts)
        key = _digest([normalize_text(text) for text in texts])
        exact &= 0xFFFFFFFF
        seen = self._seen.get(key)
        if seen is not None:
            first_exact = seen & 0xFFFFFFFF
            path_index = (seen >> 32) & 0xFFFF
            first_line = seen >> 48
            first = f"{self._paths[path_index]}:{first_line}"
            if first_exact == exact:
                self.exact += 1
                return Duplicate("exact", first)
            self.normalised += 1
            return Duplicate("normalised", first)
        if path not in self._path_index:
            self._path_index[path] = len(self._paths)
            self._paths.append(path)
        path_index = self._path_index[path]
        if path_index > 0xFFFF:
            raise ValueError("more than 65536 input files")
        self._seen[key] = exact | (path_index << 32) | (line << 48)
        return None
