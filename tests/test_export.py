"""legal-eagle export: the training prompt as a chat template (character for character
what XTuner trains on and `xtuner chat` sends), and a merged model that computes what
base + adapter computed."""

import json

import pytest
import torch

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.eval.generate import build_prompt, prompt_template
from legal_eagle_xtuner.export.chat_template import chat_template, xtuner_prompt
from legal_eagle_xtuner.map_fns import LEGAL_SYSTEM

REFERENCE_QUESTION = ("参考法条：\n《中华人民共和国民法典》第一千零七十九条 夫妻一方要求离婚的，"
                      "可以由有关组织进行调解或者直接向人民法院提起离婚诉讼。\n\n"
                      "分居两年对方不同意离婚怎么办？")
CONVERSATIONS = {
    "one turn, default system": (None, [("请问离婚需要准备什么材料？", None)]),
    "own system": ("你是一名律师。\n", [("借款不还能起诉吗？", None)]),
    "no system": ("", [("借款不还能起诉吗？", None)]),
    "with references": (None, [(REFERENCE_QUESTION, None)]),
    "multi-turn": (None, [("问题一", "回答一"), ("问题二", "回答二"), ("问题三", None)]),
}


def _messages(system, turns):
    messages = [] if system is None else [{"role": "system", "content": system}]
    for question, answer in turns:
        messages.append({"role": "user", "content": question})
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
    return messages


def _tokenizer(path, template):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=True)
    tokenizer.chat_template = chat_template(template, LEGAL_SYSTEM)
    return tokenizer


def _parity(tokenizer, template):
    for name, (system, turns) in CONVERSATIONS.items():
        rendered = tokenizer.apply_chat_template(_messages(system, turns), tokenize=False,
                                                 add_generation_prompt=True)
        effective = LEGAL_SYSTEM if system is None else system
        # training: XTuner's template_map_fn, joined as its encode_fn joins turns
        assert rendered == xtuner_prompt(template, turns, effective, tokenizer.bos_token), name
        if len(turns) == 1:
            # xtuner chat's first turn: SYSTEM + INSTRUCTION, and the BOS its
            # tokenizer.encode adds (InternLM's tokenizers do; the tiny one has no
            # post-processor, so it is added here as they would)
            chat_ids = [tokenizer.bos_token_id] + tokenizer.encode(
                build_prompt(prompt_template(template), turns[0][0], effective),
                add_special_tokens=False)
            ids = tokenizer.apply_chat_template(_messages(system, turns), tokenize=True,
                                                add_generation_prompt=True)
            assert ids == chat_ids, name


def test_internlm2_chat_template_is_the_training_prompt(tiny_model):
    tokenizer = _tokenizer(tiny_model, "internlm2_chat")
    _parity(tokenizer, "internlm2_chat")
    text = tokenizer.apply_chat_template(_messages(None, [("问", None)]), tokenize=False,
                                         add_generation_prompt=True)
    assert text == ("<s><|im_start|>system\n" + LEGAL_SYSTEM + "<|im_end|>\n"
                    "<|im_start|>user\n问<|im_end|>\n<|im_start|>assistant\n")


def test_internlm_chat_template_is_the_training_prompt(tiny_internlm_v1):
    tokenizer = _tokenizer(tiny_internlm_v1, "internlm_chat")
    _parity(tokenizer, "internlm_chat")
    text = tokenizer.apply_chat_template(_messages("", [("问", "答"), ("再问", None)]),
                                         tokenize=False, add_generation_prompt=True)
    assert text == "<s><|User|>:问<eoh>\n<|Bot|>:答<eoa>\n<|User|>:再问<eoh>\n<|Bot|>:"


def test_a_role_out_of_place_is_an_error(tiny_model):
    from jinja2.exceptions import TemplateError

    tokenizer = _tokenizer(tiny_model, "internlm2_chat")
    with pytest.raises(TemplateError, match="roles: one optional system message first"):
        tokenizer.apply_chat_template([{"role": "user", "content": "a"},
                                       {"role": "system", "content": "b"}], tokenize=False)


def _random_adapter(base, out, targets):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(str(base), trust_remote_code=True,
                                                 torch_dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets,
                                            init_lora_weights=False))
    peft.save_pretrained(str(out), safe_serialization=True)
    return peft


@pytest.mark.parametrize("targets", [["wqkv", "wo", "w1", "w2", "w3"],
                                     ["wqkv", "wo", "w1", "w2", "w3", "output"]],
                         ids=["0.2 targets", "0.1 adapter with the output head"])
def test_export_merges_into_a_model_that_computes_the_same(tiny_model, tmp_path, targets,
                                                            capsys):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = tmp_path / "adapter"
    peft = _random_adapter(tiny_model, adapter, targets)
    out = tmp_path / "merged"
    assert main(["export", str(adapter), "-o", str(out), "--prompt-template",
                 "internlm2_chat", "--dtype", "float32"]) == 0
    assert f"merged model: {out} (safetensors" in capsys.readouterr().out
    assert not any("lora" in k for k in load_file(str(out / "model.safetensors")))
    merged = AutoModelForCausalLM.from_pretrained(str(out), trust_remote_code=True,
                                                  torch_dtype=torch.float32)
    ids = torch.tensor([[1, 50, 60, 70, 80, 90, 4, 100]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, peft(ids).logits, rtol=1e-5,
                                   atol=1e-5)
    tokenizer = AutoTokenizer.from_pretrained(str(out), trust_remote_code=True)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert merged.generation_config.eos_token_id == [tokenizer.eos_token_id, im_end]
    assert tokenizer.chat_template == chat_template("internlm2_chat", LEGAL_SYSTEM)
    assert (out / "chat_template.jinja").read_text("utf-8") == tokenizer.chat_template
    assert json.loads((adapter / "adapter_config.json").read_text())["target_modules"]


def test_export_errors_and_template_only(tiny_model, tmp_path, capsys):
    adapter = tmp_path / "adapter"
    _random_adapter(tiny_model, adapter, ["wqkv"])
    assert main(["export", str(adapter), "--template-only", "--prompt-template",
                 "internlm2_chat", "--system", "none"]) == 0
    assert f"chat template: {adapter / 'chat_template.jinja'}" in capsys.readouterr().out
    assert "set system = none" in (adapter / "chat_template.jinja").read_text("utf-8")
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "m"), "--prompt-template",
                 "internlm2_chat"]) == 1
    assert "no adapter_config.json (not a PEFT adapter folder" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["export", str(adapter), "-o", str(tmp_path / "full"), "--prompt-template",
                 "internlm2_chat"]) == 1
    assert "exists and is not empty; choose another -o" in capsys.readouterr().err
    assert main(["export", str(adapter), "--prompt-template", "internlm2_chat"]) == 1
    assert "the merged model needs an output folder (-o OUT)" in capsys.readouterr().err
