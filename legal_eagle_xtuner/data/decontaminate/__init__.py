"""Flag training records whose question overlaps a benchmark item (LawBench).

LawBench reuses the sources our corpora come from (task 3-2 is built from
LAW-GPT scenario questions, 2-4 from CrimeKgAssitant, the 3-x cases from
CAIL), so a model fine-tuned on them may have seen test items. This module
finds training records that share text with a benchmark question and writes a
clean copy without them.

The rule is documented where it is applied: ``normalize`` (what is compared),
``benchmarks`` (which benchmark text, which grams, boilerplate), ``run`` (the
training side, counts and outputs), ``ngrams`` (rolling hashes, the index and
the matching).
"""

from legal_eagle_xtuner.data.decontaminate.benchmarks import DecontaminationError, load_benchmarks
from legal_eagle_xtuner.data.decontaminate.ngrams import BenchmarkIndex
from legal_eagle_xtuner.data.decontaminate.normalize import (  # the tests check the private two
    _alnum_table,
    _normalize_batch,
    normalize,
)
from legal_eagle_xtuner.data.decontaminate.run import (
    DecontaminationResult,
    TaskOverlap,
    decontaminate,
    report_lines,
)

__all__ = [
    "BenchmarkIndex",
    "DecontaminationError",
    "DecontaminationResult",
    "TaskOverlap",
    "decontaminate",
    "load_benchmarks",
    "normalize",
    "report_lines",
]
