"""DISC-Law-Eval's files: where they are, reading and writing its CSVs, prompts.

The benchmark folder (``eval/`` of the DISC-LawLLM repository) holds
``datasets/objective/mcq_sing_<exam>.csv`` and ``mcq_mult_<exam>.csv``
(columns ``input, output, A, B, C, D, source, multichoice``; ``output`` is the
gold letters), ``few_shot/mcq_sing_examples.csv`` / ``mcq_mult_examples.csv``
(``input`` with its options, ``output`` the answer written out) and
``datasets/subjective/qa_short_answer.json`` (open questions). A prediction
folder has the published layout ``<single|multi>/<exam>_results.csv``: the
question columns plus ``model_output``, in dataset row order.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from legal_eagle_xtuner.eval.disc_law_eval.extract import LETTERS

__all__ = [
    "DATA_COLUMNS",
    "EXAMS",
    "KINDS",
    "OUTPUT_COLUMN",
    "SUBJECTIVE",
    "DiscDataError",
    "data_file",
    "few_shot_file",
    "find_data_dir",
    "item_text",
    "read_rows",
    "results_file",
    "subjective_file",
    "user_turn",
    "write_rows",
]

KINDS = ("single", "multi")
"""Single-answer and multiple-answer questions (``sing`` / ``mult`` in file names)."""
EXAMS = {
    "single": ("cpa", "lbk", "nje", "pae", "pfe", "ungee"),
    "multi": ("cpa", "nje", "pae", "ungee"),
}
"""Exams of each kind: certified public accountant, legal basic knowledge,
national judicial, patent agent, public-servant, postgraduate entrance."""
DATA_COLUMNS = ("input", "output", *LETTERS, "source", "multichoice")
OUTPUT_COLUMN = "model_output"
SUBJECTIVE = "qa_short_answer"
"""Stem of the open-question set (its predictions: ``subjective/qa_short_answer.json``)."""
_SHORT = {"single": "sing", "multi": "mult"}


class DiscDataError(Exception):
    """A missing or unreadable benchmark or prediction file; ``str()`` is for users."""


def find_data_dir(path) -> Path:
    """The benchmark folder: ``path`` when it holds ``datasets/objective/``;
    for ``datasets/objective`` itself the folder two levels up; a folder with
    the ``mcq_*.csv`` (and examples, open questions) side by side as it is."""
    path = Path(path)
    if (path / "datasets" / "objective").is_dir():
        return path
    if path.is_dir() and any(path.glob("mcq_*.csv")):
        if path.name == "objective" and path.parent.name == "datasets":
            return path.parent.parent
        return path
    raise DiscDataError(f"{path}: not DISC-Law-Eval data (expected datasets/objective/"
                        "mcq_sing_<exam>.csv ...)")


def _in(data_dir, folder: str, name: str) -> Path:
    """``data_dir/folder/name``, or ``data_dir/name`` when only that exists."""
    nested, flat = Path(data_dir) / folder / name, Path(data_dir) / name
    return flat if flat.exists() and not nested.exists() else nested


def data_file(data_dir, kind: str, exam: str) -> Path:
    """The dataset CSV of one exam (``datasets/objective/mcq_sing_cpa.csv``)."""
    return _in(data_dir, "datasets/objective", f"mcq_{_SHORT[kind]}_{exam}.csv")


def few_shot_file(data_dir, kind: str) -> Path:
    """The benchmark's few-shot examples of one kind (``few_shot/mcq_sing_examples.csv``)."""
    return _in(data_dir, "few_shot", f"mcq_{_SHORT[kind]}_examples.csv")


def subjective_file(data_dir) -> Path:
    """The open-question set (``datasets/subjective/qa_short_answer.json``)."""
    return _in(data_dir, "datasets/subjective", f"{SUBJECTIVE}.json")


def results_file(pred_dir, kind: str, exam: str) -> Path:
    """``PRED_DIR/<kind>/<exam>_results.csv``, the published layout."""
    return Path(pred_dir) / kind / f"{exam}_results.csv"


def read_rows(path, required=("input",)) -> list[dict[str, str]]:
    """The rows of a DISC-Law-Eval CSV (UTF-8, with or without BOM) as dicts;
    raises :class:`DiscDataError` for a missing file, bad text or a missing
    column of ``required``."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DiscDataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DiscDataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = [dict(row) for row in reader]
    except csv.Error as exc:
        raise DiscDataError(f"{path}: not a readable CSV file: {exc}") from None
    missing = [c for c in required if c not in (reader.fieldnames or ())]
    if missing:
        raise DiscDataError(f"{path}: no column {', '.join(missing)} "
                            f"(columns: {', '.join(reader.fieldnames or ()) or 'none'})")
    for number, row in enumerate(rows, 2):
        if None in row or any(v is None for v in row.values()):
            raise DiscDataError(f"{path}: row {number - 1}: not as many cells as columns")
    return rows


def write_rows(path, rows: list[dict[str, str]], columns) -> None:
    """Write ``rows`` (``columns`` in this order) as CSV through a temporary
    file and a rename, so that no reader sees half a file."""
    path = Path(path)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(out.getvalue())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except OSError as exc:
        raise DiscDataError(f"cannot write {path}: {exc.strerror or exc}") from None


def item_text(row: dict[str, str]) -> str:
    """The question and its options, the text letters of names are looked up in."""
    return "\n".join([row.get("input", ""), *(row.get(x) or "" for x in LETTERS)])


def user_turn(row: dict[str, str], examples: list[dict[str, str]] = ()) -> str:
    """The question as the few-shot files write theirs (``question\\nA.…\\nB.…``);
    with ``examples``, each example's question and ``答案：answer`` first, one
    blank line apart, and ``答案：`` after the question."""
    options = [f"{x}.{row[x]}" for x in LETTERS if (row.get(x) or "").strip()]
    question = "\n".join([row["input"].strip(), *options])
    if not examples:
        return question
    shots = [f"{ex['input'].strip()}\n答案：{ex['output'].strip()}" for ex in examples]
    return "\n\n".join([*shots, f"{question}\n答案："])
