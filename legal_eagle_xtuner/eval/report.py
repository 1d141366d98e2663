"""Scores of whole runs: own held-out data, saved score files, comparisons.

A *run* is what ``legal-eagle eval generate`` wrote (a prediction folder) or
what ``legal-eagle eval score --json`` printed (saved to a file). Either loads
into one flat mapping ``name -> {"score", "abstention_rate", ...}``: LawBench
task ids (``"1-1"`` ...), DISC-Law-Eval exams (``"disc:single/cpa"`` ..., the
accuracy as a fraction: 37.06% is 0.3706) and, for prediction files of our
own held-out data and DISC-Law-Eval's open questions, ``"data:<file stem>"``
with the citation metrics besides (``score`` is the character ROUGE-L there;
``citation_f1`` the micro F1 of (law, article) pairs). :func:`compare_lines`
puts two runs side by side.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from legal_eagle_xtuner.eval import disc_law_eval as disc
from legal_eagle_xtuner.eval.citations import CitationScore, score_items
from legal_eagle_xtuner.eval.lawbench import TASKS, LawBenchError, score_dir, scores_json

__all__ = ["ReportError", "compare_lines", "data_files", "data_json", "disc_subjective_file",
           "load_run", "score_data_file"]

DATA_PREFIX = "data:"
DISC_PREFIX = "disc:"
DISC_NAMES = [f"{DISC_PREFIX}{k}/{e}" for k in disc.KINDS for e in disc.EXAMS[k]]
_DATA_METRICS = ("citation_f1", "citation_precision", "citation_recall", "rouge_l")


class ReportError(Exception):
    """Unusable input; the text is for users."""


def data_files(pred_dir) -> list[Path]:
    """Prediction files of own data in a folder: ``*.json`` that are neither
    LawBench task files nor metadata (``_run.json``)."""
    return sorted(p for p in Path(pred_dir).glob("*.json")
                  if p.stem not in TASKS and not p.name.startswith("_"))


def score_data_file(path) -> CitationScore:
    """Citation metrics and ROUGE-L of one prediction file of own data."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: cannot read predictions: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise ReportError(f"{path}: expected a non-empty JSON object keyed \"0\"..\"N-1\" "
                          "(from `legal-eagle eval generate --data`)")
    try:
        return score_items(data[k] for k in sorted(data, key=_key_order))
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"{path}: {str(exc).strip(chr(34) + chr(39))}") from None


def _key_order(key: str):
    return (0, int(key)) if key.isdigit() else (1, key)


def data_json(score: CitationScore) -> dict:
    """The flat record of an own-data file in a run."""
    return {
        "score": score.rouge_l,
        "abstention_rate": score.abstention,
        "citation_f1": score.f1,
        "citation_precision": score.precision,
        "citation_recall": score.recall,
        "citation_macro_f1": score.macro_f1,
        "rouge_l": score.rouge_l,
        "items": score.items,
        "items_with_gold_citations": score.items_with_gold,
    }


def disc_subjective_file(pred_dir) -> Path | None:
    """DISC-Law-Eval's open-question predictions in a folder, if there are any."""
    path = Path(pred_dir) / "subjective" / f"{disc.SUBJECTIVE}.json"
    return path if path.is_file() else None


def _disc_rows(scores: dict) -> dict[str, dict]:
    return {DISC_PREFIX + name: {"score": s.accuracy / 100, "items": s.items,
                                 "abstention_rate": s.abstained / s.items}
            for name, s in scores.items()}


def _disc_saved(run: dict) -> None:
    """Turn the ``single`` / ``multi`` accuracies of a saved score file into rows."""
    counts = run.pop("disc_items", {})
    run.pop("published", None)
    for kind in disc.KINDS:
        exams = run.pop(kind, None)
        if not isinstance(exams, dict):
            continue
        for exam, accuracy in exams.items():
            count = counts.get(kind, {}).get(exam, {}) if isinstance(counts, dict) else {}
            items = count.get("items") if isinstance(count, dict) else None
            rate = count["abstained"] / items if items and "abstained" in count else None
            run[f"{DISC_PREFIX}{kind}/{exam}"] = {
                "score": accuracy / 100 if isinstance(accuracy, (int, float)) else None,
                "abstention_rate": rate}


def load_run(path, progress: bool | None = None) -> dict[str, dict]:
    """A run's scores: score a prediction folder, or read a saved ``--json``."""
    path = Path(path)
    if path.is_dir():
        run: dict[str, dict] = {}
        if any((path / f"{t}.json").is_file() for t in TASKS):
            try:
                run.update(scores_json(score_dir(path, progress=progress)))
            except LawBenchError as exc:
                raise ReportError(str(exc)) from None
        for file in data_files(path):
            run[DATA_PREFIX + file.stem] = data_json(score_data_file(file))
        if any(path.glob("*/*_results.csv")):
            try:
                run.update(_disc_rows(disc.score_dir(path)))
            except disc.DiscDataError as exc:
                raise ReportError(str(exc)) from None
        subjective = disc_subjective_file(path)
        if subjective is not None:
            run[DATA_PREFIX + subjective.stem] = data_json(score_data_file(subjective))
        if not run:
            raise ReportError(f"{path}: no prediction files (LawBench 1-1.json .. 3-8.json, "
                              "DISC-Law-Eval single/<exam>_results.csv ... or own-data files "
                              "from `legal-eagle eval generate`)")
        run.pop("average", None)
        return run
    if not path.is_file():
        raise ReportError(f"{path}: no such file or directory")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not a score file from `legal-eagle eval score --json` "
                          f"({exc})") from None
    if isinstance(run, dict):
        run.pop("citations", None)  # eval score --citations INDEX: counts, not a task
        _disc_saved(run)
    if not isinstance(run, dict) or not all(
            isinstance(v, dict) and "score" in v for k, v in run.items() if k != "average"):
        raise ReportError(f"{path}: not a score file from `legal-eagle eval score --json` "
                          "(expected {task: {\"score\", \"abstention_rate\"}})")
    run.pop("average", None)
    return run


def _fmt(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.4f}"


def _diff(a, b) -> str:
    if a is None or b is None:
        return "-"
    return f"{b - a:+.4f}"


def _order(name: str):
    if name in TASKS:
        return (0, TASKS.index(name), name)
    if name in DISC_NAMES:
        return (1, DISC_NAMES.index(name), name)
    return (2, 0, name)


def _mean_lines(pairs, width: int, label: str, what: str) -> tuple[list[str], dict]:
    mean_a = sum(x for x, _ in pairs) / len(pairs)
    mean_b = sum(y for _, y in pairs) / len(pairs)
    better = sum(y > x for x, y in pairs)
    worse = sum(y < x for x, y in pairs)
    lines = [f"{label:<{width}}{_fmt(mean_a):>9}{_fmt(mean_b):>9}{_diff(mean_a, mean_b):>9}"
             f"  over the {len(pairs)} {what} scored in both",
             f"B is better on {better}, worse on {worse}, equal on "
             f"{len(pairs) - better - worse} of them"]
    return lines, {"a": mean_a, "b": mean_b, "diff": mean_b - mean_a, "tasks": len(pairs)}


def compare_lines(a: dict[str, dict], b: dict[str, dict], name_a: str = "A",
                  name_b: str = "B") -> tuple[list[str], dict]:
    """Per-task scores of run A and run B and the difference B - A, the mean
    over the LawBench tasks scored in both, the same over DISC-Law-Eval's exams,
    and, for own data, every citation metric. Returns the table lines and the
    same as JSON."""
    names = sorted(set(a) | set(b), key=_order)
    width = max([len(n) for n in names] + [8]
                + [len(m) + 3 for m in _DATA_METRICS if any(n.startswith(DATA_PREFIX)
                                                            for n in names)])
    lines = [f"A = {name_a}", f"B = {name_b}",
             f"{'task':<{width}}{'A':>9}{'B':>9}{'B - A':>9}{'abst A':>9}{'abst B':>9}"]
    out: dict = {}
    common, disc_common = [], []
    for name in names:
        ra, rb = a.get(name), b.get(name)
        sa = ra.get("score") if ra else None
        sb = rb.get("score") if rb else None
        row = f"{name:<{width}}{_fmt(sa):>9}{_fmt(sb):>9}{_diff(sa, sb):>9}" \
              f"{_fmt(ra.get('abstention_rate') if ra else None):>9}" \
              f"{_fmt(rb.get('abstention_rate') if rb else None):>9}"
        if ra is None or rb is None:
            row += f"  only in {'B' if ra is None else 'A'}"
        lines.append(row)
        out[name] = {"a": sa, "b": sb, "diff": None if sa is None or sb is None else sb - sa}
        if sa is not None and sb is not None and name in TASKS:
            common.append((sa, sb))
        if sa is not None and sb is not None and name.startswith(DISC_PREFIX):
            disc_common.append((sa, sb))
        if name.startswith(DATA_PREFIX) and ra and rb:
            for metric in _DATA_METRICS:
                ma, mb = ra.get(metric), rb.get(metric)
                lines.append(f"{'  ' + metric:<{width}}{_fmt(ma):>9}{_fmt(mb):>9}"
                             f"{_diff(ma, mb):>9}")
                out[name][metric] = {"a": ma, "b": mb,
                                     "diff": None if ma is None or mb is None else mb - ma}
    if common:
        more, out["average"] = _mean_lines(common, width, "average", "LawBench tasks")
        lines += more
    if disc_common:
        more, out["disc_average"] = _mean_lines(disc_common, width, "disc average",
                                                "DISC-Law-Eval exams")
        lines += more
    if any(n.startswith(DISC_PREFIX) for n in names):
        lines.append("disc: DISC-Law-Eval accuracy as a fraction (37.06% = 0.3706)")
    return lines, out
