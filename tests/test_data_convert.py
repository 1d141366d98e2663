"""`legal-eagle data validate | convert | inspect` on the malformed-input suite."""

import json
import os
import sys
import textwrap

import pytest

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.map_fns import LEGAL_SYSTEM

from conftest import SAMPLES


def j(obj):
    return json.dumps(obj, ensure_ascii=False)


ANSWER_1 = "可以。用人单位未及时足额支付劳动报酬的，劳动者可以解除劳动合同，并要求经济补偿。"
STATUTE = "《民法典》第一千零八十五条 离婚后，子女由一方直接抚养的，另一方应当负担部分或者全部抚养费。"
CHILD = "离婚后孩子的抚养费怎么算？"

# One DISC-Pair-shaped JSONL with every per-record problem the data commands
# must report; CRLF line ends, a blank line, and a truncated last line.
BAD_LINES = [
    j({"id": "legal_question_answering_1", "input": "公司拖欠工资三个月，我可以解除劳动合同吗？",
       "output": ANSWER_1}),
    "",
    '{"id": "legal_question_answering_2", "input": "问题", "output": "答"',
    "[1, 2]",
    j({"id": "legal_question_answering_4", "input": CHILD}),
    j({"id": "legal_question_answering_5", "input": CHILD, "output": None}),
    j({"id": "legal_question_answering_6", "input": CHILD, "output": ""}),
    j({"id": "legal_question_answering_7", "input": CHILD, "output": "  \n "}),
    j({"id": "legal_question_answering_8", "input": CHILD, "output": 5}),
    j({"id": "legal_question_answering_9", "reference": STATUTE, "input": "抚养费由谁负担？",
       "output": "不直接抚养子女的一方负担。"}),
    j({"id": "legal_question_answering_10", "reference": [STATUTE, 3], "input": "抚养费由谁负担？",
       "output": "不直接抚养子女的一方负担。"}),
    j({"id": "legal_question_answering_11", "input": "醉驾会被判刑吗？",
       "output": "醉酒驾驶机动车构成危险驾驶罪，处拘役，并处罚金。", "instruction": "", "score": 0.9}),
    # same id as line 1, different content: kept, warned about
    j({"id": "legal_question_answering_1", "input": "试用期可以随时辞职吗？",
       "output": "试用期内提前三日通知用人单位，可以解除劳动合同。"}),
    # exact duplicate of line 1's content under another id
    j({"id": "legal_question_answering_13", "input": "公司拖欠工资三个月，我可以解除劳动合同吗？",
       "output": ANSWER_1}),
    # line 12 again with half-width punctuation and extra spaces
    j({"id": "legal_question_answering_14", "input": "醉驾会被判刑吗?",
       "output": "醉酒驾驶机动车构成危险驾驶罪, 处拘役, 并处罚金。"}),
    '{"id": "legal_question_answering_15", "input": "借款到期不还怎么办？", "output": "可以向法院起',
]

BAD_ERRORS = [
    "bad.jsonl:3: invalid JSON: Expecting ',' delimiter (column 66)",
    "bad.jsonl:4: record is not a JSON object (got array)",
    "bad.jsonl:5: record id=legal_question_answering_4 (disc_pair): "
    "missing required field 'output'",
    "bad.jsonl:6: record id=legal_question_answering_5 (disc_pair): field 'output' is None",
    "bad.jsonl:7: record id=legal_question_answering_6 (disc_pair): field 'output' is empty",
    "bad.jsonl:8: record id=legal_question_answering_7 (disc_pair): "
    "field 'output' is whitespace-only",
    "bad.jsonl:9: record id=legal_question_answering_8 (disc_pair): "
    "field 'output' must be a string, got int",
    "bad.jsonl:10: record id=legal_question_answering_9 (disc_triplet): "
    "field 'reference' must be a list of strings, got str",
    "bad.jsonl:11: record id=legal_question_answering_10 (disc_triplet): "
    "field 'reference[1]' must be a string, got int",
]
ID_WARNING = ("bad.jsonl:13: warning: id 'legal_question_answering_1' is also used by "
              "bad.jsonl:1 with different content")
TRUNCATED = ("bad.jsonl:16: truncated last line (the file ends inside a record): "
             "Unterminated string starting at (column 72)")


@pytest.fixture
def bad(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.jsonl").write_bytes("\r\n".join(BAD_LINES).encode("utf-8"))
    return tmp_path


def run(capsys, *argv):
    code = main(["data", *argv, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_validate_reports_every_problem_with_file_and_line(bad, capsys):
    code, out, err = run(capsys, "validate", "bad.jsonl")
    assert code == 1
    assert out == [
        *BAD_ERRORS,
        ID_WARNING,
        TRUNCATED,
        "1 file(s): read 15, valid 5, invalid 10, warnings 1; "
        "fields left out: instruction (1), score (1)",
    ]


def test_validate_valid_files_exit_0_and_warnings_do_not_fail(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.jsonl").write_text(BAD_LINES[0] + "\n" + BAD_LINES[12] + "\n", "utf-8")
    code, out, _ = run(capsys, "validate", "a.jsonl", str(SAMPLES / "lawgpt_92k.json"))
    assert code == 0
    assert out == [
        "a.jsonl:2: warning: id 'legal_question_answering_1' is also used by a.jsonl:1 "
        "with different content",
        "2 file(s): read 9, valid 9, invalid 0, warnings 1",
    ]


def test_convert_stops_at_the_first_invalid_record_and_writes_nothing(bad, capsys):
    code, out, err = run(capsys, "convert", "bad.jsonl", "-o", "out/all.jsonl")
    assert code == 1
    assert out == []
    assert err == [
        "legal-eagle data convert: bad.jsonl:3: invalid JSON: Expecting ',' delimiter (column 66)",
        "nothing written; fix the record, or pass --skip-invalid to convert the valid "
        "records and list this one in a rejects file",
    ]
    assert os.listdir(bad / "out") == []  # no output, no temporary file left


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def conv(question, answer, record_id, source="disc_pair"):
    return {"conversation": [{"system": LEGAL_SYSTEM, "input": question, "output": answer}],
            "source": source, "id": record_id}


def test_convert_skip_invalid_dedupe_counts_add_up(bad, capsys):
    code, out, err = run(capsys, "convert", "bad.jsonl", "-o", "all.jsonl",
                         "--skip-invalid", "--dedupe")
    assert code == 0
    assert out == [
        "read 15, written 3, rejected 10, duplicates 2 (exact 1, normalised 1)",
        "written per source: disc_pair 3",
        "fields left out: instruction (1), score (1)",
        "output: all.jsonl",
        "rejects: all.rejects.jsonl",
        "duplicates: all.duplicates.jsonl",
    ]
    assert err == [
        *BAD_ERRORS,
        ID_WARNING,
        "bad.jsonl:14: exact duplicate of bad.jsonl:1; dropped",
        "bad.jsonl:15: normalised duplicate of bad.jsonl:12; dropped",
        TRUNCATED,
    ]
    # The output: only what training needs, extra fields left out.
    assert read_jsonl(bad / "all.jsonl") == [
        conv("公司拖欠工资三个月，我可以解除劳动合同吗？", ANSWER_1, "legal_question_answering_1"),
        conv("醉驾会被判刑吗？", "醉酒驾驶机动车构成危险驾驶罪，处拘役，并处罚金。",
             "legal_question_answering_11"),
        conv("试用期可以随时辞职吗？", "试用期内提前三日通知用人单位，可以解除劳动合同。",
             "legal_question_answering_1"),
    ]
    # Every reject can be found again: location, reason and the original record.
    rejects = read_jsonl(bad / "all.rejects.jsonl")
    assert [f"{r['file']}:{r['line']}: {r['error']}" for r in rejects] == BAD_ERRORS + [TRUNCATED]
    assert rejects[0]["record"] is None  # not valid JSON
    assert rejects[1]["record"] == [1, 2]
    assert rejects[7]["record"]["reference"] == STATUTE
    dups = read_jsonl(bad / "all.duplicates.jsonl")
    assert [(d["line"], d["kind"], d["duplicate_of"]) for d in dups] == [
        (14, "exact", "bad.jsonl:1"), (15, "normalised", "bad.jsonl:12")]
    assert dups[0]["record"]["id"] == "legal_question_answering_13"
    # N = W + R + D, also counted from the files themselves
    assert 15 == len(read_jsonl(bad / "all.jsonl")) + len(rejects) + len(dups)


def test_convert_without_dedupe_keeps_duplicates(bad, capsys):
    code, out, _ = run(capsys, "convert", "bad.jsonl", "-o", "all.jsonl", "--skip-invalid",
                       "--rejects", "why.jsonl")
    assert code == 0
    assert out[0] == "read 15, written 5, rejected 10, duplicates 0"
    assert len(read_jsonl(bad / "why.jsonl")) == 10
    assert not (bad / "all.duplicates.jsonl").exists()


def test_convert_dedupes_across_files_and_sources(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pair.jsonl").write_text(
        j({"id": "legal_question_answering_0", "input": "  醉驾会被判刑吗？ ",
           "output": "会。"}) + "\n", "utf-8")
    (tmp_path / "52k.json").write_text(j([
        {"input": "醉驾会被判刑吗？", "output": "会。"},  # exact after stripping
        {"input": "醉驾 会被判刑吗 ?", "output": "会."},  # normalised
        {"input": "ＡＢＣ公司欠薪怎么办？", "output": "申请劳动仲裁。"},
        {"input": "abc公司欠薪怎么办?", "output": "申请劳动仲裁."},  # width + case
    ]), "utf-8")
    code, out, err = run(capsys, "convert", "pair.jsonl", "52k.json", "-o", "o.jsonl", "--dedupe")
    assert code == 0
    assert out[0] == "read 5, written 2, rejected 0, duplicates 3 (exact 1, normalised 2)"
    assert err == [
        "52k.json:1: exact duplicate of pair.jsonl:1; dropped",
        "52k.json:1: normalised duplicate of pair.jsonl:1; dropped",
        "52k.json:1: normalised duplicate of 52k.json:1; dropped",
    ]
    assert [r["source"] for r in read_jsonl(tmp_path / "o.jsonl")] == ["disc_pair", "lawgpt_52k"]


def test_convert_reports_at_most_20_and_lists_all(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.jsonl").write_text("1\n" * 25, "utf-8")
    code, out, err = run(capsys, "convert", "a.jsonl", "-o", "o.jsonl", "--skip-invalid")
    assert code == 0
    assert out[0] == "read 25, written 0, rejected 25, duplicates 0"
    assert len(err) == 21
    assert err[-1] == "... 5 more not shown; all are listed in o.rejects.jsonl"
    assert len(read_jsonl(tmp_path / "o.rejects.jsonl")) == 25


@pytest.mark.parametrize("codec", ["gbk", "gb18030"])
def test_gbk_array_with_crlf_converts_to_the_original_text(tmp_path, monkeypatch, capsys, codec):
    monkeypatch.chdir(tmp_path)
    items = json.loads((SAMPLES / "lawgpt_92k.json").read_text("utf-8"))
    text = json.dumps(items, ensure_ascii=False, indent=4).replace("\n", "\r\n")
    (tmp_path / "92k.json").write_bytes(text.encode(codec))
    code, out, _ = run(capsys, "convert", "92k.json", "-o", "gbk.jsonl")
    assert code == 0 and out[0] == "read 7, written 7, rejected 0, duplicates 0"
    code, _, _ = run(capsys, "convert", str(SAMPLES / "lawgpt_92k.json"), "-o", "utf8.jsonl")
    assert code == 0
    assert (tmp_path / "gbk.jsonl").read_text("utf-8") == (tmp_path / "utf8.jsonl").read_text("utf-8")


def test_utf8_bom_array_converts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = (SAMPLES / "lawgpt_52k.json").read_bytes()
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + data)
    code, out, _ = run(capsys, "convert", "bom.json", "-o", "o.jsonl")
    assert code == 0 and out[0] == "read 8, written 8, rejected 0, duplicates 0"
    first = read_jsonl(tmp_path / "o.jsonl")[0]["conversation"][0]
    assert first["input"] == json.loads(data)[0]["input"].strip()


def test_undecodable_file_stops_convert_even_with_skip_invalid(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "latin.jsonl").write_bytes(b'{"input": "caf\xe9", "output": "\xff"}\n')
    code, out, err = run(capsys, "convert", str(SAMPLES / "disc_pair.jsonl"), "latin.jsonl",
                         "-o", "o.jsonl", "--skip-invalid")
    assert code == 1
    assert err == [
        "legal-eagle data convert: latin.jsonl:1: not UTF-8 or GB18030 text (first "
        "undecodable byte at offset 14); convert it with e.g. iconv -f <encoding> -t UTF-8",
        "nothing written",
    ]
    assert sorted(os.listdir(tmp_path)) == ["latin.jsonl"]
    # validate reports it and goes on with the other files
    code, out, _ = run(capsys, "validate", "latin.jsonl", str(SAMPLES / "disc_pair.jsonl"))
    assert code == 1
    assert out[-1] == "2 file(s): read 8, valid 8, invalid 0, warnings 0, unreadable files 1"


def test_array_with_bad_items(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.json").write_text(
        '[\n  {"input": "问题一？", "output": "回答一。"},\n  "text",\n  null,\n'
        '  {"question": "问题二？", "answer": "回答二。", "reference": []},\n'
        '  {"input": "问题三" "output": "x"},\n  {"input": "never read", "output": "x"}\n]\n',
        "utf-8")
    code, out, _ = run(capsys, "validate", "a.json")
    assert code == 1
    assert out == [
        "a.json:3: record is not a JSON object (got string)",
        "a.json:4: record is not a JSON object (got null)",
        "a.json:6: invalid JSON: Expecting ',' delimiter (column 19); "
        "the rest of the array is not read",
        "1 file(s): read 5, valid 2, invalid 3, warnings 0",
        "without references: 1",  # the question/answer record with "reference": []
    ]


def test_record_of_several_mb_converts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    judgment = "经审理查明，被告人于二〇二三年在某市盗窃财物。" * 150_000  # ~3.5M chars, ~10 MB
    (tmp_path / "big.jsonl").write_text(
        BAD_LINES[0] + "\n" + j({"id": "legal_judgement_prediction_1", "input": judgment,
                                 "output": "判处有期徒刑一年。"}) + "\n", "utf-8")
    assert os.path.getsize(tmp_path / "big.jsonl") > 5_000_000
    code, out, _ = run(capsys, "convert", "big.jsonl", "-o", "o.jsonl")
    assert code == 0 and out[0] == "read 2, written 2, rejected 0, duplicates 0"
    assert read_jsonl(tmp_path / "o.jsonl")[1]["conversation"][0]["input"] == judgment


def test_same_file_twice_and_output_over_input_are_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.jsonl").write_text(BAD_LINES[0] + "\n", "utf-8")
    code, _, err = run(capsys, "convert", "a.jsonl", "./a.jsonl", "-o", "o.jsonl")
    assert code == 1
    assert err == ["legal-eagle data convert: ./a.jsonl: given more than once (as a.jsonl too)"]
    code, _, err = run(capsys, "convert", "a.jsonl", "-o", "a.jsonl")
    assert err == ["legal-eagle data convert: a.jsonl: the output file is also an input; "
                   "choose another -o"]
    assert (tmp_path / "a.jsonl").read_text("utf-8") == BAD_LINES[0] + "\n"


def test_converted_file_round_trips(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    samples = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".json", ".jsonl"))
    assert run(capsys, "convert", *samples, "-o", "once.jsonl")[0] == 0
    code, out, _ = run(capsys, "validate", "once.jsonl")
    assert code == 0 and out == ["1 file(s): read 30, valid 30, invalid 0, warnings 0"]
    assert run(capsys, "convert", "once.jsonl", "-o", "twice.jsonl")[0] == 0
    assert (tmp_path / "once.jsonl").read_text("utf-8") == (tmp_path / "twice.jsonl").read_text("utf-8")


def test_converted_conversation_records_are_checked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.jsonl").write_text("\n".join([
        j({"conversation": [{"input": "问？", "output": "答。"}]}),
        j({"conversation": []}),
        j({"conversation": [{"input": "问？"}]}),
        j({"conversation": [{"input": "问？", "output": 3}]}),
        j({"conversation": "问答"}),
    ]) + "\n", "utf-8")
    code, out, _ = run(capsys, "validate", "c.jsonl")
    assert out == [
        "c.jsonl:2: field 'conversation' is empty",
        "c.jsonl:3: conversation[0]: missing required field 'output'",
        "c.jsonl:4: conversation[0]: field 'output' must be a string, got int",
        "c.jsonl:5: field 'conversation' must be a list of turns, got str",
        "1 file(s): read 5, valid 1, invalid 4, warnings 0",
    ]


def test_inspect_counts_and_char_percentiles(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # 10 records whose converted sample is len(LEGAL_SYSTEM) + 1 + k*100 chars
    records = [{"input": "问", "output": "答" * (k * 100)} for k in range(1, 11)]
    records.append({"input": "坏"})
    (tmp_path / "q.json").write_text(j(records), "utf-8")
    base = len(LEGAL_SYSTEM) + 1
    code, out, _ = run(capsys, "inspect", "q.json", "--max-length", str(base + 800))
    assert code == 0
    assert out == [
        "q.json",
        "  array, utf-8",
        "  records: 11 read, 10 valid, 1 invalid (list them with `legal-eagle data validate`)",
        "  source: lawgpt_52k 10",
        "    lawgpt_52k 10: decided by the fields input, output; a guess: DISC-Law-SFT-Pair "
        "records without 'id' have the same fields (pass --source disc_pair if these are "
        "DISC records)",
        "  fields: input 10, output 10",
        "  with references: 0 (0.0%)",
        f"  chars: p50 {base + 500}  p90 {base + 900}  p99 {base + 1000}  max {base + 1000}  "
        f"> {base + 800}: 2 (20.0%)",
    ]


def test_inspect_reports_sources_tasks_and_references(capsys):
    code, out, _ = run(capsys, "inspect", str(SAMPLES / "disc_triplet.jsonl"),
                       str(SAMPLES / "lawgpt_92k.json"))
    assert code == 0
    assert "  source: disc_triplet 7" in out
    assert "  DISC tasks: legal_question_answering 7" in out
    assert out.count("  with references: 7 (100.0%)") == 2
    assert "  source: lawgpt_92k 7" in out


def test_inspect_unreadable_file_exits_1(tmp_path, capsys):
    path = tmp_path / "u16.json"
    path.write_bytes("[]".encode("utf-16"))
    code, out, _ = run(capsys, "inspect", str(path))
    assert code == 1
    assert out == [str(path), f"  error: {path}:1: UTF-16 text (byte-order mark at offset 0); "
                   "convert it with e.g. iconv -f UTF-16 -t UTF-8"]


def test_inspect_token_lengths_match_xtuner_encoding(tiny_model, capsys):
    from transformers import AutoTokenizer
    from xtuner.utils import PROMPT_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model), trust_remote_code=True)
    template = PROMPT_TEMPLATE["internlm2_chat"]
    expected = []
    for line in (SAMPLES / "disc_pair.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        prompt = (template["SYSTEM"].format(system=LEGAL_SYSTEM)
                  + template["INSTRUCTION"].format(input=record["input"].strip(), round=1))
        answer = record["output"].strip() + template["SUFFIX"]
        # BOS, prompt, answer + suffix (the suffix is the EOS), then the turn separator
        expected.append(1 + len(tokenizer.encode(prompt, add_special_tokens=False))
                        + len(tokenizer.encode(answer, add_special_tokens=False))
                        + len(tokenizer.encode(template["SEP"], add_special_tokens=False)))
    expected.sort()
    limit = expected[5]  # 2 records are longer
    code, out, _ = run(capsys, "inspect", str(SAMPLES / "disc_pair.jsonl"),
                       "--tokenizer", str(tiny_model), "--max-length", str(limit))
    assert code == 0
    assert out[-1] == (f"  tokens: p50 {expected[3]}  p90 {expected[7]}  p99 {expected[7]}  "
                       f"max {expected[7]}  > {limit}: 2 (25.0%)")


def test_converted_file_passes_xtuner_check_custom_dataset(tmp_path, tiny_model, capsys):
    samples = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".json", ".jsonl"))
    out_file = tmp_path / "train.jsonl"
    assert run(capsys, "convert", *samples, "-o", str(out_file))[0] == 0
    config = tmp_path / "check_cfg.py"
    config.write_text(textwrap.dedent(f"""\
        from datasets import load_dataset
        from transformers import AutoTokenizer
        from xtuner.dataset import process_hf_dataset
        from xtuner.dataset.map_fns import template_map_fn_factory
        from xtuner.utils import PROMPT_TEMPLATE

        tokenizer = dict(type=AutoTokenizer.from_pretrained,
                         pretrained_model_name_or_path={str(tiny_model)!r},
                         trust_remote_code=True, padding_side="right")
        train_dataset = dict(
            type=process_hf_dataset,
            dataset=dict(type=load_dataset, path="json", data_files={str(out_file)!r}),
            tokenizer=tokenizer, max_length=512, dataset_map_fn=None,
            template_map_fn=dict(type=template_map_fn_factory,
                                 template=PROMPT_TEMPLATE.internlm2_chat),
            remove_unused_columns=True, shuffle_before_pack=True, pack_to_max_length=False)
        train_dataloader = dict(dataset=train_dataset)
        """), "utf-8")
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "xtuner.tools.check_custom_dataset",
                           str(config)], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "encoded input_ids" in proc.stdout
    assert "<|im_start|>system" in proc.stdout  # the template was applied


def test_split_and_decontaminate_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    samples = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".json", ".jsonl"))
    assert run(capsys, "convert", *samples, "-o", "all.jsonl")[0] == 0
    bench = tmp_path / "9-9.json"
    first = read_jsonl(tmp_path / "all.jsonl")[0]["conversation"][0]["input"]
    bench.write_text(j([{"instruction": "回答问题：", "question": "某人问：" + first,
                         "answer": "略"}]), "utf-8")
    code, out, _ = run(capsys, "decontaminate", "all.jsonl", "--against", str(bench),
                       "-o", "clean.jsonl", "--flagged", "flagged.jsonl")
    assert code == 0
    assert out[-1] == "read 30, kept 29, flagged 1"
    assert len(read_jsonl(tmp_path / "clean.jsonl")) == 29
    assert read_jsonl(tmp_path / "flagged.jsonl")[0]["matches"][0]["task"] == "9-9"

    code, out, _ = run(capsys, "split", "clean.jsonl", "-o", "splits", "--eval-ratio", "0.2")
    assert code == 0
    assert "read 29, train 23, eval 6" in out
    train = read_jsonl(tmp_path / "splits" / "train.jsonl")
    held = read_jsonl(tmp_path / "splits" / "eval.jsonl")
    assert len(train) + len(held) == 29
    assert not {json.dumps(r) for r in train} & {json.dumps(r) for r in held}

    code, _, err = run(capsys, "split", "clean.jsonl", "-o", "s2", "--eval-size", "29")
    assert code == 1
    assert err == ["legal-eagle data split: --eval-size 29 leaves no training records: "
                   "the file has 29 records"]
    code, _, err = run(capsys, "decontaminate", "all.jsonl", "--against", "missing.json")
    assert code == 1
    assert err[0].startswith("legal-eagle data decontaminate: missing.json:1: cannot read file")


def test_data_help_explains_each_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for command in ("inspect", "validate", "convert", "split", "decontaminate"):
        assert f"legal-eagle data {command}" in text


def test_every_command_on_generated_files_of_the_four_sources(tmp_path, monkeypatch, capsys):
    from legal_eagle_xtuner.data.synthetic import DISC_PAIR_TASKS, SOURCES, write_corpus

    monkeypatch.chdir(tmp_path)
    files, total = [], 0
    for number, source in enumerate(SOURCES):
        name = f"{source}.{'jsonl' if source.startswith('disc') else 'json'}"
        count, _ = write_corpus(tmp_path / name, source, records=400, seed=number)
        files.append(name)
        total += count
    code, out, _ = run(capsys, "inspect", *files)
    assert code == 0
    assert out.count("  records: 400 read, 400 valid, 0 invalid") == 4
    for source in SOURCES:
        assert f"  source: {source} 400" in out
    code, out, _ = run(capsys, "validate", *files)
    assert code == 0 and out[-1] == f"4 file(s): read {total}, valid {total}, invalid 0, warnings 0"
    # the same files twice over (as a second copy) are all duplicates
    for name in files:
        (tmp_path / f"copy-{name}").write_bytes((tmp_path / name).read_bytes())
    code, out, _ = run(capsys, "convert", *files, *(f"copy-{n}" for n in files),
                       "-o", "all.jsonl", "--dedupe", "--skip-invalid")
    assert code == 0
    read, written, rejected, dups = (int(x.split()[-1]) for x in out[0].split(" (")[0].split(", "))
    assert read == 2 * total and rejected == 0 and written + dups == read
    assert dups >= total  # every copy, plus the rare generated duplicates
    assert written == len(read_jsonl(tmp_path / "all.jsonl"))
    code, out, _ = run(capsys, "split", "all.jsonl", "-o", "sp", "--eval-ratio", "0.1")
    assert code == 0
    strata = json.loads((tmp_path / "sp" / "split.json").read_text("utf-8"))["strata"]
    assert {f"disc_pair/{task}" for task, _ in DISC_PAIR_TASKS} <= set(strata)
    assert {"lawgpt_52k", "lawgpt_92k"} <= set(strata)
    assert sum(s["records"] for s in strata.values()) == written


def test_unwritable_output_is_a_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.jsonl").write_text(BAD_LINES[0] + "\n", "utf-8")
    (tmp_path / "adir").mkdir()
    code, out, err = run(capsys, "convert", "a.jsonl", "-o", "adir")
    assert code == 1 and out == []
    assert err == ["legal-eagle data convert: cannot write adir: Is a directory",
                   "nothing written"]
    code, _, err = run(capsys, "convert", "a.jsonl", "-o", "a.jsonl/out.jsonl")
    assert code == 1
    assert err == ["legal-eagle data convert: cannot write a.jsonl/out.jsonl: File exists",
                   "nothing written"]
    assert sorted(os.listdir(tmp_path)) == ["a.jsonl", "adir"] and not os.listdir("adir")


def test_lone_surrogate_is_written_escaped_not_a_crash(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.jsonl").write_text(
        '{"input": "问题\\udc80？", "output": "回答。"}\n', "utf-8")
    code, out, _ = run(capsys, "convert", "s.jsonl", "-o", "o.jsonl")
    assert code == 0 and out[0] == "read 1, written 1, rejected 0, duplicates 0"
    line = (tmp_path / "o.jsonl").read_text("utf-8")
    assert "\\udc80" in line and json.loads(line)["conversation"][0]["input"] == "问题\udc80？"


@pytest.mark.parametrize("argv, message", [
    (["decontaminate", "a.jsonl", "--against", "b.json", "--ngram", "0"],
     "argument --ngram: must be a positive integer, got '0'"),
    (["decontaminate", "a.jsonl", "--against", "b.json", "--max-gram-items", "-1"],
     "argument --max-gram-items: must be 0 or a positive integer, got '-1'"),
    (["inspect", "a.jsonl", "--max-length", "x"],
     "argument --max-length: must be a positive integer, got 'x'"),
])
def test_bad_numbers_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", *argv])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(message)
