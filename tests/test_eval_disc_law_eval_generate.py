"""`legal-eagle eval generate --disc-law-eval` on the tiny model: the published
layout that `eval score --disc-law-eval` reads, few-shot prompts, the open
questions, resuming and refusing other settings."""

import csv
import json
from pathlib import Path

import pytest

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.eval.disc_law_eval.data import read_rows
from legal_eagle_xtuner.eval.generate import build_prompt, prompt_template

SHARED = Path(__file__).resolve().parents[2] / "shared" / "disc-law-eval"

COLUMNS = ["input", "output", "A", "B", "C", "D", "source", "multichoice"]
SINGLE = [{"input": f"问题{i}：下列哪一选项正确？", "output": "ABCD"[i % 4], "A": "甲说", "B": "乙说",
           "C": "丙说", "D": "丁说", "source": "test", "multichoice": "False"} for i in range(5)]
MULTI = [{"input": "下列哪些选项正确？", "output": "AC", "A": "甲", "B": "乙", "C": "丙", "D": "丁",
          "source": "test", "multichoice": "True"}]
EXAMPLES = [{"input": "例题？\nA.对\nB.错\nC.不知道\nD.都不是", "output": "A.对"}]
OPEN = [{"input": "戴罪立功是什么意思", "output": "依照《刑法》第六十八条，有立功表现的可以从轻处罚。",
         "id": 1}]


def _csv(path, rows, columns):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def bench(tmp_path):
    root = tmp_path / "eval"
    _csv(root / "datasets" / "objective" / "mcq_sing_cpa.csv", SINGLE, COLUMNS)
    _csv(root / "datasets" / "objective" / "mcq_mult_cpa.csv", MULTI, COLUMNS)
    _csv(root / "few_shot" / "mcq_sing_examples.csv", EXAMPLES, ["input", "output"])
    _csv(root / "few_shot" / "mcq_mult_examples.csv", EXAMPLES, ["input", "output"])
    (root / "datasets" / "subjective").mkdir(parents=True)
    (root / "datasets" / "subjective" / "qa_short_answer.json").write_text(
        json.dumps(OPEN, ensure_ascii=False), "utf-8")
    return root


def _generate(tiny_model, out, *extra):
    return main(["eval", "generate", "--model", str(tiny_model), "--prompt-template",
                 "internlm2_chat", "-o", str(out), "--max-new-tokens", "8",
                 "--batch-size", "2", "--no-progress", *map(str, extra)])


def test_generate_then_score_one_exam(tiny_model, bench, tmp_path, capsys):
    out = tmp_path / "preds"
    assert _generate(tiny_model, out, "--disc-law-eval", bench, "--tasks", "single/cpa",
                     "--limit", "3") == 0
    assert f"{out / 'single' / 'cpa_results.csv'}: 3 items (3 generated, 0 kept from before)" \
        in capsys.readouterr().out
    assert sorted(p.name for p in (out / "single").iterdir()) == ["cpa_results.csv",
                                                                  "cpa_results.json"]
    rows = read_rows(out / "single" / "cpa_results.csv")
    assert list(rows[0]) == COLUMNS + ["model_output"]
    assert [r["input"] for r in rows] == [r["input"] for r in SINGLE[:3]]
    store = json.loads((out / "single" / "cpa_results.json").read_text("utf-8"))
    template = prompt_template("internlm2_chat")
    for key, row in zip(store, rows):
        assert store[key]["origin_prompt"] == build_prompt(
            template, f"{row['input']}\nA.甲说\nB.乙说\nC.丙说\nD.丁说")
        assert store[key]["prediction"] == row["model_output"]
        assert store[key]["refr"] == row["output"]

    assert main(["eval", "score", "--disc-law-eval", str(out), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores["single"]) == {"cpa"} and "multi" not in scores
    assert scores["disc_items"]["single"]["cpa"]["items"] == 3


def test_everything_few_shot_and_the_open_questions(tiny_model, bench, tmp_path, capsys):
    out = tmp_path / "preds"
    assert _generate(tiny_model, out, "--disc-law-eval", bench, "--few-shot") == 0
    said = capsys.readouterr().out
    assert "5 items (5 generated" in said and "1 items (1 generated" in said
    store = json.loads((out / "multi" / "cpa_results.json").read_text("utf-8"))
    prompt = store["0"]["origin_prompt"]
    assert "例题？\nA.对\nB.错\nC.不知道\nD.都不是\n答案：A.对\n\n下列哪些选项正确？\nA.甲" in prompt
    assert prompt.endswith("D.丁\n答案：<|im_end|>\n<|im_start|>assistant\n")
    answers = json.loads((out / "subjective" / "qa_short_answer.json").read_text("utf-8"))
    assert answers["0"]["refr"] == OPEN[0]["output"]
    assert answers["0"]["origin_prompt"].startswith("<|im_start|>user\n戴罪立功")  # no system

    assert main(["eval", "score", "--disc-law-eval", str(out), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores["single"]) == {"cpa"} and set(scores["multi"]) == {"cpa"}
    assert scores["data:qa_short_answer"]["items"] == 1
    assert scores["data:qa_short_answer"]["items_with_gold_citations"] == 1


def test_resume_and_refuse_other_settings(tiny_model, bench, tmp_path, capsys):
    out = tmp_path / "preds"
    args = ["--disc-law-eval", bench, "--tasks", "single"]
    assert _generate(tiny_model, out, *args) == 0
    store_path = out / "single" / "cpa_results.json"
    first = json.loads(store_path.read_text("utf-8"))
    csv_before = (out / "single" / "cpa_results.csv").read_text("utf-8")
    # an interrupted run: two answers lost, the CSV not yet rewritten
    store_path.write_text(json.dumps({k: first[k] for k in ("0", "1", "2")},
                                     ensure_ascii=False), "utf-8")
    capsys.readouterr()
    assert _generate(tiny_model, out, *args) == 0
    assert "5 items (2 generated, 3 kept from before)" in capsys.readouterr().out
    assert (out / "single" / "cpa_results.csv").read_text("utf-8") == csv_before  # greedy

    assert _generate(tiny_model, out, *args, "--max-new-tokens", "9") == 1
    assert "other settings (max_new_tokens 8 there, 9 now)" in capsys.readouterr().err
    assert _generate(tiny_model, out, *args, "--few-shot") == 1
    assert f"{store_path}: item 0 was generated from another prompt" in capsys.readouterr().err


@pytest.mark.parametrize("args, message, code", [
    (["--lawbench", "{bench}", "--few-shot"], "--few-shot is for --disc-law-eval", 2),
    (["--disc-law-eval", "{bench}", "--tasks", "single/xyz"],
     "unknown DISC-Law-Eval task 'single/xyz'", 1),
    (["--disc-law-eval", "{bench}", "--tasks", "multi/nje"], "mcq_mult_nje.csv: no data for "
     "multi/nje", 1),
    (["--disc-law-eval", "{tmp}"], "not DISC-Law-Eval data", 1),
])
def test_generate_input_errors(args, message, code, bench, tmp_path, capsys):
    args = [a.format(bench=bench, tmp=tmp_path) for a in args]
    assert main(["eval", "generate", "--model", str(tmp_path / "no-model"),
                 "--prompt-template", "internlm2_chat", "-o", str(tmp_path / "out"),
                 *args]) == code
    assert message in capsys.readouterr().err


def test_generate_on_the_shared_benchmark(tiny_model, tmp_path, capsys):
    if not (SHARED / "datasets" / "objective").is_dir():
        pytest.skip(f"../shared/disc-law-eval not found at {SHARED}")
    out = tmp_path / "preds"
    assert _generate(tiny_model, out, "--disc-law-eval", SHARED, "--tasks", "multi/ungee",
                     "--limit", "2", "--few-shot") == 0
    capsys.readouterr()
    assert main(["eval", "score", "--disc-law-eval", str(out), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["multi"]) == {"ungee"}
