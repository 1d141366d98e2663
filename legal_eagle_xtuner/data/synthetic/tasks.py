"""The DISC-Law-SFT tasks of the synthetic corpora: one generator per task,
each returning an (input, output) pair for a topic's pools, and the task mix.

A task generator is ``f(p, rr, c)``: ``p`` the topic's pools, ``rr`` the
record's ``Random.random``, ``c`` the shared pools (``pools._common()``).
"""

from __future__ import annotations

from typing import Sequence

from legal_eagle_xtuner.data.synthetic.numerals import _LEN, _draw
from legal_eagle_xtuner.data.synthetic.pools import _Pools, _pools
from legal_eagle_xtuner.data.synthetic.tables import _phrases
from legal_eagle_xtuner.data.synthetic.text import (
    _answer,
    _facts,
    _judgment,
    _one,
    _outcomes,
    _question,
    _sample,
    _walk,
)

DISC_PAIR_TASKS: tuple[tuple[str, int], ...] = (
    ("legal_information_extraction", 32),
    ("legal_event_detection", 27),
    ("legal_case_classification", 20),
    ("legal_judgement_prediction", 11),
    ("legal_case_matching", 8),
    ("legal_text_summarization", 10),
    ("judicial_public_opinion_summarization", 6),
    ("legal_question_answering", 93),
    ("legal_reading_comprehension", 38),
    ("judicial_examination", 12),
)
"""DISC-Law-SFT-Pair tasks and their weights (real sizes in thousands)."""

_TRIPLET_TASKS = (("legal_question_answering", 85), ("judicial_examination", 15))


def _instruction(task: str, rr) -> str:
    """One of ``task``'s prompts, put before its text."""
    return _one(_phrases()["instructions"][task], rr)


def _task_ie(p, rr, c):
    t = p.topic
    date = _one(c["dates"], rr)
    place = _one(c["places"], rr)
    text = f"{date}，在{place}，" + _facts(p, _draw(_LEN["ie_text"], rr), rr)
    role = ("犯罪嫌疑人", "被害人") if t.criminal else ("原告", "被告")
    kind = "罪名" if t.criminal else "案由"
    out = f"{role[0]}：Ⓐ\n{role[1]}：Ⓑ\n时间：{date}\n地点：{place}\n{kind}：{t.cause}"
    return _instruction("legal_information_extraction", rr) + text, out


def _task_ed(p, rr, c):
    events = p.topic.events
    n = len(events)
    first = int(rr() * n)
    found = [events[(first + k) % n] for k in range(1 + int(rr() * 3))]
    text = _facts(p, _draw(_LEN["ed_text"], rr), rr)
    return _instruction("legal_event_detection", rr) + text, "事件类型：" + "、".join(found)


def _task_cc(p, rr, c):
    t = p.topic
    text = _facts(p, _draw(_LEN["cc_text"], rr), rr)
    style = rr()
    if style < 0.4:
        out = t.cause
    elif style < 0.7:
        out = f"该案件的案由为{t.cause}。"
    else:
        out = f"案由：{t.cause}\n理由：" + _one(p.reasoning, rr)
    return _instruction("legal_case_classification", rr) + text, out


def _task_jp(p, rr, c):
    text = _facts(p, _draw(_LEN["jp_text"], rr), rr)
    out = (f"依照{_one(p.cites, rr)}之规定，判决如下：\n"
           + "\n".join(_outcomes(p, 30 + int(rr() * 150), rr)))
    return _instruction("legal_judgement_prediction", rr) + text, out


def _other(p: _Pools, rr) -> _Pools:
    """A random topic other than ``p``'s."""
    pools = _pools()
    return pools[(p.number + 1 + int(rr() * (len(pools) - 1))) % len(pools)]


def _task_cm(p, rr, c):
    other = _other(p, rr)
    knots = _LEN["cm_text"]
    a = _facts(p, _draw(knots, rr), rr)
    similar = _facts(p, _draw(knots, rr), rr)
    different = _facts(other, _draw(knots, rr), rr)
    b_is_similar = rr() < 0.5
    b, cc = (similar, different) if b_is_similar else (different, similar)
    label = "B" if b_is_similar else "C"
    text = _instruction("legal_case_matching", rr) + f"案例A：{a}\n案例B：{b}\n案例C：{cc}"
    out = f"案例{label}与案例A更为相似。"
    if rr() < 0.6:
        out += (f"两案均属于{p.topic.cause}，争议焦点和适用的法律规定基本相同，"
                f"而另一案例属于{other.topic.cause}。")
    return text, out


def _task_ts(p, rr, c):
    t = p.topic
    text = _judgment(p, _draw(_LEN["ts_text"], rr), rr, c)
    lead = f"被告人Ⓐ犯{t.cause}一案。" if t.criminal else f"原告Ⓐ与被告Ⓑ{t.cause}一案。"
    parts = [lead]
    parts += _walk(p.facts, _draw(_LEN["ts_sum"], rr) - 40, rr)
    parts.append("法院判决：")
    parts += _walk(p.outcomes, 20, rr)
    return _instruction("legal_text_summarization", rr) + text, "".join(parts)


def _task_jos(p, rr, c):
    t = p.topic
    parts = [_one(c["leads"], rr).replace("{cause}", t.cause)]
    parts.append(_facts(p, _draw(_LEN["jos_text"], rr) - 120, rr))
    parts += _sample(c["comments"], 60 + int(rr() * 80), rr)
    summary = [f"该舆情涉及一起{t.cause}案件。"]
    summary += _walk(p.facts, _draw(_LEN["jos_sum"], rr) - 20, rr)
    summary.append(_one(c["comments"], rr))
    return (_instruction("judicial_public_opinion_summarization", rr) + "".join(parts),
            "".join(summary))


def _task_rc(p, rr, c):
    t = p.topic
    chars = _draw(_LEN["rc_text"], rr)
    passage = _judgment(p, chars, rr, c) if rr() < 0.2 else _facts(p, chars, rr)
    kind = int(rr() * 4)
    if kind == 0:
        q, a = ("本案的被告人是谁？", "Ⓐ") if t.criminal else ("本案的原告是谁？", "Ⓐ")
    elif kind == 1:
        q, a = ("被害人是谁？", "Ⓑ") if t.criminal else ("本案的被告是谁？", "Ⓑ")
    elif kind == 2:
        q, a = ("被告人的行为构成什么罪？" if t.criminal else "本案的案由是什么？"), t.cause
    else:
        q, a = "法院可能作出怎样的判决？", _one(p.flat_outcomes, rr)
    return _instruction("legal_reading_comprehension", rr) + passage + "\n问题：" + q, a


def _exam(p, rr):
    """A single-choice question on the topic and its explanation."""
    t = p.topic
    wrong_from = _other(p, rr).topic.advice
    right = _one(t.advice, rr)
    wrong = _sample(wrong_from, 1, rr) + _sample(wrong_from, 1, rr) + _sample(wrong_from, 1, rr)
    wrong = [w.replace("应当", "不得", 1) if "应当" in w else w.replace("可以", "不得", 1) for w in wrong]
    position = int(rr() * 4)
    options = wrong[:position] + [right] + wrong[position:]
    letter = "ABCD"[position]
    stem = _one(_phrases()["exam_stems"], rr).format(subject=t.subject)
    question = stem + "".join(f"\n{'ABCD'[i]}. {o}" for i, o in enumerate(options))
    clause = _one(p.clauses, rr)
    expl = [f"答案：{letter}。\n解析：", clause]
    expl += _sample(p.advice, _draw(_LEN["je_expl"], rr) - len(clause), rr)
    expl.append(f"因此，选项{letter}正确，其他选项的表述与法律规定不符。")
    return question, "".join(expl)


def _task_qa(p, rr, c):
    return (_question(p, _draw(_LEN["qa_q"], rr), rr),
            _answer(p, _draw(_LEN["qa_a"], rr), rr, formal=True))


def _task_je(p, rr, c):
    return _exam(p, rr)


_TASK_FUNCS = {
    "legal_information_extraction": _task_ie,
    "legal_event_detection": _task_ed,
    "legal_case_classification": _task_cc,
    "legal_judgement_prediction": _task_jp,
    "legal_case_matching": _task_cm,
    "legal_text_summarization": _task_ts,
    "judicial_public_opinion_summarization": _task_jos,
    "legal_question_answering": _task_qa,
    "legal_reading_comprehension": _task_rc,
    "judicial_examination": _task_je,
}


def _cumulative(weights: Sequence[tuple[str, int]]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    total = sum(w for _, w in weights)
    running = 0
    bounds = []
    for _, w in weights:
        running += w
        bounds.append(running / total)
    return tuple(name for name, _ in weights), tuple(bounds)


_PAIR_NAMES, _PAIR_BOUNDS = _cumulative(DISC_PAIR_TASKS)
_TRIPLET_NAMES, _TRIPLET_BOUNDS = _cumulative(_TRIPLET_TASKS)
