"""`legal-eagle eval compare` and `eval score` input handling."""

import json

import pytest

from legal_eagle_xtuner.cli import main

A = {"1-2": {"score": 0.30, "abstention_rate": 0.10},
     "3-3": {"score": 0.50, "abstention_rate": 0.00},
     "2-1": {"score": None, "abstention_rate": None},
     "average": {"score": 0.4, "tasks": 2, "not_scored": ["2-1"]}}
B = {"1-2": {"score": 0.45, "abstention_rate": 0.05},
     "3-3": {"score": 0.40, "abstention_rate": 0.00},
     "3-6": {"score": 0.25, "abstention_rate": 0.00},
     "data:eval": {"score": 0.3, "abstention_rate": 0.0, "citation_f1": 0.5,
                   "citation_precision": 0.6, "citation_recall": 0.4, "rouge_l": 0.3}}


@pytest.fixture
def runs(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(A), "utf-8")
    b.write_text(json.dumps(B), "utf-8")
    return a, b


def test_compare_saved_runs(runs, capsys):
    a, b = runs
    assert main(["eval", "compare", str(a), str(b)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows["1-2"] == ["0.3000", "0.4500", "+0.1500", "0.1000", "0.0500"]
    assert rows["3-3"] == ["0.5000", "0.4000", "-0.1000", "0.0000", "0.0000"]
    assert rows["2-1"] == ["-", "-", "-", "-", "-", "only", "in", "A"]
    assert rows["3-6"] == ["-", "0.2500", "-", "-", "0.0000", "only", "in", "B"]
    assert rows["average"][:3] == ["0.4000", "0.4250", "+0.0250"]  # 1-2 and 3-3 only
    assert "B is better on 1, worse on 1, equal on 0 of them" in lines
    assert main(["eval", "compare", str(a), str(b), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["1-2"]["diff"] == pytest.approx(0.15)
    assert out["average"] == pytest.approx({"a": 0.4, "b": 0.425, "diff": 0.025, "tasks": 2})
    assert out["3-6"] == {"a": None, "b": 0.25, "diff": None}


def test_compare_prediction_folders_with_own_data(tmp_path, capsys):
    def preds(folder, answer):
        folder.mkdir()
        item = {"origin_prompt": "q", "prediction": answer,
                "refr": "根据《民法典》第一千零七十九条，可以起诉离婚。",
                "references": ["《民法典》第一千零七十九条 夫妻一方要求离婚的……"]}
        (folder / "eval.json").write_text(json.dumps({"0": item}, ensure_ascii=False), "utf-8")
        (folder / "_run.json").write_text("{}", "utf-8")  # metadata, not predictions
        return folder

    base = preds(tmp_path / "base", "可以。")
    tuned = preds(tmp_path / "tuned", "依据《中华人民共和国民法典》第1079条，可以起诉离婚。")
    assert main(["eval", "compare", str(base), str(tuned), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data:eval"]["citation_f1"] == {"a": 0.0, "b": 1.0, "diff": 1.0}
    assert out["data:eval"]["diff"] > 0  # ROUGE-L went up too


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("[1, 2]", "utf-8"),
     "not a score file from `legal-eagle eval score --json`"),
    (lambda p: p.mkdir(), "no prediction files"),
    (lambda p: None, "no such file or directory"),
])
def test_compare_bad_runs(make, message, runs, tmp_path, capsys):
    bad = tmp_path / "bad"
    make(bad)
    assert main(["eval", "compare", str(runs[0]), str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"legal-eagle eval compare: {bad}") and message in err


def test_score_needs_something_to_score(capsys):
    assert main(["eval", "score"]) == 2
    assert "give --lawbench PRED_DIR and/or --data PRED_FILE" in capsys.readouterr().err


def test_score_bad_prediction_file(tmp_path, capsys):
    (tmp_path / "1-2.json").write_text('{"0": {"prediction": "A"}}', "utf-8")
    assert main(["eval", "score", "--lawbench", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == \
        f"legal-eagle eval score: {tmp_path / '1-2.json'}:0: missing 'refr'"
