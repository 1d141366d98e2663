"""``legal_eagle_xtuner.train.tokenize`` gives exactly XTuner's per-example result.

Every test compares :func:`encode_batch` with the real thing,
``encode_fn(template_map_fn(deepcopy(example), template), tokenizer, max_length)``
from the installed xtuner, on two unrelated tokenizers: the project's tiny
InternLM2 (byte-level BPE with the chat special tokens as added tokens) and a
sentencepiece-like Unigram trained here (NFKC, ``▁`` prepended to every string,
no special tokens for the template markup, ``"\\n"`` two tokens).
"""

from __future__ import annotations

import copy
import itertools
import pickle
import sys
from functools import partial

import pytest
from xtuner.dataset.map_fns import template_map_fn, template_map_fn_factory
from xtuner.dataset.utils import encode_fn
from xtuner.utils import IGNORE_INDEX, PROMPT_TEMPLATE

from legal_eagle_xtuner.map_fns import to_conversation
from legal_eagle_xtuner.data.synthetic import SOURCES, iter_records
from legal_eagle_xtuner.train.tokenize import batch_encoder, encode_batch

HUGE = sys.maxsize  # encode_fn needs an int; this one never truncates


# ---------------------------------------------------------------- tokenizers


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from legal_eagle_xtuner.demo.tiny import build_tiny_internlm2

    path = build_tiny_internlm2(tmp_path_factory.mktemp("tokenize-tiny"))
    return AutoTokenizer.from_pretrained(path, trust_remote_code=True)


@pytest.fixture(scope="module")
def unigram_tokenizer():
    """A sentencepiece-like Unigram (NFKC, ``▁`` prepended to every string)
    trained on 320 generated texts and the templates' markup."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = []
    for source in SOURCES:
        for record in itertools.islice(iter_records(source, seed=99), 40):
            turn = to_conversation(record)["conversation"][0]
            texts += [turn["input"], turn["output"]]
    for template in PROMPT_TEMPLATE.values():
        texts += [v for v in template.values() if isinstance(v, str)] * 3
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=3000,
        special_tokens=["<unk>", "<s>", "</s>"],
        unk_token="<unk>",
        max_piece_length=6,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


@pytest.fixture(scope="module", params=["tiny", "unigram"])
def tokenizer(request):
    return request.getfixturevalue(f"{request.param}_tokenizer")


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_tokenizers_differ(tiny_tokenizer, unigram_tokenizer):
    """The two tokenizers disagree, and for the Unigram one tokenising prompt
    and answer apart is not tokenising their concatenation (a ``▁`` starts
    every string, pieces span the template markup): the tests below would
    catch a batched path that joined or split strings unlike encode_fn."""
    prompt = "<|im_start|>user\n借款合同纠纷<|im_end|>\n<|im_start|>assistant\n"
    answer = "应当返还借款。<|im_end|>"
    assert _ids(tiny_tokenizer, prompt) != _ids(unigram_tokenizer, prompt)
    im_end = _ids(tiny_tokenizer, "<|im_end|>")
    assert tiny_tokenizer.convert_ids_to_tokens(im_end) == ["<|im_end|>"]
    joint = _ids(unigram_tokenizer, prompt + answer)
    assert joint != _ids(unigram_tokenizer, prompt) + _ids(unigram_tokenizer, answer)
    assert len(_ids(unigram_tokenizer, "\n")) == 2  # a two-token SEP


# ---------------------------------------------------------------- data


def _generated(per_source: int, seed: int) -> list[dict]:
    """``per_source`` converted records of each source; every third has an
    empty system prompt (so SYSTEM is skipped)."""
    examples = []
    for source in SOURCES:
        records = itertools.islice(iter_records(source, seed=seed), per_source)
        for i, record in enumerate(records):
            examples.append(to_conversation(record, system="" if i % 3 == 2 else None))
    return examples


GENERATED = _generated(100, seed=7)  # 400 examples
FEW = _generated(8, seed=11)  # 32 examples for the long tail of templates

HAND_WRITTEN = [
    # multi-turn; the middle turn without loss
    [
        {"system": "你是一名律师。", "input": "借钱不还怎么办？", "output": "可以向法院起诉。"},
        {"input": "需要什么证据？", "output": "借条和转账记录。", "output_with_loss": False},
        {"input": "诉讼时效多久？", "output": "三年。", "output_with_loss": True},
    ],
    # the first turn without loss, then one with
    [
        {"input": "甲", "output": "乙", "output_with_loss": False},
        {"input": "丙", "output": "丁"},
    ],
    [{"system": "", "input": "问题", "output": "回答"}],  # empty system
    [{"system": None, "input": "问题", "output": "回答"}],  # system None
    [{"input": None, "output": ""}],  # no system key, input None, empty output
    # a system prompt on a later turn only
    [
        {"input": "第一问", "output": "第一答"},
        {"system": "新的系统提示", "input": "第二问", "output": "第二答"},
    ],
    # braces and template markup inside the texts
    [{"input": "条款{编号}<|im_end|>{input}", "output": "答：{x}\n\n<eoa>完"}],
    [],  # no turns at all
]

ALL_TEMPLATES = sorted(PROMPT_TEMPLATE)
MAIN_TEMPLATES = ["internlm2_chat", "internlm_chat"]
# llama2_chat: no SUFFIX (so EOS), SEP; gemma: SUFFIX and EOS; llama3_chat:
# SUFFIX_AS_EOS, no SEP; code_llama_chat: only EOS; chatglm2: {round}, SEP "\n\n".
OTHER_TEMPLATES = ["llama2_chat", "gemma", "llama3_chat", "code_llama_chat", "chatglm2"]


def _reference(examples, tokenizer, template, max_length):
    """XTuner's per-example path."""
    return [
        encode_fn(
            template_map_fn(copy.deepcopy(example), template),
            tokenizer,
            max_length,
            input_ids_with_output=True,
        )
        for example in examples
    ]


def _batched(examples, tokenizer, template, max_length, batch_size=None):
    convs = [example["conversation"] for example in examples]
    batch_size = batch_size or max(len(convs), 1)
    out = {"input_ids": [], "labels": [], "length": []}
    for start in range(0, len(convs), batch_size):
        result = encode_batch(
            {"conversation": convs[start : start + batch_size]},
            tokenizer=tokenizer,
            template=template,
            max_length=max_length,
        )
        assert set(result) == {"input_ids", "labels", "length"}
        for key in out:
            out[key] += result[key]
    return out


def _assert_equal(batched, reference):
    assert len(batched["input_ids"]) == len(batched["labels"]) == len(reference)
    for i, ref in enumerate(reference):
        assert batched["input_ids"][i] == ref["input_ids"], f"input_ids of example {i}"
        assert batched["labels"][i] == ref["labels"], f"labels of example {i}"


# ---------------------------------------------------------------- equivalence


def test_template_kinds_are_covered():
    """The templates tested on generated records span every (SUFFIX,
    SUFFIX_AS_EOS, SEP) kind that xtuner ships."""

    def kind(t):
        return (bool(t.get("SUFFIX")), bool(t.get("SUFFIX_AS_EOS", False)), t.get("SEP", "") != "")

    shipped = {kind(t) for t in PROMPT_TEMPLATE.values()}
    tested = {kind(PROMPT_TEMPLATE[name]) for name in MAIN_TEMPLATES + OTHER_TEMPLATES}
    assert shipped <= tested
    assert len(shipped) >= 5


@pytest.mark.parametrize("template_name", MAIN_TEMPLATES)
def test_generated_records_match_encode_fn(tokenizer, template_name):
    template = PROMPT_TEMPLATE[template_name]
    examples = GENERATED
    assert len(examples) == 400

    untruncated = _batched(examples, tokenizer, template, None)
    reference = _reference(examples, tokenizer, template, HUGE)
    _assert_equal(untruncated, reference)
    assert untruncated["length"] == [len(r["input_ids"]) for r in reference]
    # the labels really carry the answers (not everything masked)
    assert all(any(x != IGNORE_INDEX for x in labels) for labels in untruncated["labels"])

    # A max_length that truncates about half of them, in batches of 37.
    lengths = untruncated["length"]
    max_length = sorted(lengths)[len(lengths) // 2]
    truncated = _batched(examples, tokenizer, template, max_length, batch_size=37)
    _assert_equal(truncated, _reference(examples, tokenizer, template, max_length))
    assert truncated["length"] == lengths  # before truncation
    assert 0 < sum(n > max_length for n in lengths) < len(lengths)
    assert [len(ids) for ids in truncated["input_ids"]] == [min(n, max_length) for n in lengths]


@pytest.mark.parametrize("template_name", OTHER_TEMPLATES)
def test_other_templates_match_encode_fn(tokenizer, template_name):
    template = PROMPT_TEMPLATE[template_name]
    examples = FEW + [{"conversation": c} for c in HAND_WRITTEN]
    _assert_equal(
        _batched(examples, tokenizer, template, None),
        _reference(examples, tokenizer, template, HUGE),
    )
    _assert_equal(
        _batched(examples, tokenizer, template, 64, batch_size=5),
        _reference(examples, tokenizer, template, 64),
    )


def _has_system(conversation):
    return any(turn.get("system") not in ("", None) for turn in conversation)


@pytest.mark.parametrize("template_name", ALL_TEMPLATES)
def test_hand_written_conversations_every_template(tokenizer, template_name):
    template = PROMPT_TEMPLATE[template_name]
    convs = HAND_WRITTEN
    if "SYSTEM" not in template:
        # xtuner cannot render a system prompt without SYSTEM; neither can we.
        for conv in filter(_has_system, convs):
            with pytest.raises((AttributeError, KeyError)):
                _reference([{"conversation": conv}], tokenizer, template, HUGE)
            with pytest.raises((AttributeError, KeyError)):
                _batched([{"conversation": conv}], tokenizer, template, None)
        convs = [c for c in convs if not _has_system(c)]
    examples = [{"conversation": c} for c in convs]
    batched = _batched(examples, tokenizer, template, None)
    _assert_equal(batched, _reference(examples, tokenizer, template, HUGE))
    assert batched["input_ids"][-1] == [] and batched["length"][-1] == 0  # no turns
    for max_length in (1, 7):
        _assert_equal(
            _batched(examples, tokenizer, template, max_length, batch_size=3),
            _reference(examples, tokenizer, template, max_length),
        )


def test_output_with_loss_false_masks_that_answer(tiny_tokenizer):
    template = PROMPT_TEMPLATE.internlm2_chat
    conv = HAND_WRITTEN[0]
    all_loss = [dict(turn, output_with_loss=True) for turn in conv]
    with_loss = _batched([{"conversation": all_loss}], tiny_tokenizer, template, None)
    as_given = _batched([{"conversation": conv}], tiny_tokenizer, template, None)
    assert with_loss["input_ids"] == as_given["input_ids"]
    answer = _ids(tiny_tokenizer, conv[1]["output"] + template.SUFFIX)

    def masked(labels):
        return sum(x == IGNORE_INDEX for x in labels)

    assert masked(as_given["labels"][0]) - masked(with_loss["labels"][0]) == len(answer) > 0


def test_template_forms(tiny_tokenizer):
    """A ConfigDict, a plain dict and a dotted path give the same result."""
    examples = FEW[:6] + [{"conversation": HAND_WRITTEN[0]}]
    expected = _reference(examples, tiny_tokenizer, PROMPT_TEMPLATE.internlm2_chat, HUGE)
    for template in (
        PROMPT_TEMPLATE.internlm2_chat,
        dict(PROMPT_TEMPLATE.internlm2_chat),
        "xtuner.utils.PROMPT_TEMPLATE.internlm2_chat",
    ):
        _assert_equal(_batched(examples, tiny_tokenizer, template, None), expected)


def test_invalid_arguments(tiny_tokenizer):
    batch = {"conversation": [HAND_WRITTEN[0]]}
    template = PROMPT_TEMPLATE.internlm2_chat
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError):
            encode_batch(batch, tokenizer=tiny_tokenizer, template=template, max_length=bad)
        with pytest.raises(ValueError):
            batch_encoder(tiny_tokenizer, template, max_length=bad)
    with pytest.raises(KeyError):
        batch_encoder(tiny_tokenizer, {"SYSTEM": "{system}"})  # no INSTRUCTION
    with pytest.raises(TypeError):
        batch_encoder(tiny_tokenizer, ["not", "a", "template"])


# ---------------------------------------------------------------- no mutation


def test_input_batch_not_mutated(tiny_tokenizer):
    template = PROMPT_TEMPLATE.internlm2_chat
    template_before = copy.deepcopy(dict(template))
    convs = [e["conversation"] for e in FEW[:5]] + HAND_WRITTEN
    batch = {"conversation": convs, "source": ["x"] * len(convs)}
    before = copy.deepcopy(batch)
    out = encode_batch(batch, tokenizer=tiny_tokenizer, template=template, max_length=16)
    assert batch == before
    assert dict(template) == template_before
    assert set(out) == {"input_ids", "labels", "length"}
    # xtuner's template_map_fn does modify its input: the check is not vacuous.
    example = copy.deepcopy({"conversation": convs[0]})
    template_map_fn(example, template)
    assert example["conversation"] != before["conversation"][0]


# ---------------------------------------------------------------- datasets.map


def test_datasets_map_num_proc_matches_xtuner_pipeline(tiny_tokenizer):
    from datasets import Dataset

    template = PROMPT_TEMPLATE.internlm2_chat
    max_length = 300
    rows = []
    for example in FEW:
        turns = [dict(turn, output_with_loss=True) for turn in example["conversation"]]
        rows.append({"conversation": turns, "source": "generated"})
    for conv in HAND_WRITTEN[:2] + HAND_WRITTEN[5:7]:
        # Arrow needs one schema: every turn has every key.
        turns = [
            {
                "system": turn.get("system") or "",
                "input": turn["input"],
                "output": turn["output"],
                "output_with_loss": turn.get("output_with_loss", True),
            }
            for turn in conv
        ]
        rows.append({"conversation": turns, "source": "hand"})
    dataset = Dataset.from_list(rows)

    encoder = batch_encoder(tiny_tokenizer, template, max_length=max_length)
    clone = pickle.loads(pickle.dumps(encoder))
    assert clone(dataset[:4]) == encoder(dataset[:4])

    batched = dataset.map(
        encoder,
        batched=True,
        batch_size=5,
        num_proc=2,
        remove_columns=dataset.column_names,
        load_from_cache_file=False,
    )
    assert sorted(batched.column_names) == ["input_ids", "labels", "length"]

    # XTuner's own per-example pipeline (the two maps of tokenize_dataset).
    templated = dataset.map(template_map_fn_factory(template=template), load_from_cache_file=False)
    per_example = templated.map(
        partial(encode_fn, tokenizer=tiny_tokenizer, max_length=max_length),
        remove_columns=templated.column_names,
        load_from_cache_file=False,
    )
    assert batched["input_ids"] == per_example["input_ids"]
    assert batched["labels"] == per_example["labels"]
    assert batched["length"] == _batched(rows, tiny_tokenizer, template, None)["length"]
    assert any(n > max_length for n in batched["length"])
    assert any(x != IGNORE_INDEX for labels in batched["labels"] for x in labels)
