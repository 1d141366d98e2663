"""Tests for legal_eagle_xtuner.data.decontaminate: benchmark-overlap flagging."""

import json
import os
import stat
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from legal_eagle_xtuner.data import decontaminate as dc
from legal_eagle_xtuner.data.decontaminate import (
    DecontaminationError,
    TaskOverlap,
    decontaminate,
    load_benchmarks,
    normalize,
    report_lines,
)

from legal_eagle_xtuner.resources import SAMPLES  # noqa: E402
LAWBENCH = Path(__file__).resolve().parents[2] / "shared" / "lawbench" / "data" / "zero_shot"

INSTRUCTION = "请根据具体场景与问题给出法律依据，只需要给出具体法条内容，每个场景仅涉及一个法条。"
ANSWER = "根据《民法典》第一千零七十九条，夫妻一方要求离婚的，可以由有关组织进行调解或者直接向人民法院提起离婚诉讼。"

# Task "3-2": 24 distinct characters after normalisation, plus a Latin/digit item.
POEM = "天地玄黄，宇宙洪荒。日月盈昃，辰宿列张。寒来暑往，秋收冬藏。"
LOAN = "ABC公司于2020年签订借款合同"  # normalised: abc公司于2020年签订借款合同 (17)
SHORT = "离婚后孩子抚养权归谁？"  # 10 characters: one whole gram
TINY = "怎么离婚？"  # 4 characters: not checked
# Task "2-4".
WAGES = "老板拖欠工资三个月不发应该去哪里投诉"  # 18 characters
SHARED = "闰余成岁律吕调阳云腾致雨露结为霜"  # 16 characters, also in a 3-2 item


def bench_file(tmp_path, name, questions):
    """A LawBench-shaped file (JSON array, one key per line) in tmp_path."""
    items = [{"instruction": INSTRUCTION, "question": q, "answer": ANSWER} for q in questions]
    path = tmp_path / name
    path.write_text(json.dumps(items, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def item_line(index):
    """Line where item ``index`` starts in a bench_file (5 lines per item)."""
    return 2 + 5 * index


@pytest.fixture
def bench(tmp_path):
    b = tmp_path / "bench"
    b.mkdir()
    return [
        bench_file(b, "3-2.json", [POEM, LOAN, SHORT, TINY, "某人" + SHARED + "怎么办"]),
        bench_file(b, "2-4.json", [WAGES, SHARED, "找擅长离婚纠纷的律师"]),
    ]


def write_jsonl(path, records):
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def qa(question, answer="请咨询律师。", **extra):
    return {"input": question, "output": answer, **extra}


# -- normalisation ------------------------------------------------------------


def reference_normalize(text):
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def test_alnum_table_is_exactly_categories_L_and_N():
    table = dc._alnum_table()
    points = [cp for cp in range(0x110000)]
    expected = np.array(
        [unicodedata.category(chr(cp))[0] in "LN" for cp in points], dtype=bool
    )
    assert np.array_equal(table, expected)


@pytest.mark.parametrize(
    "text",
    [
        "天地玄黄，宇宙洪荒。",
        "ＡＢＣ公司　于２０２０年",  # full width, ideographic space
        "①②③ ㎡ ﬁ ß İ Σς ™",  # compatibility forms, casefold specials
        "e\u0301 Ａ\u0301 a\u0301\u0308 가 \u1100\u1161\u11a8",  # composition
        "line\nbreak\r\ttab",
        "……【第一条】《民法典》",
        "\ud800lone surrogate",
        "",
    ],
)
def test_normalize_is_nfkc_casefold_letters_and_digits(text):
    assert normalize(text) == reference_normalize(text)


def test_normalize_batch_keeps_texts_apart():
    texts = ["Ａ\u0301b", "\u0301c，", "", "x\ny", "…"]
    codes, lengths = dc._normalize_batch(texts)
    joined = codes.tobytes().decode("utf-32-le")
    expected = [reference_normalize(t) for t in texts]
    assert lengths.tolist() == [len(e) for e in expected]
    assert joined == "".join(expected)


# -- the rule, on generated benchmark files -------------------------------------


def test_thirteen_shared_characters_flag_twelve_do_not(tmp_path, bench):
    index = load_benchmarks(bench)
    train = write_jsonl(
        tmp_path / "train.jsonl",
        [
            # 13 characters of POEM, other punctuation, spacing, line breaks
            qa("我想问：天地-玄黄!宇宙 洪荒\n日月盈昃辰, 怎么办"),
            # only 12
            qa("我想问：天地玄黄宇宙洪荒日月盈昃，怎么办"),
            # full-width letters and digits, other case: 13 characters of LOAN
            qa("ａｂｃ公司于２０２０年签订借款"),
            # the last 12 characters of LOAN after other text
            qa("请问于２０２０年签订借款合同。"),
        ],
    )
    result = decontaminate([train], index, progress=False)
    assert (result.read, result.kept, result.flagged) == (4, 2, 2)
    out = tmp_path / "flagged.jsonl"
    decontaminate([train], index, flagged=out, progress=False)
    flagged = read_jsonl(out)
    assert [f["line"] for f in flagged] == [1, 3]
    assert flagged[0]["matches"] == [{"task": "3-2", "item": 0, "text": "天地玄黄宇宙洪荒日月盈昃辰"}]
    assert flagged[1]["matches"] == [{"task": "3-2", "item": 1, "text": "abc公司于2020年签订"}]


def test_short_items_match_whole_and_tiny_items_are_not_checked(tmp_path, bench):
    index = load_benchmarks(bench)
    assert index.items == [5, 3]
    assert index.checked == [4, 3]  # TINY (4 characters) is not checked
    train = write_jsonl(
        tmp_path / "train.jsonl",
        [
            qa("请问：离婚后，孩子抚养权归谁呢？"),  # the whole short item inside
            qa("离婚后孩子抚养权"),  # only part of it
            qa("怎么离婚？"),  # TINY itself
            qa("找擅长离婚纠纷的律师"),  # the 10-character 2-4 item exactly
        ],
    )
    out = tmp_path / "flagged.jsonl"
    result = decontaminate([train], index, flagged=out, progress=False)
    assert result.flagged == 2
    assert [(f["line"], f["matches"]) for f in read_jsonl(out)] == [
        (1, [{"task": "3-2", "item": 2, "text": "离婚后孩子抚养权归谁"}]),
        (4, [{"task": "2-4", "item": 2, "text": "找擅长离婚纠纷的律师"}]),
    ]


def test_min_chars_and_n_are_parameters(tmp_path, bench):
    index = load_benchmarks(bench, n=20, min_chars=4)
    assert index.checked == [5, 3]
    train = write_jsonl(tmp_path / "t.jsonl", [qa("到底怎么离婚"), qa(POEM[:19])])
    result = decontaminate([train], index, progress=False)
    assert (result.flagged, result.tasks[0].items_hit) == (1, 1)  # TINY, not 19 of POEM


def test_instruction_and_answers_are_never_compared(tmp_path, bench):
    index = load_benchmarks(bench)
    train = write_jsonl(
        tmp_path / "train.jsonl",
        [
            qa(INSTRUCTION),  # the task prompt every item shares
            qa("离婚的程序是什么？", ANSWER),  # the benchmark answer as our answer
            qa("请解释这一条。", POEM),  # a benchmark question in our answer
            {"question": ANSWER, "answer": "无", "reference": []},  # benchmark answer as question
        ],
    )
    result = decontaminate([train], index, progress=False)
    assert (result.read, result.kept, result.flagged) == (4, 4, 0)


def test_counts_clean_copy_and_flagged_file(tmp_path, bench):
    index = load_benchmarks(bench)
    records = [
        qa("无关的问题一：合同违约怎么办？", id=1),
        qa("老板拖欠工资三个月不发应该去哪里投诉呢", id=2),  # 2-4 item 0
        qa("天地玄黄宇宙洪荒日月盈昃辰宿列张", id=3),  # 3-2 item 0
        qa("又问" + SHARED, id=4),  # 3-2 item 4 and 2-4 item 1
        qa("无关的问题二", id=5),
        qa("宇宙洪荒日月盈昃辰宿列张寒来", id=6),  # 3-2 item 0 again
        {"id": 7, "other": "字段不符"},  # no question text: kept
    ]
    train = write_jsonl(tmp_path / "train.jsonl", records)
    out, flag = tmp_path / "clean.jsonl", tmp_path / "flagged.jsonl"
    result = decontaminate([train], index, output=out, flagged=flag, progress=False)
    assert (result.read, result.kept, result.flagged) == (7, 3, 4)
    assert result.read == result.kept + result.flagged
    assert result.no_question == 1
    assert result.output_path == out and result.flagged_path == flag
    assert result.tasks == [
        TaskOverlap(task="3-2", items=5, checked=4, records_flagged=3, items_hit=2),
        TaskOverlap(task="2-4", items=3, checked=3, records_flagged=2, items_hit=2),
    ]
    # clean copy: compact JSON, input order, ensure_ascii=False
    expected_clean = "".join(
        json.dumps(r, ensure_ascii=False) + "\n" for r in (records[0], records[4], records[6])
    )
    assert out.read_text(encoding="utf-8") == expected_clean
    shared = normalize(SHARED)
    assert read_jsonl(flag) == [
        {
            "file": str(train),
            "line": 2,
            "matches": [{"task": "2-4", "item": 0, "text": "老板拖欠工资三个月不发应该"}],
            "record": records[1],
        },
        {
            "file": str(train),
            "line": 3,
            "matches": [{"task": "3-2", "item": 0, "text": "天地玄黄宇宙洪荒日月盈昃辰"}],
            "record": records[2],
        },
        {
            "file": str(train),
            "line": 4,
            "matches": [
                {"task": "3-2", "item": 4, "text": shared[:13]},
                {"task": "2-4", "item": 1, "text": shared[:13]},
            ],
            "record": records[3],
        },
        {
            "file": str(train),
            "line": 6,
            "matches": [{"task": "3-2", "item": 0, "text": "宇宙洪荒日月盈昃辰宿列张寒"}],
            "record": records[5],
        },
    ]
    assert report_lines(result) == [
        "task  items  checked  training records overlapping  items hit",
        "3-2       5        4                             3          2",
        "2-4       3        3                             2          2",
        "read 7, kept 3, flagged 4 (1 kept without question text to compare)",
    ]


def test_converted_records_are_matched_on_the_question_only(tmp_path, bench):
    index = load_benchmarks(bench)

    def converted(question):
        user = "参考法条：\n《千字文》：" + POEM + "\n\n" + question
        return {"conversation": [{"system": "律师", "input": user, "output": POEM}],
                "source": "disc_triplet", "id": "x_1"}

    records = [converted("离婚的程序是什么？"), converted("老板拖欠工资三个月不发应该怎么办")]
    train = tmp_path / "train.json"  # a JSON array this time
    train.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    flag = tmp_path / "flagged.jsonl"
    result = decontaminate([train], index, flagged=flag, progress=False)
    assert (result.kept, result.flagged) == (1, 1)
    [only] = read_jsonl(flag)
    assert only["matches"] == [{"task": "2-4", "item": 0, "text": "老板拖欠工资三个月不发应该"}]
    assert only["line"] == 1 + 1 + 11  # the second item's line in the indented array
    assert only["record"] == records[1]


def test_several_files_raw_sources_and_jsonl_benchmarks(tmp_path, bench):
    extra = write_jsonl(tmp_path / "mine.jsonl", [{"question": WAGES + "吗", "answer": "x"}])
    index = load_benchmarks([*bench, extra])
    assert index.tasks == ["3-2", "2-4", "mine"]
    one = write_jsonl(tmp_path / "a.jsonl", [{"id": "p_1", "input": WAGES, "output": "x"}])
    two = write_jsonl(tmp_path / "b.jsonl", [{"question": "无关", "answer": WAGES}])
    result = decontaminate([one, two], index, progress=False)
    assert (result.read, result.flagged) == (2, 1)
    assert [t.records_flagged for t in result.tasks] == [0, 1, 1]


def test_boilerplate_grams_in_many_items_are_not_used(tmp_path):
    formula = "其行为触犯了中华人民共和国刑法"  # 15 characters, in every item
    names = "赵钱孙李周吴郑王冯陈褚卫"
    questions = [f"被告人{names[i]}甲于某日盗窃财物价值{i}千元{formula}" for i in range(11)]
    bench = bench_file(tmp_path, "3-5.json", questions)
    train = write_jsonl(tmp_path / "t.jsonl", [qa("公诉机关认为" + formula)])
    index = load_benchmarks([bench])  # 11 items > max_gram_items=10
    assert index.boilerplate_grams == 5  # the 13-grams of 千元 + formula
    assert decontaminate([train], index, progress=False).flagged == 0
    index = load_benchmarks([bench], max_gram_items=None)
    result = decontaminate([train], index, progress=False)
    assert (result.flagged, result.tasks[0].items_hit) == (1, 11)
    few = bench_file(tmp_path, "3-4.json", questions[:10])  # 10 items: still used
    result = decontaminate([train], load_benchmarks([few]), progress=False)
    assert (result.flagged, result.tasks[0].items_hit) == (1, 10)


@pytest.mark.parametrize("mode", ["bitmap", "all-hashes-collide"])
def test_same_result_with_bitmap_filter_and_with_colliding_hashes(
    tmp_path, bench, monkeypatch, mode
):
    records = [
        qa("天地玄黄宇宙洪荒日月盈昃辰宿列张"),
        qa("我想问：天地玄黄宇宙洪荒日月盈昃，怎么办"),
        qa("又问" + SHARED),
        qa("请问：离婚后，孩子抚养权归谁呢？"),
        qa("黄宇宙洪荒日月盈昃辰宿列张寒来暑往"),
        qa("无关"),
    ]
    train = write_jsonl(tmp_path / "t.jsonl", records)
    baseline_flag = tmp_path / "base.jsonl"
    baseline = decontaminate([train], load_benchmarks(bench), flagged=baseline_flag, progress=False)
    if mode == "bitmap":
        monkeypatch.setattr(dc.ngrams, "_FIRST_CHAR_GRAMS", 0)
    else:  # every gram hashes to 0: only the text comparison tells them apart
        monkeypatch.setattr(dc.ngrams, "_SPREAD", np.uint64(0))
    index = load_benchmarks(bench)
    assert all((t.first is None) == (mode == "bitmap") for t in index.tables.values())
    flag = tmp_path / "f.jsonl"
    result = decontaminate([train], index, flagged=flag, progress=False)
    assert (result.read, result.kept, result.flagged, result.tasks) == (
        baseline.read, baseline.kept, baseline.flagged, baseline.tasks)
    assert baseline.flagged == 4
    assert read_jsonl(flag) == read_jsonl(baseline_flag)


def test_batches_do_not_join_neighbouring_records(tmp_path, bench, monkeypatch):
    monkeypatch.setattr(dc.run, "_BATCH_RECORDS", 3)
    # POEM split over two records, each with 12 of its characters at the boundary
    records = [qa("无关" + "天地玄黄宇宙洪荒日月盈昃"), qa("辰宿列张" + "无关")] * 4
    train = write_jsonl(tmp_path / "t.jsonl", records)
    result = decontaminate([train], load_benchmarks(bench), progress=False)
    assert (result.read, result.flagged) == (8, 0)


def test_lone_surrogates_are_kept_and_written_escaped(tmp_path, bench):
    train = tmp_path / "t.jsonl"
    train.write_text('{"input": "\\ud800问题", "output": "答"}\n', encoding="utf-8")
    out = tmp_path / "clean.jsonl"
    result = decontaminate([train], load_benchmarks(bench), output=out, progress=False)
    assert result.kept == 1
    expected = '{"input": "\\ud800\\u95ee\\u9898", "output": "\\u7b54"}\n'
    assert out.read_text(encoding="ascii") == expected


# -- errors -------------------------------------------------------------------


def listing(path):
    return sorted(p.name for p in Path(path).iterdir())


def test_invalid_json_raises_and_writes_nothing(tmp_path, bench):
    index = load_benchmarks(bench)
    good = write_jsonl(tmp_path / "good.jsonl", [qa(POEM), qa("无关")])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "a", "output": "b"}\n{"input": oops}\n', encoding="utf-8")
    out, flag = tmp_path / "clean.jsonl", tmp_path / "flagged.jsonl"
    out.write_text("old\n", encoding="utf-8")
    before = listing(tmp_path)
    with pytest.raises(DecontaminationError) as err:
        decontaminate([good, bad], index, output=out, flagged=flag, progress=False)
    assert str(err.value) == f"{bad}:2: invalid JSON: Expecting value (column 11)"
    assert listing(tmp_path) == before  # no temp files, no flagged file
    assert out.read_text(encoding="utf-8") == "old\n"  # untouched


def test_non_object_record_raises(tmp_path, bench):
    train = tmp_path / "t.jsonl"
    train.write_text('{"input": "a", "output": "b"}\n\n[1, 2]\n', encoding="utf-8")
    out = tmp_path / "clean.jsonl"
    with pytest.raises(DecontaminationError) as err:
        decontaminate([train], load_benchmarks(bench), output=out, progress=False)
    assert str(err.value) == f"{train}:3: record is not a JSON object (got array)"
    assert not out.exists()


def test_missing_files(tmp_path, bench):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DecontaminationError) as err:
        decontaminate([missing], load_benchmarks(bench), output=tmp_path / "o.jsonl")
    assert str(err.value) == f"{missing}:1: cannot read file: No such file or directory"
    assert not (tmp_path / "o.jsonl").exists()
    with pytest.raises(DecontaminationError) as err:
        load_benchmarks([*bench, missing])
    assert str(err.value) == f"{missing}:1: cannot read file: No such file or directory"


def test_output_directory_missing(tmp_path, bench):
    train = write_jsonl(tmp_path / "t.jsonl", [qa("无关")])
    target = tmp_path / "no" / "such" / "clean.jsonl"
    with pytest.raises(DecontaminationError) as err:
        decontaminate([train], load_benchmarks(bench), output=target, progress=False)
    assert str(err.value) == f"cannot write {target}: No such file or directory"


def test_benchmark_item_errors(tmp_path):
    no_question = bench_file(tmp_path, "1-1.json", ["问题一二三四五六七八", "   "])
    with pytest.raises(DecontaminationError) as err:
        load_benchmarks([no_question])
    assert str(err.value) == f"{no_question}:{item_line(1)}: benchmark item has no 'question' text"

    missing_field = tmp_path / "1-2.json"
    missing_field.write_text('[\n  {"instruction": "x", "answer": "y"}\n]\n', encoding="utf-8")
    with pytest.raises(DecontaminationError) as err:
        load_benchmarks([missing_field])
    assert str(err.value) == f"{missing_field}:2: benchmark item has no 'question' text"

    not_object = tmp_path / "2-1.json"
    not_object.write_text('[\n  "just text"\n]\n', encoding="utf-8")
    with pytest.raises(DecontaminationError) as err:
        load_benchmarks([not_object])
    assert str(err.value) == f"{not_object}:2: benchmark item is not a JSON object (got string)"

    truncated = tmp_path / "2-2.json"
    truncated.write_text('[\n  {"question": "abc"},\n', encoding="utf-8")
    with pytest.raises(DecontaminationError) as err:
        load_benchmarks([truncated])
    assert str(err.value) == f"{truncated}:2: truncated JSON array: missing closing ']'"

    first = bench_file(tmp_path, "3-1.json", ["问题一二三四五六七八"])
    second = bench_file(tmp_path, "3-1.jsonl", ["问题一二三四五六七八"])
    with pytest.raises(DecontaminationError) as err:
        load_benchmarks([first, second])
    assert str(err.value) == (
        f"{second}: task name '3-1' (the file stem) is also that of {first}; "
        "give benchmark files distinct names"
    )

    with pytest.raises(DecontaminationError, match="no benchmark files given"):
        load_benchmarks([])
    with pytest.raises(ValueError, match="n must be a positive integer"):
        load_benchmarks([first], n=0)


# -- the real LawBench ----------------------------------------------------------


@pytest.fixture(scope="module")
def lawbench():
    files = sorted(LAWBENCH.glob("*.json")) if LAWBENCH.is_dir() else []
    if len(files) != 20:
        pytest.skip(
            f"LawBench data not found at {LAWBENCH}: expected its 20 zero-shot task files "
            f"(found {len(files)}); it lives in the shared/ folder beside the repository"
        )
    return files, load_benchmarks(files)


def lawbench_question(files, task, item):
    path = next(f for f in files if f.stem == task)
    return json.loads(path.read_text(encoding="utf-8"))[item]["question"]


def test_lawbench_index_over_all_tasks(lawbench):
    files, index = lawbench
    assert index.tasks == [f.stem for f in files]
    assert index.items == [500] * 20
    assert sum(index.checked) > 9950
    assert index.grams > 1_000_000
    assert index.boilerplate_grams > 1000  # statute quotes and formulae of the case tasks


@pytest.mark.parametrize("task, item", [("3-2", 2), ("2-4", 2)])
def test_lawbench_question_is_flagged_for_its_task_only(lawbench, tmp_path, task, item):
    files, index = lawbench
    question = lawbench_question(files, task, item)
    records = [
        qa("律师你好，我遇到一个问题：" + question + " 请帮忙解答，谢谢！"),
        qa("律师你好，我想咨询一下别的事情。"),
    ]
    train = write_jsonl(tmp_path / "train.jsonl", records)
    flag = tmp_path / "flagged.jsonl"
    result = decontaminate([train], index, flagged=flag, progress=False)
    assert (result.read, result.kept, result.flagged) == (2, 1, 1)
    hits = {t.task: (t.records_flagged, t.items_hit) for t in result.tasks if t.records_flagged}
    assert hits == {task: (1, 1)}
    [only] = read_jsonl(flag)
    assert [(m["task"], m["item"]) for m in only["matches"]] == [(task, item)]
    assert only["matches"][0]["text"] in normalize(question)


def test_lawbench_over_the_samples(lawbench):
    _, index = lawbench
    samples = sorted(SAMPLES.glob("*.json*"))
    result = decontaminate(samples, index, progress=False)
    assert result.read > 0
    assert result.read == result.kept + result.flagged
    assert len(result.tasks) == 20


def test_output_may_replace_an_input_and_is_world_readable(tmp_path, bench):
    train = write_jsonl(tmp_path / "t.jsonl", [qa("无关"), qa(WAGES)])
    old_umask = os.umask(0o022)
    try:
        result = decontaminate([train], load_benchmarks(bench), output=train, progress=False)
    finally:
        os.umask(old_umask)
    assert (result.kept, result.flagged) == (1, 1)
    assert read_jsonl(train) == [qa("无关")]
    assert stat.S_IMODE(train.stat().st_mode) == 0o644
    assert listing(tmp_path) == ["bench", "t.jsonl"]


def test_output_and_flagged_must_differ(tmp_path, bench):
    train = write_jsonl(tmp_path / "t.jsonl", [qa("无关")])
    target = tmp_path / "x.jsonl"
    with pytest.raises(DecontaminationError) as err:
        decontaminate([train], load_benchmarks(bench), output=target, flagged=target)
    assert str(err.value) == f"the clean copy and the flagged records would both be {target}"


def test_progress_bar_goes_to_stderr(tmp_path, bench, capsys):
    train = write_jsonl(tmp_path / "t.jsonl", [qa("无关")])
    decontaminate([train], load_benchmarks(bench), progress=True)
    assert "decontaminate" in capsys.readouterr().err
    decontaminate([train], load_benchmarks(bench), progress=False)
    assert capsys.readouterr().err == ""


def test_one_match_per_task_the_earliest_in_the_record(tmp_path, bench):
    # LOAN (item 1) comes before POEM (item 0) in the record
    train = write_jsonl(tmp_path / "t.jsonl", [qa(LOAN + "。另外，" + POEM)])
    flag = tmp_path / "f.jsonl"
    result = decontaminate([train], load_benchmarks(bench), flagged=flag, progress=False)
    assert result.tasks[0] == TaskOverlap("3-2", 5, 4, records_flagged=1, items_hit=2)
    assert read_jsonl(flag)[0]["matches"] == [
        {"task": "3-2", "item": 1, "text": "abc公司于2020年签订"}
    ]
