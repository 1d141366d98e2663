"""Tests for legal_eagle_xtuner.data.records: streaming JSONL / JSON-array readers."""

import json
import tracemalloc

import pytest

from legal_eagle_xtuner.data.records import (
    FileFormatError,
    Problem,
    Record,
    detect_encoding,
    iter_records,
)

QA = [
    {"input": "借款到期不还怎么办？", "output": "可以依据《民法典》第六百七十五条起诉。"},
    {"input": "劳动合同未签订，能要求双倍工资吗？", "output": "可以，依据《劳动合同法》第八十二条。"},
]


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return str(path)


def read(path, **kw):
    """Records as (line, index, value) tuples, problems as strings."""
    return [
        (r.line, r.index, r.value) if isinstance(r, Record) else str(r)
        for r in iter_records(path, **kw)
    ]


def jsonl(items):
    return "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items)


# -- JSONL --------------------------------------------------------------------


def test_jsonl_utf8(tmp_path):
    path = write(tmp_path, "a.jsonl", jsonl(QA))
    assert detect_encoding(path) == "utf-8"
    assert read(path) == [(1, 1, QA[0]), (2, 2, QA[1])]
    rec = next(iter_records(path))
    assert rec == Record(path=path, line=1, index=1, value=QA[0])


def test_jsonl_utf8_bom_crlf_and_blank_lines(tmp_path):
    text = "\r\n" + jsonl(QA[:1]).replace("\n", "\r\n") + "   \r\n\t\n" + jsonl(QA[1:])
    path = write(tmp_path, "a.jsonl", b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert detect_encoding(path) == "utf-8-sig"
    assert read(path) == [(2, 1, QA[0]), (5, 2, QA[1])]


@pytest.mark.parametrize("codec", ["gbk", "gb18030"])
def test_jsonl_gbk_and_gb18030_decode_to_original_text(tmp_path, codec):
    items = QA + ([{"input": "𠀀 罕用字 €"}] if codec == "gb18030" else [])
    path = write(tmp_path, "a.jsonl", jsonl(items).encode(codec))
    assert detect_encoding(path) == "gb18030"
    assert [r.value for r in iter_records(path)] == items


def test_neither_utf8_nor_gb18030_is_a_file_format_error(tmp_path):
    path = write(tmp_path, "latin1.jsonl", b'{"a": 1}\n{"name": "caf\xe9"}\n')
    with pytest.raises(FileFormatError) as info:
        list(iter_records(path))
    assert str(info.value) == (
        f"{path}:2: not UTF-8 or GB18030 text (first undecodable byte at offset 22); "
        "convert it with e.g. iconv -f <encoding> -t UTF-8"
    )
    assert info.value.line == 2


def test_broken_utf8_is_never_decoded_as_gbk(tmp_path):
    # Chinese UTF-8 text would mostly decode as GB18030 mojibake: refuse instead.
    data = jsonl(QA).encode("utf-8") + b'{"input": "\xff"}\n'
    path = write(tmp_path, "a.jsonl", data)
    with pytest.raises(FileFormatError) as info:
        detect_encoding(path)
    offset = data.index(b"\xff")
    assert str(info.value) == (
        f"{path}:3: invalid UTF-8 byte at offset {offset} in UTF-8 text; not read as "
        "GB18030, which would garble it; fix or remove the byte"
    )


def test_missing_file_is_a_file_format_error(tmp_path):
    path = str(tmp_path / "nope.jsonl")
    with pytest.raises(FileFormatError) as info:
        list(iter_records(path))
    assert str(info.value) == f"{path}:1: cannot read file: No such file or directory"


def test_jsonl_syntax_error_mid_file_keeps_going(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"a": 1}\n{"b" 2}\n\n{"c": 3}\n')
    assert read(path) == [
        (1, 1, {"a": 1}),
        f"{path}:2: invalid JSON: Expecting ':' delimiter (column 6)",
        (4, 3, {"c": 3}),
    ]


def test_jsonl_truncated_last_line(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"a": 1}\n{"b": "unfinish')
    assert read(path) == [
        (1, 1, {"a": 1}),
        f"{path}:2: truncated last line (the file ends inside a record): "
        "Unterminated string starting at (column 7)",
    ]
    path = write(tmp_path, "b.jsonl", '{"a": 1}\n{"b": [1, 2')
    assert read(path)[1] == (
        f"{path}:2: truncated last line (the file ends inside a record): "
        "Expecting ',' delimiter (column 12)"
    )
    # A complete last line without a newline is fine ...
    path = write(tmp_path, "c.jsonl", '{"a": 1}\n{"b": 2}')
    assert read(path) == [(1, 1, {"a": 1}), (2, 2, {"b": 2})]
    # ... and a syntax error in it is not called truncation.
    path = write(tmp_path, "d.jsonl", '{"a": 1}\n{"b" 2}')
    assert read(path)[1] == f"{path}:2: invalid JSON: Expecting ':' delimiter (column 6)"


def test_jsonl_non_object_values_are_records(tmp_path):
    path = write(tmp_path, "a.jsonl", '1\n"x"\nnull\n[1]\n')
    assert [r.value for r in iter_records(path)] == [1, "x", None, [1]]


def test_jsonl_record_of_5_mb(tmp_path):
    big = {"input": "法" * (5 * 1024 * 1024 // 3), "output": "x" * 1000}
    path = write(tmp_path, "a.jsonl", jsonl([QA[0], big, QA[1]]))
    assert read(path) == [(1, 1, QA[0]), (2, 2, big), (3, 3, QA[1])]


def test_jsonl_deep_nesting_is_a_problem_not_a_crash(tmp_path):
    path = write(tmp_path, "a.jsonl", "{}\n" + '{"a": ' + "[" * 100_000 + "\n{}\n")
    assert read(path) == [(1, 1, {}), f"{path}:2: invalid JSON: nested too deeply", (3, 3, {})]
    path = write(tmp_path, "a.json", "[" * 100_000)
    assert read(path) == [
        f"{path}:1: invalid JSON: nested too deeply; the rest of the array is not read"
    ]


# -- JSON arrays --------------------------------------------------------------


def test_array_pretty_printed_line_numbers(tmp_path):
    items = [QA[0], 1, "x", [1, 2], QA[1]]
    path = tmp_path / "a.json"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(items, f, ensure_ascii=False, indent=2)
    path = str(path)
    # Line where each item starts, from the pretty-printed text itself.
    lines = json.dumps(items, ensure_ascii=False, indent=2).split("\n")
    starts = [2, 6, 7, 8, 12]
    assert [lines[n - 1].strip()[:1] for n in starts] == ["{", "1", '"', "[", "{"]
    assert read(path) == [(n, i, v) for i, (n, v) in enumerate(zip(starts, items), 1)]


def test_array_non_objects_are_records(tmp_path):
    path = write(tmp_path, "a.json", '[1, "x"]')
    assert read(path) == [(1, 1, 1), (1, 2, "x")]


def test_array_bom_crlf_and_leading_whitespace(tmp_path):
    text = "\r\n  [\r\n" + json.dumps(QA[0], ensure_ascii=False) + ",\r\n  2\r\n]\r\n"
    path = write(tmp_path, "a.json", b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert read(path) == [(3, 1, QA[0]), (4, 2, 2)]


@pytest.mark.parametrize("codec", ["gbk", "gb18030"])
def test_array_gbk_and_gb18030(tmp_path, codec):
    path = write(tmp_path, "a.json", json.dumps(QA, ensure_ascii=False, indent=2).encode(codec))
    assert [r.value for r in iter_records(path)] == QA


def test_array_syntax_error_stops_reading(tmp_path):
    text = '[\n  {"a": 1},\n  {"b" 2},\n  {"c": 3}\n]\n'
    path = write(tmp_path, "a.json", text)
    assert read(path) == [
        (2, 1, {"a": 1}),
        f"{path}:3: invalid JSON: Expecting ':' delimiter (column 8); "
        "the rest of the array is not read",
    ]
    path = write(tmp_path, "b.json", '[1 2, 3]')
    assert read(path) == [
        (1, 1, 1),
        f"{path}:1: invalid JSON: Expecting ',' delimiter (column 4); "
        "the rest of the array is not read",
    ]
    path = write(tmp_path, "c.json", "[1,\n]")
    assert read(path) == [
        (1, 1, 1),
        f"{path}:2: invalid JSON: Illegal trailing comma before end of array (column 1); "
        "the rest of the array is not read",
    ]


def test_array_missing_closing_bracket(tmp_path):
    path = write(tmp_path, "a.json", '[\n  {"a": 1},\n  {"b": 2}\n')
    assert read(path) == [
        (2, 1, {"a": 1}),
        (3, 2, {"b": 2}),
        f"{path}:3: truncated JSON array: missing closing ']'",
    ]
    path = write(tmp_path, "b.json", "[1, 22")
    assert read(path) == [(1, 1, 1), (1, 2, 22), f"{path}:1: truncated JSON array: missing closing ']'"]
    path = write(tmp_path, "c.json", "[")
    assert read(path) == [f"{path}:1: truncated JSON array: missing closing ']'"]


def test_array_item_cut_off(tmp_path):
    path = write(tmp_path, "a.json", '[\n  {"a": 1},\n  {"b": "cut')
    assert read(path) == [
        (2, 1, {"a": 1}),
        f"{path}:3: truncated JSON array: item 2 (line 3) is cut off "
        "and the closing ']' is missing",
    ]


def test_array_trailing_data(tmp_path):
    path = write(tmp_path, "a.json", "[1]\n\n  x\n")
    assert read(path) == [(1, 1, 1), f"{path}:3: invalid JSON: extra data after the closing ']' (column 3)"]


def test_array_record_of_5_mb(tmp_path):
    big = {"input": "法" * (5 * 1024 * 1024 // 3), "n": 12345678901234567890}
    path = write(tmp_path, "a.json", json.dumps([QA[0], big, 7], ensure_ascii=False, indent=1))
    assert read(path) == [(2, 1, QA[0]), (6, 2, big), (10, 3, 7)]


def test_numbers_split_across_chunks(tmp_path, monkeypatch):
    from legal_eagle_xtuner.data import records

    monkeypatch.setattr(records, "CHUNK_BYTES", 7)
    items = [123456789012, -1.5e10, "汉字" * 5, {"k": [True, None]}, 3]
    path = write(tmp_path, "a.json", json.dumps(items, ensure_ascii=False))
    assert [r.value for r in iter_records(path)] == items
    path = write(tmp_path, "b.jsonl", jsonl(items))
    assert [r.value for r in iter_records(path)] == items


@pytest.mark.parametrize("text", ["", "   \n\n", "\ufeff"])
def test_empty_file_yields_nothing(tmp_path, text):
    path = write(tmp_path, "a.json", text)
    assert read(path) == []


def test_empty_array(tmp_path):
    assert read(write(tmp_path, "a.json", "[]")) == []
    assert read(write(tmp_path, "b.json", " [ \n ] \n")) == []


def test_problem_str():
    assert str(Problem("x.jsonl", 3, "invalid JSON: boom")) == "x.jsonl:3: invalid JSON: boom"


def test_array_memory_is_bounded(tmp_path):
    item = {"instruction": "请回答下面的法律问题。", "input": "问" * 500, "output": "答" * 1500}
    line = json.dumps(item, ensure_ascii=False)
    path = tmp_path / "big.json"
    count = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n")
        while f.tell() < 30 * 1024 * 1024:
            f.write(("," if count else "") + line + "\n")
            count += 1
        f.write("]\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        n = 0
        for rec in iter_records(path):
            assert isinstance(rec, Record)
            n += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"file {size / 2**20:.1f} MiB, {n} items, peak traced {peak / 2**20:.2f} MiB")
    assert n == count
    assert rec.line == count + 1
    assert peak < 8 * 1024 * 1024


def test_utf16_export_names_the_encoding(tmp_path):
    path = tmp_path / "excel.jsonl"
    path.write_bytes('{"input": "问", "output": "答"}\n'.encode("utf-16"))
    with pytest.raises(FileFormatError) as err:
        list(iter_records(path))
    assert str(err.value) == (
        f"{path}:1: UTF-16 text (byte-order mark at offset 0); "
        "convert it with e.g. iconv -f UTF-16 -t UTF-8"
    )
