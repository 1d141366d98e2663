"""The statute index in evaluation: `eval generate --rag` asks the tiny model with the
retrieved articles rendered as in training; `eval score|compare --citations` count the
cited articles found / invented / superseded."""

import json

import pytest
from law_common import small_index

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.eval.generate import build_prompt, prompt_template
from legal_eagle_xtuner.law import load_index, prompt_with_references

QUESTION = "盗窃公私财物数额较大的，怎么处罚？"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return small_index(tmp_path_factory.mktemp("law-eval"))


def test_generate_with_rag_asks_the_training_prompt(tiny_model, index, tmp_path, capsys):
    data = tmp_path / "zero_shot"
    data.mkdir()
    rows = [{"instruction": "回答问题。", "question": QUESTION, "answer": "刑法第264条"},
            {"instruction": "回答问题。", "question": "民法典第1079条说了什么？", "answer": "离婚"}]
    (data / "3-1.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    out = tmp_path / "preds"
    assert main(["eval", "generate", "--model", str(tiny_model), "--prompt-template",
                 "internlm2_chat", "-o", str(out), "--max-new-tokens", "4", "--no-progress",
                 "--lawbench", str(data), "--rag", str(index), "--rag-k", "2"]) == 0
    assert "3-1: 2 of 2 questions get retrieved articles" in capsys.readouterr().err
    preds = json.loads((out / "3-1.json").read_text("utf-8"))
    loaded = load_index(index)
    template = prompt_template("internlm2_chat")
    for key, row in zip(("0", "1"), rows):
        user = f"{row['instruction']}\n{row['question']}"
        expected = prompt_with_references(user, loaded.search(user, k=2))
        assert preds[key]["origin_prompt"] == build_prompt(template, expected)
        assert preds[key]["origin_prompt"].count("参考法条：\n《") == 1
    assert preds["0"]["rag"][0] == "《刑法》第二百六十四条"
    assert preds["1"]["rag"][0] == "《民法典》第一千零七十九条"


def test_rag_and_reference_placement_prompt_exclude_each_other(index, tmp_path, capsys):
    assert main(["eval", "generate", "--model", "m", "--prompt-template", "internlm2_chat",
                 "-o", str(tmp_path / "p"), "--data", "x.jsonl", "--rag", str(index),
                 "--reference-placement", "prompt"]) == 2
    assert capsys.readouterr().err == (
        "legal-eagle eval generate: --rag puts retrieved articles where --reference-placement "
        "prompt puts the record's own; give one of them\n")


def _run(folder, predictions):
    folder.mkdir()
    (folder / "3-1.json").write_text(json.dumps(
        {str(i): {"origin_prompt": "q", "prediction": p, "refr": "法条:刑法第264条"}
         for i, p in enumerate(predictions)}, ensure_ascii=False), "utf-8")
    return folder


REAL = "依照《刑法》第二百六十四条：“盗窃公私财物，数额较大的”，判处拘役。"
INVENTED = "依照《刑法》第九百九十九条、《民法典》第一千零七十九条。"
SUPERSEDED = "依照《会计法》第五十二条和《刑法》第二百六十四条：“盗窃财物一律死刑”。"


def test_score_and_compare_count_checked_citations(index, tmp_path, capsys):
    a = _run(tmp_path / "a", [REAL, INVENTED])
    b = _run(tmp_path / "b", [REAL, SUPERSEDED, "没有引用。"])
    assert main(["eval", "score", "--lawbench", str(a), "--citations", str(index),
                 "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["citations"][str(a)]
    assert counts == {"answers": 2, "cited": 3, "found": 2, "no such article": 1,
                      "superseded": 0, "quoted": 1, "quote matches": 1}
    assert main(["eval", "compare", str(a), str(b), "--citations", str(index)]) == 0
    out = capsys.readouterr().out
    assert (f"citations checked against {index}: B ({b})\n"
            "answers: 3; cited articles: 3\n"
            "  found 2 (66.7%), no such article 0 (0.0%), superseded 1 (33.3%)\n"
            "  quoted 2, of which match 1") in out
    assert main(["eval", "compare", str(a), str(b), "--citations", str(tmp_path / "no")]) == 1
    assert capsys.readouterr().err == (f"legal-eagle eval compare: {tmp_path}/no: no such "
                                       "index folder (build one with legal-eagle law index)\n")
