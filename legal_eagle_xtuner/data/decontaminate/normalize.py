"""Normalise text for comparison, in bulk with numpy.

*Normalisation* (both sides): Unicode NFKC, ``str.casefold``, then only
letters and digits are kept (Unicode categories ``L*`` and ``N*``); whitespace,
punctuation, symbols and marks are dropped. Full-width/half-width,
``，`` vs ``,``, line breaks and spacing therefore never hide an overlap.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np


@functools.lru_cache(maxsize=None)
def _alnum_table() -> np.ndarray:
    """``table[code point]``: whether it is a letter or digit (category L* or N*).

    Built with the pattern ``[^\\W_]``, which for ``str`` is exactly
    ``str.isalnum`` (a test checks it against the categories of every code point)."""
    points = np.concatenate(
        [np.arange(0xD800, dtype="<u4"), np.arange(0xE000, 0x110000, dtype="<u4")]
    )
    text = points.tobytes().decode("utf-32-le")
    table = np.zeros(0x110000, dtype=bool)
    for run in re.finditer(r"[^\W_]+", text):
        table[points[run.start() : run.end()]] = True
    return table


@functools.lru_cache(maxsize=None)
def _bmp_replacements() -> np.ndarray:
    """``table[c]`` for BMP code points: the single character ``c`` decomposes
    to under NFKD (full-width forms, ideographic and other spaces, ①, small
    form variants, CJK compatibility ideographs), ``.`` for ``…`` and ``‥``,
    else ``c`` itself."""
    table = np.arange(0x10000, dtype="<u4")
    for point in range(0x10000):
        if 0xD800 <= point < 0xE000:
            continue
        decomposed = unicodedata.normalize("NFKD", chr(point))
        if len(decomposed) == 1:
            table[point] = ord(decomposed)
    table[[0x2025, 0x2026]] = 0x2E
    return table


def _normalize_batch(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Normalise ``texts``: their code points concatenated, and their lengths.

    Exactly NFKC, casefold, keep L*/N*, done in bulk with numpy. Shortcut: BMP
    characters whose compatibility decomposition is one character (full-width
    forms, ideographic space, ① ...) are first replaced by it. NFKC begins by
    decomposing every character, so its result is unchanged, and most Chinese
    text is then NFKC already, which :func:`unicodedata.is_normalized` confirms
    without normalising (about 5x faster). ``…`` and ``‥`` (``...``, ``..``)
    become one ``.``: ``.`` never composes with a neighbour, so NFKC keeps any
    run of dots as it is, and dots are dropped anyway. Texts are joined with
    ``"\\n"`` (their own line breaks become spaces), likewise a character NFKC
    never composes, produces or moves marks across, and dropped at the end.
    """
    joined = "\n".join(text.replace("\n", " ") for text in texts)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4").copy()
    bmp = codes < 0x10000
    codes[bmp] = _bmp_replacements()[codes[bmp]]
    pieces = codes.tobytes().decode("utf-32-le", "surrogatepass").split("\n")
    for number, piece in enumerate(pieces):
        if not unicodedata.is_normalized("NFKC", piece):
            pieces[number] = unicodedata.normalize("NFKC", piece)
    joined = "\n".join(pieces).casefold()
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    text_of = np.cumsum(codes == 0x0A)
    keep = _alnum_table()[codes]
    lengths = np.bincount(text_of[keep], minlength=len(texts)).astype(np.int64)
    return codes[keep], lengths[: len(texts)]


def normalize(text: str) -> str:
    """``text`` as compared: NFKC, casefolded, only letters and digits kept."""
    codes, _ = _normalize_batch([text])
    return codes.tobytes().decode("utf-32-le")
