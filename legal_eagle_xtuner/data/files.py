"""Writing output files so that a failed run leaves nothing half-written.

:class:`AtomicJsonl` writes JSON lines to a hidden temporary file beside the
target and renames it onto the target on :meth:`~AtomicJsonl.commit`; on
:meth:`~AtomicJsonl.discard` (any error) the temporary file is removed. Every
failure to create, write or rename is an :class:`OutputError` whose text is
``cannot write PATH: reason``, for commands to print instead of a traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["AtomicJsonl", "OutputError", "json_line"]


class OutputError(Exception):
    """An output file could not be written; ``str()`` is ``cannot write PATH: reason``."""


def json_line(value) -> bytes:
    """``value`` as one compact UTF-8 JSON line, non-ASCII text kept as is. A
    lone surrogate (from a ``"\\udXXX"`` escape in the input, valid JSON but
    not encodable as UTF-8) keeps the whole line ASCII-escaped instead."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(value) + "\n").encode("ascii")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicJsonl:
    """A JSON-lines file at ``path``, visible only once :meth:`commit` ran.
    Missing parent directories are created when ``make_parents``, else an
    error."""

    def __init__(self, path, *, make_parents: bool = True):
        self.path = Path(path)
        self.tmp = None
        try:
            if self.path.is_dir():
                raise IsADirectoryError(21, "Is a directory")
            if make_parents:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self.tmp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
        except OSError as exc:
            raise self._error(exc) from None
        self.file = os.fdopen(fd, "wb")

    def _error(self, exc: OSError) -> OutputError:
        return OutputError(f"cannot write {self.path}: {exc.strerror or exc}")

    def write(self, value) -> None:
        """Append ``value`` as one JSON line."""
        try:
            self.file.write(json_line(value))
        except OSError as exc:
            raise self._error(exc) from None

    def commit(self) -> None:
        """Close the file and put it in place (mode 0666 minus the umask,
        not mkstemp's 0600)."""
        try:
            self.file.close()
            os.chmod(self.tmp, 0o666 & ~_umask())
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            raise self._error(exc) from None

    def discard(self) -> None:
        """Close and remove the temporary file (safe to call twice)."""
        self.file.close()
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


def write_json_atomic(path, value, *, indent: int | None = 1) -> None:
    """Write ``value`` as one JSON document to ``path`` through a temporary
    file and a rename, so that a reader (or a crash) never sees half of it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, ensure_ascii=False, indent=indent)
            fh.write("\n")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
