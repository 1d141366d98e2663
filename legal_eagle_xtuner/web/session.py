"""One browser session of ``legal-eagle web``, without the page: each model's own
conversation, the blind order of the columns, both answers streamed side by side, and
the vote that reveals the names.

The columns are called A (left) and B (right). In blind mode the two models are put
into them in a random order drawn afresh for every question; a model's conversation
travels with it, so each column always shows one model's own history. Both models
answer at once, each in its own thread; a model that fails shows its one-line error in
its column and the other keeps answering.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass, field

from legal_eagle_xtuner.web.models import ModelError, Stats
from legal_eagle_xtuner.web.votes import VOTES, VoteLog

__all__ = ["COLUMNS", "Session", "Turn"]

COLUMNS = ("A", "B")


@dataclass
class Turn:
    """One question as one model answered it."""

    question: str
    user: str = ""
    """The user turn the model received (the question, or with 参考法条 before it)."""
    answer: str = ""
    error: str | None = None
    stats: Stats = field(default_factory=Stats)
    prompt: str = ""
    done: bool = False
    citations: str = ""
    """The cited articles checked against the index (``--rag``)."""


@dataclass
class Session:
    """What one browser tab holds. ``models`` are the two sides (``--a``, ``--b``)
    as ``(name, model)``."""

    blind: bool = True
    order: tuple[int, int] = (0, 1)
    """Which model (index into ``models``) is in column A and in column B."""
    turns: list[list[Turn]] = field(default_factory=lambda: [[], []])
    """Every question each model was asked, with its answer or error."""
    voted: bool = True
    """The last question has a vote (or there is none yet)."""
    seed: int | None = None
    references: list[str] | None = None
    """The articles retrieved for the last question (``--rag``), else None."""
    reference_panel: str = ""
    """Those articles as the page shows them."""

    def __post_init__(self):
        self._rng = random.Random(self.seed)

    def column_turns(self, column: int) -> list[Turn]:
        return self.turns[self.order[column]]

    def history(self, model: int) -> list[tuple[str, str]]:
        """The answered turns of ``model``, for its next prompt (failed ones left out)."""
        return [(t.user, t.answer) for t in self.turns[model] if t.done and not t.error]

    def new_conversation(self) -> None:
        self.turns = [[], []]
        self.voted = True

    def ask(self, models, question: str, user: str | None = None,
            references: list[str] | None = None):
        """Ask both models ``question`` (as the user turn ``user``, default the question
        itself; ``references``: the articles put into it); yields after every change
        (text grows, an answer ends) until both are done."""
        user = question if user is None else user
        self.references = references
        if self.blind:
            self.order = tuple(self._rng.sample((0, 1), 2))
        else:
            self.order = (0, 1)
        events: queue.Queue = queue.Queue()
        current = []
        for index, (_, model) in enumerate(models):
            turns = [*self.history(index), (user, None)]
            turn = Turn(question, user, prompt=model.prompt_text(turns))
            self.turns[index].append(turn)
            current.append(turn)
            threading.Thread(target=_answer, args=(model, turns, turn, events),
                             daemon=True).start()
        self.voted = False
        finished = 0
        while finished < len(current):
            if events.get() == "done":
                finished += 1
            while not events.empty():  # take every pending change, yield once
                if events.get_nowait() == "done":
                    finished += 1
            yield

    def vote(self, models, choice: str, log: VoteLog | None) -> dict:
        """Record the vote on the last question (``a``, ``b``, ``tie``, ``both_bad``,
        by column); returns the record written."""
        if choice not in VOTES:
            raise ValueError(f"vote {choice!r} is none of {', '.join(VOTES)}")
        if self.voted:
            raise ModelError("nothing to vote on: ask a question first")
        a, b = (self.turns[m][-1] for m in self.order)
        if not (a.done and b.done):
            raise ModelError("wait until both answers are complete")
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "question": a.question,
            "turn": len(self.turns[0]),
            "a_name": models[self.order[0]][0],
            "b_name": models[self.order[1]][0],
            "a_answer": a.error or a.answer,
            "b_answer": b.error or b.answer,
            "a_error": a.error is not None,
            "b_error": b.error is not None,
            "vote": choice,
            "blind": self.blind,
        }
        if self.references is not None:
            record["references"] = self.references
        if log is not None:
            log.append(record)
        self.voted = True
        return record


def _answer(model, turns, turn: Turn, events: queue.Queue) -> None:
    try:
        for text in model.stream(turns, turn.stats):
            turn.answer = text
            events.put("text")
    except ModelError as exc:
        turn.error = str(exc)
    except Exception as exc:  # noqa: BLE001 -- the page gets one line, never a traceback
        turn.error = f"{type(exc).__name__}: {exc}"
    turn.done = True
    events.put("done")
