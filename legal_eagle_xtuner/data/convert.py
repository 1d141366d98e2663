"""``legal-eagle data validate`` and ``legal-eagle data convert``.

Both read files with :func:`~legal_eagle_xtuner.data.corpus.iter_checked`, i.e.
through the map function training uses, so a file that validates converts, and
a converted file trains without a map function.

Counting: every item read is one of *written*, *rejected* (not valid JSON, not
an object, fits no source, a field wrong) or *duplicate* (with ``dedupe``), so
``read == written + rejected + duplicates`` always. Reading a JSON array stops
at a syntax error (the reader cannot find where the next item starts); that
error is one rejected item and its message says the rest was not read.

Decisions:

* Without ``skip_invalid`` the first invalid item stops ``convert`` with its
  ``FILE:LINE: …`` and nothing is written (output goes to a temporary file that
  is renamed only on success).
* With ``skip_invalid`` every reject goes to the rejects file (default
  ``OUT.rejects.jsonl``), one JSON object per line with ``file``, ``line``,
  ``error`` and the original ``record`` (``null`` when it was not valid JSON).
  Duplicates go to their own file (default ``OUT.duplicates.jsonl``) with the
  location of the occurrence kept, so every record read can be found again.
* A file that cannot be read at all (undecodable encoding, I/O error) stops
  the run even with ``skip_invalid``: its records cannot be counted, and
  guessing the encoding would train on mojibake.
* Fields a source does not use (e.g. LAW-GPT's ``instruction``) are left out
  of the output and counted, not an error.
* An ``id`` is provenance: a string, or an integer (an integral float too),
  written as text and counted (``ids converted to text``); a list, object or
  boolean is a ``FILE:LINE:`` problem. Records of a source with references
  whose ``reference`` is missing, ``null`` or ``[]`` convert without a
  ``参考法条：`` block and are counted (``without references``); a reference
  that is present but not a list of strings is a problem.
* ``source`` declares the source of every record instead of detecting it
  (DISC pairs without ``id`` look like LAW-GPT 52k); each record is checked
  against that source's fields.
* Two records of one file with the same ``id`` but different content are both
  kept and reported as a warning (DISC ids are unique within a file; a clash
  usually means two versions of a file were concatenated). Ids are not
  compared across files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from legal_eagle_xtuner.data.corpus import Checked, FileFormatError, byte_progress, iter_checked
from legal_eagle_xtuner.data.dedupe import Deduper
from legal_eagle_xtuner.data.files import AtomicJsonl, OutputError

__all__ = [
    "ConvertError",
    "ConvertResult",
    "ValidateResult",
    "convert_files",
    "default_side_path",
    "validate_files",
]

Report = Callable[[str], None]


class ConvertError(Exception):
    """Why ``convert`` wrote nothing; ``str()`` starts with ``FILE:LINE:``
    when it is about one item."""


def _digest(text: str, size: int) -> int:
    data = text.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=size).digest(), "big")


class _IdTracker:
    """Finds ids reused by records with different content in the same file
    (ids are a file's own namespace: DISC's Pair and Triplet files number
    their records independently)."""

    def __init__(self) -> None:
        # 64-bit digest of the id -> 32-bit content digest | line << 32, one
        # int per id (~110 bytes a record); the clash is reported by line.
        self._seen: dict[int, int] = {}
        self._path: str | None = None

    def check(self, item: Checked) -> str | None:
        value = item.value
        record_id = value.get("id") if isinstance(value, dict) else None
        if isinstance(record_id, bool) or not isinstance(record_id, (str, int)):
            return None
        key = str(record_id).strip()
        if not key:
            return None
        if item.path != self._path:
            self._seen.clear()
            self._path = item.path
        content = json.dumps(item.output["conversation"], ensure_ascii=False, sort_keys=True)
        digest = _digest(content, 4)
        id_key = _digest(key, 8)
        seen = self._seen.get(id_key)
        if seen is None:
            self._seen[id_key] = digest | (item.line << 32)
            return None
        if seen & 0xFFFFFFFF == digest:
            return None
        return (f"{item.where}: warning: id '{key}' is also used by "
                f"{item.path}:{seen >> 32} with different content")


@dataclass
class ValidateResult:
    """Outcome of :func:`validate_files`."""

    read: int = 0
    """Items read (valid + invalid)."""
    valid: int = 0
    """Items that convert."""
    invalid: int = 0
    """Items that do not (each reported as ``FILE:LINE: …``)."""
    warnings: int = 0
    """Id clashes reported as warnings."""
    unreadable: list[str] = field(default_factory=list)
    """Files that could not be read at all (their message)."""
    sources: Counter = field(default_factory=Counter)
    """Valid records per source."""
    extra_fields: Counter = field(default_factory=Counter)
    """Records carrying each field their source does not use."""
    notes: Counter = field(default_factory=Counter)
    """Valid records per note (``id_as_text``, ``no_references``)."""

    @property
    def ok(self) -> bool:
        return not self.invalid and not self.unreadable


def validate_files(
    paths: Iterable,
    *,
    report: Report = print,
    reference_placement: str = "prompt",
    system: str | None = None,
    progress: bool | None = None,
    source: str | None = None,
) -> ValidateResult:
    """Check every item of every file; ``report`` gets each problem as
    ``FILE:LINE: what is wrong`` (and id clashes as ``… warning: …``).
    Unreadable files are reported and the others still checked."""
    result = ValidateResult()
    ids = _IdTracker()
    paths = _unique(paths)
    with byte_progress(paths, "validate", progress) as on_bytes:
        for path in paths:
            try:
                for item in iter_checked(
                    [path],
                    reference_placement=reference_placement,
                    system=system,
                    on_bytes=on_bytes,
                    source=source,
                ):
                    result.read += 1
                    if not item.ok:
                        result.invalid += 1
                        report(f"{item.where}: {item.error}")
                        continue
                    result.valid += 1
                    result.sources[item.source] += 1
                    result.extra_fields.update(item.extra_fields)
                    result.notes.update(item.notes)
                    warning = ids.check(item)
                    if warning:
                        result.warnings += 1
                        report(warning)
            except FileFormatError as exc:
                result.unreadable.append(str(exc))
                report(str(exc))
    return result


@dataclass
class ConvertResult:
    """Outcome of :func:`convert_files`; ``read == written + rejected + duplicates``."""

    read: int = 0
    """Items read from all inputs."""
    written: int = 0
    """Records written to the output."""
    rejected: int = 0
    """Invalid items (``skip_invalid`` only), listed in ``rejects_path``."""
    duplicates: int = 0
    """Duplicates dropped (``dedupe`` only), listed in ``duplicates_path``."""
    exact_duplicates: int = 0
    """Of ``duplicates``: identical after conversion."""
    normalised_duplicates: int = 0
    """Of ``duplicates``: identical only after normalisation."""
    warnings: int = 0
    """Id clashes (kept, reported)."""
    sources: Counter = field(default_factory=Counter)
    """Written records per source."""
    extra_fields: Counter = field(default_factory=Counter)
    """Records whose unused fields were left out, per field."""
    notes: Counter = field(default_factory=Counter)
    """Written records per note (``id_as_text``, ``no_references``)."""
    output_path: Path | None = None
    rejects_path: Path | None = None
    duplicates_path: Path | None = None


def default_side_path(output, kind: str) -> Path:
    """``OUT.jsonl`` → ``OUT.<kind>.jsonl`` (``kind``: rejects, duplicates)."""
    output = Path(output)
    stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(f"{stem}.{kind}.jsonl")


def _unique(paths: Iterable) -> list[str]:
    """The paths as strings; a file named twice is an error (its records would
    all be reported as duplicates of themselves)."""
    seen: dict[str, str] = {}
    for path in map(str, paths):
        key = os.path.realpath(path)
        if key in seen:
            raise ConvertError(f"{path}: given more than once (as {seen[key]!s} too)")
        seen[key] = path
    return list(seen.values())


def convert_files(
    paths: Iterable,
    output,
    *,
    skip_invalid: bool = False,
    rejects=None,
    dedupe: bool = False,
    duplicates=None,
    reference_placement: str = "prompt",
    system: str | None = None,
    report: Report = print,
    max_reported: int = 20,
    progress: bool | None = None,
    source: str | None = None,
) -> ConvertResult:
    """Convert ``paths`` into one XTuner conversation JSONL at ``output``.

    Raises :class:`ConvertError` (and writes nothing) for the first invalid
    item unless ``skip_invalid``, and for an unreadable file. ``report`` gets
    the first ``max_reported`` rejects and duplicates and every id clash.
    """
    paths = _unique(paths)
    output = Path(output)
    for path in paths:
        if os.path.abspath(path) == os.path.abspath(output):
            raise ConvertError(f"{output}: the output file is also an input; choose another -o")
    result = ConvertResult(output_path=output)
    if skip_invalid:
        result.rejects_path = Path(rejects) if rejects else default_side_path(output, "rejects")
    if dedupe:
        result.duplicates_path = (
            Path(duplicates) if duplicates else default_side_path(output, "duplicates")
        )
    deduper = Deduper() if dedupe else None
    ids = _IdTracker()
    shown = 0

    with ExitStack() as stack:
        files = []

        def open_atomic(path):
            handle = AtomicJsonl(path)
            files.append(handle)
            return handle

        try:
            out = open_atomic(output)
            rejects_out = open_atomic(result.rejects_path) if skip_invalid else None
            dups_out = open_atomic(result.duplicates_path) if dedupe else None
            on_bytes = stack.enter_context(byte_progress(paths, "convert", progress))
            for item in iter_checked(
                paths,
                reference_placement=reference_placement,
                system=system,
                on_bytes=on_bytes,
                source=source,
            ):
                result.read += 1
                if not item.ok:
                    if not skip_invalid:
                        raise ConvertError(
                            f"{item.where}: {item.error}\n"
                            "nothing written; fix the record, or pass --skip-invalid to "
                            "convert the valid records and list this one in a rejects file"
                        )
                    result.rejected += 1
                    rejects_out.write(
                        {"file": item.path, "line": item.line, "error": item.error,
                         "record": item.value}
                    )
                    if shown < max_reported:
                        report(f"{item.where}: {item.error}")
                    shown += 1
                    continue
                if deduper is not None:
                    dup = deduper.check(item.output, item.path, item.line)
                    if dup is not None:
                        result.duplicates += 1
                        dups_out.write(
                            {"file": item.path, "line": item.line, "kind": dup.kind,
                             "duplicate_of": dup.first, "record": item.output}
                        )
                        if shown < max_reported:
                            report(f"{item.where}: {dup.kind} duplicate of {dup.first}; dropped")
                        shown += 1
                        continue
                warning = ids.check(item)
                if warning:
                    result.warnings += 1
                    report(warning)
                out.write(item.output)
                result.written += 1
                result.sources[item.source] += 1
                result.extra_fields.update(item.extra_fields)
                result.notes.update(item.notes)
        except (FileFormatError, OutputError) as exc:
            for handle in files:
                handle.discard()
            raise ConvertError(f"{exc}\nnothing written") from None
        except BaseException:
            for handle in files:
                handle.discard()
            raise
        try:
            for handle in files:
                handle.commit()
        except OutputError as exc:
            for handle in files:
                handle.discard()
            raise ConvertError(f"{exc}\nnothing written") from None
    if deduper is not None:
        result.exact_duplicates = deduper.exact
        result.normalised_duplicates = deduper.normalised
    if shown > max_reported:
        report(f"... {shown - max_reported} more not shown; all are listed in "
               + " and ".join(str(p) for p in (result.rejects_path, result.duplicates_path) if p))
    return result
