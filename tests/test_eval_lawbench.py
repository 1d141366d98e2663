"""LawBench zero-shot scoring (legal_eagle_xtuner.eval.lawbench).

The reproduction tests need LawBench's prediction files and published scores in
``../shared/lawbench`` (beside the repository) and are skipped without them; the
unit tests on hand-made items always run.
"""

import csv
import json
import math
import random
import re
from pathlib import Path

import pytest

from legal_eagle_xtuner.eval import lawbench as lb
from legal_eagle_xtuner.eval.lawbench import (
    OPTIONAL_TASKS,
    TASKS,
    LawBenchError,
    TaskScore,
    amount_judge,
    article_numbers,
    char_f1,
    entity_f1,
    lcs_length,
    load_labels,
    load_predictions,
    log_distance,
    option_judge,
    predicted_entities,
    rouge_l,
    score_dir,
    score_task,
    scores_json,
    set_f1,
    table_lines,
    term_months,
    trigger_f1,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "lawbench"
PUBLISHED_MODELS = ("internlm-chat-7b-8k-hf", "chatlaw-13b-hf")
OTHER_MODELS = ("GPT4", "fuzi-mingcha-7b-hf")
SCORED = [t for t in TASKS if t not in OPTIONAL_TASKS]
LN216 = math.log(216)


def item(prediction, refr, prompt="问题"):
    return {"origin_prompt": prompt, "prediction": prediction, "refr": refr}


# --------------------------------------------------------------------------
# Reproduction of the published numbers


@pytest.fixture(scope="module")
def shared():
    if not (SHARED / "expected_zero_shot_scores.csv").is_file():
        pytest.skip(
            f"../shared/lawbench not found: {SHARED} should hold LawBench's "
            "predictions/zero_shot/<model>/<task>.json and expected_zero_shot_scores.csv"
        )
    return SHARED


@pytest.fixture(scope="module")
def published(shared):
    """{(model, task): (score, abstention_rate)} from the CSV."""
    with open(shared / "expected_zero_shot_scores.csv", encoding="utf-8") as f:
        return {
            (row["model_name"], row["task"]): (float(row["score"]), float(row["abstention_rate"]))
            for row in csv.DictReader(f)
        }


@pytest.fixture(scope="module")
def model_scores(shared):
    """Each model directory scored once for the whole module."""
    cache = {}

    def get(model):
        if model not in cache:
            cache[model] = score_dir(shared / "predictions" / "zero_shot" / model, progress=False)
        return cache[model]

    return get


def test_csv_covers_the_two_models(published):
    assert {model for model, _ in published} == set(PUBLISHED_MODELS)
    for model in PUBLISHED_MODELS:
        # all tasks but 2-9 / 2-10, which have no prediction files
        want = [t for t in TASKS if t not in ("2-9", "2-10")]
        assert sorted(t for m, t in published if m == model) == sorted(want)


@pytest.mark.parametrize("model", PUBLISHED_MODELS)
def test_reproduces_published_scores(model, published, model_scores, shared):
    scores = model_scores(model)
    tasks = [t for m, t in published if m == model]
    assert set(scores) == set(tasks), "every prediction file in the directory is scored"
    wrong = []
    for task in tasks:
        want_score, want_abstention = published[model, task]
        got = scores[task]
        assert got.items == 500
        if task == "2-1":
            assert got.score is None and got.abstention_rate is None
            assert got.note and got.note.startswith("not scored")
            continue
        if abs(got.score - want_score) >= 1e-3:
            wrong.append(f"{task} score {got.score} != {want_score}")
        if task == "2-6":
            continue  # published abstention is an artefact, checked below
        if abs(got.abstention_rate - want_abstention) >= 1e-3:
            wrong.append(f"{task} abstention {got.abstention_rate} != {want_abstention}")
    assert not wrong, "\n".join(wrong)
    # the excluded golds: 15 "赔偿" items in 2-2, 4 死刑/无期 items in 3-4 and 3-5
    assert scores["2-2"].scored_items == 485
    assert scores["3-4"].scored_items == scores["3-5"].scored_items == 496


@pytest.mark.parametrize("model", PUBLISHED_MODELS)
def test_entity_abstention_is_the_real_rate(model, published, model_scores, shared):
    assert published[model, "2-6"][1] == 0.0  # LawBench's misspelled-key artefact
    items = load_predictions(shared / "predictions" / "zero_shot" / model / "2-6.json")
    types = "|".join(load_labels()["2-6"])
    # an entity = a type name, a colon, and a value other than 无 / 未提及
    named = re.compile(rf"(?:{types})[:：]\s*(?!无|未提及)\S")
    silent = sum(1 for x in items if x["refr"].strip() and not named.search(x["prediction"]))
    got = model_scores(model)["2-6"]
    assert silent > 0
    assert got.abstention_rate == silent / len(items)
    assert "misspelled" in got.note


@pytest.mark.parametrize("model", OTHER_MODELS)
def test_other_models_score_in_range(model, shared):
    """GPT4 / fuzi-mingcha (list-style origin_prompt for GPT4): the first 30
    items of each task give scores in [0, 1]."""
    directory = shared / "predictions" / "zero_shot" / model
    for task in SCORED:
        path = directory / f"{task}.json"
        if not path.exists():
            assert task in ("2-9", "2-10")
            continue
        result = score_task(task, load_predictions(path)[:30])
        assert isinstance(result.score, float) and 0.0 <= result.score <= 1.0, task
        assert 0.0 <= result.abstention_rate <= 1.0, task


def test_rouge_matches_rouge_chinese_on_real_items(shared):
    """The bit-parallel LCS gives rouge-chinese's own ROUGE-L value."""
    from rouge_chinese import Rouge

    rouge = Rouge(metrics=["rouge-l"])
    items = load_predictions(shared / "predictions" / "zero_shot" / "chatlaw-13b-hf" / "3-8.json")
    for x in items[:8]:
        hyp, ref = lb._segment(x["prediction"]), lb._segment(x["refr"])
        want = rouge.get_scores(hyp if hyp.strip() else "无内容", ref)[0]["rouge-l"]["f"]
        assert rouge_l(x["prediction"], x["refr"]) == want


def test_reports(model_scores):
    scores = model_scores("chatlaw-13b-hf")
    lines = table_lines(scores)
    assert lines[0].split()[:4] == ["task", "score", "abstain", "items"]
    row = next(line for line in lines if line.startswith("1-2 "))
    assert row.split()[1:3] == ["0.2840", "0.0040"]
    assert "485/500" in next(line for line in lines if line.startswith("2-2 "))
    assert lines[-1].startswith("average")
    assert "17 scored tasks" in lines[-1] and "2-1 not scored, excluded" in lines[-1]
    data = scores_json(scores)
    assert data["1-2"] == {"score": 0.284, "abstention_rate": 0.004}
    assert data["2-1"] == {"score": None, "abstention_rate": None}
    assert data["average"]["tasks"] == 17 and data["average"]["not_scored"] == ["2-1"]
    mean = sum(s.score for s in scores.values() if s.score is not None) / 17
    assert data["average"]["score"] == pytest.approx(mean)
    json.dumps(data)


# --------------------------------------------------------------------------
# Building blocks, hand-made items


def test_option_matching():
    assert option_judge("答案是B", "ABCD", "B") == (1, False)
    assert option_judge("B。B选项正确", "ABCD", "B") == (1, False)  # repeats count once
    assert option_judge("A或者B", "ABCD", "B") == (0, False)  # two options = wrong
    assert option_judge("我不知道", "ABCD", "B") == (0, True)  # none = abstention
    assert option_judge("b", "ABCD", "B") == (0, True)  # case-sensitive
    result = score_task("1-2", [item("B", "正确答案：B。"), item("AB", "正确答案：B。"),
                                item("无", "正确答案：C。"), item("D", "正确答案：D。")])
    assert (result.score, result.abstention_rate, result.scored_items) == (0.5, 0.25, 4)
    # 3-6 has a half-width colon, 2-8 the letter after "[正确答案]"
    assert score_task("3-6", [item("C", "正确答案:C。")]).score == 1.0
    assert score_task("2-8", [item("[正确答案]E<eoa>", "[正确答案]E<eoa>")]).score == 1.0


def test_dispute_gold_compensation_is_left_out():
    # 赔偿 is not a label: the item is neither scored nor counted as abstaining,
    # but the rate divides by all 3 items
    items = [item("违约", "争议焦点类别：违约。"), item("不清楚", "争议焦点类别：赔偿。"),
             item("不清楚", "争议焦点类别：利息。")]
    result = score_task("2-2", items)
    assert (result.score, result.scored_items, result.items) == (0.5, 2, 3)
    assert result.abstention_rate == 1 / 3


def test_set_f1():
    # hits {2, 3}: P = 2/3, R = 2/4, F = 2 * (1/3) / (7/6) = 4/7
    assert set_f1({1, 2, 3}, {2, 3, 4, 5}) == pytest.approx(4 / 7)
    assert set_f1(set(), {1}) == 0.0
    assert set_f1({1}, {2}) == 0.0
    # 2-3: labels found as substrings; gold between "类别:" and the final "。"
    result = score_task("2-3", [item("[类别]婚后有子女、准予离婚<eoa>", "类别:婚后有子女。"),
                                item("[类别]无<eoa>", "类别:准予离婚。")])
    # item 1: P = 1/2, R = 1 -> 2/3; item 2: none found -> 0, abstention
    assert result.score == pytest.approx(1 / 3)
    assert result.abstention_rate == 0.5


def test_char_f1():
    # gold a b c 1 2, prediction a b d 1: common a b 1 -> P = 3/4, R = 3/5, F = 2/3
    assert char_f1("ABc12", "abd1") == pytest.approx(2 / 3)
    assert char_f1("", "，。") == 1.0  # both empty after dropping punctuation
    assert char_f1("甲", "。") == 0.0
    assert char_f1("回答甲", "甲乙") == pytest.approx(0.4)  # P = 1/2, R = 1/3
    result = score_task("2-5", [item("律师费4000元", "回答:律师费4000元")])
    assert result.score == 1.0 and result.abstention_rate == 0.0


def test_lcs_length_matches_rouge_chinese_table():
    from rouge_chinese.rouge_score import _len_lcs

    rng = random.Random(7)
    for _ in range(200):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 30))]
        b = [rng.choice("abcdef") for _ in range(rng.randint(0, 30))]
        assert lcs_length(a, b) == _len_lcs(a, b)
    assert lcs_length(["", "a"], ["a", ""]) == 1  # empty tokens are tokens
    assert lcs_length(list("x" * 3000), list("x" * 2000)) == 2000  # long texts are fine


def test_rouge_l():
    from rouge_chinese import Rouge

    rouge = Rouge(metrics=["rouge-l"])
    # 我 爱 北京 / 我 爱 上海: LCS 2, P = R = 2/3, F = 2 * (4/9) / (4/3 + 1e-8)
    assert rouge_l("我爱北京", "我爱上海") == pytest.approx(2 / 3, abs=1e-7)
    # a blank prediction becomes the single token 无内容; jieba cuts the
    # reference 无内容 into 无 / 内容, so nothing matches
    assert rouge_l(" \n ", "无内容") == 0.0
    assert rouge_l("", "无内容") == rouge.get_scores("无内容", "无 内容")[0]["rouge-l"]["f"]
    # a blank reference (rouge-chinese raises on it) scores 0
    assert rouge_l("判决有效", "  ") == 0.0
    # whitespace-only lines become empty tokens, as in rouge-chinese
    for hyp, ref in [("第一句。\n \n第二句？好", "第一句。第二句"), ("甲  乙。。", "甲乙。\n\n \n")]:
        want = rouge.get_scores(lb._segment(hyp), lb._segment(ref))[0]["rouge-l"]["f"]
        assert rouge_l(hyp, ref) == want
    # 1-1 drops "答案:" from the reference, 3-8 keeps "回答:"
    assert score_task("1-1", [item("一切权利", "答案:一切权利")]).score == pytest.approx(1, abs=1e-7)
    assert score_task("3-8", [item("一切权利", "回答:一切权利")]).score < 0.9


def test_article_numbers():
    # 第X条 -> X, then cn2an: 一百三十三之一 -> 133之1; only the first run of digits
    assert article_numbers("刑法第一百三十三条之一") == {133}
    assert article_numbers("刑法第264条") == {264}
    # the 第...款 span goes first, then the article is read
    assert article_numbers("第三款第67条") == {67}
    # the span runs from the first 第 to the next 款, so it can swallow an article
    assert article_numbers("第六十七条第三款") == set()
    # 万元 -> 元 (else cn2an would make 10万 into 100000)
    assert article_numbers("处10万元罚金") == {10}
    assert article_numbers("刑法第二百三十四条、一万元") == {234, 1}
    assert article_numbers("不清楚") == set()
    items = [item("刑法第二百六十四条、第六十七条", "法条:刑法第264条"),
             item("[法条]无<eoa>", "法条:刑法第133、67条")]
    result = score_task("3-1", items)
    # item 1: P = 1/2, R = 1 -> 2/3; item 2: nothing -> 0, abstention
    assert result.score == pytest.approx(1 / 3) and result.abstention_rate == 0.5


def test_prison_term_log_distance():
    assert term_months("判处有期徒刑三年") == 36  # 年 x 12
    assert term_months("一年六个月") == 6  # a 个月 wins over any 年
    assert term_months("[刑期]12月<eoa>") == 12
    assert term_months("不好说") is None
    assert log_distance(11, 23) == pytest.approx(math.log(2))  # |ln 12 - ln 24|
    assert log_distance(11, None) == LN216
    items = [item("有期徒刑一年", "刑期:11个月"),  # 12 months: ln(13/12)
             item("三年", "刑期:死刑"),  # left out
             item("不好说", "刑期:5个月")]  # abstention: ln 216
    result = score_task("3-4", items)
    mean = (math.log(13 / 12) + LN216) / 2
    assert result.score == pytest.approx((LN216 - mean) / LN216)
    assert (result.scored_items, result.items) == (2, 3)
    assert result.abstention_rate == pytest.approx(1 / 3)


def test_crime_amounts():
    assert amount_judge("共计8500元", 8500.0) == (1, False)
    assert amount_judge("8,500元", 8500.0) == (0, False)  # 8 and 500
    assert amount_judge("八千五百元", 8500.0) == (0, True)  # no digits = abstention
    result = score_task("3-7", [item("[金额]8500元", "上文涉及到的犯罪金额:8500.0元。"),
                                item("2000元", "上文涉及到的犯罪金额:8500.0元。")])
    assert (result.score, result.abstention_rate) == (0.5, 0.0)


def test_entity_extraction():
    types = load_labels()["2-6"]
    found = predicted_entities("受害人：张三\n地点：无\n时间：昨天晚上", types)
    assert found == {"受害人": "张三", "时间": "昨天晚上"}  # 无 ignored
    assert predicted_entities("受害人：甲\n受害人：乙某", types) == {"受害人": "乙某"}  # last wins
    assert predicted_entities("受害人：张", types) == {}  # colon too close to the end
    # one shared type with Char-F1 1: P = 1/2, R = 1/2, F = 0.5 / (1 + 1e-10)
    assert entity_f1(found, {"受害人": "张三", "地点": "北京"}) == pytest.approx(0.5)
    items = [item("无", ""),  # empty gold, nothing predicted: 1
             item("受害人：张三\n时间：昨天", ""),  # empty gold, something predicted: 0
             item("没有实体", "受害人:张三")]  # gold, nothing predicted: 0, abstention
    result = score_task("2-6", items)
    assert result.score == pytest.approx(1 / 3)
    assert result.abstention_rate == pytest.approx(1 / 3)


def test_event_detection_2_9():
    items = [item("支付/给付；卖出", "支付/给付;欺骗"),  # P = 1/2, R = 1/2: 0.5
             item("无", "拘捕")]  # none found: 0, abstention
    result = score_task("2-9", items)
    assert result.score == pytest.approx(0.25)
    assert result.abstention_rate == 0.5


def test_trigger_words_2_10():
    # 查扣/查扣 = 1, 退还/退给 = 1/2: sum 1.5, P = R = 1.5/2 -> 0.75
    assert trigger_f1("查扣;退还", "查扣;退给") == pytest.approx(0.75)
    # one piece: P = 1/1, R = 1/2 -> 2/3
    assert trigger_f1("查扣", "查扣;退给") == pytest.approx(2 / 3)
    result = score_task("2-10", [item("查扣;退还", "查扣;退给"), item("", "偷")])
    assert result.score == pytest.approx(0.375)
    assert result.abstention_rate == 0.0


def test_optional_task_is_not_scored():
    result = score_task("2-1", [item("改后", "改后")])
    assert result == TaskScore("2-1", None, None, 1, 0, result.note)
    assert result.note.startswith("not scored:") and "ChERRANT" in result.note


def test_labels_are_packaged():
    labels = load_labels()
    assert {k: len(v) for k, v in labels.items()} == {
        "2-2": 16, "2-3": 20, "2-4": 20, "2-9": 20, "3-3": 189, "2-6": 10}
    # 3-3: 诈骗 also matches inside 合同诈骗
    result = score_task("3-3", [item("合同诈骗", "罪名:合同诈骗")])
    assert result.score == pytest.approx(2 / 3)


def test_task_order():
    assert TASKS[:3] == ("1-1", "1-2", "2-1") and TASKS[11] == "2-10" and TASKS[-1] == "3-8"
    assert len(TASKS) == 20 and set(OPTIONAL_TASKS) == {"2-1"}


# --------------------------------------------------------------------------
# Files


def write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False),
                    encoding="utf-8")
    return path


def test_load_predictions_accepts_both_prompt_forms(tmp_path):
    path = write(tmp_path / "1-2.json", {
        "1": item("B", "正确答案：B。", [{"role": "HUMAN", "prompt": "问题"}]),
        "0": item("A", "正确答案：B。"),
    })
    items = load_predictions(path)
    assert [x["prediction"] for x in items] == ["A", "B"]  # key order, not file order


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ([item("A", "B")], "expected a JSON object"),
    ({}, "no items"),
    ({"1": item("A", "B")}, "keys must be"),
    ({"0": item("A", "B"), "2": item("A", "B")}, "keys must be"),
    ({"0": {"origin_prompt": "x", "refr": "B"}}, ":0: missing 'prediction'"),
    ({"0": item(None, "B")}, ":0: 'prediction' must be a string"),
    ({"0": item("A", "B", [{"role": "HUMAN"}])}, ":0: 'origin_prompt' must be"),
])
def test_load_predictions_rejects_malformed_files(tmp_path, content, message):
    path = write(tmp_path / "1-2.json", content)
    with pytest.raises(LawBenchError) as info:
        load_predictions(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_score_dir(tmp_path):
    write(tmp_path / "1-2.json", {"0": item("B", "正确答案：B。"), "1": item("C", "正确答案：B。")})
    write(tmp_path / "3-7.json", {"0": item("100元", "上文涉及到的犯罪金额:100.0元。")})
    write(tmp_path / "notes.json", {"a": 1})  # not a task: ignored
    write(tmp_path / "2-11.json", "{broken")  # not a task id: ignored
    scores = score_dir(tmp_path, progress=False)
    assert list(scores) == ["1-2", "3-7"]
    assert scores["1-2"].score == 0.5 and scores["3-7"].score == 1.0
    assert list(score_dir(tmp_path, tasks=["3-7"], progress=False)) == ["3-7"]
    with pytest.raises(LawBenchError, match="no prediction file for task 1-1"):
        score_dir(tmp_path, tasks=["1-1"])
    with pytest.raises(LawBenchError, match="unknown LawBench task"):
        score_dir(tmp_path, tasks=["9-9"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LawBenchError, match="no LawBench prediction files"):
        score_dir(empty)


def test_score_dir_reports_bad_reference_with_path_and_key(tmp_path):
    path = write(tmp_path / "1-2.json", {"0": item("B", "正确答案：B。"), "1": item("B", "答案是B")})
    with pytest.raises(LawBenchError) as info:
        score_dir(tmp_path, progress=False)
    assert str(info.value).startswith(f"{path}:1: refr")
    with pytest.raises(LawBenchError, match=r"^task 1-2, item 1: refr"):
        score_task("1-2", load_predictions(path))
    with pytest.raises(LawBenchError, match=r"^task 1-2, item 0: missing 'refr'"):
        score_task("1-2", [{"prediction": "B"}])
    with pytest.raises(LawBenchError, match="not a directory"):
        score_dir(path)
