"""Answer DISC-Law-Eval with a model, into the benchmark's published layout.

Each exam is answered through :func:`legal_eagle_xtuner.eval.generate.generate_file`
(the batching, resuming and prompt-by-prompt check of every prediction
folder), into ``<kind>/<exam>_results.json`` in LawBench's format; once every
item of the exam has its answer, ``<kind>/<exam>_results.csv`` is written
beside it (atomically): the dataset's columns plus ``model_output``, in
dataset order, the file ``eval score --disc-law-eval`` reads. The open
questions go to ``subjective/qa_short_answer.json`` like held-out data of our
own (scored by citations and ROUGE-L).

The prompt is the question with its options the way the benchmark's few-shot
files write them (``question\\nA.…\\nB.…``); ``few_shot`` puts the benchmark's
examples of that kind before it (:func:`~legal_eagle_xtuner.eval.disc_law_eval.data.user_turn`),
all in the first user turn of the model's chat template. No system prompt
unless one is given (as for LawBench).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from legal_eagle_xtuner.eval.disc_law_eval.data import (
    DATA_COLUMNS,
    EXAMS,
    KINDS,
    OUTPUT_COLUMN,
    SUBJECTIVE,
    DiscDataError,
    data_file,
    few_shot_file,
    find_data_dir,
    read_rows,
    subjective_file,
    user_turn,
    write_rows,
)
from legal_eagle_xtuner.eval.generate import EvalItem, FileResult, GenerateError, data_items, \
    generate_file

__all__ = ["DiscJob", "disc_jobs", "run_job", "task_names"]


def task_names(tasks: Sequence[str] | None) -> list[str]:
    """``--tasks`` for DISC-Law-Eval: ``single/cpa``, a kind (``single``,
    ``multi``), an exam (``cpa``: both kinds) or ``subjective``; ``None``:
    everything. Returns ``["single/cpa", ..., "subjective"]`` in benchmark order."""
    every = [f"{k}/{e}" for k in KINDS for e in EXAMS[k]] + ["subjective"]
    if not tasks:
        return every
    chosen = set()
    for task in tasks:
        picked = [n for n in every if task in (n, n.split("/")[0], n.split("/")[-1])]
        if not picked:
            raise GenerateError(f"unknown DISC-Law-Eval task {task!r}; give single/<exam>, "
                                "multi/<exam>, single, multi, an exam "
                                f"({', '.join(EXAMS['single'])}) or subjective")
        chosen.update(picked)
    return [n for n in every if n in chosen]


@dataclass
class DiscJob:
    """One output file to answer."""

    name: str
    """``single/cpa`` ... or ``subjective``."""
    items: list[EvalItem]
    store: str
    """The answers in LawBench's format, relative to the prediction folder."""
    rows: list[dict] | None = None
    """Dataset rows of an exam (the CSV is written from them), ``None`` for the open questions."""
    notes: list[str] = field(default_factory=list)
    """Records left out (open questions), ``FILE:LINE: why``."""

    @property
    def csv(self) -> str | None:
        return None if self.rows is None else self.store[:-len(".json")] + ".csv"


def _examples(data_dir: Path, kind: str) -> list[dict]:
    path = few_shot_file(data_dir, kind)
    if not path.is_file():
        raise GenerateError(f"{path}: no few-shot examples for --few-shot")
    return read_rows(path, ("input", "output"))


def disc_jobs(data_dir, tasks: Sequence[str] | None = None, limit: int | None = None, *,
              few_shot: bool = False, system: str | None = None) -> list[DiscJob]:
    """What to answer of the benchmark in ``data_dir`` (``tasks`` as for
    :func:`task_names`, at most ``limit`` items each): of those the files
    found; one named in full (``single/cpa``, ``subjective``) must have its file."""
    named = set(tasks or ())
    try:
        root = find_data_dir(data_dir)
        jobs = []
        for name in task_names(tasks):
            if name == "subjective":
                path = subjective_file(root)
                if not path.is_file():
                    if name in named:
                        raise GenerateError(f"{path}: no open-question set")
                    continue
                items, rejects, _ = data_items(path, system="" if system is None else system,
                                               limit=limit)
                jobs.append(DiscJob(name, items, f"subjective/{SUBJECTIVE}.json", None, rejects))
                continue
            kind, exam = name.split("/")
            path = data_file(root, kind, exam)
            if not path.is_file():
                if name in named:
                    raise GenerateError(f"{path}: no data for {name}")
                continue
            rows = read_rows(path, ("input", "output"))[:limit or None]
            if not rows:
                raise GenerateError(f"{path}: no questions")
            examples = _examples(root, kind) if few_shot else []
            items = [EvalItem(str(i), user_turn(row, examples), row["output"].strip(), system)
                     for i, row in enumerate(rows)]
            jobs.append(DiscJob(name, items, f"{kind}/{exam}_results.json", rows))
    except DiscDataError as exc:
        raise GenerateError(str(exc)) from None
    if not jobs:
        raise GenerateError(f"{data_dir}: no DISC-Law-Eval data files found")
    return jobs


def run_job(job: DiscJob, pred_dir, generator, template: dict, *, max_new_tokens: int,
            temperature: float = 0.0, batch_size: int = 8, on_done=None) -> FileResult:
    """Answer one job into ``pred_dir`` (resuming it); then write the exam's CSV."""
    pred_dir = Path(pred_dir)
    result = generate_file(job.items, pred_dir / job.store, generator, template,
                           max_new_tokens=max_new_tokens, temperature=temperature,
                           batch_size=batch_size, on_done=on_done)
    if job.rows is not None:
        answers = json.loads((pred_dir / job.store).read_text(encoding="utf-8"))
        rows = [{**row, OUTPUT_COLUMN: answers[str(i)]["prediction"]}
                for i, row in enumerate(job.rows)]
        columns = [c for c in DATA_COLUMNS if c in job.rows[0]] + [OUTPUT_COLUMN]
        try:
            write_rows(pred_dir / job.csv, rows, columns)
        except DiscDataError as exc:
            raise GenerateError(str(exc)) from None
        result.path = pred_dir / job.csv
    return result
