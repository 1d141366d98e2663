"""Deterministic synthetic corpora shaped like the four real legal sources (DISC-Law-SFT
Pair/Triplet, LAW-GPT 52k/92k), in any size, for tests and benchmarks. Imports the
standard library, ``legal_eagle_xtuner.resources`` and ``data`` only (and tqdm, lazily)."""

from legal_eagle_xtuner.data.synthetic.numerals import chinese_numeral
from legal_eagle_xtuner.data.synthetic.records import BLOCK, SOURCES, iter_records, make_record
from legal_eagle_xtuner.data.synthetic.tasks import DISC_PAIR_TASKS
from legal_eagle_xtuner.data.synthetic.writer import FORMATS, default_format, write_corpus

__all__ = [
    "BLOCK",
    "DISC_PAIR_TASKS",
    "FORMATS",
    "SOURCES",
    "chinese_numeral",
    "default_format",
    "iter_records",
    "make_record",
    "write_corpus",
]
