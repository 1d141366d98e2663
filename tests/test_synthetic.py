"""Tests for legal_eagle_xtuner.data.synthetic: deterministic synthetic corpora."""

import collections
import hashlib
import json
import random
import re
import tracemalloc
from itertools import islice

import cn2an
import pytest

from legal_eagle_xtuner.data import synthetic
from legal_eagle_xtuner.map_fns import (
    REFERENCE_HEADING,
    SOURCE_FIELDS,
    detect_source,
    to_conversation,
)
from legal_eagle_xtuner.data.synthetic import (
    DISC_PAIR_TASKS,
    SOURCES,
    chinese_numeral,
    default_format,
    iter_records,
    make_record,
    write_corpus,
)

CN_NUM = "[零一二三四五六七八九十百千]+"
DISC_REF = re.compile(rf"^《[^《》]+》第{CN_NUM}条(之{CN_NUM})?：\S+。$")
LAWGPT_REF = re.compile(r'^(\S+-)?\S+\d{4}-\d{2}-\d{2}:    "(第\S+条(之\S+)? )?[^\s"]+",\n$')
LEFTOVERS = re.compile(r"[ⒶⒷⒸ{}]")

# sha256 of write_corpus(path, source, records=40, seed=0): pins byte-for-byte
# determinism across machines and Python versions. Update only when the
# phrase pools or the generator are changed on purpose.
GOLDEN = {
    "disc_pair": "982560c4a76e8187693d69f66361b4e275bcd0cd85a8ce5556796201a5432d2c",
    "disc_triplet": "0895626247619ce124685b1e1a9a32c50abe0dd638e98e22c76cf38325046204",
    "lawgpt_52k": "6d23f6817f6d10e1ae691978edff94ac55e0157f4b04101adfad03076dc7f387",
    "lawgpt_92k": "469d4e2a1a306ac34611e780a3073504f32a24a70fab985bd5293dcb7ae3982a",
}


def take(source, n, **kw):
    return list(islice(iter_records(source, **kw), n))


def texts(record):
    for value in record.values():
        if isinstance(value, str):
            yield value
        else:
            yield from value


# -- records ---------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_records_convert_and_are_detected_as_their_source(source):
    for index, record in enumerate(take(source, 2000, seed=7)):
        assert list(record) == list(SOURCE_FIELDS[source])
        assert detect_source(record) == source
        turn = to_conversation(record)["conversation"][0]
        assert turn["input"].strip() and turn["output"].strip()
        for text in texts(record):
            assert text.strip(), record
            assert not LEFTOVERS.search(text), text
        if "reference" in record:
            # The references parse into at least one statute line.
            assert turn["input"].startswith(REFERENCE_HEADING + "\n《"), turn["input"][:80]
        if source.startswith("disc"):
            task, number = record["id"].rsplit("_", 1)
            assert number == str(index)
        if source == "disc_triplet":
            assert task in ("legal_question_answering", "judicial_examination")
            assert 1 <= len(record["reference"]) <= 4
            assert all(DISC_REF.match(ref) for ref in record["reference"]), record["reference"]
        if source == "lawgpt_92k":
            assert all(LAWGPT_REF.match(ref) for ref in record["reference"]), record["reference"]


def test_chinese_numerals_match_cn2an():
    for n in range(1, 1300):
        assert chinese_numeral(n) == cn2an.an2cn(n), n
    with pytest.raises(ValueError):
        chinese_numeral(0)


@pytest.mark.parametrize("source", SOURCES)
def test_length_statistics(source):
    records = take(source, 5000, seed=1)
    sizes = [len(json.dumps(r, ensure_ascii=False).encode()) + 1 for r in records]
    mean = sum(sizes) / len(sizes)
    if source == "disc_pair":
        assert 800 <= mean <= 2000
        inputs = [len(r["input"]) for r in records]
        outputs = [len(r["output"]) for r in records]
        assert min(inputs) >= 5 and max(inputs) <= 4000
        assert min(outputs) >= 1 and max(outputs) <= 2000
        by_task = collections.defaultdict(list)
        for r in records:
            by_task[r["id"].rsplit("_", 1)[0]].append(len(r["input"]))
        qa = by_task["legal_question_answering"]
        summaries = by_task["legal_text_summarization"]
        assert sum(qa) / len(qa) < 120  # questions are short
        assert sum(summaries) / len(summaries) > 1000  # judgments are long
        assert max(summaries) > 2000
    elif source == "disc_triplet":
        assert 800 <= mean <= 2500
    else:
        q, a = ("input", "output") if source == "lawgpt_52k" else ("question", "answer")
        questions = sorted(len(r[q]) for r in records)
        answers = sorted(len(r[a]) for r in records)
        assert questions[0] >= 5 and questions[-1] <= 260
        assert 15 <= questions[len(questions) // 2] <= 60
        assert answers[0] >= 50 and answers[-1] <= 900
        assert 120 <= answers[len(answers) // 2] <= 300
        assert 400 <= mean <= 2000


def test_disc_pair_task_mix_follows_the_real_sizes():
    counts = collections.Counter(
        r["id"].rsplit("_", 1)[0] for r in take("disc_pair", 20000, seed=2)
    )
    assert set(counts) == {task for task, _ in DISC_PAIR_TASKS}
    total_weight = sum(w for _, w in DISC_PAIR_TASKS)
    for task, weight in DISC_PAIR_TASKS:
        share = counts[task] / 20000
        assert abs(share - weight / total_weight) < 0.01 + 0.1 * weight / total_weight, task
    tasks = collections.Counter(r["id"].rsplit("_", 1)[0] for r in take("disc_triplet", 2000))
    assert set(tasks) == {"legal_question_answering", "judicial_examination"}


@pytest.mark.parametrize("source", SOURCES)
def test_duplicates_are_rare(source):
    seen = set()
    duplicates = 0
    for record in take(source, 20000, seed=3):
        turn = to_conversation(record, reference_placement="none")["conversation"][0]
        key = ("".join(turn["input"].split()), "".join(turn["output"].split()))
        duplicates += key in seen
        seen.add(key)
    assert duplicates < 20  # 0.1 %


# -- determinism -----------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_same_seed_gives_identical_bytes_other_seed_differs(tmp_path, source):
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert write_corpus(first, source, records=300, seed=11) == write_corpus(
        str(second), source, records=300, seed=11
    )
    write_corpus(other, source, records=300, seed=12)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    assert take(source, 5, seed=-1) != take(source, 5, seed=1)


@pytest.mark.parametrize("source", SOURCES)
def test_golden_digest(tmp_path, source):
    path = tmp_path / "corpus"
    write_corpus(path, source, records=40, seed=0)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == GOLDEN[source]


@pytest.mark.parametrize("source", SOURCES)
def test_start_continues_the_same_stream(source):
    # 1500 lies in the second block of 1024 records.
    whole = take(source, 1510, seed=5)
    assert take(source, 10, seed=5, start=1500) == whole[1500:]
    assert take(source, 3, seed=5, start=1023) == whole[1023:1026]


def test_make_record_uses_only_the_given_rng():
    for source in SOURCES:
        a = make_record(source, 5, random.Random(9))
        assert a == make_record(source, 5, random.Random(9))
        assert a != make_record(source, 5, random.Random(10))
    assert make_record("disc_pair", 5, random.Random(9))["id"].endswith("_5")
    rng = random.Random(1)
    state = rng.getstate()
    make_record("lawgpt_52k", 0, rng)
    assert rng.getstate() != state


# -- files -----------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("fmt", ["jsonl", "array"])
def test_records_writes_exactly_that_many(tmp_path, source, fmt):
    path = tmp_path / "corpus"
    count, size = write_corpus(path, source, records=257, seed=4, fmt=fmt)
    expected = take(source, 257, seed=4)
    data = path.read_bytes()
    assert (count, size) == (257, len(data))
    text = data.decode("utf-8")
    assert "\r" not in text and text.endswith("\n")
    if fmt == "jsonl":
        lines = text.splitlines()
        assert [json.loads(line) for line in lines] == expected
        assert lines == [json.dumps(r, ensure_ascii=False) for r in expected]
    else:
        assert json.loads(text) == expected
        assert text == json.dumps(expected, ensure_ascii=False, indent=2) + "\n"


def test_default_formats_are_those_of_the_real_files(tmp_path):
    assert [default_format(s) for s in SOURCES] == ["jsonl", "jsonl", "array", "array"]
    write_corpus(tmp_path / "pair", "disc_pair", records=3)
    write_corpus(tmp_path / "52k", "lawgpt_52k", records=3)
    assert (tmp_path / "pair").read_text(encoding="utf-8").startswith('{"id": ')
    assert (tmp_path / "52k").read_text(encoding="utf-8").startswith('[\n  {\n    "input": ')


@pytest.mark.parametrize("fmt, empty", [("jsonl", b""), ("array", b"[]\n")])
def test_zero_records(tmp_path, fmt, empty):
    path = tmp_path / "corpus"
    assert write_corpus(path, "lawgpt_92k", records=0, fmt=fmt) == (0, len(empty))
    assert path.read_bytes() == empty


@pytest.mark.parametrize("source", ["disc_pair", "lawgpt_92k"])
@pytest.mark.parametrize("fmt, closing", [("jsonl", 0), ("array", 3)])
@pytest.mark.parametrize("target", [1, 200_000])
def test_target_bytes_stops_at_the_first_record_reaching_it(tmp_path, source, fmt, closing, target):
    path = tmp_path / "corpus"
    count, size = write_corpus(path, source, target_bytes=target, seed=6, fmt=fmt)
    assert size == path.stat().st_size
    # Without the closing bracket, the file reaches the target...
    assert size - closing >= target
    # ... and one record fewer would not have (at least one record is written).
    if target == 1:
        assert count == 1
    else:
        _, shorter = write_corpus(tmp_path / "shorter", source, records=count - 1, seed=6, fmt=fmt)
        assert shorter - closing < target
    loaded = (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        if fmt == "jsonl"
        else json.loads(path.read_text(encoding="utf-8"))
    )
    assert loaded == take(source, count, seed=6)


def test_writing_uses_bounded_memory(tmp_path):
    write_corpus(tmp_path / "warm", "disc_pair", records=10)  # build the pools first
    tracemalloc.start()
    try:
        _, size = write_corpus(tmp_path / "big", "disc_pair", target_bytes=6_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size >= 6_000_000
    assert peak < 4_000_000


def test_progress_bar(tmp_path, capsys):
    write_corpus(tmp_path / "a", "disc_pair", records=50, progress=True)
    assert "writing disc_pair" in capsys.readouterr().err
    write_corpus(tmp_path / "b", "disc_pair", target_bytes=5000, progress=False)
    assert capsys.readouterr().err == ""


# -- errors ------------------------------------------------------------------------------

UNKNOWN_SOURCE = (
    "unknown source 'pairs'; valid sources: "
    "'disc_pair', 'disc_triplet', 'lawgpt_52k', 'lawgpt_92k'"
)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"source": "pairs", "records": 1}, UNKNOWN_SOURCE),
        ({"source": "disc_pair"}, "give exactly one of records and target_bytes"),
        (
            {"source": "disc_pair", "records": 1, "target_bytes": 10},
            "give exactly one of records and target_bytes",
        ),
        (
            {"source": "disc_pair", "records": 1, "fmt": "csv"},
            "unknown fmt 'csv'; valid formats: 'jsonl', 'array'",
        ),
        ({"source": "disc_pair", "records": -1}, "records must be a non-negative integer, got -1"),
        ({"source": "disc_pair", "records": True}, "records must be a non-negative integer, got True"),
        ({"source": "disc_pair", "target_bytes": 0}, "target_bytes must be a positive integer, got 0"),
        ({"source": "disc_pair", "records": 1, "seed": "1"}, "seed must be an integer, got '1'"),
    ],
)
def test_write_corpus_errors(tmp_path, kwargs, message):
    path = tmp_path / "corpus"
    with pytest.raises(ValueError) as info:
        write_corpus(path, **kwargs)
    assert str(info.value) == message
    assert not path.exists()


def test_iter_and_make_record_errors():
    with pytest.raises(ValueError) as info:
        iter_records("pairs")
    assert str(info.value) == UNKNOWN_SOURCE
    with pytest.raises(ValueError) as info:
        iter_records("disc_pair", start=-1)
    assert str(info.value) == "start must be a non-negative integer, got -1"
    with pytest.raises(ValueError) as info:
        make_record("pairs", 0, random.Random(0))
    assert str(info.value) == UNKNOWN_SOURCE
    with pytest.raises(ValueError) as info:
        synthetic.default_format("pairs")
    assert str(info.value) == UNKNOWN_SOURCE
