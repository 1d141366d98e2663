import copy
import importlib
import json
import pickle
from pathlib import Path
from types import MappingProxyType

import pytest
from xtuner.registry import MAP_FUNC

import legal_eagle_xtuner.map_fns as map_fns
from legal_eagle_xtuner.map_fns import (
    LEGAL_SYSTEM,
    REFERENCE_HEADING,
    REFERENCE_PLACEMENTS,
    SOURCES,
    detect_source,
    format_record_ref,
    legal_qa_map_fn,
    legal_qa_map_fn_factory,
    to_conversation,
)

from legal_eagle_xtuner.resources import SAMPLES
XTUNER_LAWYER = "你现在是一名专业的中国律师，请根据用户的问题给出准确、有理有据的回复。\n"
CUSTOM_SYSTEM = "你是一名劳动法律师。"

THEFT = "盗窃公私财物，数额较大的，处三年以下有期徒刑、拘役或者管制，并处或者单处罚金。"
DIVORCE = "夫妻一方要求离婚的，可以由有关组织进行调解或者直接向人民法院提起离婚诉讼。"

DISC_PAIR = {
    "id": "legal_question_answering_0",
    "input": "  朋友在超市偷了三千元的东西，会判刑吗？\n",
    "output": "可能会。\n根据《刑法》第二百六十四条，盗窃数额较大的构成盗窃罪。  ",
}
DISC_TRIPLET = {
    "id": "legal_question_answering_1000",
    "reference": [
        "《民法典》第1079条：" + DIVORCE,
        "",
        "《民法典》第一千零七十九条：" + DIVORCE,
        "《中华人民共和国刑法》第二百六十四条 " + THEFT,
    ],
    "input": "分居两年可以离婚吗？",
    "output": "可以。因感情不和分居满二年，调解无效的，应当准予离婚。",
    "source": "extra fields are ignored",
}
LAWGPT_52K = {"input": "被狗咬伤了怎么办？", "output": "饲养人应当承担侵权责任。"}
LAWGPT_92K = {
    "question": "\n醉驾没有发生事故也会坐牢吗？ ",
    "answer": "会。醉酒驾驶机动车的，处拘役，并处罚金。",
    "reference": [
        '刑法2020-12-26:    "第一百三十三条之一 在道路上驾驶机动车，有下列情形之一的，处拘役，并处罚金：",\n',
        '刑法2020-12-26:    "（二）醉酒驾驶机动车的；",\n',
        '刑法2020-12-26:    "（二）醉酒驾驶机动车的；",\n',
        '行政法-道路交通安全法2021-04-29:    "第九十一条 醉酒驾驶机动车的，吊销机动车驾驶证。",\n',
    ],
}

TRIPLET_REFS = (
    "参考法条：\n"
    "《民法典》第一千零七十九条 " + DIVORCE + "\n"
    "《中华人民共和国刑法》第二百六十四条 " + THEFT + "\n"
    "\n"
)
LAWGPT_92K_REFS = (
    "参考法条：\n"
    "《刑法》第一百三十三条之一 在道路上驾驶机动车，有下列情形之一的，处拘役，并处罚金： （二）醉酒驾驶机动车的；\n"
    "《道路交通安全法》第九十一条 醉酒驾驶机动车的，吊销机动车驾驶证。\n"
    "\n"
)


def conv(system, user, answer):
    return {"conversation": [{"system": system, "input": user, "output": answer}]}


# (record, expected with placement "prompt", expected with placement "none"),
# all with the default system prompt.
CASES = {
    "disc_pair": (
        DISC_PAIR,
        ("朋友在超市偷了三千元的东西，会判刑吗？", "可能会。\n根据《刑法》第二百六十四条，盗窃数额较大的构成盗窃罪。"),
        ("朋友在超市偷了三千元的东西，会判刑吗？", "可能会。\n根据《刑法》第二百六十四条，盗窃数额较大的构成盗窃罪。"),
    ),
    "disc_triplet": (
        DISC_TRIPLET,
        (TRIPLET_REFS + "分居两年可以离婚吗？", "可以。因感情不和分居满二年，调解无效的，应当准予离婚。"),
        ("分居两年可以离婚吗？", "可以。因感情不和分居满二年，调解无效的，应当准予离婚。"),
    ),
    "lawgpt_52k": (
        LAWGPT_52K,
        ("被狗咬伤了怎么办？", "饲养人应当承担侵权责任。"),
        ("被狗咬伤了怎么办？", "饲养人应当承担侵权责任。"),
    ),
    "lawgpt_92k": (
        LAWGPT_92K,
        (LAWGPT_92K_REFS + "醉驾没有发生事故也会坐牢吗？", "会。醉酒驾驶机动车的，处拘役，并处罚金。"),
        ("醉驾没有发生事故也会坐牢吗？", "会。醉酒驾驶机动车的，处拘役，并处罚金。"),
    ),
}


# --- constants -------------------------------------------------------------


def test_constants():
    from xtuner.utils import SYSTEM_TEMPLATE

    assert LEGAL_SYSTEM == XTUNER_LAWYER == SYSTEM_TEMPLATE.lawyer
    assert REFERENCE_HEADING == "参考法条："
    assert REFERENCE_PLACEMENTS == ("prompt", "none")
    assert SOURCES == ("disc_pair", "disc_triplet", "lawgpt_52k", "lawgpt_92k")


# --- detect_source ----------------------------------------------------------


@pytest.mark.parametrize("source", list(CASES))
def test_detect_source(source):
    assert detect_source(CASES[source][0]) == source


@pytest.mark.parametrize(
    "record, source",
    [
        ({"question": "q", "answer": "a", "input": "i", "output": "o"}, "lawgpt_92k"),
        ({"question": "q", "answer": "a"}, "lawgpt_92k"),  # reference missing
        ({"question": "q"}, "lawgpt_92k"),
        ({"answer": "a", "reference": []}, "lawgpt_92k"),
        ({"input": "i", "output": "o", "reference": [], "id": "x"}, "disc_triplet"),
        ({"input": "i", "output": "o", "reference": []}, "disc_triplet"),
        ({"input": "i", "output": "o", "id": "x"}, "disc_pair"),
        ({"input": "i", "output": "o"}, "lawgpt_52k"),
        ({"input": "i"}, "lawgpt_52k"),
        ({"output": "o", "id": "x"}, "disc_pair"),
        # None counts as absent (``datasets`` fills missing columns with None).
        ({"input": "i", "output": "o", "id": "x", "reference": None}, "disc_pair"),
        ({"input": "i", "output": "o", "id": None, "reference": None}, "lawgpt_52k"),
        ({"question": None, "answer": None, "input": "i", "output": "o"}, "lawgpt_52k"),
        ({"question": "q", "answer": "a", "input": None, "output": None}, "lawgpt_92k"),
        ({"input": "", "output": "o"}, "lawgpt_52k"),
    ],
)
def test_detect_source_variants(record, source):
    assert detect_source(record) == source


# --- conversions ---------------------------------------------------------------


@pytest.mark.parametrize("source", list(CASES))
def test_default_map_fn(source):
    record, (user, answer), _ = CASES[source]
    before = copy.deepcopy(record)
    assert legal_qa_map_fn(record) == conv(XTUNER_LAWYER, user, answer)
    assert record == before  # not modified


@pytest.mark.parametrize("source", list(CASES))
def test_placement_prompt(source):
    record, (user, answer), _ = CASES[source]
    expected = conv(XTUNER_LAWYER, user, answer)
    assert legal_qa_map_fn_factory()(record) == expected
    assert legal_qa_map_fn_factory("prompt")(record) == expected
    assert to_conversation(record) == expected
    assert to_conversation(record, "prompt", None) == expected


@pytest.mark.parametrize("source", list(CASES))
def test_placement_none(source):
    record, _, (user, answer) = CASES[source]
    expected = conv(XTUNER_LAWYER, user, answer)
    assert legal_qa_map_fn_factory("none")(record) == expected
    assert legal_qa_map_fn_factory(reference_placement="none")(record) == expected
    assert to_conversation(record, reference_placement="none") == expected


@pytest.mark.parametrize("source", list(CASES))
def test_custom_system(source):
    record, (user, answer), (bare_user, _) = CASES[source]
    assert legal_qa_map_fn_factory(system=CUSTOM_SYSTEM)(record) == conv(CUSTOM_SYSTEM, user, answer)
    assert legal_qa_map_fn_factory("none", CUSTOM_SYSTEM)(record) == conv(
        CUSTOM_SYSTEM, bare_user, answer
    )
    assert to_conversation(record, system=CUSTOM_SYSTEM) == conv(CUSTOM_SYSTEM, user, answer)
    # An empty system prompt is allowed (no system turn content).
    assert to_conversation(record, system="") == conv("", user, answer)


def test_full_triplet_conversation_literal():
    assert legal_qa_map_fn(DISC_TRIPLET) == {
        "conversation": [
            {
                "system": "你现在是一名专业的中国律师，请根据用户的问题给出准确、有理有据的回复。\n",
                "input": "参考法条：\n"
                "《民法典》第一千零七十九条 夫妻一方要求离婚的，可以由有关组织进行调解或者直接向人民法院提起离婚诉讼。\n"
                "《中华人民共和国刑法》第二百六十四条 盗窃公私财物，数额较大的，处三年以下有期徒刑、拘役或者管制，并处或者单处罚金。\n"
                "\n"
                "分居两年可以离婚吗？",
                "output": "可以。因感情不和分居满二年，调解无效的，应当准予离婚。",
            }
        ]
    }


@pytest.mark.parametrize(
    "reference", [[], [""], ["  ", "\u3000\n"], ['刑法2020-12-26:    "",\n']]
)
def test_references_normalising_to_nothing(reference):
    record = {"question": "问题？", "answer": "回答。", "reference": reference}
    assert legal_qa_map_fn(record) == conv(XTUNER_LAWYER, "问题？", "回答。")
    record = {"id": "x", "reference": reference, "input": "问题？", "output": "回答。"}
    assert legal_qa_map_fn(record) == conv(XTUNER_LAWYER, "问题？", "回答。")


def test_inner_whitespace_kept():
    record = {"input": "\n 第一行\n\n第二行  \n", "output": "\t回答第一段。\n\n回答第二段。\n"}
    assert legal_qa_map_fn(record) == conv(XTUNER_LAWYER, "第一行\n\n第二行", "回答第一段。\n\n回答第二段。")


def test_accepts_any_mapping():
    record = MappingProxyType(dict(LAWGPT_52K))
    assert legal_qa_map_fn(record) == conv(XTUNER_LAWYER, "被狗咬伤了怎么办？", "饲养人应当承担侵权责任。")


def test_factory_result_pickles():
    fn = legal_qa_map_fn_factory("none", CUSTOM_SYSTEM)
    clone = pickle.loads(pickle.dumps(fn))
    assert clone(LAWGPT_92K) == fn(LAWGPT_92K) == conv(
        CUSTOM_SYSTEM, "醉驾没有发生事故也会坐牢吗？", "会。醉酒驾驶机动车的，处拘役，并处罚金。"
    )
    assert pickle.loads(pickle.dumps(legal_qa_map_fn)) is legal_qa_map_fn


# --- errors ------------------------------------------------------------------------


def raises(record, **kwargs):
    with pytest.raises(ValueError) as exc:
        to_conversation(record, **kwargs)
    # The registered map function raises the same.
    with pytest.raises(ValueError) as exc2:
        legal_qa_map_fn_factory(**kwargs)(record)
    assert str(exc2.value) == str(exc.value)
    return str(exc.value)


# How each sample record is identified in messages.
REFS = {
    "disc_pair": "record id=legal_question_answering_0",
    "disc_triplet": "record id=legal_question_answering_1000",
    "lawgpt_52k": 'record "被狗咬伤了怎么办？"',
    "lawgpt_92k": 'record "醉驾没有发生事故也会坐牢吗？"',
}
TEXT_FIELDS = [
    ("disc_pair", "id"),
    ("disc_pair", "input"),
    ("disc_pair", "output"),
    ("disc_triplet", "id"),
    ("disc_triplet", "input"),
    ("disc_triplet", "output"),
    ("lawgpt_52k", "input"),
    ("lawgpt_52k", "output"),
    ("lawgpt_92k", "question"),
    ("lawgpt_92k", "answer"),
]


def broken(source, field, value):
    record = dict(CASES[source][0])
    record[field] = value
    return record


def ref_without(source, field):
    """How the record is identified once ``field`` no longer identifies it."""
    if field in ("id", "input", "question"):
        return {
            ("disc_pair", "id"): 'record "朋友在超市偷了三千元的东西，会判刑吗？"',
            ("disc_pair", "input"): REFS["disc_pair"],
            ("disc_triplet", "id"): 'record "分居两年可以离婚吗？"',
            ("disc_triplet", "input"): REFS["disc_triplet"],
            ("lawgpt_52k", "input"): "record without id, question or input",
            ("lawgpt_92k", "question"): "record without id, question or input",
        }[source, field]
    return REFS[source]


@pytest.mark.parametrize("source, field", TEXT_FIELDS)
def test_missing_field(source, field):
    record = dict(CASES[source][0])
    del record[field]
    if (source, field) == ("disc_pair", "id"):
        # Without an id a pair record is a 52k record, which is valid.
        assert detect_source(record) == "lawgpt_52k"
        return
    if field == "id":
        # The id is provenance: a triplet without one converts all the same.
        assert legal_qa_map_fn(record) == legal_qa_map_fn(CASES[source][0])
        return
    ref = ref_without(source, field)
    assert raises(record) == f"{ref} ({source}): missing required field '{field}'"


@pytest.mark.parametrize("source, field", TEXT_FIELDS)
def test_none_field(source, field):
    record = broken(source, field, None)
    if field == "id":
        # None counts as absent: a pair becomes a 52k record, a triplet has no id.
        assert legal_qa_map_fn(record) == legal_qa_map_fn(CASES[source][0])
        return
    ref = ref_without(source, field)
    assert raises(record) == f"{ref} ({source}): field '{field}' is None"


@pytest.mark.parametrize("value, type_name", [(42, "int"), (["问题"], "list"), (1.5, "float")])
@pytest.mark.parametrize("source, field", TEXT_FIELDS)
def test_non_string_field(source, field, value, type_name):
    record = broken(source, field, value)
    if field == "id" and type_name == "int":
        # An integer id is provenance like a string one (written as text by convert).
        assert legal_qa_map_fn(record) == legal_qa_map_fn(CASES[source][0])
        return
    ref = ref_without(source, field)
    if field == "id":
        got = "float 1.5" if type_name == "float" else type_name
        expected = f"{ref} ({source}): field 'id' must be a string or an integer, got {got}"
    else:
        expected = f"{ref} ({source}): field '{field}' must be a string, got {type_name}"
    assert raises(record) == expected


@pytest.mark.parametrize("source, field", TEXT_FIELDS)
def test_empty_field(source, field):
    ref = ref_without(source, field)
    assert raises(broken(source, field, "")) == f"{ref} ({source}): field '{field}' is empty"


@pytest.mark.parametrize("blank", [" ", "\n\t ", "\u3000"])
@pytest.mark.parametrize("source, field", TEXT_FIELDS)
def test_whitespace_only_field(source, field, blank):
    ref = ref_without(source, field)
    assert raises(broken(source, field, blank)) == f"{ref} ({source}): field '{field}' is whitespace-only"


@pytest.mark.parametrize("source", ["disc_triplet", "lawgpt_92k"])
def test_reference_errors(source):
    ref = REFS[source]
    record = dict(CASES[source][0])
    del record["reference"]
    if source == "disc_triplet":
        # Without references a triplet record is a pair record.
        assert detect_source(record) == "disc_pair"
    else:
        # Missing or null references: trained on without a reference block.
        without = legal_qa_map_fn(record)
        assert without["conversation"][0]["input"] == CASES[source][0]["question"].strip()
        assert legal_qa_map_fn(broken(source, "reference", None)) == without
        assert legal_qa_map_fn(broken(source, "reference", [])) == without

    one_string = CASES[source][0]["reference"][0]
    assert raises(broken(source, "reference", one_string)) == (
        f"{ref} ({source}): field 'reference' must be a list of strings, got str"
    )
    assert raises(broken(source, "reference", ("a",))) == (
        f"{ref} ({source}): field 'reference' must be a list of strings, got tuple"
    )
    assert raises(broken(source, "reference", {"a": 1})) == (
        f"{ref} ({source}): field 'reference' must be a list of strings, got dict"
    )
    assert raises(broken(source, "reference", ["《刑法》第三条 乙", 3])) == (
        f"{ref} ({source}): field 'reference[1]' must be a string, got int"
    )
    assert raises(broken(source, "reference", [None])) == (
        f"{ref} ({source}): field 'reference[0]' must be a string, got NoneType"
    )
    assert raises(broken(source, "reference", ["a", "b", ["c"]])) == (
        f"{ref} ({source}): field 'reference[2]' must be a string, got list"
    )


def test_reference_validated_with_placement_none():
    record = broken("lawgpt_92k", "reference", "一条法条")
    assert raises(record, reference_placement="none") == (
        'record "醉驾没有发生事故也会坐牢吗？" (lawgpt_92k): '
        "field 'reference' must be a list of strings, got str"
    )


def test_first_failing_field_reported():
    record = {"output": None, "input": "问题", "reference": "x", "id": "q1"}
    assert raises(record) == (
        "record id=q1 (disc_triplet): field 'reference' must be a list of strings, got str"
    )
    # With both text fields None the record fits no source at all.
    record = {"id": "q1", "reference": [], "input": None, "output": None}
    assert raises(record) == (
        "record id=q1: fields fit no known source (non-null fields: 'id', 'reference'); "
        + EXPECTED_SOURCES
    )
    record = {"question": "销售鳄鱼皮包违法吗？", "answer": " "}
    assert raises(record) == (
        'record "销售鳄鱼皮包违法吗？" (lawgpt_92k): field \'answer\' is whitespace-only'
    )


@pytest.mark.parametrize(
    "record, type_name",
    [(["input", "output"], "list"), ("问题", "str"), (None, "NoneType"), (3, "int")],
)
def test_non_dict_record(record, type_name):
    expected = f"record must be a dict or other mapping, got {type_name}"
    assert raises(record) == expected
    with pytest.raises(ValueError) as exc:
        detect_source(record)
    assert str(exc.value) == expected


EXPECTED_SOURCES = (
    "expected the fields of one of: disc_pair (id, input, output); "
    "disc_triplet (id, reference, input, output); lawgpt_52k (input, output); "
    "lawgpt_92k (question, answer, reference)"
)


@pytest.mark.parametrize(
    "record, message",
    [
        (
            {"id": "x1", "instruction": "问题", "response": "回答"},
            "record id=x1: fields fit no known source "
            "(non-null fields: 'id', 'instruction', 'response'); " + EXPECTED_SOURCES,
        ),
        (
            {"text": "问题", "reference": ["a"], "input": None},
            "record without id, question or input: fields fit no known source "
            "(non-null fields: 'text', 'reference'); " + EXPECTED_SOURCES,
        ),
        (
            {},
            "record without id, question or input: fields fit no known source "
            "(non-null fields: none); " + EXPECTED_SOURCES,
        ),
    ],
)
def test_unrecognised_record(record, message):
    assert raises(record) == message
    with pytest.raises(ValueError) as exc:
        detect_source(record)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    "record, ref",
    [
        ({"id": "legal_question_answering_7"}, "record id=legal_question_answering_7"),
        ({"id": " a1 ", "input": "问题"}, "record id=a1"),
        ({"id": 7}, "record id=7"),
        ({"id": True, "input": "问题"}, 'record "问题"'),
        ({"id": "", "input": "问题"}, 'record "问题"'),
        ({"question": "销售鳄鱼皮包违法吗？"}, 'record "销售鳄鱼皮包违法吗？"'),
        ({"question": " ", "input": "问题"}, 'record "问题"'),
        ({"question": 3, "input": "问题"}, 'record "问题"'),
        ({"question": "甲" * 30}, 'record "' + "甲" * 30 + '"'),
        ({"question": "甲" * 29 + "乙丙"}, 'record "' + "甲" * 29 + '乙…"'),
        ({"input": " 第一行\n\n第二行 "}, 'record "第一行 第二行"'),
        ({"output": "回答"}, "record without id, question or input"),
        ([], "record of type list"),
    ],
)
def test_format_record_ref(record, ref):
    assert format_record_ref(record) == ref


@pytest.mark.parametrize("placement", ["system", "", None, "PROMPT", "reference"])
def test_invalid_placement(placement):
    message = f"invalid reference_placement {placement!r}; valid placements: 'prompt', 'none'"
    with pytest.raises(ValueError) as exc:
        legal_qa_map_fn_factory(placement)
    assert str(exc.value) == message
    with pytest.raises(ValueError) as exc:
        to_conversation(LAWGPT_52K, reference_placement=placement)
    assert str(exc.value) == message


def test_invalid_system():
    with pytest.raises(ValueError) as exc:
        legal_qa_map_fn_factory(system=["你是律师"])
    assert str(exc.value) == "system must be a string or None, got list"
    with pytest.raises(ValueError) as exc:
        to_conversation(LAWGPT_52K, system=1)
    assert str(exc.value) == "system must be a string or None, got int"


# --- samples --------------------------------------------------------------------


SAMPLE_FILES = {
    "disc_pair.jsonl": "disc_pair",
    "disc_triplet.jsonl": "disc_triplet",
    "lawgpt_52k.json": "lawgpt_52k",
    "lawgpt_92k.json": "lawgpt_92k",
}


def load_sample(name):
    text = (SAMPLES / name).read_text(encoding="utf-8")
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def test_sample_files_present():
    assert sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".json", ".jsonl")) == sorted(
        SAMPLE_FILES
    )


@pytest.mark.parametrize("name, source", list(SAMPLE_FILES.items()))
def test_samples_convert(name, source):
    records = load_sample(name)
    assert 6 <= len(records) <= 10
    for record in records:
        assert detect_source(record) == source
        for placement in REFERENCE_PLACEMENTS:
            (turn,) = legal_qa_map_fn_factory(placement)(record)["conversation"]
            assert turn["system"] == LEGAL_SYSTEM
            assert turn["input"] and turn["output"]
            if placement == "prompt" and source in ("disc_triplet", "lawgpt_92k"):
                assert turn["input"].startswith(REFERENCE_HEADING + "\n《")
            else:
                assert REFERENCE_HEADING not in turn["input"]


def test_lawgpt_92k_sample_has_continuations_and_duplicates():
    references = [r for record in load_sample("lawgpt_92k.json") for r in record["reference"]]
    from legal_eagle_xtuner.sources.references import parse_reference

    parsed = [parse_reference(r) for r in references]
    assert any(a.law and a.article is None for a in parsed)  # continuation
    assert any(
        len(record["reference"]) != len(set(record["reference"]))
        for record in load_sample("lawgpt_92k.json")
    )  # exact duplicate
    assert all(r.endswith('",\n') for r in references)


# --- XTuner registry and map_dataset ------------------------------------------


def test_registered_in_map_func():
    assert MAP_FUNC.get("legal_qa_map_fn") is legal_qa_map_fn


def test_reimport_does_not_raise():
    saved = dict(vars(map_fns))
    try:
        reloaded = importlib.reload(map_fns)
        assert MAP_FUNC.get("legal_qa_map_fn") is reloaded.legal_qa_map_fn
    finally:
        vars(map_fns).update(saved)
        MAP_FUNC.register_module(name="legal_qa_map_fn", module=legal_qa_map_fn, force=True)
    assert MAP_FUNC.get("legal_qa_map_fn") is legal_qa_map_fn


def test_map_dataset_with_registered_name():
    from datasets import Dataset
    from xtuner.dataset.huggingface import map_dataset

    dataset = Dataset.from_list([LAWGPT_92K, dict(LAWGPT_92K, question="第二个问题？")])
    mapped = map_dataset(dataset, "legal_qa_map_fn", 1)
    assert mapped[0]["conversation"] == conv(XTUNER_LAWYER, *CASES["lawgpt_92k"][1])["conversation"]
    assert mapped[1]["conversation"][0]["input"] == LAWGPT_92K_REFS + "第二个问题？"


def test_map_dataset_with_factory_multiprocess():
    from datasets import Dataset
    from xtuner.dataset.huggingface import map_dataset

    columns = ("id", "reference", "input", "output", "question", "answer")
    # Mixed sources in one table: absent columns are None, as when ``datasets``
    # loads several files together.
    records = [
        {column: record.get(column) for column in columns}
        for record in (DISC_PAIR, DISC_TRIPLET, LAWGPT_52K, LAWGPT_92K)
    ]
    dataset = Dataset.from_list(records * 2)
    fn = legal_qa_map_fn_factory("none", CUSTOM_SYSTEM)
    mapped = map_dataset(dataset, fn, 2)
    expected = [
        conv(CUSTOM_SYSTEM, *CASES[source][2])["conversation"]
        for source in ("disc_pair", "disc_triplet", "lawgpt_52k", "lawgpt_92k")
    ] * 2
    assert mapped["conversation"] == expected

    mapped = map_dataset(dataset, legal_qa_map_fn_factory(), 2)
    expected = [
        conv(XTUNER_LAWYER, *CASES[source][1])["conversation"]
        for source in ("disc_pair", "disc_triplet", "lawgpt_52k", "lawgpt_92k")
    ] * 2
    assert mapped["conversation"] == expected


def test_factory_resolves_a_dotted_system_name():
    # mmengine dumps an imported constant as its dotted name; a run restarted
    # from the dumped config must train with the same prompt, not that name.
    record = {"input": "问题", "output": "回答"}
    dumped = legal_qa_map_fn_factory(system="legal_eagle_xtuner.LEGAL_SYSTEM")
    assert dumped(record)["conversation"][0]["system"] == LEGAL_SYSTEM
    # A literal prompt that merely contains dots is used as written.
    literal = legal_qa_map_fn_factory(system="You are a.b lawyer.")
    assert literal(record)["conversation"][0]["system"] == "You are a.b lawyer."
    # A dotted name that resolves to nothing is also used as written.
    unknown = legal_qa_map_fn_factory(system="no_such_module.PROMPT")
    assert unknown(record)["conversation"][0]["system"] == "no_such_module.PROMPT"
