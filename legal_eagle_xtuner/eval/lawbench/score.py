"""Load LawBench prediction files, score them task by task (``score_task``,
``score_dir``) and report the scores (``table_lines``, ``scores_json``)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from legal_eagle_xtuner.data.corpus import json_type
from legal_eagle_xtuner.eval.lawbench.rules import (
    OPTIONAL_TASKS,
    TASKS,
    _REGISTRY,
    _SKIP,
    _mean,
    _packaged_labels,
)


class LawBenchError(Exception):
    """A bad prediction file or item; ``str()`` is ``PATH: what is wrong`` or
    ``PATH:KEY: what is wrong``."""


class _BadItem(Exception):
    """An item whose reference does not have the task's format."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


@dataclass
class TaskScore:
    task: str
    score: float | None
    """0-1 scale; ``None`` only for a task that is not scored (2-1)."""
    abstention_rate: float | None
    """Over all items of the file."""
    items: int
    scored_items: int
    """Items in the denominator of the score."""
    note: str | None = None


# --------------------------------------------------------------------------
# Loading


def load_predictions(path) -> list[dict]:
    """The items of one prediction file, in key order ``"0"`` .. ``"N-1"``.

    Raises :class:`LawBenchError` (``PATH: ...`` / ``PATH:KEY: ...``) for an
    unreadable file, invalid JSON, anything but a non-empty object keyed
    exactly ``"0"`` .. ``"N-1"``, or an item without string ``prediction`` and
    ``refr`` or with a malformed ``origin_prompt``.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise LawBenchError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise LawBenchError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LawBenchError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LawBenchError(
            f'{path}: expected a JSON object keyed "0".."N-1", got a JSON {json_type(data)}'
        )
    if not data:
        raise LawBenchError(f"{path}: no items")
    expected = [str(i) for i in range(len(data))]
    if set(data) != set(expected):
        odd = sorted((k for k in data if k not in set(expected)), key=str)
        missing = [k for k in expected if k not in data]
        detail = f"unexpected key {odd[0]!r}" + (f", missing {missing[0]!r}" if missing else "")
        raise LawBenchError(
            f'{path}: keys must be "0".."{len(data) - 1}" (one per item): {detail}'
        )
    items = []
    for key in expected:
        item = data[key]
        problem = _item_problem(item)
        if problem:
            raise LawBenchError(f"{path}:{key}: {problem}")
        items.append(item)
    return items


def _item_problem(item) -> str | None:
    if not isinstance(item, dict):
        return f"an item must be an object, got a JSON {json_type(item)}"
    for field in ("prediction", "refr"):
        if field not in item:
            return f"missing {field!r}"
        if not isinstance(item[field], str):
            return f"{field!r} must be a string, got a JSON {json_type(item[field])}"
    prompt = item.get("origin_prompt", "")
    if isinstance(prompt, str):
        return None
    if isinstance(prompt, list) and all(
        isinstance(turn, dict) and isinstance(turn.get("prompt"), str) for turn in prompt
    ):
        return None
    return "'origin_prompt' must be a string or a list of {role, prompt} objects"


# --------------------------------------------------------------------------
# Scoring


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise LawBenchError(f"unknown LawBench task {task!r}; tasks: {', '.join(TASKS)}")


def _score_items(task: str, items: list[dict], labels: dict | None) -> TaskScore:
    if task in OPTIONAL_TASKS:
        return TaskScore(task, None, None, len(items), 0, f"not scored: {OPTIONAL_TASKS[task]}")
    spec = _REGISTRY[task]
    if isinstance(spec.labels, str):
        table = labels if labels is not None else _packaged_labels()
        if spec.labels not in table:
            raise LawBenchError(f"no label set for task {spec.labels} in the labels given")
        options = table[spec.labels]
    else:
        options = spec.labels
    values, abstained = [], 0
    for index, item in enumerate(items):
        try:
            gold = spec.gold(item["refr"])
        except ValueError as exc:
            refr = item["refr"][:60]
            message = f"refr {refr!r} not in the form of task {task}: {exc}"
            raise _BadItem(str(index), message) from None
        if gold is _SKIP:
            continue
        value, abstains = spec.judge(item["prediction"], gold, options)
        values.append(value)
        abstained += abstains
    if not values:
        return TaskScore(task, None, abstained / len(items) if items else None, len(items), 0,
                         "no item has a gold that is scored")
    return TaskScore(task, spec.finish(values), abstained / len(items), len(items), len(values),
                     spec.note)


def score_task(task: str, items: list[dict], labels: dict | None = None) -> TaskScore:
    """Score the items of one task (as from :func:`load_predictions`).

    ``labels``: label sets keyed by task as in ``lawbench_labels.json``;
    default the packaged ones. Raises :class:`LawBenchError` for an unknown
    task, or an item without string ``prediction`` / ``refr`` or whose
    ``refr`` is not in the task's form (``task T, item K: ...``)."""
    _check_task(task)
    for index, one in enumerate(items):
        problem = _item_problem(one)
        if problem:
            raise LawBenchError(f"task {task}, item {index}: {problem}")
    try:
        return _score_items(task, items, labels)
    except _BadItem as exc:
        raise LawBenchError(f"task {task}, item {exc.key}: {exc.message}") from None


def score_dir(pred_dir, tasks=None, progress: bool | None = None) -> dict[str, TaskScore]:
    """Score every ``<task>.json`` in ``pred_dir`` whose name is a LawBench
    task id (other files are ignored), in :data:`TASKS` order.

    ``tasks``: only these (each must have a file). ``progress``: a tqdm bar
    over the tasks; ``None`` shows it only when stderr is a terminal. Raises
    :class:`LawBenchError` for a missing directory, a directory without any
    task file, an unknown or missing requested task, or a bad file/item
    (``PATH: ...`` / ``PATH:KEY: ...``)."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise LawBenchError(f"{pred_dir}: not a directory")
    if tasks is None:
        chosen = [t for t in TASKS if (pred_dir / f"{t}.json").is_file()]
        if not chosen:
            raise LawBenchError(f"{pred_dir}: no LawBench prediction files (1-1.json ... 3-8.json)")
    else:
        wanted = set()
        for task in tasks:
            _check_task(task)
            wanted.add(task)
        chosen = [t for t in TASKS if t in wanted]
        for task in chosen:
            path = pred_dir / f"{task}.json"
            if not path.is_file():
                raise LawBenchError(f"{path}: no prediction file for task {task}")

    from tqdm.auto import tqdm

    if progress is None:
        progress = sys.stderr.isatty()
    scores = {}
    for task in tqdm(chosen, desc="LawBench", unit="task", disable=not progress, leave=False):
        path = pred_dir / f"{task}.json"
        items = load_predictions(path)
        try:
            scores[task] = _score_items(task, items, None)
        except _BadItem as exc:
            raise LawBenchError(f"{path}:{exc.key}: {exc.message}") from None
    return scores


# --------------------------------------------------------------------------
# Reporting


def _average(scores: dict[str, TaskScore]) -> tuple[float | None, list[str], list[str]]:
    scored = [s for s in scores.values() if s.score is not None]
    skipped = [s.task for s in scores.values() if s.score is None]
    mean = _mean([s.score for s in scored]) if scored else None
    return mean, [s.task for s in scored], skipped


def table_lines(scores: dict[str, TaskScore]) -> list[str]:
    """A plain-text table (0-1 scale, 4 decimals) and an ``average`` line over
    the scored tasks."""

    def fmt(value):
        return "-" if value is None else f"{value:.4f}"

    lines = [f"{'task':<8}{'score':>8}{'abstain':>9}{'items':>9}  note"]
    for s in scores.values():
        items = str(s.items) if s.scored_items == s.items else f"{s.scored_items}/{s.items}"
        row = f"{s.task:<8}{fmt(s.score):>8}{fmt(s.abstention_rate):>9}{items:>9}"
        lines.append(f"{row}  {s.note}" if s.note else row)
    mean, scored, skipped = _average(scores)
    tail = f"mean of {len(scored)} scored task{'s' if len(scored) != 1 else ''}"
    if skipped:
        tail += f"; {', '.join(skipped)} not scored, excluded"
    lines.append(f"{'average':<8}{fmt(mean):>8}{'':>9}{'':>9}  {tail}")
    return lines


def scores_json(scores: dict[str, TaskScore]) -> dict:
    """``{task: {"score", "abstention_rate"}, ..., "average": {"score",
    "tasks", "not_scored"}}``; the average is over the scored tasks."""
    out: dict = {
        s.task: {"score": s.score, "abstention_rate": s.abstention_rate} for s in scores.values()
    }
    mean, scored, skipped = _average(scores)
    out["average"] = {"score": mean, "tasks": len(scored), "not_scored": skipped}
    return out
