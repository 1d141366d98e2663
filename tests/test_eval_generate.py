"""`legal-eagle eval generate` on the tiny model: LawBench-format files that
`eval score` reads, resuming, refusal to mix settings, own held-out data."""

import json

import pytest

from conftest import SAMPLES
from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.eval.generate import HFGenerator, build_prompt, prompt_template
from legal_eagle_xtuner.eval.lawbench import score_dir, scores_json

CHOICE = "请你运用法律知识从A,B,C,D中选出一个正确的答案，并写在[正确答案]和<eoa>之间。"
AMOUNT = "请根据文本计算犯罪金额。"
DATA = {
    "1-2": [{"instruction": CHOICE, "question": f"问题{i}：A:甲;B:乙;C:丙;D:丁",
             "answer": f"正确答案：{'ABCD'[i % 4]}。"} for i in range(5)],
    "3-7": [{"instruction": AMOUNT, "question": f"被告人盗窃现金{100 * i}元。",
             "answer": f"上文涉及到的犯罪金额:{100.0 * i}元。"} for i in range(1, 4)],
}


@pytest.fixture
def lawbench_dir(tmp_path):
    data = tmp_path / "zero_shot"
    data.mkdir()
    for task, rows in DATA.items():
        (data / f"{task}.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    (data / "README.json").write_text("{}", "utf-8")  # not a task: ignored
    return data


def _generate(tiny_model, out, *extra):
    return main(["eval", "generate", "--model", str(tiny_model), "--prompt-template",
                 "internlm2_chat", "-o", str(out), "--max-new-tokens", "8",
                 "--batch-size", "2", "--no-progress", *map(str, extra)])


def _load(path):
    return json.loads(path.read_text("utf-8"))


def test_generate_writes_lawbench_files_the_scorer_reads(tiny_model, lawbench_dir, tmp_path,
                                                         capsys):
    out = tmp_path / "preds"
    assert _generate(tiny_model, out, "--lawbench", lawbench_dir) == 0
    said = capsys.readouterr().out
    assert f"{out / '1-2.json'}: 5 items (5 generated, 0 kept from before)" in said
    assert sorted(p.name for p in out.iterdir()) == ["1-2.json", "3-7.json", "_run.json"]
    template = prompt_template("internlm2_chat")
    for task, rows in DATA.items():
        preds = _load(out / f"{task}.json")
        assert list(preds) == [str(i) for i in range(len(rows))]
        for key, row in zip(preds, rows):
            item = preds[key]
            assert item["origin_prompt"] == build_prompt(
                template, f"{row['instruction']}\n{row['question']}")
            assert item["origin_prompt"].startswith("<|im_start|>user\n" + row["instruction"])
            assert item["refr"] == row["answer"]
            assert isinstance(item["prediction"], str)
    # batched, left-padded generation gives what one prompt at a time gives
    generator = HFGenerator(str(tiny_model), stop_words=template["STOP_WORDS"])
    preds = _load(out / "1-2.json")
    single = [generator([preds[k]["origin_prompt"]], max_new_tokens=8)[0] for k in preds]
    assert single == [preds[k]["prediction"] for k in preds]

    assert main(["eval", "score", "--lawbench", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == scores_json(score_dir(out))
    assert set(printed) == {"1-2", "3-7", "average"}
    assert printed["average"]["tasks"] == 2


def test_generate_resumes_and_refuses_other_settings(tiny_model, lawbench_dir, tmp_path,
                                                     capsys):
    out = tmp_path / "preds"
    assert _generate(tiny_model, out, "--lawbench", lawbench_dir, "--tasks", "1-2",
                     "--limit", "2") == 0
    first = _load(out / "1-2.json")
    assert list(first) == ["0", "1"]
    capsys.readouterr()
    # an interrupted run: item 1 lost
    (out / "1-2.json").write_text(json.dumps({"0": first["0"]}, ensure_ascii=False), "utf-8")
    assert _generate(tiny_model, out, "--lawbench", lawbench_dir, "--tasks", "1-2") == 0
    assert "5 items (4 generated, 1 kept from before)" in capsys.readouterr().out
    again = _load(out / "1-2.json")
    assert list(again) == ["0", "1", "2", "3", "4"]
    assert again["0"] == first["0"] and again["1"] == first["1"]  # greedy: same answer

    assert _generate(tiny_model, out, "--lawbench", lawbench_dir, "--max-new-tokens", "9") == 1
    err = capsys.readouterr().err
    assert "holds predictions made with other settings (max_new_tokens 8 there, 9 now)" in err

    rows = json.loads((lawbench_dir / "1-2.json").read_text("utf-8"))
    rows[0]["question"] += "？"
    (lawbench_dir / "1-2.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    assert _generate(tiny_model, out, "--lawbench", lawbench_dir, "--tasks", "1-2") == 1
    assert f"{out / '1-2.json'}: item 0 was generated from another prompt" in \
        capsys.readouterr().err


def test_generate_on_held_out_data_keeps_references_for_citations(tiny_model, tmp_path, capsys):
    from legal_eagle_xtuner.sources.references import normalize_references

    records = [json.loads(line) for line in
               (SAMPLES / "disc_triplet.jsonl").read_text("utf-8").splitlines()]
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
                    + '{"id": "broken", "input": "问题"}\n', "utf-8")
    out = tmp_path / "preds"
    assert _generate(tiny_model, out, "--data", data) == 0
    captured = capsys.readouterr()
    assert f"{data}: read {len(records) + 1}, answering {len(records)}, rejected 1" \
        in captured.out
    assert f"{data}:{len(records) + 1}: " in captured.err
    preds = _load(out / "eval.json")
    assert len(preds) == len(records)
    for key, record in zip(preds, records):
        item = preds[key]
        assert item["refr"] == record["output"].strip()
        assert item["references"] == normalize_references(record["reference"])
        assert record["input"].strip() in item["origin_prompt"]
        assert "参考法条：" not in item["origin_prompt"]  # the model must cite by itself
    with_refs = tmp_path / "with-refs"
    assert _generate(tiny_model, with_refs, "--data", data, "--limit", "2",
                     "--reference-placement", "prompt") == 0
    assert all("参考法条：" in item["origin_prompt"]
               for item in _load(with_refs / "eval.json").values())

    capsys.readouterr()
    assert main(["eval", "score", "--data", str(out / "eval.json"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["data:eval"]
    assert scores["items"] == len(records)
    assert scores["items_with_gold_citations"] == len(records)
    assert 0 <= scores["citation_f1"] <= 1 and 0 <= scores["rouge_l"] <= 1
    assert scores["score"] == scores["rouge_l"]


@pytest.mark.parametrize("args, message", [
    (["--lawbench", "{empty}"], "{empty}: no LawBench task files (1-1.json .. 3-8.json)"),
    (["--lawbench", "{lawbench}", "--tasks", "9-9"], "unknown LawBench task(s): 9-9"),
    (["--lawbench", "{lawbench}", "--tasks", "2-5"], "{lawbench}: no file for task(s) 2-5"),
    (["--data", "{empty}/none.jsonl"], "{empty}/none.jsonl"),
])
def test_generate_input_errors(args, message, lawbench_dir, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.format(empty=empty, lawbench=lawbench_dir) for a in args]
    code = main(["eval", "generate", "--model", str(tmp_path / "no-model"),
                 "--prompt-template", "internlm2_chat", "-o", str(tmp_path / "out"), *args])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("legal-eagle eval generate: ")
    assert message.format(empty=empty, lawbench=lawbench_dir) in err


def test_unknown_prompt_template(lawbench_dir, tmp_path, capsys):
    assert main(["eval", "generate", "--model", "m", "--prompt-template", "nope",
                 "--lawbench", str(lawbench_dir), "-o", str(tmp_path / "o")]) == 1
    assert "unknown prompt template 'nope'; XTuner has: " in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-0.5", "nan", "warm"])
def test_temperature_must_be_a_non_negative_number(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "generate", "--model", "m", "--prompt-template", "internlm2_chat",
              "--lawbench", str(tmp_path), "-o", str(tmp_path / "o"), "--temperature", value])
    assert exit_info.value.code == 2
    assert f"argument --temperature: must be a number >= 0, got '{value}'" in \
        capsys.readouterr().err


def test_converted_records_give_back_their_reference_block(tmp_path):
    from legal_eagle_xtuner.eval.generate import data_items

    line = "《民法典》第一千零七十九条 夫妻一方要求离婚的，可以由有关组织进行调解。"
    record = {"conversation": [{"system": "S", "input": f"参考法条：\n{line}\n\n能离婚吗？",
                                "output": "可以。"}], "source": "disc_triplet", "id": "7"}
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", "utf-8")
    (item,), rejects, read = data_items(path)
    assert (item.user, item.refr, item.system) == ("能离婚吗？", "可以。", "S")
    assert item.extra["references"] == [line] and (rejects, read) == ([], 1)
    (item,), _, _ = data_items(path, reference_placement="prompt")
    assert item.user == f"参考法条：\n{line}\n\n能离婚吗？"


def test_missing_model_or_adapter_is_a_message(tiny_model, lawbench_dir, tmp_path, capsys):
    assert _generate(tmp_path / "no-model", tmp_path / "o1", "--lawbench", lawbench_dir) == 1
    assert f"legal-eagle eval generate: {tmp_path / 'no-model'}: cannot load the model" in \
        capsys.readouterr().err
    assert _generate(tiny_model, tmp_path / "o2", "--lawbench", lawbench_dir,
                     "--adapter", tmp_path / "no-adapter") == 1
    assert f"{tmp_path / 'no-adapter'}: cannot load the adapter" in capsys.readouterr().err
    # a failed start records no settings: the corrected command runs in the same folder
    assert not (tmp_path / "o2").exists() or not list((tmp_path / "o2").iterdir())
    assert _generate(tiny_model, tmp_path / "o2", "--lawbench", lawbench_dir,
                     "--tasks", "3-7") == 0
