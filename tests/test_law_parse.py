"""LawRefBook Markdown → articles: real files of the corpus (an article with 款 and 项,
之一, a dated version and its successor, a Civil Code part, the charges of the Criminal
Law) and bad inputs, each one clear line and a counted reject."""

from pathlib import Path

import pytest
from law_common import lawrefbook, small_folder

from legal_eagle_xtuner.law.corpus import load_corpus
from legal_eagle_xtuner.law.markdown import parse_law_file, parse_law_text


def _article(parsed, number, suffix=""):
    found = [a for a in parsed.articles if (a.number, a.suffix) == (number, suffix)]
    assert len(found) == 1, (number, suffix, len(found))
    return found[0]


def test_criminal_law_article_with_clauses_items_and_zhiyi():
    parsed = parse_law_file(lawrefbook() / "刑法" / "刑法.md")
    assert (parsed.law, parsed.title, parsed.version) == ("刑法", "中华人民共和国刑法", "2023-12-29")
    assert parsed.rejects == []
    drunk = _article(parsed, 133, "之一")
    lines = drunk.text.splitlines()
    assert lines[0] == "在道路上驾驶机动车，有下列情形之一的，处拘役，并处罚金："
    assert lines[2] == "（二）醉酒驾驶机动车的；"
    assert len(lines) == 7  # first 款 + four 项 + two more 款
    assert drunk.chapter == "第二编 分则 第二章 危害公共安全罪"
    assert drunk.source.endswith("刑法/刑法.md:669")
    assert _article(parsed, 17, "之一").text.startswith("已满七十五周岁的人故意犯罪的")
    assert [a.number for a in parsed.articles[:3]] == [1, 2, 3]


def test_civil_code_part_is_the_civil_code_with_its_part():
    parsed = parse_law_file(lawrefbook() / "民法典" / "婚姻家庭编.md")
    assert parsed.law == "民法典"
    numbers = [a.number for a in parsed.articles]
    assert (numbers[0], numbers[-1], len(numbers)) == (1040, 1118, 79)
    assert {a.part for a in parsed.articles} == {"婚姻家庭编"}


def test_dated_version_and_its_successor(tmp_path):
    corpus = load_corpus([small_folder(tmp_path)])
    women = {(a.version, a.current) for a in corpus.articles if a.law == "妇女权益保障法"}
    assert women == {("2018-10-26", False), ("2022-10-30", True)}
    accounting = [a for a in corpus.articles if a.law == "会计法" and a.number == 52]
    assert [(a.version, a.current) for a in accounting] == [("2017-11-04", False)]
    # the Civil Code's parts share no article number: all of them are current
    assert all(a.current for a in corpus.articles if a.law == "民法典")


def test_charges_from_the_interpretations_are_attached_to_criminal_law_articles(tmp_path):
    corpus = load_corpus([small_folder(tmp_path)])
    charges = {a.key: a.charges for a in corpus.articles if a.law == "刑法"}
    assert charges[("刑法", 264, "")] == ["盗窃罪"]
    assert charges[("刑法", 303, "")] == ["赌博罪"]
    assert charges[("刑法", 1, "")] == []
    assert corpus.charges == sum(len(c) for c in charges.values()) > 300
    # the charge list itself has no article lines: a counted reject, not a law
    assert corpus.files == 9 and corpus.files_indexed == 8 and corpus.files_rejected == 1
    assert [r.message for r in corpus.rejects] == [
        "no article lines (第X条 ); not split into articles, not indexed"]


def test_bad_inputs_are_one_line_each_and_counted(tmp_path):
    (tmp_path / "laws").mkdir()
    (tmp_path / "laws" / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    (tmp_path / "laws" / "empty.md").write_bytes(b"")
    (tmp_path / "laws" / "notitle.md").write_text("第一条 没有标题的文字。\n", "utf-8")
    (tmp_path / "laws" / "bad.md").write_text(
        "# 测试法\n\n2020年1月1日 通过\n\n<!-- INFO END -->\n\n第一条 第一款。\n\n第二款。\n\n"
        "第十百条 号码写错了。\n\n第三条 好的。\n", "utf-8")
    (tmp_path / "nolaw").mkdir()
    (tmp_path / "nolaw" / "notes.txt").write_text("not markdown", "utf-8")
    corpus = load_corpus([tmp_path / "laws", tmp_path / "nolaw", tmp_path / "missing"])
    assert sorted(str(r).replace(str(tmp_path), "T") for r in corpus.rejects) == sorted([
        "T/laws/image.md:1: not UTF-8 text (a binary file?); not a law",
        "T/laws/empty.md: empty file",
        "T/laws/notitle.md:1: no '# ' title line; not a law",
        "T/laws/bad.md:11: cannot read the article number of '第十百条 号码写错了。'",
        "T/nolaw: no Markdown (.md) law file in it",
        "T/missing: no such file or directory",
    ])
    assert (corpus.files, corpus.files_indexed, corpus.files_rejected) == (4, 1, 3)
    assert [(a.law, a.number, a.text, a.version) for a in corpus.articles] == [
        ("测试法", 1, "第一款。\n第二款。", "2020-01-01"), ("测试法", 3, "好的。", "2020-01-01")]


def test_a_file_without_info_end_still_parses():
    parsed = parse_law_text("# 某某条例\n\n第一条 甲。\n乙。\n第二条之一 丙。\n", "x.md")
    assert [(a.law, a.number, a.suffix, a.text) for a in parsed.articles] == [
        ("某某条例", 1, "", "甲。\n乙。"), ("某某条例", 2, "之一", "丙。")]


@pytest.mark.parametrize("name", ["_index.md"])
def test_folder_index_files_are_skipped(tmp_path, name):
    (tmp_path / name).write_text("---\ntitle: 刑法\n---\n", "utf-8")
    corpus = load_corpus([tmp_path])
    assert corpus.files == 0
    assert [str(r) for r in corpus.rejects] == [f"{tmp_path}: no Markdown (.md) law file in it"]
