"""Score DISC-Law-Eval prediction folders the way the benchmark publishes them,
and check the scores against published ones.

Per kind and exam, the accuracy is the percentage of items whose extracted
letter set equals the gold set. The letters are read by one of :data:`RULES`:
``benchmark`` (the default; the benchmark's own rule,
:func:`~legal_eagle_xtuner.eval.disc_law_eval.benchmark_rule.benchmark_letters`) or
``names`` (ours of 0.1, :func:`~legal_eagle_xtuner.eval.disc_law_eval.extract.answer_letters`). The gold comes from the file's ``output`` column (our own
predictions keep it) or, for the published prediction files that have none,
from the benchmark's dataset files, aligned by row order (each row's question
must equal the dataset's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from legal_eagle_xtuner.eval.disc_law_eval.data import (
    EXAMS,
    KINDS,
    OUTPUT_COLUMN,
    DiscDataError,
    data_file,
    find_data_dir,
    item_text,
    read_rows,
    results_file,
)
from legal_eagle_xtuner.eval.disc_law_eval.benchmark_rule import benchmark_letters
from legal_eagle_xtuner.eval.disc_law_eval.extract import answer_letters, gold_letters

RULES = {"benchmark": benchmark_letters, "names": answer_letters}
"""Answer-extraction rules by name; docs/disc_law_eval.md says how they differ."""
DEFAULT_RULE = "benchmark"

__all__ = [
    "ExamScore",
    "DEFAULT_RULE",
    "PublishedCheck",
    "RULES",
    "check_published",
    "load_published",
    "published_lines",
    "score_dir",
    "score_rows",
    "scores_json",
    "table_lines",
]


@dataclass
class ExamScore:
    """One exam of one kind."""

    kind: str
    exam: str
    items: int
    correct: int
    abstained: int
    """Items from whose answer no letter was extracted."""

    @property
    def accuracy(self) -> float:
        """Percent right, as the benchmark publishes it."""
        return 100.0 * self.correct / self.items if self.items else 0.0

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.exam}"


def score_rows(kind: str, exam: str, rows, gold_rows=None, where: str = "",
               rule: str = DEFAULT_RULE) -> ExamScore:
    """Score prediction ``rows`` (dicts with ``model_output``) with ``rule``; the gold
    is their ``output`` unless ``gold_rows`` (dataset rows, same order) are given."""
    letters_of = RULES[rule]
    if gold_rows is not None and len(gold_rows) != len(rows):
        raise DiscDataError(f"{where}: {len(rows)} rows, but the dataset has {len(gold_rows)}")
    correct = abstained = 0
    for number, row in enumerate(rows, 1):
        source = gold_rows[number - 1] if gold_rows is not None else row
        if gold_rows is not None and row["input"].strip() != source["input"].strip():
            raise DiscDataError(f"{where}: row {number}: the question is not the dataset's "
                                f"row {number} (predictions must keep the dataset order)")
        try:
            gold = gold_letters(source["output"])
        except ValueError as exc:
            raise DiscDataError(f"{where}: row {number}: {exc}") from None
        letters = letters_of(row[OUTPUT_COLUMN] or "", item_text(source))
        correct += letters == gold
        abstained += not letters
    return ExamScore(kind, exam, len(rows), correct, abstained)


def _gold_rows(pred_dir: Path, kind: str, exam: str, data_dir) -> list[dict]:
    if data_dir is None:  # the benchmark's own layout: <eval>/predictions/<model>
        candidate = pred_dir.resolve().parent.parent
        if not (candidate / "datasets" / "objective").is_dir():
            raise DiscDataError(
                f"{results_file(pred_dir, kind, exam)}: no 'output' column with the gold "
                "answers; give the benchmark's data folder (--disc-law-eval-data DATA_DIR)")
        data_dir = candidate
    return read_rows(data_file(find_data_dir(data_dir), kind, exam), ("input", "output"))


def score_dir(pred_dir, data_dir=None, rule: str = DEFAULT_RULE) -> dict[str, ExamScore]:
    """Score every ``<kind>/<exam>_results.csv`` of ``pred_dir`` (other files
    are ignored), keyed ``"single/cpa"`` ..., kinds and exams in benchmark
    order. Raises :class:`DiscDataError` for a folder without any, or a bad file."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise DiscDataError(f"{pred_dir}: not a directory")
    scores = {}
    for kind in KINDS:
        for exam in EXAMS[kind]:
            path = results_file(pred_dir, kind, exam)
            if not path.is_file():
                continue
            rows = read_rows(path, ("input", OUTPUT_COLUMN))
            if not rows:
                raise DiscDataError(f"{path}: no rows")
            gold = None if "output" in rows[0] else _gold_rows(pred_dir, kind, exam,
                                                                        data_dir)
            scores[f"{kind}/{exam}"] = score_rows(kind, exam, rows, gold, str(path), rule)
    if not scores:
        raise DiscDataError(f"{pred_dir}: no DISC-Law-Eval prediction files "
                            "(single/<exam>_results.csv, multi/<exam>_results.csv)")
    return scores


def scores_json(scores: dict[str, ExamScore]) -> dict:
    """``{"single": {"cpa": 37.06, ...}, "multi": {...}}`` (percent, 2 decimals,
    as published) and ``disc_items``: items, correct and abstained per exam."""
    out: dict = {kind: {} for kind in KINDS if any(s.kind == kind for s in scores.values())}
    counts: dict = {kind: {} for kind in out}
    for s in scores.values():
        out[s.kind][s.exam] = round(s.accuracy, 2)
        counts[s.kind][s.exam] = {"items": s.items, "correct": s.correct,
                                  "abstained": s.abstained}
    out["disc_items"] = counts
    return out


def table_lines(scores: dict[str, ExamScore]) -> list[str]:
    """Accuracy (percent), right / items and abstentions per exam, then the
    mean accuracy of each kind over its exams."""
    lines = [f"{'DISC-Law-Eval':<14}{'accuracy':>9}{'right':>14}{'abstained':>11}"]
    for kind in KINDS:
        mine = [s for s in scores.values() if s.kind == kind]
        for s in mine:
            lines.append(f"{s.name:<14}{s.accuracy:>9.2f}{f'{s.correct}/{s.items}':>14}"
                         f"{s.abstained:>11}")
        if mine:
            mean = sum(s.accuracy for s in mine) / len(mine)
            lines.append(f"{kind + ' mean':<14}{mean:>9.2f}  over {len(mine)} exam"
                         f"{'s' if len(mine) != 1 else ''}")
    return lines


# --------------------------------------------------------------------------
# Published numbers


@dataclass
class PublishedCheck:
    """Our score of one exam beside the published one."""

    name: str
    """``single/cpa``."""
    published: str
    ours: ExamScore | None
    agree: bool
    note: str = ""


def load_published(path) -> dict[str, dict[str, str]]:
    """``published_accuracy.json``: ``{"<model>/<kind>": {exam: "37.06"}}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DiscDataError(f"{path}: cannot read published accuracies: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DiscDataError(f"{path}: expected {{\"<model>/<single|multi>\": {{exam: "
                            "accuracy}}}}")
    return data


def check_published(scores: dict[str, ExamScore], published: dict, model: str
                    ) -> list[PublishedCheck]:
    """Compare ``scores`` with ``model``'s published accuracies: they agree when
    equal to 0.01 (ours rounds to the published two decimals)."""
    checks = []
    for kind in KINDS:
        for exam, value in sorted(published.get(f"{model}/{kind}", {}).items(),
                                  key=lambda kv: EXAMS[kind].index(kv[0])
                                  if kv[0] in EXAMS[kind] else 99):
            name, text = f"{kind}/{exam}", str(value)
            ours = scores.get(name)
            if ours is None:
                checks.append(PublishedCheck(name, text, None, False, "no prediction file"))
                continue
            target = float(text)
            agree = abs(ours.accuracy - target) <= 0.005 + 1e-9
            note = ""
            if not agree:
                counts = [k for k in range(ours.items + 1)
                          if abs(100.0 * k / ours.items - target) <= 0.005 + 1e-9]
                note = (f"published = {counts[0]} of {ours.items} right, these files give "
                        f"{ours.correct}" if counts else
                        f"no count of right answers out of {ours.items} gives {text}")
            checks.append(PublishedCheck(name, text, ours, agree, note))
    return checks


def published_lines(checks: list[PublishedCheck], model: str, source: str) -> list[str]:
    """Ours beside the published accuracy per exam and a summary naming every
    exam whose published number the prediction files do not reproduce."""
    lines = [f"published ({source}, {model}):",
             f"  {'exam':<14}{'ours':>8}{'published':>11}  agreement"]
    for c in checks:
        ours = "-" if c.ours is None else f"{c.ours.accuracy:.2f}"
        lines.append(f"  {c.name:<14}{ours:>8}{c.published:>11}  "
                     + ("agree" if c.agree else f"DIFFER: {c.note}"))
    differ = [c.name for c in checks if not c.agree]
    lines.append(f"  {len(checks) - len(differ)} of {len(checks)} agree to 0.01"
                 + (f"; not reproduced from these files: {', '.join(differ)}" if differ else ""))
    return lines
