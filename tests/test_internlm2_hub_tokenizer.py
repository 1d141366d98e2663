"""The hub's own InternLM2 tokenizer classes (``tokenization_internlm2.py`` and
``tokenization_internlm2_fast.py`` of ``../shared/models/internlm2-hub-2024-01``, never
committed) on a small SentencePiece model trained here from the packaged samples, with
the special tokens where internlm2-chat-7b's tokenizer has them (<unk> 0, <s> 1, </s> 2,
the chat markers as user-defined pieces). The chat template of an export renders
exactly the text training tokenizes and ``xtuner chat`` sends, ids included, for the
slow class and the fast one; the exported folder loads the same classes again."""

import json
import shutil

import pytest
from test_export import _parity, _random_adapter

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.export.chat_template import chat_template
from legal_eagle_xtuner.map_fns import LEGAL_SYSTEM

CHAT_PIECES = ["<|im_start|>", "<|im_end|>", "<|action_start|>", "<|action_end|>",
               "<|interpreter|>", "<|plugin|>"]
"""The chat markers internlm2-chat-7b's tokenizer.model holds as user-defined pieces."""
CLASSES = {False: "InternLM2Tokenizer", True: "InternLM2TokenizerFast"}


def _hub_tokenizer_folder(folder, source):
    """Write a tokenizer folder as internlm2-chat-7b's: tokenizer.model (trained here),
    the two tokenizer classes and a tokenizer_config.json whose auto_map names them."""
    import sentencepiece as spm

    from legal_eagle_xtuner.demo.tiny import _sample_texts
    from legal_eagle_xtuner.demo.tiny_internlm2_gen1 import TOKENIZER_AUTO_MAP, TOKENIZER_CODE

    folder.mkdir(exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(_sample_texts())), model_prefix=str(folder / "tokenizer"),
        vocab_size=1600, model_type="bpe", character_coverage=0.999, byte_fallback=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, user_defined_symbols=CHAT_PIECES,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=False, minloglevel=2)  # text kept as it is, newlines as bytes
    (folder / "tokenizer.vocab").unlink()
    for name in TOKENIZER_CODE:
        shutil.copyfile(source / name, folder / name)
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "auto_map": TOKENIZER_AUTO_MAP, "tokenizer_class": "InternLM2Tokenizer",
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "</s>", "unk_token": "<unk>",
        "add_bos_token": True, "add_eos_token": False, "clean_up_tokenization_spaces": False,
        "additional_special_tokens": CHAT_PIECES[:2]}, indent=2), "utf-8")
    return folder


@pytest.fixture(scope="module")
def hub_tokenizer(tmp_path_factory, internlm2_gen1_source):
    return _hub_tokenizer_folder(tmp_path_factory.mktemp("hub-tokenizer"),
                                 internlm2_gen1_source)


def _load(folder, use_fast):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=True,
                                              use_fast=use_fast)
    assert type(tokenizer).__name__ == CLASSES[use_fast]
    return tokenizer


@pytest.mark.parametrize("use_fast", [False, True], ids=["slow", "fast"])
def test_hub_tokenizer_chat_template_is_the_training_prompt(hub_tokenizer, use_fast):
    tokenizer = _load(hub_tokenizer, use_fast)
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    assert [tokenizer.convert_tokens_to_ids(t) for t in CHAT_PIECES[:2]] == [3, 4]
    question = "<|im_start|>user\n请问离婚需要准备什么材料？<|im_end|>\n"
    ids = tokenizer.encode(question)
    assert ids[:3] == [1, 3] + tokenizer.encode("user", add_special_tokens=False)[:1]
    text = "请问离婚需要准备什么材料？\n第一千零七十九条"
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    tokenizer.chat_template = chat_template("internlm2_chat", LEGAL_SYSTEM)
    _parity(tokenizer, "internlm2_chat")


def test_export_with_the_hub_tokenizer(hub_tokenizer, tiny_internlm2_gen1, tmp_path, capsys):
    base = tmp_path / "base"
    shutil.copytree(tiny_internlm2_gen1, base)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (base / name).unlink()
    for path in hub_tokenizer.iterdir():
        shutil.copyfile(path, base / path.name)
    adapter = tmp_path / "adapter"
    _random_adapter(base, adapter, ["wqkv", "wo"])
    out = tmp_path / "merged"
    assert main(["export", str(adapter), "-o", str(out), "--prompt-template",
                 "internlm2_chat", "--dtype", "float32"]) == 0
    assert f"merged model: {out} (safetensors" in capsys.readouterr().out
    generation = json.loads((out / "generation_config.json").read_text("utf-8"))
    assert generation["eos_token_id"] == [2, 4]  # </s> and <|im_end|>
    template = chat_template("internlm2_chat", LEGAL_SYSTEM)
    assert (out / "chat_template.jinja").read_text("utf-8") == template
    for use_fast in (False, True):
        tokenizer = _load(out, use_fast)  # the classes came along with the export
        assert tokenizer.chat_template == template
        _parity(tokenizer, "internlm2_chat")
