"""Files of synthetic corpora: :func:`write_corpus` in either layout, in bounded memory.

Layout of written files (:func:`write_corpus`): JSONL files are one
``json.dumps(record, ensure_ascii=False)`` per line; JSON arrays are exactly
``json.dumps(records, ensure_ascii=False, indent=2) + "\\n"`` — the layout of
the sample files in ``legal_eagle_xtuner/resources/samples/`` — at every size (it is
produced item by item, so pretty-printing costs no memory and a streaming
reader meets one item per few lines whatever the size). UTF-8, ``"\\n"``
line ends. Either layout can be asked for any source.
"""

from __future__ import annotations

import os
from json.encoder import encode_basestring

from legal_eagle_xtuner.data.synthetic.records import _check_int, _check_source, iter_records

FORMATS = ("jsonl", "array")
"""File layouts: one JSON object per line, or one (pretty-printed) JSON array."""

_DEFAULT_FORMAT = {
    "disc_pair": "jsonl",
    "disc_triplet": "jsonl",
    "lawgpt_52k": "array",
    "lawgpt_92k": "array",
}

_FLUSH_BYTES = 1 << 20


def default_format(source: str) -> str:
    """The layout of the real corpus: ``"jsonl"`` for DISC, ``"array"`` for LAW-GPT."""
    _check_source(source)
    return _DEFAULT_FORMAT[source]


def _jsonl_line(record: dict) -> str:
    """``json.dumps(record, ensure_ascii=False) + "\\n"`` for a flat record of
    strings and lists of strings, without the generic encoder's overhead."""
    enc = encode_basestring
    items = []
    for key, value in record.items():
        if type(value) is str:
            items.append(f"{enc(key)}: {enc(value)}")
        else:
            items.append(f"{enc(key)}: [{', '.join(map(enc, value))}]")
    return "{" + ", ".join(items) + "}\n"


def _array_item(record: dict) -> str:
    """One item of ``json.dumps(records, ensure_ascii=False, indent=2)``
    (indented for its place in the array, no separator)."""
    enc = encode_basestring
    items = []
    for key, value in record.items():
        if type(value) is str:
            items.append(f"    {enc(key)}: {enc(value)}")
        elif value:
            inner = ",\n      ".join(map(enc, value))
            items.append(f"    {enc(key)}: [\n      {inner}\n    ]")
        else:
            items.append(f"    {enc(key)}: []")
    return "  {\n" + ",\n".join(items) + "\n  }"


def write_corpus(
    path,
    source: str,
    *,
    records: int | None = None,
    target_bytes: int | None = None,
    seed: int = 0,
    fmt: str | None = None,
    progress: bool | None = None,
) -> tuple[int, int]:
    """Write a synthetic ``source`` corpus to ``path``; return (records, bytes).

    Give exactly one of ``records`` (write that many; 0 gives an empty file
    or ``[]``) or ``target_bytes`` (stop after the first record that brings
    the bytes written so far to ``target_bytes`` or more; an array's closing
    ``\\n]\\n`` comes after that). ``fmt`` is ``"jsonl"`` or ``"array"``
    (default: the real corpus's layout, :func:`default_format`); see the
    module docstring for the exact layouts. The records are
    ``iter_records(source, seed=seed)`` from index 0. Memory stays bounded
    (about 1 MiB of buffered output) whatever the size. ``progress`` shows a
    ``tqdm`` bar: ``None`` only when stderr is a terminal, ``True`` always,
    ``False`` never.

    Raises ``ValueError`` for an unknown source or fmt, both or neither of
    ``records`` / ``target_bytes``, a negative ``records``, a ``target_bytes``
    below 1 or a non-integer ``seed``.
    """
    _check_source(source)
    if (records is None) == (target_bytes is None):
        raise ValueError("give exactly one of records and target_bytes")
    if records is not None:
        _check_int("records", records, 0)
    else:
        _check_int("target_bytes", target_bytes, 1)
    if fmt is None:
        fmt = _DEFAULT_FORMAT[source]
    elif fmt not in FORMATS:
        valid = ", ".join(repr(f) for f in FORMATS)
        raise ValueError(f"unknown fmt {fmt!r}; valid formats: {valid}")
    stream = iter_records(source, seed=seed)

    from tqdm.auto import tqdm

    array = fmt == "array"
    encode = _array_item if array else _jsonl_line
    limit = records if records is not None else -1
    goal = target_bytes if target_bytes is not None else -1
    disable = None if progress is None else not progress
    if records is not None:
        bar = tqdm(total=records, unit="rec", desc=f"writing {source}", disable=disable, leave=False)
    else:
        bar = tqdm(total=target_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=f"writing {source}", disable=disable, leave=False)

    count = 0
    written = 0
    with bar, open(os.fspath(path), "wb") as out:
        buffer: list[bytes] = []
        buffered = 0
        reported_count = reported_bytes = 0
        if array:
            buffer.append(b"[")
            buffered = 1
            written = 1
        while count != limit:
            text = encode(next(stream))
            if array:
                text = ("\n" if count == 0 else ",\n") + text
            data = text.encode("utf-8")
            buffer.append(data)
            buffered += len(data)
            written += len(data)
            count += 1
            if buffered >= _FLUSH_BYTES:
                out.write(b"".join(buffer))
                buffer.clear()
                buffered = 0
                if records is not None:
                    bar.update(count - reported_count)
                    reported_count = count
                else:
                    bar.update(min(written, target_bytes) - reported_bytes)
                    reported_bytes = min(written, target_bytes)
            if 0 <= goal <= written:
                break
        if array:
            closing = b"\n]\n" if count else b"]\n"
            buffer.append(closing)
            written += len(closing)
        out.write(b"".join(buffer))
        if records is not None:
            bar.update(count - reported_count)
        else:
            bar.update(min(written, target_bytes) - reported_bytes)
    return count, written
