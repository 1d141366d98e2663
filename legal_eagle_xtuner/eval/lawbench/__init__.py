"""Score LawBench zero-shot prediction files the way LawBench publishes them.

A prediction directory holds one ``<task>.json`` per LawBench task (``1-1.json``
... ``3-8.json``), each a JSON object keyed ``"0"`` .. ``"N-1"`` whose values are
``{"origin_prompt", "prediction", "refr"}`` (``origin_prompt`` is a string or a
list of ``{"role", "prompt"}`` turns; only its shape is checked). Every task
gets a :class:`TaskScore` on LawBench's 0-1 scale plus an abstention rate over
all items of the file. The rules reproduce the numbers of LawBench's own
evaluation (and so its published zero-shot table) to float precision; they were
written from the task descriptions, not copied.

``metrics`` holds the generic measures (option matching, ROUGE-L, Char-F1,
Set-F1, ...), ``extract`` reads answers out of predictions (entities, articles,
prison terms, amounts), ``rules`` the per-task golds, judges and registry,
``score`` loading, scoring and the table/JSON output.
"""

from legal_eagle_xtuner.eval.lawbench.extract import (
    amount_judge,
    article_numbers,
    chinese_numerals_to_digits,
    gold_entities,
    predicted_entities,
    term_months,
)
from legal_eagle_xtuner.eval.lawbench.metrics import (
    MAX_LOG_DISTANCE,
    _segment,  # the jieba segmentation ROUGE-L scores on (the tests compare with it)
    char_f1,
    entity_f1,
    labels_in,
    lcs_length,
    log_distance,
    option_judge,
    rouge_l,
    set_f1,
    trigger_f1,
)
from legal_eagle_xtuner.eval.lawbench.rules import LABELS_FILE, OPTIONAL_TASKS, TASKS, load_labels
from legal_eagle_xtuner.eval.lawbench.score import (
    LawBenchError,
    TaskScore,
    load_predictions,
    score_dir,
    score_task,
    scores_json,
    table_lines,
)

__all__ = [
    "TASKS",
    "OPTIONAL_TASKS",
    "TaskScore",
    "LawBenchError",
    "load_predictions",
    "load_labels",
    "score_task",
    "score_dir",
    "table_lines",
    "scores_json",
    "option_judge",
    "labels_in",
    "set_f1",
    "char_f1",
    "lcs_length",
    "rouge_l",
    "gold_entities",
    "predicted_entities",
    "entity_f1",
    "trigger_f1",
    "chinese_numerals_to_digits",
    "article_numbers",
    "term_months",
    "log_distance",
    "amount_judge",
]
