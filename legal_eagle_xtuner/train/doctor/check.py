"""One line of the doctor's table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

OK, WARN, FAIL, NA = "ok", "warn", "FAIL", "n/a"


@dataclass
class Check:
    """A check's verdict: ``ok``, ``warn``, ``FAIL`` or ``n/a``."""

    name: str
    status: str
    detail: str
    fix: str = ""
    """The one-line fix: the command to run or the setting to change."""
    data: dict = field(default_factory=dict)
    """More for ``--json`` only (the model check's ``remote_code``)."""

    def as_json(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "data"}, **self.data}
