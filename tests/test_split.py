"""Tests for legal_eagle_xtuner.data.split: deterministic stratified held-out split."""

import hashlib
import json
import random

import pytest

from legal_eagle_xtuner.data import split as split_module
from legal_eagle_xtuner.data.dedupe import normalize_text
from legal_eagle_xtuner.data.split import (
    SplitError,
    record_key,
    report_lines,
    split_file,
    stratum_quotas,
)

from conftest import SAMPLES

TASKS = ("judicial_examination", "legal_case_classification", "legal_question_answering")


def disc(task, i, question=None):
    return {"id": f"{task}_{i}", "input": question or f"{task}问题{i}：借款到期不还怎么办？",
            "output": f"答复{i}"}


def qa52(i, question=None):
    return {"input": question or f"劳动合同问题{i}：未签合同能要双倍工资吗？", "output": f"可以{i}"}


def qa92(i, question=None):
    return {"question": question or f"离婚问题{i}：分居两年能判离吗？", "answer": f"会{i}",
            "reference": [f"民法典第{i}条"]}


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def write_array(path, records):
    path.write_text(json.dumps(records, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def canon(record):
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


def multi_stratum(sizes):
    """Records of five strata with the given sizes, interleaved by index."""
    makers = [
        lambda i: disc(TASKS[0], i),
        lambda i: disc(TASKS[1], i),
        lambda i: disc(TASKS[2], i),
        qa52,
        qa92,
    ]
    records = []
    for i in range(max(sizes)):
        for make, size in zip(makers, sizes):
            if i < size:
                records.append(make(i))
    return records


STRATA = [f"disc_pair/{t}" for t in TASKS] + ["lawgpt_52k", "lawgpt_92k"]


def no_outputs(out):
    """Nothing (not even a temporary file) was left in ``out``."""
    return not out.exists() or not any(out.iterdir())


# -- quotas and counts ---------------------------------------------------------


def test_stratum_quotas_largest_remainder():
    # 10/3 each: floors 3+3+3 = 9, the one left goes to the first name (tie).
    assert stratum_quotas({"b": 10, "a": 10, "c": 10}, 10) == {"a": 4, "b": 3, "c": 3}
    # exact: 3.25, 1.75, 2.25, 1.5, 1.25 -> floors 8, +1 to 1.75 and 1.5
    assert stratum_quotas({"a": 13, "b": 7, "c": 9, "d": 6, "e": 5}, 10) == {
        "a": 3, "b": 2, "c": 2, "d": 2, "e": 1,
    }
    # 1.5, 1.5, 7.0: floors 9, the tie of remainders goes to the smaller name
    assert stratum_quotas({"z": 6, "y": 6, "m": 28}, 10) == {"m": 7, "y": 2, "z": 1}
    quotas = stratum_quotas({"a": 7, "b": 11, "c": 13, "d": 1}, 17)
    assert sum(quotas.values()) == 17


def test_multi_stratum_counts_follow_quotas(tmp_path):
    sizes = (13, 7, 9, 6, 5)  # N = 40
    src = write_jsonl(tmp_path / "in.jsonl", multi_stratum(sizes))
    result = split_file(src, tmp_path / "out", eval_size=10, progress=False)
    assert result.read == 40 == result.train + result.eval
    assert result.eval == result.target == 10
    assert list(result.strata) == sorted(STRATA) == STRATA
    assert result.strata == {
        STRATA[0]: (13, 3),
        STRATA[1]: (7, 2),
        STRATA[2]: (9, 2),
        STRATA[3]: (6, 2),
        STRATA[4]: (5, 1),
    }
    train, held = read_jsonl(result.train_path), read_jsonl(result.eval_path)
    assert (len(train), len(held)) == (30, 10)
    from legal_eagle_xtuner.sources import stratum

    for name, (total, n_eval) in result.strata.items():
        assert sum(stratum(r) == name for r in held) == n_eval
        assert sum(stratum(r) == name for r in train) == total - n_eval


def test_rounding_tie_goes_to_first_stratum_name(tmp_path):
    records = [disc(TASKS[2], i) for i in range(10)] + [qa52(i) for i in range(10)] + [
        qa92(i) for i in range(10)
    ]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    result = split_file(src, tmp_path / "out", eval_size=10, progress=False)
    assert result.strata == {
        "disc_pair/legal_question_answering": (10, 4),
        "lawgpt_52k": (10, 3),
        "lawgpt_92k": (10, 3),
    }
    assert result.eval == 10


@pytest.mark.parametrize(
    "ratio, n, k",
    [(0.25, 40, 10), (0.1, 7, 1), (0.01, 5, 1), (0.99, 5, 4), (0.5, 5, 2), (0.3, 5, 2)],
)
def test_eval_ratio_gives_rounded_clamped_k(tmp_path, ratio, n, k):
    src = write_jsonl(tmp_path / "in.jsonl", [qa52(i) for i in range(n)])
    result = split_file(src, tmp_path / "out", eval_ratio=ratio, progress=False)
    assert (result.read, result.eval, result.train, result.target) == (n, k, n - k, k)


def test_eval_is_the_smallest_keys_within_a_stratum(tmp_path):
    records = [qa52(i) for i in range(30)]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    result = split_file(src, tmp_path / "out", eval_size=7, seed=5, progress=False)

    def key(r):  # the documented formula, computed independently
        data = f"5\x1f{normalize_text(r['input'])}".encode()
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")

    expected = sorted(records, key=key)[:7]
    assert {canon(r) for r in read_jsonl(result.eval_path)} == {canon(r) for r in expected}


def test_record_key_formula():
    record = {"question": "  丈夫家暴，能判离吗？ ", "answer": "会。"}
    digest = hashlib.blake2b("7\x1f丈夫家暴,能判离吗?".encode(), digest_size=8).digest()
    assert record_key(record, 7) == int.from_bytes(digest, "big")
    # no question text: the canonical JSON of the record
    odd = {"b": 1, "a": "法"}
    data = '3\x1f{"a": "法", "b": 1}'.encode()
    assert record_key(odd, 3) == int.from_bytes(
        hashlib.blake2b(data, digest_size=8).digest(), "big"
    )
    assert record_key(record, 7) != record_key(record, 8)


# -- determinism ---------------------------------------------------------------


def test_same_seed_gives_byte_identical_outputs(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", multi_stratum((13, 7, 9, 6, 5)))
    a = split_file(src, tmp_path / "a", eval_ratio=0.2, seed=11, progress=False)
    b = split_file(src, tmp_path / "b", eval_ratio=0.2, seed=11, progress=False)
    assert a.train_path.read_bytes() == b.train_path.read_bytes()
    assert a.eval_path.read_bytes() == b.eval_path.read_bytes()
    assert a.eval_path.read_bytes()  # not trivially equal


def test_order_independent_and_seed_dependent(tmp_path):
    records = multi_stratum((13, 7, 9, 6, 5))
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    assert shuffled != records
    src = write_jsonl(tmp_path / "in.jsonl", records)
    src2 = write_jsonl(tmp_path / "shuffled.jsonl", shuffled)

    def eval_set(path, out, seed):
        result = split_file(path, tmp_path / out, eval_size=10, seed=seed, progress=False)
        return {canon(r) for r in read_jsonl(result.eval_path)}

    first = eval_set(src, "a", 42)
    assert len(first) == 10
    assert eval_set(src2, "b", 42) == first
    assert eval_set(src, "c", 43) != first


def test_outputs_keep_input_order(tmp_path):
    records = multi_stratum((13, 7, 9, 6, 5))
    src = write_jsonl(tmp_path / "in.jsonl", records)
    result = split_file(src, tmp_path / "out", eval_size=10, progress=False)
    position = {canon(r): i for i, r in enumerate(records)}
    for part in (result.train_path, result.eval_path):
        indices = [position[canon(r)] for r in read_jsonl(part)]
        assert indices == sorted(indices)


# -- records with the same question --------------------------------------------


def test_normalised_duplicates_stay_on_one_side(tmp_path):
    records = []
    for i in range(20):
        records.append(qa52(i, f"公司拖欠工资{i}个月，可以去哪里投诉？"))
        records.append(qa52(100 + i, f" 公司拖欠工资{i}个月, 可以去哪里投诉? "))  # half-width
    src = write_jsonl(tmp_path / "in.jsonl", records)
    for size in (1, 5, 9, 17):
        result = split_file(src, tmp_path / f"out{size}", eval_size=size, progress=False)
        held = {canon(r) for r in read_jsonl(result.eval_path)}
        for a, b in zip(records[::2], records[1::2]):
            assert (canon(a) in held) == (canon(b) in held)
        assert result.eval in (size, size + 1)  # pairs: at most one extra
        assert result.eval % 2 == 0
        assert result.read == result.train + result.eval == 40


def test_boundary_inside_a_group_takes_the_whole_group(tmp_path):
    records = [qa52(i) for i in range(20)]
    records += [qa52(50 + j, "同一个问题：借款不还怎么办？") for j in range(3)]
    keys = sorted(record_key(r, 42) for r in records)
    group_key = record_key(records[-1], 42)
    first = keys.index(group_key)  # 0-based position of the group in key order
    src = write_jsonl(tmp_path / "in.jsonl", records)
    result = split_file(src, tmp_path / "out", eval_size=first + 1, progress=False)
    assert result.target == first + 1
    assert result.eval == first + 3
    assert result.strata == {"lawgpt_52k": (23, first + 3)}
    held = [r for r in read_jsonl(result.eval_path) if r["input"].startswith("同一个问题")]
    assert len(held) == 3
    assert any("2 more than" in line for line in report_lines(result))


def test_same_question_in_two_strata_stays_on_one_side(tmp_path):
    shared = [f"共同问题{i}：房东不退押金怎么办？" for i in range(10)]
    records = [qa52(i, q) for i, q in enumerate(shared)]
    records += [qa92(i, q) for i, q in enumerate(shared)]
    records += [qa92(100 + i) for i in range(30)]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    for seed in range(6):
        result = split_file(src, tmp_path / f"out{seed}", eval_size=8, seed=seed,
                            progress=False)
        held = read_jsonl(result.eval_path)
        train = read_jsonl(result.train_path)
        held_q = {r.get("input") or r.get("question") for r in held}
        train_q = {r.get("input") or r.get("question") for r in train}
        assert not held_q & train_q
        assert result.eval >= 8
        assert result.read == result.train + result.eval == 50
        assert sum(e for _, e in result.strata.values()) == result.eval


def test_all_records_same_question_is_an_error(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [qa52(i, "同一个问题？") for i in range(4)])
    out = tmp_path / "out"
    with pytest.raises(SplitError) as info:
        split_file(src, out, eval_size=1, progress=False)
    assert str(info.value).startswith(f"{src}: every record would go to eval: ")
    assert no_outputs(out)


# -- round trip and formats ----------------------------------------------------


def test_every_record_once_and_unchanged(tmp_path):
    records = multi_stratum((5, 4, 3, 6, 2)) + [
        {"input": "带\"引号\"和\\反斜杠", "output": "数字", "n": 1.5, "big": 10**20,
         "nested": {"a": [None, True, False, "全角，。"]}, "id": None},
        {"note": "没有问题字段", "x": [1, 2, 3]},
    ]
    src = write_array(tmp_path / "in.json", records)
    result = split_file(src, tmp_path / "out", eval_ratio=0.3, progress=False)
    out = read_jsonl(result.train_path) + read_jsonl(result.eval_path)
    assert sorted(map(canon, out)) == sorted(map(canon, records))
    assert len(out) == len(records) == result.read
    raw = result.train_path.read_text(encoding="utf-8") + result.eval_path.read_text(
        encoding="utf-8"
    )
    assert "\\u" not in raw and "借款到期不还" in raw
    for line in raw.splitlines():
        assert line == json.dumps(json.loads(line), ensure_ascii=False)  # compact
    assert result.strata["unknown"][0] == 1


def test_gb18030_input_and_lone_surrogates_round_trip(tmp_path):
    records = [qa52(i) for i in range(4)]
    src = tmp_path / "gbk.jsonl"
    src.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
                    .encode("gb18030"))
    result = split_file(src, tmp_path / "out", eval_size=1, progress=False)
    out = read_jsonl(result.train_path) + read_jsonl(result.eval_path)
    assert sorted(map(canon, out)) == sorted(map(canon, records))

    odd = tmp_path / "surrogate.jsonl"
    odd.write_text('{"input": "坏\\udc80字", "output": "x"}\n{"input": "好", "output": "y"}\n',
                   encoding="utf-8")
    result = split_file(odd, tmp_path / "out2", eval_size=1, progress=False)
    out = read_jsonl(result.train_path) + read_jsonl(result.eval_path)
    assert sorted(r["input"] for r in out) == sorted(["坏\udc80字", "好"])


def test_json_array_and_jsonl_give_the_same_split(tmp_path):
    records = multi_stratum((8, 3, 5, 7, 4))
    a = split_file(write_jsonl(tmp_path / "in.jsonl", records), tmp_path / "a",
                   eval_size=6, progress=False)
    b = split_file(write_array(tmp_path / "in.json", records), tmp_path / "b",
                   eval_size=6, progress=False)
    assert a.eval_path.read_bytes() == b.eval_path.read_bytes()
    assert a.train_path.read_bytes() == b.train_path.read_bytes()
    assert a.strata == b.strata


def test_converted_records_are_stratified_by_stored_source(tmp_path):
    def conv(i, source=None, record_id=None):
        record = {"conversation": [{"system": "你是律师", "input": f"转换后的问题{i}？",
                                    "output": f"回答{i}"}]}
        if source:
            record["source"] = source
        if record_id:
            record["id"] = record_id
        return record

    records = [conv(i, "disc_pair", f"legal_question_answering_{i}") for i in range(6)]
    records += [conv(10 + i, "disc_triplet", f"judicial_examination_{i}") for i in range(4)]
    records += [conv(20 + i, "lawgpt_92k") for i in range(5)]
    records += [conv(30 + i) for i in range(5)]
    src = write_jsonl(tmp_path / "conv.jsonl", records)
    result = split_file(src, tmp_path / "out", eval_size=4, progress=False)
    # quotas 1.2, 0.8, 1.0, 1.0 -> 1, 1, 1, 1
    assert result.strata == {
        "conversation": (5, 1),
        "disc_pair/legal_question_answering": (6, 1),
        "disc_triplet/judicial_examination": (4, 1),
        "lawgpt_92k": (5, 1),
    }


def test_converted_and_raw_record_share_a_key():
    raw = {"id": "legal_question_answering_3", "input": "借款到期不还怎么办？", "output": "起诉"}
    converted = {
        "conversation": [{"input": "参考法条：\n《民法典》第六百七十五条\n\n借款到期不还怎么办?",
                          "output": "起诉"}],
        "source": "disc_pair",
        "id": "legal_question_answering_3",
    }
    assert record_key(raw, 42) == record_key(converted, 42)


def test_sample_files_split(tmp_path):
    for name in ("disc_pair.jsonl", "disc_triplet.jsonl", "lawgpt_52k.json", "lawgpt_92k.json"):
        result = split_file(SAMPLES / name, tmp_path / name, eval_ratio=0.25, progress=False)
        assert result.read == result.train + result.eval
        assert result.eval >= 1 and result.train >= 1
        assert len(read_jsonl(result.eval_path)) == result.eval


# -- manifest, report, progress ------------------------------------------------


def test_manifest_contents(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", multi_stratum((13, 7, 9, 6, 5)))
    out = tmp_path / "new" / "dir"
    result = split_file(src, out, eval_ratio=0.25, seed=7, progress=False)
    assert result.manifest_path == out / "split.json"
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert manifest == {
        "version": 1,
        "input": str(src),
        "seed": 7,
        "eval_size": None,
        "eval_ratio": 0.25,
        "target": 10,
        "read": 40,
        "train": 30,
        "eval": 10,
        "strata": {
            STRATA[0]: {"records": 13, "train": 10, "eval": 3},
            STRATA[1]: {"records": 7, "train": 5, "eval": 2},
            STRATA[2]: {"records": 9, "train": 7, "eval": 2},
            STRATA[3]: {"records": 6, "train": 4, "eval": 2},
            STRATA[4]: {"records": 5, "train": 4, "eval": 1},
        },
        "files": {"train": "train.jsonl", "eval": "eval.jsonl"},
    }
    assert sorted(p.name for p in out.iterdir()) == ["eval.jsonl", "split.json", "train.jsonl"]
    sized = split_file(src, tmp_path / "sized", eval_size=3, progress=False)
    manifest = json.loads(sized.manifest_path.read_text(encoding="utf-8"))
    assert (manifest["eval_size"], manifest["eval_ratio"], manifest["seed"]) == (3, None, 42)


def test_report_lines(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", multi_stratum((13, 7, 9, 6, 5)))
    result = split_file(src, tmp_path / "out", eval_size=10, progress=False)
    lines = report_lines(result)
    assert lines[0].split() == ["stratum", "records", "train", "eval"]
    assert lines[1].split() == [STRATA[0], "13", "10", "3"]
    assert lines[5].split() == [STRATA[4], "5", "4", "1"]
    assert lines[6].split() == ["total", "40", "30", "10"]
    assert "read 40, train 30, eval 10" in lines
    assert not any("more than" in line for line in lines)
    assert len({len(line) for line in lines[:7]}) == 1  # aligned table


def test_progress_bars_per_pass(tmp_path, monkeypatch):
    import contextlib

    calls = []

    @contextlib.contextmanager
    def fake(paths, desc, enabled):
        calls.append((list(map(str, paths)), desc, enabled))
        yield lambda n: None

    monkeypatch.setattr(split_module, "byte_progress", fake)
    src = write_jsonl(tmp_path / "in.jsonl", [qa52(i) for i in range(5)])
    split_file(src, tmp_path / "out", eval_size=1, progress=True)
    assert calls == [([str(src)], "split (pass 1/2)", True), ([str(src)], "split (pass 2/2)", True)]


# -- errors ----------------------------------------------------------------------


def expect_error(src, out, message, **kw):
    with pytest.raises(SplitError) as info:
        split_file(src, out, progress=False, **kw)
    assert str(info.value) == message
    assert no_outputs(out)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"eval_size": 2, "eval_ratio": 0.1}, "give either --eval-size or --eval-ratio, not both"),
        ({}, "give --eval-size or --eval-ratio"),
        ({"eval_ratio": 0}, "--eval-ratio must be between 0 and 1 (exclusive), got 0"),
        ({"eval_ratio": 1.0}, "--eval-ratio must be between 0 and 1 (exclusive), got 1.0"),
        ({"eval_ratio": 1.5}, "--eval-ratio must be between 0 and 1 (exclusive), got 1.5"),
        ({"eval_ratio": -0.2}, "--eval-ratio must be between 0 and 1 (exclusive), got -0.2"),
        ({"eval_size": 0}, "--eval-size must be at least 1, got 0"),
        ({"eval_size": -3}, "--eval-size must be at least 1, got -3"),
        ({"eval_size": 5}, "--eval-size 5 leaves no training records: the file has 5 records"),
        ({"eval_size": 9}, "--eval-size 9 leaves no training records: the file has 5 records"),
    ],
)
def test_option_errors(tmp_path, kw, message):
    src = write_jsonl(tmp_path / "in.jsonl", [qa52(i) for i in range(5)])
    expect_error(src, tmp_path / "out", message, **kw)


@pytest.mark.parametrize("text", ["", "\n  \n", "[]", "[\n]\n"])
def test_empty_file(tmp_path, text):
    src = tmp_path / "empty.json"
    src.write_text(text, encoding="utf-8")
    expect_error(src, tmp_path / "out", f"{src}: no records to split", eval_ratio=0.1)
    expect_error(src, tmp_path / "out", f"{src}: no records to split", eval_size=1)


def test_one_record(tmp_path):
    src = write_jsonl(tmp_path / "one.jsonl", [qa52(0)])
    expect_error(src, tmp_path / "out",
                 f"{src}: at least 2 records are needed to split, found 1", eval_ratio=0.5)
    expect_error(src, tmp_path / "out",
                 "--eval-size 1 leaves no training records: the file has 1 record", eval_size=1)


def test_invalid_json_item(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(qa52(0), ensure_ascii=False) + "\nnot json\n"
                   + json.dumps(qa52(1), ensure_ascii=False) + "\n", encoding="utf-8")
    expect_error(src, tmp_path / "out", f"{src}:2: invalid JSON: Expecting value (column 1)",
                 eval_size=1)


def test_truncated_array(tmp_path):
    src = tmp_path / "cut.json"
    src.write_text('[\n{"input": "a", "output": "b"},\n{"input": "c"', encoding="utf-8")
    expect_error(
        src, tmp_path / "out",
        f"{src}:3: truncated JSON array: item 2 (line 3) is cut off and the closing ']' "
        "is missing",
        eval_size=1,
    )


@pytest.mark.parametrize(
    "item, kind",
    [("[1, 2]", "array"), ('"文本"', "string"), ("3.5", "number"), ("true", "boolean"),
     ("null", "null")],
)
def test_non_object_item(tmp_path, item, kind):
    src = tmp_path / "items.jsonl"
    lines = [json.dumps(qa52(i), ensure_ascii=False) for i in range(3)]
    lines.insert(2, item)
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expect_error(src, tmp_path / "out", f"{src}:3: record is not a JSON object (got {kind})",
                 eval_size=1)


def test_unreadable_files(tmp_path):
    missing = tmp_path / "missing.jsonl"
    expect_error(missing, tmp_path / "out",
                 f"{missing}:1: cannot read file: No such file or directory", eval_size=1)
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b'{"input": "a", "output": "b"}\n\xff\xff\xff\n')
    with pytest.raises(SplitError) as info:
        split_file(garbage, tmp_path / "out", eval_size=1, progress=False)
    assert str(info.value).startswith(f"{garbage}:2: not UTF-8 or GB18030 text")
    assert no_outputs(tmp_path / "out")


def test_write_failure_leaves_nothing(tmp_path, monkeypatch):
    src = write_jsonl(tmp_path / "in.jsonl", [qa52(i) for i in range(6)])
    out = tmp_path / "out"
    calls = []

    def failing_replace(a, b):
        calls.append(b)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(split_module.os, "replace", failing_replace)
    with pytest.raises(SplitError) as info:
        split_file(src, out, eval_size=2, progress=False)
    assert str(info.value) == f"{out}: cannot write the output: No space left on device"
    assert calls and not any(out.iterdir())


def test_error_keeps_previous_outputs_untouched(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [qa52(i) for i in range(6)])
    out = tmp_path / "out"
    first = split_file(src, out, eval_size=2, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    src.write_text(src.read_text(encoding="utf-8") + "[1]\n", encoding="utf-8")
    with pytest.raises(SplitError):
        split_file(src, out, eval_size=3, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert first.eval == 2


def test_refuses_to_overwrite_the_input(tmp_path):
    src = write_jsonl(tmp_path / "train.jsonl", [qa52(i) for i in range(6)])
    before = src.read_bytes()
    with pytest.raises(SplitError) as info:
        split_file(src, tmp_path, eval_size=2, progress=False)
    assert str(info.value) == (
        f"{src}: the output would overwrite the input file; choose another output directory"
    )
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]
