"""Scores of whole runs: own held-out data, saved score files, comparisons.

A *run* is what ``legal-eagle eval generate`` wrote (a prediction folder) or
what ``legal-eagle eval score --json`` printed (saved to a file). Either loads
into one flat mapping ``name -> {"score", "abstention_rate", ...}``: LawBench
task ids (``"1-1"`` ...) and, for prediction files of our own held-out data,
``"data:<file stem>"`` with the citation metrics besides (``score`` is the
character ROUGE-L there; ``citation_f1`` the micro F1 of (law, article)
pairs). :func:`compare_lines` puts two runs side by side.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from legal_eagle_xtuner.eval.citations import CitationScore, score_items
from legal_eagle_xtuner.eval.lawbench import TASKS, LawBenchError, score_dir, scores_json

__all__ = ["ReportError", "compare_lines", "data_files", "data_json", "load_run",
           "score_data_file"]

DATA_PREFIX = "data:"
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
        if not run:
            raise ReportError(f"{path}: no prediction files (LawBench 1-1.json .. 3-8.json "
                              "or own-data files from `legal-eagle eval generate`)")
        run.pop("average", None)
        return run
    if not path.is_file():
        raise ReportError(f"{path}: no such file or directory")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not a score file from `legal-eagle eval score --json` "
                          f"({exc})") from None
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
    return (1, 0, name)


def compare_lines(a: dict[str, dict], b: dict[str, dict], name_a: str = "A",
                  name_b: str = "B") -> tuple[list[str], dict]:
    """Per-task scores of run A and run B and the difference B - A, the mean
    over the LawBench tasks scored in both, and, for own data, every citation
    metric. Returns the table lines and the same as JSON."""
    names = sorted(set(a) | set(b), key=_order)
    width = max([len(n) for n in names] + [8]
                + [len(m) + 3 for m in _DATA_METRICS if any(n.startswith(DATA_PREFIX)
                                                            for n in names)])
    lines = [f"A = {name_a}", f"B = {name_b}",
             f"{'task':<{width}}{'A':>9}{'B':>9}{'B - A':>9}{'abst A':>9}{'abst B':>9}"]
    out: dict = {}
    common = []
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
        if name in TASKS and sa is not None and sb is not None:
            common.append((sa, sb))
        if name.startswith(DATA_PREFIX) and ra and rb:
            for metric in _DATA_METRICS:
                ma, mb = ra.get(metric), rb.get(metric)
                lines.append(f"{'  ' + metric:<{width}}{_fmt(ma):>9}{_fmt(mb):>9}"
                             f"{_diff(ma, mb):>9}")
                out[name][metric] = {"a": ma, "b": mb,
                                     "diff": None if ma is None or mb is None else mb - ma}
    if common:
        mean_a = sum(x for x, _ in common) / len(common)
        mean_b = sum(y for _, y in common) / len(common)
        lines.append(f"{'average':<{width}}{_fmt(mean_a):>9}{_fmt(mean_b):>9}"
                     f"{_diff(mean_a, mean_b):>9}  over the {len(common)} LawBench tasks "
                     "scored in both")
        better = sum(y > x for x, y in common)
        worse = sum(y < x for x, y in common)
        lines.append(f"B is better on {better}, worse on {worse}, equal on "
                     f"{len(common) - better - worse} of them")
        out["average"] = {"a": mean_a, "b": mean_b, "diff": mean_b - mean_a,
                          "tasks": len(common)}
    return lines, out
