"""Phrase pools of the synthetic corpora, built once from the tables.

Text is assembled from phrase pools written for this package (parties, facts,
amounts, dates, courts, statutes with Chinese-numeral article numbers,
question openers, answer patterns; the tables are
``legal_eagle_xtuner/resources/synthetic_*.json``); none of it is taken from
the real datasets. :func:`_pools` fills each topic's ``{slot}`` templates with
values drawn from a fixed seed, :func:`_common` the pools all topics share;
the party markers Ⓐ/Ⓑ/Ⓒ are left for each record.
"""

from __future__ import annotations

import functools
import random
import string
from dataclasses import dataclass
from typing import Callable, Sequence

from legal_eagle_xtuner.data.synthetic.numerals import _article, chinese_numeral
from legal_eagle_xtuner.data.synthetic.tables import (
    _Law,
    _Topic,
    _laws,
    _phrases,
    _topics,
    _words,
)


def _slot_functions(pick: Callable[[Sequence], object], rr: Callable[[], float]):
    """Slot name → function returning a fresh value, for building the pools."""
    w = _words()
    cities, districts = w["cities"], w["districts"]

    def rint(lo: int, hi: int) -> int:  # inclusive
        return lo + int(rr() * (hi - lo + 1))

    def date() -> str:
        return f"{rint(2010, 2023)}年{rint(1, 12)}月{rint(1, 28)}日"

    def amount() -> str:
        kind = rr()
        if kind < 0.45:
            return f"{rint(5, 999) * 100}元"
        if kind < 0.75:
            return f"{rint(1, 200)}万元"
        if kind < 0.9:
            return f"人民币{rint(300, 99999)}元"
        return f"{chinese_numeral(rint(1, 9))}{pick(('千', '万'))}元"

    def place() -> str:
        return f"{pick(cities)[0]}市{pick(districts)}{pick(w['roads'])}{rint(1, 399)}号{pick(w['spots'])}"

    def company() -> str:
        return f"{pick(cities)[0]}{pick(w['brands'])}{pick(w['industries'])}{pick(w['company_ends'])}"

    def term() -> str:
        months = rint(3, 60)
        years, rest = divmod(months, 12)
        if not years:
            return f"{chinese_numeral(rest)}个月"
        return f"{chinese_numeral(years)}年" + (f"{chinese_numeral(rest)}个月" if rest else "")

    def period() -> str:
        year, month = rint(2012, 2022), rint(1, 11)
        months = rint(1, 20)
        end_year, end_month = year + (month + months - 1) // 12, (month + months - 1) % 12 + 1
        return f"{year}年{month}月至{end_year}年{end_month}月"

    def time() -> str:
        period, lo, hi = pick(w["periods"])
        return f"{date()}{period}{rint(lo, hi)}时许"

    def plate() -> str:
        city = pick(cities)
        return f"{city[1]}{pick(w['letters'])}{rint(10000, 99999)}"

    def word(name: str) -> Callable[[], object]:
        values = w[name]
        return lambda: pick(values)

    return {
        "date": date,
        "time": time,
        "year": lambda: str(rint(2008, 2022)),
        "month": lambda: str(rint(1, 12)),
        "amount": amount,
        "small_amount": lambda: str(rint(5, 30) * 100),
        "salary": lambda: str(rint(6, 40) * 500),
        "rent": lambda: str(rint(8, 120) * 100),
        "fine": lambda: str(rint(1, 50) * 1000),
        "place": place,
        "city": lambda: pick(cities)[0],
        "district": word("districts"),
        "road": word("roads"),
        "company": company,
        "industry": word("industries"),
        "job": word("jobs"),
        "rel": word("rels"),
        "where": word("wheres"),
        "item": word("items"),
        "car": word("cars"),
        "plate": plate,
        "insurer": lambda: pick(w["insurers"]).format(city=pick(cities)[0]),
        "injury": word("injuries"),
        "goods": word("goods"),
        "food": word("foods"),
        "share": word("shares"),
        "grade": word("grades"),
        "term": term,
        "short_term": word("short_terms"),
        "probation": word("probations"),
        "period": period,
        "birth": lambda: f"{rint(1955, 2002)}年{rint(1, 12)}月{rint(1, 28)}日",
        "witness": lambda: pick(w["surnames"]) + "某",
        "evidence_generic": word("evidence_generic"),
        "age": lambda: str(rint(1, 16)),
        "n": lambda: str(rint(3, 90)),
        "cn_small": lambda: "两" if (k := rint(2, 9)) == 2 else chinese_numeral(k),
        "pct_small": lambda: chinese_numeral(rint(1, 4)),
    }


@dataclass(frozen=True)
class _Pools:
    """One topic's sentences with slots filled (Ⓐ/Ⓑ/Ⓒ left for the record)."""

    number: int                     # position in _pools()
    topic: _Topic
    facts: tuple[tuple[str, ...], ...]      # per template, in narrative order
    long_facts: tuple[tuple[str, ...], ...]  # facts, then generic case details
    personal: tuple[tuple[str, ...], ...]   # per template
    advice: tuple[str, ...]
    reasoning: tuple[str, ...]
    outcomes: tuple[tuple[str, ...], ...]   # per template, in judgment order
    flat_outcomes: tuple[str, ...]
    cites: tuple[str, ...]          # "《刑法》第二百六十四条"
    clauses: tuple[str, ...]        # "根据《刑法》第二百六十四条的规定，<text>" (parallel to statutes)
    disc_refs: tuple[str, ...]      # "《中华人民共和国刑法》第二百六十四条：<text>"
    lawgpt_refs: tuple[tuple[str, ...], ...]  # one statute → its LAW-GPT paragraph lines
    headers: tuple[str, ...]        # court + document title + case number + parties + procedure


def _fill_all(templates: Sequence[str], count: int, slots) -> tuple[str, ...]:
    """``count`` sentences, the templates in turn, each with fresh slot values."""
    return tuple(s for group in _fill_groups(templates, count // len(templates) + 1, slots)
                 for s in group)[:count]


def _fill_groups(templates: Sequence[str], per: int, slots) -> tuple[tuple[str, ...], ...]:
    """For each template, ``per`` fillings with fresh slot values (a template
    without slots gives one)."""
    formatter = string.Formatter()
    groups = []
    for t in templates:
        names = [name for _, name, _, _ in formatter.parse(t) if name]
        if not names:
            groups.append((t,))
            continue
        groups.append(tuple(t.format_map({n: slots[n]() for n in names}) for _ in range(per)))
    return tuple(groups)


def _lawgpt_lines(law: _Law, number: int, sub: int, text: str) -> tuple[str, ...]:
    prefix = (f"{law.category}-" if law.category else "") + f"{law.short}{law.date}:    "
    sentences = [s + "。" for s in text.split("。") if s]
    sentences[0] = f"{_article(number, sub)} {sentences[0]}"
    return tuple(f'{prefix}"{s}",\n' for s in sentences)


def _header(topic: _Topic, pick, rr, slots) -> str:
    """A judgment's opening: court, title, case number, parties, procedure."""
    w, ph = _words(), _phrases()
    city, abbr = pick(w["cities"])
    district = pick(w["districts"])
    year = slots["year"]()
    if topic.criminal:
        head = [
            f"{city}市{district}人民法院\n刑事判决书\n（{year}）{abbr}{int(rr() * 9000) + 1000}刑初{int(rr() * 2000) + 1}号\n",
            f"公诉机关{city}市{district}人民检察院。\n",
            f"被告人Ⓐ，{pick(('男', '女'))}，{slots['birth']()}出生，汉族，{pick(w['educations'])}文化，"
            f"{pick(w['occupations'])}，住{city}市{district}。因涉嫌犯{topic.cause}于{slots['date']()}被刑事拘留。\n",
        ]
    else:
        head = [
            f"{city}市{district}人民法院\n民事判决书\n（{year}）{abbr}{int(rr() * 9000) + 1000}民初{int(rr() * 20000) + 1}号\n",
            f"原告：Ⓐ，{pick(('男', '女'))}，{slots['birth']()}出生，汉族，住{city}市{district}。\n",
            f"被告：Ⓑ，{pick(('男', '女'))}，{slots['birth']()}出生，汉族，住{city}市{pick(w['districts'])}。\n",
        ]
    procedure = ph["criminal_procedure"] if topic.criminal else ph["civil_procedure"]
    head.append(
        pick(procedure).format_map(
            {"date": slots["date"](), "city": city, "district": district, "abbr": abbr,
             "year": year, "n": int(rr() * 900) + 100, "cause": topic.cause}
        ) + "\n"
    )
    return "".join(head)


@functools.cache
def _pools() -> tuple[_Pools, ...]:
    """Build every topic's pools (once, deterministically, about 50 ms)."""
    rng = random.Random(20240531)
    rr = rng.random

    def pick(seq):
        return seq[int(rr() * len(seq))]

    slots = _slot_functions(pick, rr)
    laws, ph = _laws(), _phrases()
    built = []
    for number, topic in enumerate(_topics()):
        cites, clauses, disc_refs, lawgpt_refs = [], [], [], []
        for key, article_no, sub, text in topic.statutes:
            law = laws[key]
            art = _article(article_no, sub)
            cites.append(f"《{law.short}》{art}")
            clauses.append(f"根据《{law.short}》{art}的规定，{text}")
            disc_refs.append(f"《{law.full}》{art}：{text}")
            lawgpt_refs.append(_lawgpt_lines(law, article_no, sub, text))
        headers = [_header(topic, pick, rr, slots) for _ in range(64)]
        built.append(
            _Pools(
                number=number,
                topic=topic,
                facts=(facts := _fill_groups(topic.facts, 100, slots)),
                long_facts=facts + _fill_groups(
                    ph["criminal_facts"] if topic.criminal else ph["civil_facts"], 40,
                    {**slots, "cause": lambda: topic.cause}),
                personal=_fill_groups(topic.personal, 60, slots),
                advice=topic.advice + ph["generic_advice"],
                reasoning=_fill_all(topic.reasoning, 100, slots),
                outcomes=(outcomes := _fill_groups(topic.outcomes, 80, slots)),
                flat_outcomes=tuple(s for g in outcomes for s in g),
                cites=tuple(cites),
                clauses=tuple(clauses),
                disc_refs=tuple(disc_refs),
                lawgpt_refs=tuple(lawgpt_refs),
                headers=tuple(headers),
            )
        )
    return tuple(built)


@functools.cache
def _common() -> dict:
    """Pools shared by all topics (names, dates, places, opinion sentences)."""
    rng = random.Random(20240601)
    rr = rng.random

    def pick(seq):
        return seq[int(rr() * len(seq))]

    w, ph = _words(), _phrases()
    slots = _slot_functions(pick, rr)
    slots["media"] = lambda: pick(w["media"]).format(city=pick(w["cities"])[0])
    slots["cause"] = lambda: "{cause}"  # filled per record
    return {
        "names": tuple(s + e for s in w["surnames"] for e in w["name_ends"]),
        "dates": _fill_all(("{date}",), 2000, slots),
        "places": _fill_all(("{place}",), 2000, slots),
        "leads": _fill_all(ph["opinion_leads"], 600, slots),
        "comments": _fill_all(ph["opinion_comments"], 300, slots),
        "appeal": tuple(
            f"如不服本判决，可以在判决书送达之日起{days}日内，向本院递交上诉状，并按照对方当事人的人数提出副本，上诉于{c}市中级人民法院。"
            for c, _ in w["cities"] for days in ("十五", "十")
        ),
    }
