"""The three BM25 tokenisations on hand-made articles: the terms they make, and that an
index built with each finds the article written for a question."""

import pytest

from legal_eagle_xtuner.law import Article, build_index
from legal_eagle_xtuner.law.tokenize import tokenize

ARTICLES = [
    Article("刑法", 264, "", "盗窃公私财物，数额较大的，处三年以下有期徒刑。", version="2023-12-29"),
    Article("民法典", 1079, "", "夫妻一方要求离婚的，可以向人民法院提起离婚诉讼。",
            version="2020-05-28"),
    Article("劳动合同法", 47, "", "经济补偿按劳动者在本单位工作的年限支付。", version="2012-12-28"),
    Article("某某法", 99, "", "本法自2021年1月1日起施行。", version="2021-01-01"),
]


def test_bigrams_skip_digits_dates_and_punctuation():
    assert tokenize("2021年1月1日起施行，盗窃!", "bigram") == ["日起", "起施", "施行", "盗窃"]
    assert tokenize("ABC 的 法", "bigram") == ["abc", "法"]  # a lone function word is dropped


def test_jieba_words_and_both_keep_the_two_apart():
    words = tokenize("盗窃公私财物", "jieba")
    assert words[0] == "盗窃" and "".join(words) == "盗窃公私财物"
    both = tokenize("盗窃", "both")
    assert both == ["盗窃", "~盗窃"]  # the word and the bigram are different terms
    with pytest.raises(ValueError, match="unknown tokenizer 'x'; one of jieba, bigram, both"):
        tokenize("盗窃", "x")


@pytest.mark.parametrize("tokenizer", ["bigram", "jieba", "both"])
def test_each_tokenizer_finds_the_article_written_for_the_question(tokenizer):
    index = build_index(ARTICLES, tokenizer)
    assert index.search("偷了别人的财物数额较大会判刑吗", k=1)[0].key == ("刑法", 264, "")
    assert index.search("对方不同意离婚，我能去法院起诉吗", k=1)[0].key == ("民法典", 1079, "")
    # dates are no terms: a question full of dates does not find the effective-date article
    assert index.search("2021年1月1日", k=3) == []


def test_everyday_words_also_search_their_statute_terms():
    from legal_eagle_xtuner.law.index import expand_query

    assert expand_query("房东不退押金") == "房东不退押金 出租人"
    assert expand_query("醉驾怎么判") == "醉驾怎么判 醉酒 驾驶 机动车"
    lease = Article("民法典", 703, "", "租赁合同是出租人将租赁物交付承租人使用、收益，承租人支付租金的合同。")
    index = build_index([lease, *ARTICLES])
    assert [h.key for h in index.search("房东", k=1)] == [("民法典", 703, "")]
    plain = build_index([lease, *ARTICLES], expand_queries=False)
    assert plain.search("房东", k=1) == []
