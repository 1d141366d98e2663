"""Read users' corpora record by record, checked and converted.

This is what every ``legal-eagle data`` command stands on: :func:`iter_checked`
streams the files given (any of the four raw sources, or files already in
XTuner's conversation format) and yields one :class:`Checked` per item, either
converted by :func:`~legal_eagle_xtuner.sources.convert_record` (the function
training's map function uses, so what validates here trains there) or carrying
the reason it cannot be used.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from legal_eagle_xtuner.data.records import FileFormatError, Problem, Record, iter_records
from legal_eagle_xtuner.sources import CONVERSATION, Detection, RecordError, convert_record

__all__ = [
    "CONVERSATION",
    "Checked",
    "byte_progress",
    "FileFormatError",
    "iter_checked",
    "json_type",
]


@dataclass
class Checked:
    """One item of an input file after checking."""

    path: str
    """The file as given."""
    line: int
    """JSONL line, or the line where a JSON-array item starts (1-based)."""
    value: object = None
    """The parsed JSON value; ``None`` when the item is not valid JSON."""
    source: str | None = None
    """Detected source (``disc_pair`` … or ``conversation``); ``None`` if none fits."""
    output: dict | None = None
    """The record in XTuner's format as ``convert`` writes it; ``None`` if invalid."""
    error: str | None = None
    """Why the item cannot be used (without the ``FILE:LINE:`` prefix)."""
    extra_fields: tuple[str, ...] = field(default_factory=tuple)
    """Fields of a valid raw record that its source does not use (left out)."""
    notes: frozenset = frozenset()
    """What conversion did beyond converting (``sources.ID_AS_TEXT``, ``NO_REFERENCES``)."""
    detection: Detection | None = None
    """How the source of a valid record was decided."""

    @property
    def where(self) -> str:
        """``FILE:LINE``."""
        return f"{self.path}:{self.line}"

    @property
    def ok(self) -> bool:
        return self.error is None


def _check(record: Record, reference_placement: str, system: str | None,
           source: str | None) -> Checked:
    value = record.value
    item = Checked(record.path, record.line, value)
    if not isinstance(value, Mapping):
        item.error = f"record is not a JSON object (got {json_type(value)})"
        return item
    try:
        converted = convert_record(value, reference_placement=reference_placement,
                                   system=system, source=source)
    except RecordError as exc:
        item.source, item.error = exc.source, str(exc)
        return item
    except ValueError as exc:
        item.error = str(exc)
        return item
    item.source, item.output = converted.source, converted.output
    item.extra_fields, item.notes = converted.extra_fields, converted.notes
    item.detection = converted.detection
    return item


def json_type(value) -> str:
    """JSON's name for the type of a parsed value (``array``, ``string`` …)."""
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def iter_checked(
    paths: Iterable,
    *,
    reference_placement: str = "prompt",
    system: str | None = None,
    on_bytes=None,
    encoding: str | None = None,
    source: str | None = None,
) -> Iterator[Checked]:
    """Yield a :class:`Checked` for every item of every file, in order.

    Items that are not valid JSON come out with ``value=None`` and the
    reader's message as ``error``. A file that cannot be read at all raises
    :class:`~legal_eagle_xtuner.data.records.FileFormatError` before any of its
    items is yielded (encoding) or where reading fails (I/O). ``on_bytes``
    (optional) is called with the number of bytes read, for progress bars.
    ``encoding`` (optional) skips detection when the caller already knows it.
    ``source`` (optional) declares the source of every record instead of
    detecting it from the fields; each record is checked against it.
    """
    for path in paths:
        for item in iter_records(path, on_bytes=on_bytes, encoding=encoding):
            if isinstance(item, Problem):
                yield Checked(item.path, item.line, error=item.message)
            else:
                yield _check(item, reference_placement, system, source)


@contextlib.contextmanager
def byte_progress(paths: Iterable, desc: str, enabled: bool | None = None):
    """A tqdm bar over the total size of ``paths``; yields the ``on_bytes``
    callback to pass to :func:`iter_checked` / ``iter_records``.

    ``enabled=None`` shows the bar only when stderr is a terminal (so logs
    and captured output stay clean); ``False`` never, ``True`` always.
    """
    from tqdm.auto import tqdm

    total = 0
    for path in paths:
        try:
            total += os.path.getsize(path)
        except OSError:
            pass
    disable = None if enabled is None else not enabled
    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
              disable=disable, leave=False) as bar:
        yield bar.update
