"""The public API of legal_eagle_xtuner.law on a small real index (nine LawRefBook files):
exact lookup by every citation form, search, the rendered prompt equal to training's,
citation checks. The web UI and eval import exactly these names."""

import json

import pytest
from law_common import small_folder

from legal_eagle_xtuner.law import (
    STATUSES,
    LawIndexError,
    check_citations,
    load_index,
    prompt_with_references,
    render_references,
)
from legal_eagle_xtuner.law.build import build
from legal_eagle_xtuner.sources import to_conversation


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("law")
    built = build([small_folder(tmp)], tmp / "index", jobs=1)
    assert built.corpus.files == 9 and built.corpus.files_rejected == 1  # the charge list
    return tmp / "index"


@pytest.fixture(scope="module")
def index(index_dir):
    return load_index(index_dir)


DIVORCE_1079 = "夫妻一方要求离婚的，可以由有关组织进行调解或者直接向人民法院提起离婚诉讼。"


@pytest.mark.parametrize("law, number, suffix", [
    ("民法典", 1079, ""), ("中华人民共和国民法典", 1079, ""), ("《民法典》", 1079, ""),
    ("刑法", 133, "之一"), ("中华人民共和国刑法", 264, ""),
    ("民法商法农民专业合作社法", 33, ""),  # LawBench 1-1 writes the folder before the law
])
def test_lookup_by_every_name_form(index, law, number, suffix):
    article = index.lookup(law, number, suffix)
    assert article is not None
    assert (article.number, article.suffix, article.current) == (number, suffix, True)


def test_lookup_answers_the_article_with_all_its_clauses(index):
    article = index.lookup("民法典", 1079)
    assert article.text.splitlines()[0] == DIVORCE_1079
    assert article.text.splitlines()[3] == "（一）重婚或者与他人同居；"
    assert len(article.text.splitlines()) == 10
    assert (article.part, article.version) == ("婚姻家庭编", "2020-05-28")
    assert index.lookup("民法典", 1079, "之一") is None
    assert index.lookup("民法典", 99999) is None
    assert index.lookup("没有这部法", 1) is None


def test_dated_version_and_its_successor(index):
    old, new = index.versions("妇女权益保障法", 1)[::-1]
    assert (old.version, old.current) == ("2018-10-26", False)
    assert (new.version, new.current) == ("2022-10-30", True)
    assert index.lookup("妇女权益保障法", 1) is new


@pytest.mark.parametrize("query", [
    "《民法典》第一千零七十九条", "民法典第1079条", "《中华人民共和国民法典》第１０７９条规定了什么？",
])
def test_an_explicit_citation_is_looked_up_before_ranking(index, query):
    hit = index.search(query, k=3)[0]
    assert (hit.law, hit.number, hit.suffix, hit.match) == ("民法典", 1079, "", "citation")


def test_search_finds_the_article_written_for(index):
    hits = index.search("醉酒驾驶机动车会受到什么刑事处罚？", k=5)
    assert ("刑法", 133, "之一") in [hit.key for hit in hits]
    hits = index.search("盗窃公私财物数额较大怎么处罚", k=3)
    assert hits[0].key == ("刑法", 264, "")
    assert [hit.key for hit in hits] == list(dict.fromkeys(hit.key for hit in hits))


def test_hit_json_has_the_documented_fields(index):
    hit = index.search("民法典第1079条", k=1)[0]
    data = hit.to_json()
    assert {k: data[k] for k in ("law", "number", "suffix", "version", "current")} == {
        "law": "民法典", "number": 1079, "suffix": "", "version": "2020-05-28", "current": True}
    assert data["text"].startswith(DIVORCE_1079) and isinstance(data["score"], float)
    json.dumps(data)


def test_retrieved_prompt_is_the_training_prompt_of_a_triplet_record(index):
    question = "我想离婚，对方不同意，法院会怎么判？"
    articles = [index.lookup("民法典", 1079), index.lookup("刑法", 133, "之一")]
    record = {"id": "t1", "input": question + "\n", "output": "答",
              "reference": ["《民法典》第一千零七十九条：" + "".join(articles[0].text.splitlines()),
                            "《刑法》第一百三十三条之一：" + "".join(articles[1].text.splitlines())]}
    training = to_conversation(record)["conversation"][0]["input"]
    assert prompt_with_references(question, articles) == training
    hits = index.search("民法典第1079条 刑法第一百三十三条之一", k=2)
    assert prompt_with_references(question, hits) == training
    assert training.startswith("参考法条：\n《民法典》第一千零七十九条 " + DIVORCE_1079
                               + "人民法院审理离婚案件")
    assert render_references(articles) == training.split("\n\n")[0]
    assert prompt_with_references(question, []) == question
    assert render_references([]) == ""


def test_citations_real_invented_and_superseded(index):
    answer = ("根据《民法典》第一千零七十九条规定：“夫妻一方要求离婚的，可以由有关组织进行调解"
              "或者直接向人民法院提起离婚诉讼。”另见《民法典》第五千条，以及《会计法》第五十二条，"
              "和《刑法》第二百六十四条：“盗窃公私财物，数额较小的，不处罚。”")
    checks = check_citations(answer, index)
    assert [(c.citation, c.status, c.quote_match) for c in checks] == [
        ("《民法典》第一千零七十九条", "found", True),
        ("《民法典》第五千条", "no such article", None),
        ("《会计法》第五十二条", "superseded", None),
        ("《刑法》第二百六十四条", "found", False),
    ]
    assert checks[2].version == "2017-11-04" and checks[1].law_indexed
    assert set(c.status for c in checks) <= set(STATUSES)
    unknown = check_citations("依照《没有这部法》第三条", index)
    assert [(c.status, c.law_indexed) for c in unknown] == [("no such article", False)]


def test_a_missing_or_half_written_index_is_one_clear_error(tmp_path, index_dir):
    with pytest.raises(LawIndexError, match=r"no such index folder"):
        load_index(tmp_path / "nothing")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "articles.jsonl").write_text("{}\n")
    with pytest.raises(LawIndexError, match=r"half: not a law index \(no meta.json\)"):
        load_index(tmp_path / "half")


def test_a_year_or_a_bare_amendment_name_before_the_article_still_looks_it_up():
    from legal_eagle_xtuner.law import Article, build_index

    index = build_index([Article("宪法修正案", 23, "", "第十四条增加一款。", version="2004-03-14"),
                         Article("刑法", 264, "", "盗窃公私财物……", version="2023-12-29")])
    assert [a.key for a in index.cited("宪法修正案2004年第二十三条的内容是什么？")] == [
        ("宪法修正案", 23, "")]
    assert [a.key for a in index.cited("《中华人民共和国刑法（2020年修正）》第264条")] == [
        ("刑法", 264, "")]
    assert [a.key for a in index.cited("刑法2020年修正第二百六十四条")] == [("刑法", 264, "")]


def test_a_quote_after_a_colon_is_checked_too(index):
    exact = "《民法典》第一千零七十九条第一款规定：夫妻一方要求离婚的，可以由有关组织进行调解。"
    [check] = check_citations(exact, index)
    assert (check.status, check.quote, check.quote_match) == (
        "found", "夫妻一方要求离婚的，可以由有关组织进行调解", True)
    abridged = "《刑法》第二百六十四条规定：盗窃公私财物，数额较大的，处三年以下有期徒刑。"
    [check] = check_citations(abridged, index)
    assert check.quote_match is False  # words left out: not the article's text
    [check] = check_citations("依照《刑法》第二百六十四条，判处拘役。", index)
    assert (check.quote, check.quote_match) == (None, None)
