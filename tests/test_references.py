import pytest

from legal_eagle_xtuner.sources.references import (
    Article,
    article_to_chinese,
    normalize_references,
    parse_reference,
)

THEFT = "盗窃公私财物，数额较大的，或者多次盗窃、入户盗窃、携带凶器盗窃、扒窃的，处三年以下有期徒刑、拘役或者管制，并处或者单处罚金。"
DIVORCE = "夫妻一方要求离婚的，可以由有关组织进行调解或者直接向人民法院提起离婚诉讼。"
DIVORCE_2 = "人民法院审理离婚案件，应当进行调解；如果感情确已破裂，调解无效的，应当准予离婚。"


def lawgpt(prefix, body):
    return f'{prefix}:    "{body}",\n'


# --- article_to_chinese ---------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("第1079条", "第一千零七十九条"),
        ("第一千零七十九条", "第一千零七十九条"),
        ("第 1079 条", "第一千零七十九条"),
        ("第１０７９条", "第一千零七十九条"),  # full-width digits
        ("1079", "第一千零七十九条"),
        (1079, "第一千零七十九条"),
        ("一千零七十九", "第一千零七十九条"),
        ("第10条", "第十条"),
        ("第11条", "第十一条"),
        ("第110条", "第一百一十条"),
        ("第1010条", "第一千零一十条"),
        ("第一十一条", "第十一条"),
        ("第两百条", "第二百条"),
        ("第264条之1", "第二百六十四条之一"),
        ("第二百六十四条之一", "第二百六十四条之一"),
        ("第 264 条 之 1", "第二百六十四条之一"),
        ("第133条之一", "第一百三十三条之一"),
    ],
)
def test_article_to_chinese(raw, expected):
    assert article_to_chinese(raw) == expected


@pytest.mark.parametrize("raw", ["", "第条", "第十百条", "第一千七九条", "第1079款", "abc", None])
def test_article_to_chinese_rejects(raw):
    with pytest.raises(ValueError) as exc:
        article_to_chinese(raw)
    assert str(exc.value) == f"not an article number: {raw!r}"


# --- parse_reference / Article.line ----------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        (
            lawgpt("社会法-妇女权益保障法2022-10-30", "第八十条 违反本法规定，侵害妇女权益的，依法承担责任。"),
            Article("妇女权益保障法", "第八十条", "违反本法规定，侵害妇女权益的，依法承担责任。"),
        ),
        (lawgpt("刑法2020-12-26", "第二百六十四条 " + THEFT), Article("刑法", "第二百六十四条", THEFT)),
        (lawgpt("刑法-刑法", "第二百六十四条 " + THEFT), Article("刑法", "第二百六十四条", THEFT)),
        (lawgpt("刑法", "第二百六十四条 " + THEFT), Article("刑法", "第二百六十四条", THEFT)),
        ('刑法2020-12-26：  "第264条 盗窃"', Article("刑法", "第二百六十四条", "盗窃")),
        ('刑法2020-12-26:    "第二百六十四条 盗窃"', Article("刑法", "第二百六十四条", "盗窃")),
        ('刑法2020-12-26:    "第二百六十四条 盗窃",', Article("刑法", "第二百六十四条", "盗窃")),
        ('刑法2020-12-26:    "第二百六十四条 盗窃"\n', Article("刑法", "第二百六十四条", "盗窃")),
        ('刑法2020-12-26:    "第二百六十四条 盗窃",\\n', Article("刑法", "第二百六十四条", "盗窃")),
        ("刑法2020-12-26: 第二百六十四条 盗窃", Article("刑法", "第二百六十四条", "盗窃")),
        ("刑法: 第二百六十四条 盗窃", Article("刑法", "第二百六十四条", "盗窃")),
        # A quoted body after "name:" is read as LAW-GPT, whatever the name.
        ("说明：\"这是一段话\"", Article("说明", None, "这是一段话")),
        (lawgpt("刑法2020-12-26", "（一）入户盗窃的；"), Article("刑法", None, "（一）入户盗窃的；")),
        (lawgpt("刑法2020-12-26", ""), Article("刑法", None, "")),
        ("《民法典》第一千零七十九条：" + DIVORCE, Article("民法典", "第一千零七十九条", DIVORCE)),
        ("《民法典》第1079条:" + DIVORCE, Article("民法典", "第一千零七十九条", DIVORCE)),
        ("《民法典》第一千零七十九条 " + DIVORCE, Article("民法典", "第一千零七十九条", DIVORCE)),
        ("《民法典》第一千零七十九条\u3000" + DIVORCE, Article("民法典", "第一千零七十九条", DIVORCE)),
        ("《民法典》第一千零七十九条" + DIVORCE, Article("民法典", "第一千零七十九条", DIVORCE)),
        ("《 民法典 》 第一千零七十九条 ： " + DIVORCE, Article("民法典", "第一千零七十九条", DIVORCE)),
        (
            "《中华人民共和国刑法》第二百六十四条 " + THEFT,
            Article("中华人民共和国刑法", "第二百六十四条", THEFT),
        ),
        ("刑法第二百六十四条：" + THEFT, Article("刑法", "第二百六十四条", THEFT)),
        ("刑法第264条 " + THEFT, Article("刑法", "第二百六十四条", THEFT)),
        ("劳动合同法第四十七条经济补偿……", Article("劳动合同法", "第四十七条", "经济补偿……")),
        ("《刑法》第133条之1：醉酒驾驶", Article("刑法", "第一百三十三条之一", "醉酒驾驶")),
        ("《民法典》：" + DIVORCE, Article("民法典", None, DIVORCE)),
        ("第八十条 违反本法规定", Article(None, "第八十条", "违反本法规定")),
        ("详见第三条：有关规定", Article(None, None, "详见第三条：有关规定")),
        ("注意：本条只适用于自然人", Article(None, None, "注意：本条只适用于自然人")),
        ("  夫妻\u3000一方\n\n要求  离婚 ", Article(None, None, "夫妻 一方 要求 离婚")),
        ("《民法典》第1079条 夫妻  一方\u3000\n要求", Article("民法典", "第一千零七十九条", "夫妻 一方 要求")),
    ],
)
def test_parse_reference(raw, expected):
    assert parse_reference(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "\u3000\n\t", "\\n"])
def test_parse_reference_empty(raw):
    assert parse_reference(raw) is None


@pytest.mark.parametrize(
    "article, line",
    [
        (Article("民法典", "第一千零七十九条", "夫妻一方"), "《民法典》第一千零七十九条 夫妻一方"),
        (Article("民法典", "第一千零七十九条", ""), "《民法典》第一千零七十九条"),
        (Article("刑法", None, "（一）入户盗窃的；"), "《刑法》 （一）入户盗窃的；"),
        (Article(None, "第八十条", "违反本法规定"), "第八十条 违反本法规定"),
        (Article(None, None, "只有正文"), "只有正文"),
    ],
)
def test_article_line(article, line):
    assert article.line() == line


# --- normalize_references ------------------------------------------------


def test_lawgpt_full_entry():
    refs = [lawgpt("社会法-妇女权益保障法2022-10-30", "第八十条 违反本法规定，侵害妇女权益的，依法承担责任。")]
    assert normalize_references(refs) == ["《妇女权益保障法》第八十条 违反本法规定，侵害妇女权益的，依法承担责任。"]


def test_lawgpt_without_category_or_date():
    refs = [
        lawgpt("刑法2020-12-26", "第二百六十四条 " + THEFT),
        lawgpt("民法-民法典", "第一千零七十九条 " + DIVORCE),
        lawgpt("劳动合同法", "第四十七条 经济补偿按劳动者在本单位工作的年限支付。"),
    ]
    assert normalize_references(refs) == [
        "《刑法》第二百六十四条 " + THEFT,
        "《民法典》第一千零七十九条 " + DIVORCE,
        "《劳动合同法》第四十七条 经济补偿按劳动者在本单位工作的年限支付。",
    ]


def test_continuations_join_their_article():
    refs = [
        lawgpt("民法-民法典2020-05-28", "第一千零七十九条 " + DIVORCE),
        lawgpt("民法-民法典2020-05-28", DIVORCE_2),
        lawgpt("民法-民法典2020-05-28", "有下列情形之一，调解无效的，应当准予离婚："),
        lawgpt("民法-民法典2020-05-28", "（四）因感情不和分居满二年；"),
    ]
    assert normalize_references(refs) == [
        "《民法典》第一千零七十九条 "
        + DIVORCE
        + " "
        + DIVORCE_2
        + " 有下列情形之一，调解无效的，应当准予离婚： （四）因感情不和分居满二年；"
    ]


def test_continuation_joins_latest_article_of_same_law_across_other_laws():
    refs = [
        lawgpt("刑法2020-12-26", "第二百六十四条 盗窃公私财物的。"),
        lawgpt("民法-民法典2020-05-28", "第一千零七十九条 " + DIVORCE),
        lawgpt("刑法2020-12-26", "（一）入户盗窃的；"),
        lawgpt("民法-民法典2020-05-28", DIVORCE_2),
    ]
    assert normalize_references(refs) == [
        "《刑法》第二百六十四条 盗窃公私财物的。 （一）入户盗窃的；",
        "《民法典》第一千零七十九条 " + DIVORCE + " " + DIVORCE_2,
    ]


def test_continuation_without_preceding_article():
    refs = [
        lawgpt("刑法2020-12-26", "（一）入户盗窃的；"),
        lawgpt("刑法2020-12-26", "（二）携带凶器盗窃的；"),
        lawgpt("刑法2020-12-26", "第二百六十四条 盗窃公私财物的。"),
        lawgpt("刑法2020-12-26", "（三）扒窃的；"),
    ]
    # Paragraphs before any article of their law form their own line (later
    # paragraphs continue it); an article starts a new line.
    assert normalize_references(refs) == [
        "《刑法》 （一）入户盗窃的； （二）携带凶器盗窃的；",
        "《刑法》第二百六十四条 盗窃公私财物的。 （三）扒窃的；",
    ]


def test_continuation_of_other_law_does_not_join():
    refs = [
        lawgpt("刑法2020-12-26", "第二百六十四条 盗窃公私财物的。"),
        lawgpt("民法-民法典2020-05-28", DIVORCE_2),
    ]
    assert normalize_references(refs) == [
        "《刑法》第二百六十四条 盗窃公私财物的。",
        "《民法典》 " + DIVORCE_2,
    ]


def test_exact_duplicates_dropped():
    entry = lawgpt("刑法-刑法2020-12-26", "第二百六十四条 " + THEFT)
    assert normalize_references([entry, entry]) == ["《刑法》第二百六十四条 " + THEFT]


def test_duplicates_differing_in_whitespace_dropped():
    refs = [
        "《民法典》第一千零七十九条：夫妻一方  要求离婚的",
        "《民法典》 第一千零七十九条\u3000夫妻一方\n要求离婚的\n",
    ]
    assert normalize_references(refs) == ["《民法典》第一千零七十九条 夫妻一方 要求离婚的"]
    refs = [
        "《民法典》第一千零七十九条：" + DIVORCE,
        "《民法典》第一千零七十九条：夫妻一方 要求离婚的，可以由有关组织进行调解或者直接向人民法院\u3000提起离婚诉讼。",
    ]
    # Whitespace is ignored when comparing; the first-seen text is kept.
    assert normalize_references(refs) == ["《民法典》第一千零七十九条 " + DIVORCE]


def test_duplicates_differing_in_numeral_form_dropped():
    refs = [
        "《民法典》第1079条：" + DIVORCE,
        "《民法典》第一千零七十九条：" + DIVORCE,
        lawgpt("民法-民法典2020-05-28", "第一千零七十九条 " + DIVORCE),
    ]
    assert normalize_references(refs) == ["《民法典》第一千零七十九条 " + DIVORCE]


def test_same_article_different_text_kept():
    refs = ["《刑法》第二百六十四条 旧文本", "《刑法》第264条 新文本"]
    assert normalize_references(refs) == ["《刑法》第二百六十四条 旧文本", "《刑法》第二百六十四条 新文本"]


def test_duplicate_continuation_dropped():
    refs = [
        lawgpt("刑法2020-12-26", "第二百六十四条 盗窃公私财物的。"),
        lawgpt("刑法2020-12-26", "（一）入户盗窃的；"),
        lawgpt("刑法2020-12-26", "（一）入户盗窃的；"),
        lawgpt("刑法2020-12-26", "（一）入户盗窃的；  "),
        lawgpt("刑法2020-12-26", "（一） 入户盗窃的；"),
    ]
    assert normalize_references(refs) == ["《刑法》第二百六十四条 盗窃公私财物的。 （一）入户盗窃的；"]


def test_repeated_block_collapses():
    block = [
        lawgpt("刑法2020-12-26", "第二百六十四条 盗窃公私财物的。"),
        lawgpt("刑法2020-12-26", "（一）入户盗窃的；"),
        lawgpt("刑法2020-12-26", "第二百六十六条 诈骗公私财物的。"),
        lawgpt("刑法2020-12-26", "（一）冒充他人的；"),
    ]
    assert normalize_references(block + block) == [
        "《刑法》第二百六十四条 盗窃公私财物的。 （一）入户盗窃的；",
        "《刑法》第二百六十六条 诈骗公私财物的。 （一）冒充他人的；",
    ]


def test_same_paragraph_under_two_articles_kept_for_both():
    refs = [
        lawgpt("刑法2020-12-26", "第二百六十四条 盗窃公私财物的。"),
        lawgpt("刑法2020-12-26", "（一）数额较大的；"),
        lawgpt("刑法2020-12-26", "第二百六十六条 诈骗公私财物的。"),
        lawgpt("刑法2020-12-26", "（一）数额较大的；"),
    ]
    assert normalize_references(refs) == [
        "《刑法》第二百六十四条 盗窃公私财物的。 （一）数额较大的；",
        "《刑法》第二百六十六条 诈骗公私财物的。 （一）数额较大的；",
    ]


def test_zhiyi_articles():
    refs = [
        lawgpt("刑法2020-12-26", "第一百三十三条之一 在道路上驾驶机动车，有下列情形之一的，处拘役，并处罚金："),
        lawgpt("刑法2020-12-26", "（二）醉酒驾驶机动车的；"),
        "《刑法》第133条之1 在道路上驾驶机动车，有下列情形之一的，处拘役，并处罚金：",
        "《刑法》第二百六十四条之一：示例文本",
        "刑法第264条之1 示例文本",
        "《刑法》第一百三十三条 交通肇事",
    ]
    assert normalize_references(refs) == [
        "《刑法》第一百三十三条之一 在道路上驾驶机动车，有下列情形之一的，处拘役，并处罚金： （二）醉酒驾驶机动车的；",
        "《刑法》第二百六十四条之一 示例文本",
        "《刑法》第一百三十三条 交通肇事",
    ]


def test_disc_styles():
    refs = [
        "《民法典》第一千零七十九条：" + DIVORCE,
        "《中华人民共和国刑法》第二百六十四条 " + THEFT,
        "劳动合同法第四十七条：经济补偿按劳动者在本单位工作的年限支付。",
        "《消费者权益保护法》第五十五条:经营者提供商品或者服务有欺诈行为的，应当增加赔偿。",
    ]
    assert normalize_references(refs) == [
        "《民法典》第一千零七十九条 " + DIVORCE,
        "《中华人民共和国刑法》第二百六十四条 " + THEFT,
        "《劳动合同法》第四十七条 经济补偿按劳动者在本单位工作的年限支付。",
        "《消费者权益保护法》第五十五条 经营者提供商品或者服务有欺诈行为的，应当增加赔偿。",
    ]


def test_disc_multiline_text_collapsed():
    refs = ["《劳动合同法》第十九条：第一款。\n第二款。\u3000\n\n第三款。"]
    assert normalize_references(refs) == ["《劳动合同法》第十九条 第一款。 第二款。 第三款。"]


def test_text_without_law_kept_as_is():
    refs = ["详见第三条：有关规定", "  注意：本条\n只适用于自然人 ", "详见第三条：有关规定"]
    assert normalize_references(refs) == ["详见第三条：有关规定", "注意：本条 只适用于自然人"]


def test_empty_entries_dropped():
    refs = [
        "",
        "   ",
        "\u3000\n",
        lawgpt("刑法2020-12-26", ""),
        lawgpt("刑法2020-12-26", "   "),
        "《刑法》第二百六十四条 盗窃",
        lawgpt("刑法2020-12-26", ""),
    ]
    assert normalize_references(refs) == ["《刑法》第二百六十四条 盗窃"]
    assert normalize_references([]) == []
    assert normalize_references(["", " "]) == []


def test_article_without_text():
    refs = ["《刑法》第二百六十四条", lawgpt("刑法2020-12-26", "盗窃公私财物的。")]
    assert normalize_references(refs) == ["《刑法》第二百六十四条 盗窃公私财物的。"]


def test_first_seen_order():
    refs = ["《刑法》第三条 乙", "《民法典》第二条 甲", "《刑法》第3条 乙", "《刑法》第一条 丙"]
    assert normalize_references(refs) == ["《刑法》第三条 乙", "《民法典》第二条 甲", "《刑法》第一条 丙"]


def test_accepts_tuple_and_generator():
    assert normalize_references(("《刑法》第3条 乙",)) == ["《刑法》第三条 乙"]
    assert normalize_references(r for r in ["《刑法》第3条 乙"]) == ["《刑法》第三条 乙"]


def test_type_errors():
    with pytest.raises(TypeError) as exc:
        normalize_references("《刑法》第三条 乙")
    assert str(exc.value) == "refs must be a list of strings, not a single string"
    with pytest.raises(TypeError) as exc:
        normalize_references(["《刑法》第三条 乙", 3])
    assert str(exc.value) == "refs[1] must be a string, got int"
