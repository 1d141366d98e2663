"""DISC-Law-Eval, the benchmark of the DISC-LawLLM authors, beside LawBench.

Legal-exam multiple-choice questions of six exams, single and multiple answer,
plus open questions. ``benchmark_rule`` reads the chosen letters out of an answer
as the benchmark does (the default), ``extract`` by our own rule of 0.1,
``data`` the benchmark's files and prompts, ``score`` the accuracies as
published (and the check against published numbers), ``generate`` answers the
benchmark with a model into its published layout.
"""

from legal_eagle_xtuner.eval.disc_law_eval.data import (
    EXAMS,
    KINDS,
    SUBJECTIVE,
    DiscDataError,
    find_data_dir,
    user_turn,
)
from legal_eagle_xtuner.eval.disc_law_eval.benchmark_rule import benchmark_letters
from legal_eagle_xtuner.eval.disc_law_eval.extract import answer_letters, gold_letters
from legal_eagle_xtuner.eval.disc_law_eval.score import (
    DEFAULT_RULE,
    RULES,
    ExamScore,
    PublishedCheck,
    check_published,
    load_published,
    published_lines,
    score_dir,
    scores_json,
    table_lines,
)

__all__ = [
    "DEFAULT_RULE",
    "RULES",
    "benchmark_letters",
    "EXAMS",
    "KINDS",
    "SUBJECTIVE",
    "DiscDataError",
    "ExamScore",
    "PublishedCheck",
    "answer_letters",
    "check_published",
    "find_data_dir",
    "gold_letters",
    "load_published",
    "published_lines",
    "score_dir",
    "scores_json",
    "table_lines",
    "user_turn",
]
