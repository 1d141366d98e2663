"""Encoding detection and chunked decoding of users' corpus files.

Encoding decision: files are UTF-8 (with or without BOM) or GB18030. Chinese
exports are often GBK / GB2312; GB18030 is a superset of both, so such files are
decoded transparently as GB18030 and yield the original text. A file is read as
GB18030 only when it is *not* valid UTF-8 and decodes as GB18030 from start to
end. UTF-8 is never decoded as GBK: a file whose text is UTF-8 (several non-ASCII
UTF-8 characters) up to a bad byte is reported as broken UTF-8, because reading
it as GB18030 would garble it. A file that is neither raises
``FileFormatError("FILE:LINE: not UTF-8 or GB18030 text (first undecodable byte
at offset N); convert it with e.g. iconv -f <encoding> -t UTF-8")``, where N is
the 0-based byte offset of the first byte that is not UTF-8 and LINE its line.
A file starting with a UTF-16 byte-order mark (Excel's "Unicode text") gets
``UTF-16 text (byte-order mark at offset 0); convert it with e.g. iconv -f
UTF-16 -t UTF-8``. Detection (:func:`detect_encoding`) scans the file once in chunks with an
incremental decoder before records are read, so a file is read twice.

:data:`CHUNK_BYTES` is the read size of detection and the default of the
chunk readers; :mod:`legal_eagle_xtuner.data.records` passes its own.
"""

from __future__ import annotations

import codecs
from itertools import chain
from typing import Iterator

__all__ = ["CHUNK_BYTES", "FileFormatError", "detect_encoding"]

CHUNK_BYTES = 1 << 18
"""Bytes read from a file at a time."""

_UTF8_EVIDENCE = 4
"""Non-ASCII UTF-8 characters before a bad byte that mark a file as (broken) UTF-8."""

_BOM = b"\xef\xbb\xbf"


class FileFormatError(Exception):
    """A whole file is unreadable (bad encoding, I/O error); ``str()`` is ``FILE:LINE: message``."""

    def __init__(self, path: str, line: int, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line}: {message}")


def _open(path):
    try:
        return open(path, "rb")
    except OSError as e:
        raise FileFormatError(path, 1, f"cannot read file: {e.strerror or e}") from None


def _read_chunks(path, on_bytes=None, size: int | None = None) -> Iterator[bytes]:
    if size is None:
        size = CHUNK_BYTES
    with _open(path) as f:
        while True:
            try:
                chunk = f.read(size)
            except OSError as e:
                raise FileFormatError(path, 1, f"cannot read file: {e.strerror or e}") from None
            if not chunk:
                return
            if on_bytes is not None:
                on_bytes(len(chunk))
            yield chunk


class _DecodeFailure(Exception):
    def __init__(self, offset: int, line: int, nonascii: int):
        self.offset, self.line, self.nonascii = offset, line, nonascii


def _decode_chunks(path, encoding: str, on_bytes=None,
                   size: int | None = None) -> Iterator[str]:
    """Decode ``path`` incrementally, yielding non-empty text chunks; raise
    _DecodeFailure(offset, line, non-ASCII characters before it) on a bad byte."""
    decoder = codecs.getincrementaldecoder(encoding)()
    consumed = 0  # bytes fed to the decoder before the current call
    newlines = 0  # newlines in those bytes
    nonascii = 0
    for data in chain(_read_chunks(path, on_bytes, size), [None]):
        pending = decoder.getstate()[0]
        try:
            text = decoder.decode(data or b"", final=data is None)
        except UnicodeDecodeError as e:
            head = (pending + (data or b""))[: e.start]
            nonascii += sum(1 for ch in head.decode(encoding, "replace") if ch > "\x7f")
            local = max(0, e.start - len(pending))
            line = 1 + newlines + (data or b"")[:local].count(b"\n")
            raise _DecodeFailure(consumed - len(pending) + e.start, line, nonascii) from None
        if data is not None:
            consumed += len(data)
            newlines += data.count(b"\n")
        if text:
            if not text.isascii():
                nonascii += len(text) - len(text.encode("ascii", "ignore"))
            yield text


def detect_encoding(path) -> str:
    """Return ``"utf-8"``, ``"utf-8-sig"`` (UTF-8 with BOM) or ``"gb18030"``
    (also GBK / GB2312) for ``path``, scanning it in chunks; raise
    :class:`FileFormatError` if it is neither (see the module docstring)."""
    with _open(path) as f:
        head = f.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # Excel's "Unicode text" export; a JSON reader would see only garbage.
        raise FileFormatError(
            path, 1, "UTF-16 text (byte-order mark at offset 0); "
            "convert it with e.g. iconv -f UTF-16 -t UTF-8",
        )
    try:
        for _ in _decode_chunks(path, "utf-8"):
            pass
    except _DecodeFailure as bad:
        if bad.nonascii >= _UTF8_EVIDENCE:
            raise FileFormatError(
                path,
                bad.line,
                f"invalid UTF-8 byte at offset {bad.offset} in UTF-8 text; not read as "
                "GB18030, which would garble it; fix or remove the byte",
            ) from None
        try:
            for _ in _decode_chunks(path, "gb18030"):
                pass
        except _DecodeFailure:
            raise FileFormatError(
                path,
                bad.line,
                f"not UTF-8 or GB18030 text (first undecodable byte at offset {bad.offset}); "
                "convert it with e.g. iconv -f <encoding> -t UTF-8",
            ) from None
        return "gb18030"
    with _open(path) as f:
        return "utf-8-sig" if f.read(3) == _BOM else "utf-8"


def _text_chunks(path, encoding: str, on_bytes=None,
                 size: int | None = None) -> Iterator[str]:
    """Decoded text of ``path`` in chunks (``size`` bytes read at a time,
    default :data:`CHUNK_BYTES`), without a leading BOM."""
    name = codecs.lookup(encoding).name
    if name == "utf-8-sig":
        name = "utf-8"  # the BOM is stripped below; keeps byte offsets simple
    first = True
    try:
        for text in _decode_chunks(path, name, on_bytes, size):
            if first:
                first = False
                if text.startswith("\ufeff"):
                    text = text[1:]
                    if not text:
                        continue
            yield text
    except _DecodeFailure as bad:
        raise FileFormatError(
            path,
            bad.line,
            f"not {encoding} text (first undecodable byte at offset {bad.offset}); "
            "convert it with e.g. iconv -f <encoding> -t UTF-8",
        ) from None

