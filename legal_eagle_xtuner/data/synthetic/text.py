"""Pieces of synthetic records drawn from the pools: sentence walks and samples,
consultation questions and answers, statute choices, judgments and case facts.

Every function takes ``rr`` (a ``Random.random``) and draws only from it, so a
record is a pure function of its generator's state.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

from legal_eagle_xtuner.data.synthetic.numerals import chinese_numeral
from legal_eagle_xtuner.data.synthetic.pools import _Pools
from legal_eagle_xtuner.data.synthetic.tables import _phrases, _words

_NUMBERED = tuple(chinese_numeral(i) + "、" for i in range(1, 10))


@functools.cache
def _contexts() -> tuple[str, ...]:
    """What a question may say about the asker: "我在<city>，" for every city, then others."""
    return (tuple(f"我在{city}，" for city, _ in _words()["cities"])
            + _phrases()["other_contexts"])


def _walk(groups: Sequence[Sequence[str]], chars: int, rr: Callable[[], float],
          first: int = 0) -> list[str]:
    """Sentences of at least ``chars`` characters in all: one random filling
    of each template in turn, from a random template on (so facts keep their
    narrative order and no template repeats before all were used). The walk
    starts among the first ``first`` templates (default: any)."""
    n = len(groups)
    k = int(rr() * (first or n))
    out = []
    total = 0
    while total < chars:
        group = groups[k % n]
        s = group[int(rr() * len(group))]
        out.append(s)
        total += len(s)
        k += 1
    return out


def _sample(pool: Sequence[str], chars: int, rr: Callable[[], float]) -> list[str]:
    """Items of ``pool`` in random order, without repeats until the pool is
    used up, until they hold at least ``chars`` characters."""
    items = list(pool)
    left = len(items)
    out = []
    total = 0
    while total < chars:
        if not left:
            items = list(pool)
            left = len(items)
        j = int(rr() * left)
        s = items[j]
        left -= 1
        items[j] = items[left]
        out.append(s)
        total += len(s)
    return out


def _one(pool: Sequence[str], rr: Callable[[], float]) -> str:
    return pool[int(rr() * len(pool))]


def _question(p: _Pools, chars: int, rr) -> str:
    """A consultation question of about ``chars`` characters."""
    t = p.topic
    opener = _one(_phrases()["common_openers"], rr)
    if chars < 22:
        if rr() < 0.4:
            opener += _one(_contexts(), rr)
        return opener + _one(t.short, rr)
    tail = _one(t.tails, rr)
    parts = [opener]
    parts += _walk(p.personal, chars - len(tail) - len(opener), rr)
    if rr() < 0.3:
        parts.append(_one(t.short, rr))
    parts.append(tail)
    return "".join(parts)


def _answer(p: _Pools, chars: int, rr, formal: bool) -> str:
    """A lawyer's answer of about ``chars`` characters, usually citing a statute
    (always with some advice)."""
    ph = _phrases()
    parts = [] if formal and rr() < 0.5 else [_one(ph["answer_openers"], rr)]
    if rr() < 0.85:
        parts.append(_one(p.clauses, rr))
    parts += _sample(p.advice, max(1, chars - sum(map(len, parts))), rr)
    parts.append(_one(ph["closings"], rr))
    return "".join(parts)


def _cited_answer(p: _Pools, chosen: Sequence[int], chars: int, rr) -> str:
    """An answer built on the statutes ``chosen`` (indexes into the topic's),
    with some advice."""
    ph = _phrases()
    parts = [_one(ph["answer_openers"], rr)]
    parts += [p.clauses[i] for i in chosen[:2]]
    parts += _sample(p.advice, max(1, chars - sum(map(len, parts))), rr)
    parts.append(_one(ph["closings"], rr))
    return "".join(parts)


def _choose_statutes(p: _Pools, most: int, rr) -> list[int]:
    """1 to ``most`` distinct statute indexes of the topic, in order."""
    n = len(p.clauses)
    count = 1 + int(rr() * min(most, n))
    first = int(rr() * n)
    step = 1 + int(rr() * (n - 1)) if n > 1 else 1
    return sorted({(first + k * step) % n for k in range(count)})


def _outcomes(p: _Pools, chars: int, rr) -> list[str]:
    """Numbered judgment items (一、…) of at least ``chars`` characters."""
    items = _walk(p.outcomes, chars, rr)[: len(p.outcomes)]
    return [_NUMBERED[i] + o for i, o in enumerate(items)]


def _judgment(p: _Pools, chars: int, rr, c: dict) -> str:
    """A judgment: header, facts of about ``chars`` characters, reasoning, decision."""
    t = p.topic
    opening = "经审理查明：" if rr() < 0.7 else "公诉机关指控：" if t.criminal else "原告Ⓐ诉称："
    parts = [_one(p.headers, rr), opening]
    parts.append(_facts(p, chars, rr))
    parts.append(f"\n上述事实，有{t.evidence}等证据证实，足以认定。\n本院认为，")
    parts += _sample(p.reasoning, 60 + int(rr() * 120), rr)
    parts.append(f"依照{_one(p.cites, rr)}之规定，判决如下：\n")
    parts.append("\n".join(_outcomes(p, 40 + int(rr() * 80), rr)))
    parts.append("\n" + _one(c["appeal"], rr))
    return "".join(parts)


def _facts(p: _Pools, chars: int, rr) -> str:
    """Case facts of about ``chars`` characters; long ones add generic details."""
    return "".join(_walk(p.long_facts, chars, rr, len(p.facts)))
