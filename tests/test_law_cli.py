"""``legal-eagle law index|search|show|prompt|check`` on a small real corpus: the counts
line, exact lookup by both argument forms, --queries JSONL, and one line per bad input."""

import json

import pytest
from law_common import small_folder, small_index

from legal_eagle_xtuner.cli import main


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return small_index(tmp_path_factory.mktemp("law-cli"))


def test_index_prints_counts_and_rejects(tmp_path, capsys):
    folder = small_folder(tmp_path)
    (folder / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    (folder / "empty.md").write_bytes(b"")
    capsys.readouterr()
    assert main(["law", "index", str(folder), "-o", str(tmp_path / "i"), "--jobs", "1",
                 "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == (
        "files: 11 (8 indexed, 3 rejected); laws: 5; articles: 1111 (998 current); "
        "other rejects: 0; charges attached: 424")
    assert f"reject: {folder}/image.md:1: not UTF-8 text (a binary file?); not a law" in err
    assert f"reject: {folder}/empty.md: empty file" in err
    assert len(err.splitlines()) == 3
    assert (tmp_path / "i" / "meta.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".i.")]  # no temp left


def test_a_folder_with_no_law_is_one_line_and_exit_1(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["law", "index", str(tmp_path / "empty"), "-o", str(tmp_path / "i"),
                 "--no-progress"]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"reject: {tmp_path}/empty: no Markdown (.md) law file in it",
                                "legal-eagle law index: no article found; nothing written"]
    assert not (tmp_path / "i").exists()


@pytest.mark.parametrize("argv", [["民法典", "1079"], ["中华人民共和国民法典", "第1079条"],
                                  ["《民法典》第一千零七十九条"], ["民法典", "一千零七十九"]])
def test_show_by_law_and_number_or_citation(index, capsys, argv):
    assert main(["law", "show", str(index), *argv, "--json"]) == 0
    [hit] = json.loads(capsys.readouterr().out)
    assert (hit["law"], hit["number"], hit["suffix"], hit["current"]) == ("民法典", 1079, "", True)


@pytest.mark.parametrize("argv, message", [
    (["民法典", "99999"], "民法典 99999: no such article in {index}"),
    (["没有这部法", "1"], "没有这部法 1: no such law in {index}"),
    (["民法典", "abc"], "not an article number: 'abc'"),
    (["离婚"], "'离婚' names no article: give LAW NUMBER (民法典 1079) or a citation "
               "(《民法典》第一千零七十九条)"),
])
def test_show_errors_are_one_line(index, capsys, argv, message):
    assert main(["law", "show", str(index), *argv]) == 1
    assert capsys.readouterr().err == f"legal-eagle law show: {message.format(index=index)}\n"


def test_show_all_versions(index, capsys):
    assert main(["law", "show", str(index), "妇女权益保障法", "1", "--all-versions",
                 "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [(h["version"], h["current"]) for h in hits] == [("2022-10-30", True),
                                                            ("2018-10-26", False)]


def test_search_json_and_batch(index, tmp_path, capsys):
    assert main(["law", "search", str(index), "盗窃公私财物数额较大怎么处罚", "-k", "2",
                 "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2 and (hits[0]["law"], hits[0]["number"]) == ("刑法", 264)
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": 1, "question": "刑法第264条"}\n{"id": "x"}\nnot json\n'
                       '{"id": 2, "question": "醉酒驾驶机动车"}\n', "utf-8")
    out = tmp_path / "hits.jsonl"
    assert main(["law", "search", str(index), "--queries", str(queries), "-k", "3", "-o",
                 str(out), "--no-progress"]) == 0
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [r["id"] for r in rows] == [1, 2] and all(len(r["hits"]) == 3 for r in rows)
    assert (rows[0]["hits"][0]["number"], rows[0]["hits"][0]["match"]) == (264, "citation")
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"reject: {queries}:2: needs a non-empty 'question' string"
    assert err[1].startswith(f"reject: {queries}:3: invalid JSON")
    assert err[2] == "questions: 4 (2 answered, 2 rejected)"


def test_missing_index_is_one_line(tmp_path, capsys):
    assert main(["law", "search", str(tmp_path / "none"), "离婚"]) == 1
    assert capsys.readouterr().err == (f"legal-eagle law search: {tmp_path}/none: no such "
                                       "index folder (build one with legal-eagle law index)\n")


def test_prompt_prints_the_training_user_turn(index, capsys):
    assert main(["law", "prompt", str(index), "民法典第1079条规定了什么？", "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("参考法条：\n《民法典》第一千零七十九条 夫妻一方要求离婚的")
    assert out.endswith("\n\n民法典第1079条规定了什么？\n")
    assert main(["law", "prompt", str(index), "民法典第1079条规定了什么？", "-k", "1",
                 "--request", "legal"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body == {"model": "legal", "messages": [{"role": "user", "content": out[:-1]}]}


def test_check_marks_each_citation(index, capsys):
    assert main(["law", "check", str(index), "依照《民法典》第1079条及《民法典》第五千条"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "《民法典》第一千零七十九条: found (2020-05-28)", "《民法典》第五千条: no such article"]


def test_from_records_adds_the_articles_the_markdown_lacks(tmp_path, capsys):
    folder = small_folder(tmp_path)
    records = tmp_path / "triplet.jsonl"
    records.write_text(
        json.dumps({"id": "a", "input": "问", "output": "答", "reference": [
            "《劳动合同法》第四十七条：经济补偿按劳动者在本单位工作的年限，每满一年支付一个月工资的标准向劳动者支付。",
            "《民法典》第一千零七十九条：夫妻一方要求离婚的……（已在法典中）"]}, ensure_ascii=False)
        + "\n{broken\n", "utf-8")
    capsys.readouterr()
    assert main(["law", "index", str(folder), "-o", str(tmp_path / "i"), "--jobs", "1",
                 "--from-records", str(records), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "articles: 1112 (999 current, 1 from records); other rejects: 1;" in out
    assert err.splitlines()[1].startswith(f"reject: {records}:2: invalid JSON")
    assert main(["law", "show", str(tmp_path / "i"), "劳动合同法", "47", "--json"]) == 0
    [hit] = json.loads(capsys.readouterr().out)
    assert hit["text"].startswith("经济补偿按劳动者在本单位工作的年限") and hit["current"]
    assert main(["law", "show", str(tmp_path / "i"), "民法典", "1079", "--json"]) == 0
    assert "（已在法典中）" not in capsys.readouterr().out  # the Markdown's text is kept


def test_an_output_that_is_not_an_index_is_not_overwritten(tmp_path, capsys):
    folder = small_folder(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me", "utf-8")
    assert main(["law", "index", str(folder / "刑法"), "-o", str(tmp_path / "notes"),
                 "--no-progress"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"legal-eagle law index: {tmp_path}/notes: exists and is not an index; not overwritten")
    assert (tmp_path / "notes" / "mine.txt").read_text("utf-8") == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lawrefbook", "notes"]
