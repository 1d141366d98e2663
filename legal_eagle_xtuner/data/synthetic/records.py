"""Records of the synthetic corpora, one source at a time, deterministically.

Tests and benchmarks need corpora that look like DISC-Law-SFT and LAW-GPT
(same fields, same file layout, similar text lengths and task mix) in any
size, without downloading anything. This package writes them:

* ``disc_pair``    — JSONL, ``{"id": "<task>_<n>", "input", "output"}``; the
  ten DISC-Law-SFT-Pair tasks weighted by their real sizes
  (:data:`DISC_PAIR_TASKS`), about 1.4 KB per record on average (the real
  file: 347 MB for about 257K records).
* ``disc_triplet`` — JSONL, ``{"id", "reference", "input", "output"}``; ids
  ``legal_question_answering_<n>`` or ``judicial_examination_<n>``, 1–4
  references like ``《中华人民共和国民法典》第一千零七十九条：……``.
* ``lawgpt_52k``   — one JSON array of ``{"input", "output"}`` consultations.
* ``lawgpt_92k``   — one JSON array of ``{"question", "answer", "reference"}``
  with references in LAW-GPT's file-listing style
  (``民法-民法典2020-05-28:    "第一千零七十九条 ……",\\n``).

(The layouts of the written files are in :mod:`~legal_eagle_xtuner.data.synthetic.writer`.)

Determinism: records depend only on (source, seed, index). Records are
generated in blocks of :data:`BLOCK` from one ``random.Random`` seeded with an
integer derived from (seed, source, block), and the only random primitive
used is ``Random.random()`` — the seeding and ``random()`` output are the two
parts of the ``random`` module Python guarantees to keep stable across
versions and platforms. Length distributions are tabulated at import with
plain float arithmetic (no ``math`` library calls), so the same seed gives a
byte-identical file on any machine. The output for a given seed may change
when the phrase pools (``resources/synthetic_*.json``) change.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from typing import Iterator, Sequence

from legal_eagle_xtuner.data.synthetic.numerals import _LEN, _draw
from legal_eagle_xtuner.data.synthetic.pools import _common, _pools
from legal_eagle_xtuner.data.synthetic.tasks import (
    _PAIR_BOUNDS,
    _PAIR_NAMES,
    _TASK_FUNCS,
    _TRIPLET_BOUNDS,
    _TRIPLET_NAMES,
    _exam,
)
from legal_eagle_xtuner.data.synthetic.text import _answer, _choose_statutes, _cited_answer, _question

SOURCES = ("disc_pair", "disc_triplet", "lawgpt_52k", "lawgpt_92k")
"""Sources this package generates (the sources of :mod:`legal_eagle_xtuner.map_fns`)."""

BLOCK = 1024
"""Records generated from one seeding of the random generator."""

# Markers left in pooled sentences and replaced per record by party names, so
# that one record names the same people throughout.
_A, _B, _C = "Ⓐ", "Ⓑ", "Ⓒ"


def _names(rr, names: Sequence[str]) -> tuple[str, str, str]:
    """Three party names; the first two differ."""
    n = len(names)
    a = int(rr() * n)
    b = int(rr() * n)
    if b == a:
        b = (a + 7) % n
    return names[a], names[b], names[int(rr() * n)]


def _personalise(text: str, a: str, b: str, c: str) -> str:
    if _A in text:
        text = text.replace(_A, a)
    if _B in text:
        text = text.replace(_B, b)
    if _C in text:
        text = text.replace(_C, c)
    return text


def _check_source(source) -> None:
    if source not in SOURCES:
        valid = ", ".join(repr(s) for s in SOURCES)
        raise ValueError(f"unknown source {source!r}; valid sources: {valid}")


def _check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "a non-negative" if minimum == 0 else "a positive"
        raise ValueError(f"{name} must be {kind} integer, got {value!r}")


def make_record(source: str, index: int, rng: random.Random) -> dict:
    """One record of ``source``, drawn from ``rng`` (which it advances).

    ``index`` only numbers the DISC ids (``"<task>_<index>"``); the content
    comes from ``rng``. Fields are in the real files' order: ``id, input,
    output`` (disc_pair), ``id, reference, input, output`` (disc_triplet),
    ``input, output`` (lawgpt_52k), ``question, answer, reference``
    (lawgpt_92k). Raises ``ValueError`` for an unknown source or a negative
    index.
    """
    _check_source(source)
    _check_int("index", index, 0)
    return _MAKERS[source](index, rng.random)


def _make_disc_pair(index: int, rr) -> dict:
    pools = _pools()
    c = _common()
    task = _PAIR_NAMES[bisect_right(_PAIR_BOUNDS, rr())]
    p = pools[int(rr() * len(pools))]
    a, b, cc = _names(rr, c["names"])
    question, answer = _TASK_FUNCS[task](p, rr, c)
    return {
        "id": f"{task}_{index}",
        "input": _personalise(question, a, b, cc),
        "output": _personalise(answer, a, b, cc),
    }


def _make_disc_triplet(index: int, rr) -> dict:
    pools = _pools()
    c = _common()
    task = _TRIPLET_NAMES[bisect_right(_TRIPLET_BOUNDS, rr())]
    p = pools[int(rr() * len(pools))]
    a, b, cc = _names(rr, c["names"])
    chosen = _choose_statutes(p, 4, rr)
    if task == "judicial_examination":
        question, answer = _exam(p, rr)
    else:
        question = _question(p, _draw(_LEN["qa_q"], rr), rr)
        answer = _cited_answer(p, chosen, _draw(_LEN["qa_a"], rr), rr)
    return {
        "id": f"{task}_{index}",
        "reference": [p.disc_refs[i] for i in chosen],
        "input": _personalise(question, a, b, cc),
        "output": _personalise(answer, a, b, cc),
    }


def _make_lawgpt_52k(index: int, rr) -> dict:
    pools = _pools()
    c = _common()
    p = pools[int(rr() * len(pools))]
    a, b, cc = _names(rr, c["names"])
    question = _question(p, _draw(_LEN["q52"], rr), rr)
    answer = _answer(p, _draw(_LEN["a52"], rr), rr, formal=False)
    if rr() < 0.1:
        answer += "\n"
    return {"input": _personalise(question, a, b, cc), "output": _personalise(answer, a, b, cc)}


def _make_lawgpt_92k(index: int, rr) -> dict:
    pools = _pools()
    c = _common()
    p = pools[int(rr() * len(pools))]
    a, b, cc = _names(rr, c["names"])
    chosen = _choose_statutes(p, 3, rr)
    question = _question(p, _draw(_LEN["q92"], rr), rr)
    answer = _cited_answer(p, chosen, _draw(_LEN["a92"], rr), rr)
    reference = [line for i in chosen for line in p.lawgpt_refs[i]]
    return {
        "question": _personalise(question, a, b, cc),
        "answer": _personalise(answer, a, b, cc),
        "reference": reference,
    }


_MAKERS = {
    "disc_pair": _make_disc_pair,
    "disc_triplet": _make_disc_triplet,
    "lawgpt_52k": _make_lawgpt_52k,
    "lawgpt_92k": _make_lawgpt_92k,
}


def _block_seed(seed: int, source: str, block: int) -> int:
    # Non-negative and injective in (seed mod 2**64, source, block).
    return ((seed % (1 << 64)) << 96) | (SOURCES.index(source) << 80) | block


def iter_records(source: str, *, seed: int = 0, start: int = 0) -> Iterator[dict]:
    """Endless, deterministic stream of ``source`` records from index ``start``.

    Record ``i`` depends only on (source, seed, i): the stream from
    ``start=k`` equals the stream from ``start=0`` with its first ``k``
    records dropped (records come in blocks of :data:`BLOCK`, each drawn from
    a ``random.Random`` seeded from (seed, source, block)). Raises
    ``ValueError`` for an unknown source, a non-integer seed or a negative
    start (when the iterator is created).
    """
    _check_source(source)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    _check_int("start", start, 0)
    return _iter_records(source, seed, start)


def _iter_records(source: str, seed: int, start: int) -> Iterator[dict]:
    make = _MAKERS[source]
    rng = random.Random()
    rr = rng.random
    block, skip = divmod(start, BLOCK)
    while True:
        rng.seed(_block_seed(seed, source, block))
        base = block * BLOCK
        for offset in range(BLOCK):
            record = make(base + offset, rr)
            if offset >= skip:
                yield record
        skip = 0
        block += 1
