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
