"""Records shaped like the real files the data tools used to refuse: DISC files
with integer ids (DISC-LawLLM's released evaluation files), the same records
without ids, LAW-GPT 92k records whose references are missing, null or empty,
and an explicit ``--source`` that overrides detection. Each case is checked in
``data validate / convert / inspect / split`` and in the map function training
runs, so a file ``convert`` accepts always trains and one it rejects never does."""

import json

import pytest
from datasets import load_dataset

from legal_eagle_xtuner import LEGAL_SYSTEM, legal_qa_map_fn, legal_qa_map_fn_factory
from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.sources import convert_record, explain_source


def j(obj):
    return json.dumps(obj, ensure_ascii=False)


QUESTIONS = ["公司拖欠工资三个月，我可以解除劳动合同吗？", "离婚后孩子的抚养费怎么算？",
             "醉驾没有发生事故也会坐牢吗？"]
ANSWERS = ["可以，并可要求经济补偿。", "一般为月总收入的百分之二十至三十。", "会，处拘役并处罚金。"]


def disc_eval_records(n=300, with_id=True):
    """DISC-LawLLM evaluation-file shape: ``id`` is a JSON integer."""
    records = []
    for i in range(1, n + 1):
        record = {"input": f"{QUESTIONS[i % 3]}（第{i}问）", "output": ANSWERS[i % 3]}
        if with_id:
            record = {"id": i, **record}
        records.append(record)
    return records


def write_jsonl(path, records):
    path.write_text("".join(j(r) + "\n" for r in records), "utf-8")
    return path


def run(capsys, *args):
    code = main(["data", *map(str, args), "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


# --- integer ids -------------------------------------------------------------------


def test_integer_ids_validate_and_convert_as_text(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "disc_eval.jsonl", disc_eval_records())
    code, out, err = run(capsys, "validate", "disc_eval.jsonl")
    assert (code, err) == (0, [])
    assert out == ["1 file(s): read 300, valid 300, invalid 0, warnings 0",
                   "ids converted to text: 300"]

    code, out, err = run(capsys, "convert", "disc_eval.jsonl", "-o", "out.jsonl",
                         "--skip-invalid")
    assert (code, err) == (0, [])
    assert out[:3] == ["read 300, written 300, rejected 0, duplicates 0",
                       "written per source: disc_pair 300",
                       "ids converted to text: 300"]
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert len(rows) == 300
    assert rows[0] == {"conversation": [{"system": LEGAL_SYSTEM,
                                         "input": "离婚后孩子的抚养费怎么算？（第1问）",
                                         "output": ANSWERS[1]}],
                       "source": "disc_pair", "id": "1"}
    assert [row["id"] for row in rows] == [str(i) for i in range(1, 301)]


def test_integral_float_id_is_text_and_others_are_problems(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = {"input": QUESTIONS[0], "output": ANSWERS[0]}
    write_jsonl(tmp_path / "ids.jsonl", [
        {"id": 7.0, **base},
        {"id": "  disc_7 ", **base},
        {"id": [1, 2], **base},
        {"id": {"n": 1}, **base},
        {"id": True, **base},
        {"id": 7.5, **base},
    ])
    code, out, err = run(capsys, "convert", "ids.jsonl", "-o", "out.jsonl", "--skip-invalid")
    ref = 'record "公司拖欠工资三个月，我可以解除劳动合同吗？"'
    assert err == [
        f"ids.jsonl:3: {ref} (disc_pair): field 'id' must be a string or an integer, got list",
        f"ids.jsonl:4: {ref} (disc_pair): field 'id' must be a string or an integer, got dict",
        f"ids.jsonl:5: {ref} (disc_pair): field 'id' must be a string or an integer, got bool",
        f"ids.jsonl:6: {ref} (disc_pair): field 'id' must be a string or an integer, "
        "got float 7.5",
    ]
    assert code == 0
    assert out[:3] == ["read 6, written 2, rejected 4, duplicates 0",
                       "written per source: disc_pair 2",
                       "ids converted to text: 1"]
    assert [row["id"] for row in read_jsonl(tmp_path / "out.jsonl")] == ["7", "disc_7"]
    rejects = read_jsonl(tmp_path / "out.rejects.jsonl")
    assert [r["line"] for r in rejects] == [3, 4, 5, 6]
    assert rejects[0]["record"]["id"] == [1, 2]  # the original record is kept


# --- records without ids: a guess, and --source --------------------------------------


def test_without_id_detection_is_a_guess_and_source_overrides(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "noid.jsonl", disc_eval_records(with_id=False))
    detection = explain_source(disc_eval_records(1, with_id=False)[0])
    assert (detection.source, detection.fields, detection.guess) == (
        "lawgpt_52k", ("input", "output"), True)

    code, out, _ = run(capsys, "inspect", "noid.jsonl")
    assert code == 0
    assert "  source: lawgpt_52k 300" in out
    assert ("    lawgpt_52k 300: decided by the fields input, output; a guess: "
            "DISC-Law-SFT-Pair records without 'id' have the same fields "
            "(pass --source disc_pair if these are DISC records)") in out

    code, out, _ = run(capsys, "inspect", "noid.jsonl", "--source", "disc_pair")
    assert "  source: disc_pair 300" in out
    assert "    disc_pair 300: given with --source" in out

    code, out, _ = run(capsys, "convert", "noid.jsonl", "-o", "out.jsonl", "--source",
                       "disc_pair")
    assert out[:2] == ["read 300, written 300, rejected 0, duplicates 0",
                       "written per source: disc_pair 300"]
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert {row["source"] for row in rows} == {"disc_pair"}
    assert all("id" not in row for row in rows)

    # The split's strata follow the declared source.
    code, out, _ = run(capsys, "split", "noid.jsonl", "-o", "parts", "--eval-size", "30",
                       "--source", "disc_pair")
    assert code == 0
    manifest = json.loads((tmp_path / "parts" / "split.json").read_text("utf-8"))
    assert set(manifest["strata"]) == {"disc_pair"}
    code, out, _ = run(capsys, "split", "noid.jsonl", "-o", "guessed", "--eval-size", "30")
    manifest = json.loads((tmp_path / "guessed" / "split.json").read_text("utf-8"))
    assert set(manifest["strata"]) == {"lawgpt_52k"}


def test_source_is_checked_against_the_fields(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "disc.jsonl", disc_eval_records(3))
    code, out, err = run(capsys, "validate", "disc.jsonl", "--source", "lawgpt_92k")
    assert code == 1
    assert out == [
        f"disc.jsonl:{i}: record id={i} (lawgpt_92k): missing required field 'question'"
        for i in (1, 2, 3)
    ] + ["1 file(s): read 3, valid 0, invalid 3, warnings 0"]

    # A converted file declared as raw, and raw records declared as converted.
    code, out, _ = run(capsys, "validate", "disc.jsonl", "--source", "conversation")
    assert out[0] == "disc.jsonl:1: missing required field 'conversation'"

    with pytest.raises(SystemExit) as exc:
        main(["data", "validate", "disc.jsonl", "--source", "disc"])
    assert exc.value.code == 2
    assert "argument --source: invalid choice: 'disc'" in capsys.readouterr().err


# --- references missing, null or empty ----------------------------------------------

LAWGPT_92K = [
    {"question": QUESTIONS[2], "answer": ANSWERS[2],
     "reference": ["刑法2020-12-26:    \"第一百三十三条之一 在道路上驾驶机动车，醉酒驾驶机动车的，处拘役，并处罚金。\",\n"]},
    {"question": QUESTIONS[0], "answer": ANSWERS[0]},
    {"question": QUESTIONS[1], "answer": ANSWERS[1], "reference": None},
    {"question": "借款到期不还怎么办？", "answer": "可以向人民法院起诉。", "reference": []},
    {"question": "被狗咬伤了怎么办？", "answer": "饲养人应当承担侵权责任。", "reference": "民法典第1245条"},
    {"question": "试用期可以随时辞职吗？", "answer": "提前三日通知即可。", "reference": ["民法典", 3]},
]


def test_missing_null_empty_references_train_without_block(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A JSON array, one item a line: item i starts on line i + 1.
    (tmp_path / "92k.json").write_text(
        "[\n" + ",\n".join(j(r) for r in LAWGPT_92K) + "\n]\n", "utf-8")
    code, out, err = run(capsys, "convert", "92k.json", "-o", "out.jsonl", "--skip-invalid")
    assert err == [
        '92k.json:6: record "被狗咬伤了怎么办？" (lawgpt_92k): '
        "field 'reference' must be a list of strings, got str",
        '92k.json:7: record "试用期可以随时辞职吗？" (lawgpt_92k): '
        "field 'reference[1]' must be a string, got int",
    ]
    assert out[:3] == ["read 6, written 4, rejected 2, duplicates 0",
                       "written per source: lawgpt_92k 4",
                       "without references: 3"]
    inputs = [row["conversation"][0]["input"] for row in read_jsonl(tmp_path / "out.jsonl")]
    assert inputs == [
        f"参考法条：\n《刑法》第一百三十三条之一 在道路上驾驶机动车，醉酒驾驶机动车的，处拘役，并处罚金。\n\n{QUESTIONS[2]}",
        QUESTIONS[0], QUESTIONS[1], "借款到期不还怎么办？",
    ]
    code, out, _ = run(capsys, "inspect", "92k.json")
    assert "  with references: 1 (25.0%)" in out
    assert "  without references: 3" in out


# --- the same rules inside training -----------------------------------------------


@pytest.mark.parametrize("source", [None, "disc_pair"])
def test_map_function_trains_what_convert_writes(tmp_path, capsys, monkeypatch, source):
    """``datasets`` + the map function, as ``xtuner train`` runs them, give
    exactly the conversations ``convert`` writes, for every accepted case."""
    monkeypatch.chdir(tmp_path)
    records = disc_eval_records(30) if source is None else disc_eval_records(30, False)
    write_jsonl(tmp_path / "in.jsonl", records)
    extra = [] if source is None else ["--source", source]
    run(capsys, "convert", "in.jsonl", "-o", "out.jsonl", *extra)
    written = [row["conversation"] for row in read_jsonl(tmp_path / "out.jsonl")]

    dataset = load_dataset("json", data_files=str(tmp_path / "in.jsonl"), split="train")
    map_fn = legal_qa_map_fn if source is None else legal_qa_map_fn_factory(source=source)
    trained = dataset.map(map_fn, remove_columns=dataset.column_names)
    assert [row["conversation"] for row in trained] == written


def test_map_function_rules_match_convert_for_references():
    ok = [LAWGPT_92K[i] for i in range(4)]
    for record in ok:
        assert legal_qa_map_fn(record) == {
            "conversation": convert_record(record).output["conversation"]}
    for record in LAWGPT_92K[4:]:
        with pytest.raises(ValueError) as from_map_fn:
            legal_qa_map_fn(record)
        with pytest.raises(ValueError) as from_convert:
            convert_record(record)
        assert str(from_map_fn.value) == str(from_convert.value)


def test_cli_source_choices_are_the_sources():
    from legal_eagle_xtuner.cli.data import SOURCE_CHOICES
    from legal_eagle_xtuner.sources import CONVERSATION, SOURCE_SPECS

    assert SOURCE_CHOICES == (*SOURCE_SPECS, CONVERSATION)


def test_factory_rejects_unknown_source():
    with pytest.raises(ValueError) as exc:
        legal_qa_map_fn_factory(source="disc")
    assert str(exc.value) == ("invalid source 'disc'; valid sources: disc_pair, disc_triplet, "
                              "lawgpt_52k, lawgpt_92k, conversation")
    with pytest.raises(ValueError) as exc:
        legal_qa_map_fn_factory(source="conversation")
    assert str(exc.value) == ("invalid source 'conversation' for a map function; valid "
                              "sources: disc_pair, disc_triplet, lawgpt_52k, lawgpt_92k")
