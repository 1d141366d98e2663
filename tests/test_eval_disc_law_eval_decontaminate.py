"""`legal-eagle data decontaminate --against` DISC-Law-Eval's CSV files: each row's
question with its options is one benchmark item, matched like LawBench's."""

import csv
import json
from pathlib import Path

import pytest

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.data.decontaminate import DecontaminationError, decontaminate, \
    load_benchmarks

SHARED = Path(__file__).resolve().parents[2] / "shared" / "disc-law-eval"
QUESTION = "甲公司与乙公司签订房屋买卖合同后乙公司拒不交付房屋，下列哪一说法是正确的？"
OPTION = "甲公司有权请求人民法院判令乙公司继续履行交付房屋的义务"


def _bench(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["input", "output", "A", "B", "C", "D",
                                                "source", "multichoice"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _row(question, a="予以受理", b="不予受理"):
    return {"input": question, "output": "A", "A": a, "B": b, "C": "驳回起诉", "D": "中止诉讼",
            "source": "test", "multichoice": "False"}


def _training(path, questions):
    path.write_text("".join(json.dumps({"id": str(i), "input": q, "output": "答案。"},
                                       ensure_ascii=False) + "\n"
                            for i, q in enumerate(questions)), "utf-8")
    return path


def test_questions_and_options_of_csv_rows_are_items(tmp_path):
    bench = _bench(tmp_path / "mcq_sing_cpa.csv",
                   [_row("某县法院能否受理本案起诉？"), _row(QUESTION, a=OPTION)])
    index = load_benchmarks([bench])
    assert (index.tasks, index.items, index.checked) == (["mcq_sing_cpa"], [2], [2])
    train = _training(tmp_path / "train.jsonl", [
        f"请问：{QUESTION}",                     # the question
        f"我想知道{OPTION}吗",                    # an option's text
        "合同纠纷应当如何处理？",                  # unrelated
    ])
    flagged = tmp_path / "flagged.jsonl"
    result = decontaminate([train], index, output=tmp_path / "clean.jsonl", flagged=flagged)
    assert (result.read, result.kept, result.flagged) == (3, 1, 2)
    assert (result.tasks[0].records_flagged, result.tasks[0].items_hit) == (2, 1)
    matches = [json.loads(line)["matches"] for line in flagged.read_text("utf-8").splitlines()]
    assert [m[0]["task"] for m in matches] == ["mcq_sing_cpa"] * 2
    assert [m[0]["item"] for m in matches] == [1, 1]


def test_cli_against_csv_and_lawbench_style_json_together(tmp_path, capsys):
    csv_bench = _bench(tmp_path / "mcq_mult_nje.csv", [_row(QUESTION)])
    json_bench = tmp_path / "3-2.json"
    json_bench.write_text(json.dumps([{"instruction": "回答", "question": "完全不同的另一道法律问题，"
                                       "关于劳动合同解除的经济补偿如何计算", "answer": "略"}],
                                     ensure_ascii=False), "utf-8")
    train = _training(tmp_path / "train.jsonl", [QUESTION])
    assert main(["data", "decontaminate", str(train), "--against", str(csv_bench),
                 str(json_bench), "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["mcq_mult_nje", "1", "1", "1", "1"]
    assert out[2].split() == ["3-2", "1", "1", "0", "0"]
    assert out[-1] == "read 1, kept 0, flagged 1"


def test_csv_without_question_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\n问,答\n", "utf-8")
    with pytest.raises(DecontaminationError, match="needs an 'input' column"):
        load_benchmarks([bad])


def test_against_the_shared_benchmark(tmp_path):
    files = sorted((SHARED / "datasets" / "objective").glob("mcq_*.csv"))
    if not files:
        pytest.skip(f"../shared/disc-law-eval not found at {SHARED}")
    index = load_benchmarks(files + [SHARED / "datasets" / "subjective" / "qa_short_answer.json"])
    assert sum(index.items) == 2563 + 300
    with open(files[0], encoding="utf-8", newline="") as fh:
        first = next(csv.DictReader(fh))
    train = _training(tmp_path / "train.jsonl", [first["input"], "与本题无关的问题？"])
    result = decontaminate([train], index)
    assert (result.flagged, result.kept) == (1, 1)
    assert [t.task for t in result.tasks if t.records_flagged] == [files[0].stem]
