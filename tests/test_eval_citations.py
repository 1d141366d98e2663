import random
import time

import pytest

from legal_eagle_xtuner.eval.citations import (
    Citation,
    CitationScore,
    citation_prf,
    lcs_length,
    normalize_law,
    parse_citations,
    report_lines,
    rouge_l,
    score_items,
)

C = Citation
DIVORCE = "夫妻一方要求离婚的，可以由有关组织进行调解或者直接向人民法院提起离婚诉讼。"
THEFT = "盗窃公私财物，数额较大的，或者多次盗窃、入户盗窃、携带凶器盗窃、扒窃的，处三年以下有期徒刑。"


# --- parse_citations: articles ---------------------------------------------


def test_chinese_numeral_article_and_clause_is_not_an_article():
    answer = (
        "可以起诉离婚。根据《民法典》第一千零七十九条第三款，有下列情形之一，"
        "调解无效的，应当准予离婚：（一）重婚或者与他人同居……"
    )
    assert parse_citations(answer) == [C("民法典", 1079)]


def test_clause_and_item_without_article_are_not_articles():
    # 第三款 / 第二项 after a law but without 第X条 cite no article.
    assert parse_citations("《民法典》第一千零七十九条规定了离婚诉讼，前款第二项和第三款另有规定。") == [
        C("民法典", 1079)
    ]
    assert parse_citations("《民法典》相关条文的第三款规定") == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("《民法典》第十条", [C("民法典", 10)]),
        ("《民法典》第一百零三条", [C("民法典", 103)]),
        ("《劳动合同法》第12条", [C("劳动合同法", 12)]),
        ("《劳动合同法》第 12 条", [C("劳动合同法", 12)]),
        ("《劳动合同法》第１２条", [C("劳动合同法", 12)]),  # full-width digits
        ("《劳动合同法》第４６条、第47条", [C("劳动合同法", 46), C("劳动合同法", 47)]),
        ("《刑法》第两百条", [C("刑法", 200)]),
    ],
)
def test_article_numerals(text, expected):
    assert parse_citations(text) == expected


def test_amended_article_suffix():
    answer = "构成《刑法》第二百六十四条之一规定的犯罪，另见第264条之2与第二百六十四条。"
    assert parse_citations(answer) == [C("刑法", 264, 1), C("刑法", 264, 2), C("刑法", 264)]
    assert C("刑法", 264, 1) != C("刑法", 264)


def test_zhiyi_of_other_words_is_not_a_sub_article():
    text = "依照《刑法》第二百六十四条之规定，具有第三条之一般情形，有下列情形之一的"
    assert parse_citations(text) == [C("刑法", 264), C("刑法", 3)]


def test_malformed_and_zero_numerals_are_skipped():
    assert parse_citations("《刑法》第十百条、第零条、第一千七九条，第五条") == [C("刑法", 5)]


@pytest.mark.parametrize(
    "text",
    [
        "《民法典》第五编第三章规定了婚姻家庭关系。",
        "《刑法》（见本书第5页）",
        "《民法典》第1079款",
        "《民法典》第三节、第十二章、第2页",
    ],
)
def test_chapters_pages_and_clauses_are_not_articles(text):
    assert parse_citations(text) == []


# --- parse_citations: which law ----------------------------------------------


def test_several_articles_after_one_law():
    assert parse_citations("依据《民法典》第一千零七十九条、第一千零八十四条的规定") == [
        C("民法典", 1079),
        C("民法典", 1084),
    ]
    assert parse_citations("根据《刑法》第二百六十四条和第二百六十七条第一款的规定，应以盗窃罪论处。") == [
        C("刑法", 264),
        C("刑法", 267),
    ]


def test_later_law_takes_over():
    text = "《刑法》第二百六十四条规定了盗窃罪；程序上适用《刑事诉讼法》第十条、第十二条。"
    assert parse_citations(text) == [
        C("刑法", 264),
        C("刑事诉讼法", 10),
        C("刑事诉讼法", 12),
    ]


def test_prc_prefix_matches_short_name():
    long = parse_citations("根据《中华人民共和国民法典》第一千零七十九条")
    short = parse_citations("根据《民法典》第1079条")
    assert long == short == [C("民法典", 1079)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("刑法第二百六十四条：" + THEFT, [C("刑法", 264)]),
        ("中华人民共和国民法典第一千零七十九条", [C("民法典", 1079)]),
        ("中华人民共和国民法典 第一千零七十九条：" + DIVORCE, [C("民法典", 1079)]),
        ("民事诉讼法第一百二十二条：起诉必须符合下列条件", [C("民事诉讼法", 122)]),
        ("最高人民法院关于审理劳动争议案件适用法律问题的解释第三条", [
            C("最高人民法院关于审理劳动争议案件适用法律问题的解释", 3)
        ]),
    ],
)
def test_bare_disc_style_references(text, expected):
    assert parse_citations(text) == expected


def test_bare_law_in_free_text_loses_its_lead_in():
    text = "被告人犯盗窃罪，依照刑法第264条之规定，判处有期徒刑一年。我国刑法规定第二百六十七条"
    assert parse_citations(text) == [C("刑法", 264), C("刑法", 267)]


def test_bare_law_becomes_the_law_for_later_articles():
    text = "《民法典》第一千零七十九条。另外，劳动合同法第四十六条、第四十七条"
    assert parse_citations(text) == [
        C("民法典", 1079),
        C("劳动合同法", 46),
        C("劳动合同法", 47),
    ]


def test_non_law_word_before_article_is_not_a_law_name():
    # "详见" does not end like a law name: the article falls to the law named
    # before it, and without one it is not counted.
    assert parse_citations("详见第三条。") == []
    assert parse_citations("《公司法》第一条。详见第三条。") == [C("公司法", 1), C("公司法", 3)]
    assert parse_citations("规定第三条") == []  # a law-name ending alone is no name


def test_article_without_any_law_is_not_counted():
    text = "依据第一千零七十九条的规定，可以起诉离婚（参见《民法典》）。"
    assert parse_citations(text) == []
    assert parse_citations("第十二条规定，用人单位应当……") == []


def test_this_law_refers_to_the_last_law():
    text = "《民法典》婚姻家庭编第一千零七十九条，以及本法第一千零八十四条"
    assert parse_citations(text) == [C("民法典", 1079), C("民法典", 1084)]


def test_contracts_are_not_statutes():
    text = (
        "根据《民法典》第五百七十七条，对方违反合同第3条的约定；"
        "《借款合同》第五条、第六条约定的利率过高。"
    )
    assert parse_citations(text) == [C("民法典", 577)]


def test_amendment_and_interpretation_titles():
    text = (
        "《刑法修正案（十一）》第一条；《最高人民法院关于适用〈中华人民共和国民法典〉"
        "婚姻家庭编的解释（一）》第五条"
    )
    assert parse_citations(text) == [
        C("刑法修正案（十一）", 1),
        C("最高人民法院关于适用〈民法典〉婚姻家庭编的解释（一）", 5),
    ]


def test_duplicates_removed_order_kept():
    text = "《刑法》第二百六十七条、第264条……再看《中华人民共和国刑法》第二百六十四条和第267条"
    assert parse_citations(text) == [C("刑法", 267), C("刑法", 264)]


def test_parse_rejects_non_string():
    with pytest.raises(TypeError):
        parse_citations(None)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("《中华人民共和国民法典》", "民法典"),
        ("中华人民共和国 刑法", "刑法"),
        ("刑法（2020修正）", "刑法"),
        ("刑法(2020年修正)", "刑法"),
        ("刑诉法", "刑事诉讼法"),
        ("婚姻法", "婚姻法"),
        ("最高人民法院关于适用<中华人民共和国民法典>的解释(一)", "最高人民法院关于适用<民法典>的解释（一）"),
    ],
)
def test_normalize_law(raw, expected):
    assert normalize_law(raw) == expected


def test_citation_str_uses_chinese_numerals():
    assert str(C("民法典", 1079)) == "《民法典》第一千零七十九条"
    assert str(C("刑法", 264, 1)) == "《刑法》第二百六十四条之一"
    assert str(C("劳动合同法", 12)) == "《劳动合同法》第十二条"


# --- citation_prf ------------------------------------------------------------


def test_prf_partial_match():
    pred = [C("民法典", 1079), C("民法典", 1084), C("刑法", 264)]
    gold = [C("民法典", 1079), C("民法典", 1087)]
    p, r, f = citation_prf(pred, gold)
    assert (p, r) == pytest.approx((1 / 3, 1 / 2))
    assert f == pytest.approx(0.4)


def test_prf_counts_duplicates_once_and_sub_articles_apart():
    p, r, f = citation_prf([C("刑法", 264), C("刑法", 264)], [C("刑法", 264)])
    assert (p, r, f) == (1.0, 1.0, 1.0)
    assert citation_prf([C("刑法", 264, 1)], [C("刑法", 264)]) == (0.0, 0.0, 0.0)


def test_prf_empty_cases():
    assert citation_prf([], []) == (1.0, 1.0, 1.0)
    assert citation_prf([], [C("民法典", 1079)]) == (0.0, 0.0, 0.0)
    assert citation_prf([C("民法典", 1079)], []) == (0.0, 0.0, 0.0)


# --- ROUGE-L -----------------------------------------------------------------


def _lcs_dp(a, b):
    """Plain two-row dynamic programme, the reference for lcs_length."""
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


@pytest.mark.parametrize(
    "a, b, lcs",
    [
        ("ABCBDAB", "BDCABA", 4),  # BCBA
        ("根据民法典规定", "依据民法典", 4),  # 据民法典
        ("盗窃罪", "抢劫罪", 1),
        ("", "民法典", 0),
        ("刑法", "民事", 0),
    ],
)
def test_lcs_length_by_hand(a, b, lcs):
    assert lcs_length(a, b) == lcs
    assert lcs_length(b, a) == lcs


def test_lcs_length_matches_plain_dp():
    rng = random.Random(1234)
    for _ in range(300):
        a = "".join(rng.choice("法律条款") for _ in range(rng.randint(0, 150)))
        b = "".join(rng.choice("法律条文") for _ in range(rng.randint(0, 150)))
        assert lcs_length(a, b) == _lcs_dp(a, b), (a, b)


@pytest.mark.parametrize(
    "pred, ref, expected",
    [
        ("ABCBDAB", "BDCABA", 8 / 13),  # P 4/7, R 4/6
        ("根据民法典规定", "依据民法典", 2 / 3),  # P 4/7, R 4/5
        ("民 法\n典", "民法典", 1.0),  # whitespace removed
        ("可以起诉离婚。", "可以起诉离婚。", 1.0),
        ("刑法", "民事", 0.0),
        ("", "", 1.0),
        ("   ", "民法典", 0.0),
        ("民法典", "", 0.0),
    ],
)
def test_rouge_l(pred, ref, expected):
    assert rouge_l(pred, ref) == pytest.approx(expected)


def test_rouge_l_speed():
    rng = random.Random(0)
    alphabet = "的是了在法律条款民刑事第一二三四五六七八九十人员公司合同规定应当可以"
    pairs = [
        ("".join(rng.choices(alphabet, k=600)), "".join(rng.choices(alphabet, k=600)))
        for _ in range(500)
    ]
    start = time.perf_counter()
    scores = [rouge_l(a, b) for a, b in pairs]
    elapsed = time.perf_counter() - start
    assert all(0.0 < s < 1.0 for s in scores)
    # About 0.3 s here; a Python-level O(n*m) table would take over a minute.
    assert elapsed < 5.0


# --- score_items -------------------------------------------------------------


def _corpus():
    return [
        {   # gold from references (not from refr, which also cites 1087);
            # 1076 mentioned inside the statute text is not a gold citation.
            "prediction": "根据《民法典》第一千零七十九条，可以起诉离婚；《刑法》第二百六十四条不适用。",
            "refr": "依据《民法典》第一千零七十九条、第一千零八十七条……",
            "references": [
                "《民法典》第一千零七十九条：" + DIVORCE,
                "《中华人民共和国民法典》第一千零八十四条 离婚后，依照本法第一千零七十六条……",
            ],
        },
        {   # no references: gold from refr
            "prediction": "《中华人民共和国刑法》第二百六十四条、第二百六十七条",
            "refr": "构成盗窃罪，依据《刑法》第264条处罚。",
        },
        {   # no gold citation: counts against precision only
            "prediction": "《民法典》第十条规定，处理民事纠纷应当依照法律。",
            "refr": "可以先协商解决。",
            "references": [],
        },
        {   # blank prediction; LAW-GPT continuation paragraph adds nothing
            "prediction": "  ",
            "refr": "依照刑法规定处理。",
            "references": [
                "刑法第二百六十四条：" + THEFT,
                '刑法2020-12-26:    "（一）入户盗窃的；",\n',
            ],
        },
    ]


def test_score_items_micro_macro_by_hand():
    score = score_items(_corpus())
    # per item (correct, predicted, gold, F1): (1,2,2,0.5) (1,2,1,2/3) (0,1,0,-) (0,0,1,0)
    assert (score.items, score.items_with_gold, score.abstentions) == (4, 3, 1)
    assert (score.correct, score.predicted, score.gold) == (2, 5, 4)
    assert score.precision == pytest.approx(2 / 5)
    assert score.recall == pytest.approx(2 / 4)
    assert score.f1 == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    assert score.macro_f1 == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)
    assert score.abstention == pytest.approx(0.25)
    expected_rouge = sum(rouge_l(i["prediction"], i["refr"]) for i in _corpus()) / 4
    assert score.rouge_l == pytest.approx(expected_rouge)
    assert 0.0 < score.rouge_l < 1.0


def test_blank_references_fall_back_to_refr():
    item = {"prediction": "《刑法》第264条", "refr": "《刑法》第二百六十四条", "references": ["", " "]}
    score = score_items([item])
    assert (score.correct, score.predicted, score.gold) == (1, 1, 1)


def test_all_predictions_empty():
    items = [
        {"prediction": "", "refr": "《民法典》第一千零七十九条"},
        {"prediction": None, "refr": "《民法典》第一千零八十四条"},
    ]
    score = score_items(items)
    assert (score.precision, score.recall, score.f1, score.macro_f1) == (0.0, 0.0, 0.0, 0.0)
    assert score.abstention == 1.0
    assert score.rouge_l == 0.0


def test_no_gold_and_no_predicted_citations():
    items = [{"prediction": "可以协商解决。", "refr": "可以协商解决。"}]
    score = score_items(items)
    assert (score.precision, score.recall, score.f1) == (1.0, 1.0, 1.0)
    assert score.macro_f1 is None
    assert score.rouge_l == 1.0
    assert "macro F1 over 0 items with gold citations: n/a" in report_lines(score)


def test_score_items_rejects_bad_input():
    with pytest.raises(ValueError, match="no items"):
        score_items([])
    with pytest.raises(KeyError, match="item 0: missing 'prediction'"):
        score_items([{"refr": ""}])
    with pytest.raises(TypeError, match="references"):
        score_items([{"prediction": "", "refr": "", "references": "《刑法》第264条"}])


def test_report_lines():
    lines = report_lines(score_items(_corpus()))
    assert lines[0] == "items: 4 (with gold citations: 3, blank predictions: 1 = 25.00%)"
    assert lines[1] == "citations: gold 4, predicted 5, correct 2"
    assert lines[2] == "micro precision 40.00%, recall 50.00%, F1 44.44%"
    assert lines[3] == "macro F1 over 3 items with gold citations: 38.89%"
    assert lines[4].startswith("ROUGE-L (characters, F1): ")
    assert isinstance(score_items(_corpus()), CitationScore)
