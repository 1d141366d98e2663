"""The vote file of ``legal-eagle web``: one JSON line per vote, appended so that a
crash never leaves half a line behind a later vote, and its tally.

Each vote is written with one ``write`` of the whole encoded line to a file opened in
append mode, then flushed and ``fsync``-ed before the page says it was recorded. A
process killed in the middle of that write can at worst leave one unterminated line at
the very end; the next :class:`VoteLog` opened on the file ends that fragment with a
newline first (so the next vote starts a line of its own) and the reader counts it as
a broken line, with its ``FILE:LINE``, instead of failing. A restarted app keeps
appending to the same file.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from legal_eagle_xtuner.data.files import json_line

__all__ = ["VOTES", "Tally", "VoteError", "VoteLog", "read_votes", "tally"]

VOTES = ("a", "b", "tie", "both_bad")
"""What a voter can say: A better, B better, a tie, both bad."""

VOTE_FIELDS = ("time", "question", "a_name", "b_name", "a_answer", "b_answer", "vote")


class VoteError(Exception):
    """The vote file cannot be opened or written; the text is ``PATH: reason``."""


@dataclass
class Tally:
    """Votes counted per model name."""

    votes: int = 0
    """Well-formed votes read."""
    broken: list[str] = field(default_factory=list)
    """``FILE:LINE: why`` for each line that is not a vote."""
    wins: dict[str, int] = field(default_factory=dict)
    losses: dict[str, int] = field(default_factory=dict)
    ties: dict[str, int] = field(default_factory=dict)
    both_bad: dict[str, int] = field(default_factory=dict)

    def games(self, name: str) -> int:
        return sum(d.get(name, 0) for d in (self.wins, self.losses, self.ties, self.both_bad))

    def win_rate(self, name: str) -> float:
        """Wins over all votes the model took part in (ties and both-bad count as
        not won)."""
        games = self.games(name)
        return self.wins.get(name, 0) / games if games else 0.0

    def names(self) -> list[str]:
        seen = set(self.wins) | set(self.losses) | set(self.ties) | set(self.both_bad)
        return sorted(seen, key=lambda n: (-self.win_rate(n), n))

    def rows(self) -> list[list]:
        """One row per model: name, win rate, wins, losses, ties, both bad, votes."""
        return [[n, f"{self.win_rate(n):.0%}", self.wins.get(n, 0), self.losses.get(n, 0),
                 self.ties.get(n, 0), self.both_bad.get(n, 0), self.games(n)]
                for n in self.names()]


def _check(record, where: str) -> str | None:
    if not isinstance(record, dict):
        return f"{where}: not a JSON object"
    missing = [k for k in VOTE_FIELDS if k not in record]
    if missing:
        return f"{where}: missing {', '.join(missing)}"
    if record["vote"] not in VOTES:
        return f"{where}: vote {record['vote']!r} is none of {', '.join(VOTES)}"
    if not isinstance(record["a_name"], str) or not isinstance(record["b_name"], str):
        return f"{where}: a_name and b_name must be strings"
    return None


def read_votes(path) -> tuple[list[dict], list[str]]:
    """The votes of ``path`` (none if it does not exist) and ``FILE:LINE: why`` for
    each line that is not one (a line cut short by a crash, or anything else)."""
    path = Path(path)
    votes, broken = [], []
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return votes, broken
    except OSError as exc:
        raise VoteError(f"{path}: cannot read: {exc.strerror or exc}") from None
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        last_unterminated = number == len(lines)
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            why = "unterminated last line (cut short by a crash?)" if last_unterminated \
                else f"not JSON ({exc})"
            broken.append(f"{where}: {why}")
            continue
        problem = _check(record, where)
        if problem:
            broken.append(problem)
        else:
            votes.append(record)
    return votes, broken


def tally(votes: list[dict], broken: list[str] = ()) -> Tally:
    """Count ``votes``: for A/B the named model wins and the other loses; a tie or
    both-bad counts for both."""
    out = Tally(votes=len(votes), broken=list(broken))
    for v in votes:
        a, b = v["a_name"], v["b_name"]
        if v["vote"] in ("a", "b"):
            winner, loser = (a, b) if v["vote"] == "a" else (b, a)
            out.wins[winner] = out.wins.get(winner, 0) + 1
            out.losses[loser] = out.losses.get(loser, 0) + 1
        else:
            counts = out.ties if v["vote"] == "tie" else out.both_bad
            for name in (a, b):
                counts[name] = counts.get(name, 0) + 1
    return out


class VoteLog:
    """Appends votes to ``path`` (created with its folder if missing), one fsync-ed
    line each; thread-safe."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab+") as f:
                f.seek(0, os.SEEK_END)
                if f.tell():
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":  # a line cut short by a crash: end it
                        f.write(b"\n")
                        f.flush()
                        os.fsync(f.fileno())
        except OSError as exc:
            raise VoteError(f"{self.path}: cannot open the vote file: "
                            f"{exc.strerror or exc}") from None

    def append(self, record: dict) -> None:
        problem = _check(record, "vote")
        if problem:
            raise ValueError(problem)
        line = json_line(record)
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    written = os.write(fd, line)
                    if written != len(line):
                        raise OSError(f"wrote {written} of {len(line)} bytes")
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise VoteError(f"{self.path}: cannot record the vote: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None

    def tally(self) -> Tally:
        return tally(*read_votes(self.path))
