"""Stream records from users' JSONL / JSON-array corpora in bounded memory.

:func:`iter_records` reads one file and yields, in file order, a :class:`Record`
for every item that parses and a :class:`Problem` (``FILE:LINE: message``) for
every one that does not. It never loads the whole file: JSONL is read line by
line (a line may be many MB long), a JSON array item by item with
:meth:`json.JSONDecoder.raw_decode` over a sliding buffer, so memory stays at
about one item plus one chunk (:data:`CHUNK_BYTES`) even for files of several GB.
Only a failure of the whole file raises :class:`FileFormatError`.

Format: after an optional BOM and leading whitespace, a file whose first
character is ``[`` is a JSON array; anything else is JSONL. An empty or
whitespace-only file yields nothing.

Encoding: see :mod:`legal_eagle_xtuner.data.encoding` (UTF-8 with or without
BOM, or GB18030 / GBK / GB2312; anything else is a :class:`FileFormatError`).

Message formats (each prefixed with ``FILE:LINE: ``):

* JSONL, a bad line: ``invalid JSON: <json error> (column C)``
* JSONL, last line without newline that is cut off:
  ``truncated last line (the file ends inside a record): <json error> (column C)``
* array, bad syntax: ``invalid JSON: <json error> (column C); the rest of the array is not read``
* array, EOF before ``]``: ``truncated JSON array: missing closing ']'`` (at the last line)
* array, EOF inside an item: ``truncated JSON array: item N (line L) is cut off and the closing ']' is missing``
* array, text after ``]``: ``invalid JSON: extra data after the closing ']' (column C)``
* too deeply nested value: ``invalid JSON: nested too deeply`` (plus the array suffix)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import chain
from typing import Iterable, Iterator, Union

from legal_eagle_xtuner.data.encoding import CHUNK_BYTES, FileFormatError, _text_chunks, detect_encoding

__all__ = [
    "CHUNK_BYTES",
    "detect_format",
    "FileFormatError",
    "Problem",
    "Record",
    "detect_encoding",
    "iter_records",
]

# CHUNK_BYTES (from encoding) is the read size of iter_records and detect_format,
# looked up here at each call, so setting records.CHUNK_BYTES changes it;
# detect_encoding reads with legal_eagle_xtuner.data.encoding.CHUNK_BYTES.
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
_REST_NOT_READ = "; the rest of the array is not read"


@dataclass
class Record:
    """One successfully parsed item."""

    path: str
    """The file as given."""
    line: int
    """JSONL: 1-based physical line; JSON array: 1-based line where the item starts."""
    index: int
    """1-based position in the file (JSONL: among non-blank lines; array: element number)."""
    value: object
    """The parsed JSON value; may be a non-dict, callers decide."""


@dataclass
class Problem:
    """One item that could not be read; ``str()`` gives ``FILE:LINE: message``."""

    path: str
    """The file as given."""
    line: int
    """1-based line the problem is on."""
    message: str
    """What is wrong."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def detect_format(path, *, encoding: str | None = None) -> str:
    """``"array"`` (first non-blank character ``[``), ``"jsonl"`` or
    ``"empty"`` for ``path``; raises :class:`FileFormatError` like
    :func:`iter_records`."""
    path = str(path)
    if encoding is None:
        encoding = detect_encoding(path)
    for text in _text_chunks(path, encoding, size=CHUNK_BYTES):
        stripped = text.lstrip()
        if stripped:
            return "array" if stripped[0] == "[" else "jsonl"
    return "empty"


def iter_records(
    path, *, encoding: str | None = None, on_bytes=None
) -> Iterator[Union[Record, Problem]]:
    """Yield a :class:`Record` or :class:`Problem` per item of the JSONL or
    JSON-array file ``path``, in file order. ``encoding`` defaults to
    :func:`detect_encoding`. Raises :class:`FileFormatError` (while iterating)
    when the whole file cannot be read. ``on_bytes(n)``, if given, is called
    for every chunk of ``n`` bytes read while yielding (not while detecting
    the encoding), e.g. to drive a progress bar."""
    path = str(path)
    if encoding is None:
        encoding = detect_encoding(path)
    chunks = _text_chunks(path, encoding, on_bytes, CHUNK_BYTES)
    head = []  # chunks up to the first non-whitespace character
    first = ""
    for text in chunks:
        head.append(text)
        stripped = text.lstrip()
        if stripped:
            first = stripped[0]
            break
    if not first:
        return
    chunks = chain(head, chunks)
    if first == "[":
        yield from _ArrayReader(path, chunks).records()
    else:
        yield from _iter_jsonl(path, chunks)



# -- JSONL --------------------------------------------------------------------


def _lines(chunks: Iterable[str]) -> Iterator[tuple[int, str, bool]]:
    """(line number, text without "\\n", ended by a newline) for each line."""
    parts: list[str] = []
    lineno = 1
    for chunk in chunks:
        start = 0
        while True:
            nl = chunk.find("\n", start)
            if nl < 0:
                if start < len(chunk):
                    parts.append(chunk[start:])
                break
            parts.append(chunk[start:nl])
            yield lineno, "".join(parts), True
            parts = []
            lineno += 1
            start = nl + 1
    if parts:
        yield lineno, "".join(parts), False


def _looks_cut_off(text: str, e: json.JSONDecodeError) -> bool:
    """Whether ``e`` is what parsing a prefix of valid JSON would raise."""
    if e.msg.startswith("Unterminated string"):
        return True
    rest = text[e.pos :].rstrip()
    if not rest:
        return True
    return e.msg == "Expecting value" and any(lit.startswith(rest) for lit in _LITERALS)


def _iter_jsonl(path: str, chunks: Iterable[str]) -> Iterator[Union[Record, Problem]]:
    index = 0
    for lineno, text, terminated in _lines(chunks):
        if text.endswith("\r"):
            text = text[:-1]
        if not text.strip():
            continue
        index += 1
        try:
            value = _DECODER.decode(text)
        except json.JSONDecodeError as e:
            if not terminated and _looks_cut_off(text, e):
                yield Problem(
                    path,
                    lineno,
                    "truncated last line (the file ends inside a record): "
                    f"{e.msg} (column {e.colno})",
                )
            else:
                yield Problem(path, lineno, f"invalid JSON: {e.msg} (column {e.colno})")
            continue
        except RecursionError:
            yield Problem(path, lineno, "invalid JSON: nested too deeply")
            continue
        yield Record(path, lineno, index, value)


# -- JSON array ---------------------------------------------------------------


class _ArrayReader:
    """Streams the items of a JSON array from text chunks.

    ``buf[pos:]`` is the unread text; ``buf_abs`` the offset of ``buf[0]`` in the
    whole text, ``line`` the line of ``buf[pos]`` and ``line_start`` the offset
    where that line starts. Consumed text is dropped whenever more is read.
    """

    def __init__(self, path: str, chunks: Iterable[str]):
        self.path = path
        self.chunks = iter(chunks)
        self.buf = ""
        self.pos = 0
        self.buf_abs = 0
        self.line = 1
        self.line_start = 0
        self.eof = False
        self.last_char = ""

    def _read_until(self, size: int) -> bool:
        """Read until at least ``size`` unread characters or EOF; return whether
        anything was read."""
        parts = [self.buf[self.pos :]]
        have = len(parts[0])
        grew = False
        while have < size and not self.eof:
            text = next(self.chunks, None)
            if text is None:
                self.eof = True
                break
            parts.append(text)
            have += len(text)
            self.last_char = text[-1]
            grew = True
        self.buf_abs += self.pos
        self.buf = "".join(parts)
        self.pos = 0
        return grew

    def _advance(self, new: int) -> None:
        count = self.buf.count("\n", self.pos, new)
        if count:
            self.line += count
            self.line_start = self.buf_abs + self.buf.rfind("\n", self.pos, new) + 1
        self.pos = new

    def _skip_ws(self) -> bool:
        """Skip JSON whitespace; return whether a character follows."""
        while True:
            self._advance(_WS.match(self.buf, self.pos).end())
            if self.pos < len(self.buf):
                return True
            if not self._read_until(1):
                return False

    def _where(self, i: int) -> tuple[int, int]:
        """(line, column) of ``buf[i]``, ``i >= pos``."""
        count = self.buf.count("\n", self.pos, i)
        if count:
            return self.line + count, i - self.buf.rfind("\n", self.pos, i)
        return self.line, self.buf_abs + i - self.line_start + 1

    def _last_line(self) -> int:
        total = self.line + self.buf.count("\n", self.pos)
        return max(1, total - (self.last_char == "\n"))

    def _error(self, i: int, msg: str) -> Problem:
        line, col = self._where(i)
        return Problem(self.path, line, f"invalid JSON: {msg} (column {col}){_REST_NOT_READ}")

    def _missing_bracket(self) -> Problem:
        return Problem(self.path, self._last_line(), "truncated JSON array: missing closing ']'")

    def _decode(self, index: int, item_line: int):
        """Decode the value at ``pos``: (value, None) or (None, Problem)."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                near_end = len(self.buf) - e.pos < 32
                if not self.eof and (near_end or e.msg.startswith("Unterminated string")):
                    self._grow()
                    continue
                if self.eof and _looks_cut_off(self.buf, e):
                    return None, Problem(
                        self.path,
                        self._last_line(),
                        f"truncated JSON array: item {index} (line {item_line}) is cut off "
                        "and the closing ']' is missing",
                    )
                return None, self._error(e.pos, e.msg)
            except RecursionError:
                return None, Problem(
                    self.path, item_line, f"invalid JSON: nested too deeply{_REST_NOT_READ}"
                )
            if not self.eof and len(self.buf) - end < 32:
                self._grow()  # a number such as "12." + "5e3" may go on in the next chunk
                continue
            self._advance(end)
            return value, None

    def _grow(self) -> None:
        have = len(self.buf) - self.pos
        self._read_until(have + max(CHUNK_BYTES, have // 4))

    def records(self) -> Iterator[Union[Record, Problem]]:
        self._skip_ws()
        self._advance(self.pos + 1)  # the "[" seen by iter_records
        if not self._skip_ws():
            yield self._missing_bracket()
            return
        index = 0
        if self.buf[self.pos] != "]":
            while True:
                index += 1
                item_line = self.line
                value, problem = self._decode(index, item_line)
                if problem is not None:
                    yield problem
                    return
                yield Record(self.path, item_line, index, value)
                if not self._skip_ws():
                    yield self._missing_bracket()
                    return
                char = self.buf[self.pos]
                if char == "]":
                    break
                if char != ",":
                    yield self._error(self.pos, "Expecting ',' delimiter")
                    return
                self._advance(self.pos + 1)
                if not self._skip_ws():
                    yield self._missing_bracket()
                    return
                if self.buf[self.pos] == "]":
                    yield self._error(self.pos, "Illegal trailing comma before end of array")
                    return
        self._advance(self.pos + 1)  # the closing "]"
        if self._skip_ws():
            line, col = self._where(self.pos)
            yield Problem(
                self.path, line, f"invalid JSON: extra data after the closing ']' (column {col})"
            )
