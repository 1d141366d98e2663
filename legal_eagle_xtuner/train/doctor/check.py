"""One line of the doctor's table."""

from __future__ import annotations

from dataclasses import asdict, dataclass

OK, WARN, FAIL, NA = "ok", "warn", "FAIL", "n/a"


@dataclass
class Check:
    """A check's verdict: ``ok``, ``warn``, ``FAIL`` or ``n/a``."""

    name: str
    status: str
    detail: str
    fix: str = ""
    """The one-line fix: the command to run or the setting to change."""

    def as_json(self) -> dict:
        return asdict(self)
