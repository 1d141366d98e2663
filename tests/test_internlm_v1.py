"""The InternLM-chat-7B (v1) recipe on the real InternLM v1 remote code and tokenizer.

The model is a tiny random InternLM v1 built from ``../shared/models/internlm-v1``
(``configuration_internlm.py``, ``modeling_internlm.py``, ``tokenization_internlm.py``,
``tokenizer.model``; never committed): what ``internlm/internlm-chat-7b`` loads with
``trust_remote_code=True``, with random weights of a small shape. Skipped where that
folder is absent. ``configs/internlm_7b_disc.py`` is smoke-derived exactly as in
tests/test_configs_train.py and goes through XTuner's train, ``pth_to_hf`` and chat;
``legal-eagle eval generate`` answers LawBench-format items with it.
"""

import json
import math
import re

import pytest
import torch
from conftest import CONFIGS, run_module
from mmengine.config import Config
from test_configs_train import DATA, TEMPLATE_MARK

NAME = "internlm_7b_disc"
V1_LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_tiny_model_is_the_real_code_and_tokenizer(tiny_internlm_v1, internlm_v1_source):
    from transformers import AutoConfig, AutoTokenizer

    from legal_eagle_xtuner.demo.tiny_internlm_v1 import SOURCE_FILES, build_tiny_internlm_v1

    for name in SOURCE_FILES:  # copied byte for byte
        assert (tiny_internlm_v1 / name).read_bytes() == (internlm_v1_source / name).read_bytes()
    config = json.loads((tiny_internlm_v1 / "config.json").read_text("utf-8"))
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_internlm.InternLMForCausalLM"
    assert config["vocab_size"] == 103168 and config["model_type"] == "internlm"
    assert build_tiny_internlm_v1(tiny_internlm_v1.parent, internlm_v1_source) == \
        tiny_internlm_v1  # cached

    tok = AutoTokenizer.from_pretrained(str(tiny_internlm_v1), trust_remote_code=True)
    assert type(tok).__name__ == "InternLMTokenizer"  # the remote SentencePiece one
    assert len(tok) == tok.vocab_size == 103168
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (1, 2, 2)
    # internlm_chat's turn ends are single pieces of the real vocabulary
    assert tok.encode("<eoa>", add_special_tokens=False) == [103028]
    assert tok.encode("<eoh>", add_special_tokens=False) == [103027]
    text = "<|User|>:请问离婚需要准备什么材料？<eoh>\n<|Bot|>:"
    assert tok.decode(tok.encode(text), skip_special_tokens=True) == text
    hf = AutoConfig.from_pretrained(str(tiny_internlm_v1), trust_remote_code=True)
    assert type(hf).__name__ == "InternLMConfig"


def test_generation_with_cache_and_left_padding(tiny_internlm_v1):
    # The remote code's legacy tuple cache and its own left-padding position
    # handling under transformers 4.48's generate.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_internlm_v1), trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_internlm_v1), trust_remote_code=True,
                                                 torch_dtype=torch.float32).eval()
    assert type(model).__name__ == "InternLMForCausalLM"
    tok.padding_side = "left"
    prompts = ["<|User|>:你好<eoh>\n<|Bot|>:", "<|User|>:公司拖欠工资怎么办？<eoh>\n<|Bot|>:"]
    batch = tok(prompts, return_tensors="pt", padding=True, return_token_type_ids=False)
    assert batch["attention_mask"][0, 0] == 0  # the first prompt is padded
    args = dict(max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
    cached = model.generate(**batch, **args)
    assert torch.equal(cached, model.generate(**batch, use_cache=False, **args))
    for row, prompt in enumerate(prompts):
        alone = model.generate(**tok([prompt], return_tensors="pt",
                                     return_token_type_ids=False), **args)
        assert cached[row, -6:].tolist() == alone[0, -6:].tolist()


def _train_example(log: str) -> str:
    """The sample DatasetInfoHook decoded (the text after 'train example:')."""
    after = log.split("train example:", 1)[1]
    return re.split(r"\n\S+ \S+ - mmengine - ", after, maxsplit=2)[1]


def test_internlm_7b_disc_trains_converts_and_chats(tiny_internlm_v1, tmp_path):
    from legal_eagle_xtuner import LEGAL_SYSTEM
    from legal_eagle_xtuner.train.smoke import SmokeOverrides, derive_smoke_config

    real = Config.fromfile(str(CONFIGS / f"{NAME}.py"))
    accumulation = real.optim_wrapper.accumulative_counts
    max_iters = 2 * accumulation  # exactly two optimizer steps
    cfg_path = derive_smoke_config(
        CONFIGS / f"{NAME}.py", tmp_path / f"{NAME}_smoke.py",
        SmokeOverrides(model_path=str(tiny_internlm_v1), data_files=DATA[NAME],
                       max_iters=max_iters, max_length=512))
    # The 103168-way output layer makes every token cost: shorter packs than the
    # config's 2048 (every sample of the packaged files still fits whole) and
    # short sample answers from EvaluateChatHook keep the run to a few minutes.
    smoke = Config.fromfile(str(cfg_path))
    chat_hooks = [h for h in smoke.custom_hooks if "EvaluateChatHook" in str(h["type"])]
    assert len(chat_hooks) == 1
    chat_hooks[0]["max_new_tokens"] = 24
    smoke.dump(str(cfg_path))
    smoke = Config.fromfile(str(cfg_path))
    assert smoke.model.llm.trust_remote_code and smoke.tokenizer.trust_remote_code
    assert smoke.model.use_activation_checkpointing  # the remote code's checkpointing
    assert smoke.model.use_varlen_attn is False
    assert smoke.train_dataloader.batch_size == real.train_dataloader.batch_size
    assert smoke.optim_wrapper.accumulative_counts == accumulation
    assert smoke.max_length == 512 and real.max_length == 2048

    work = tmp_path / "work"
    train = run_module("xtuner.tools.train", cfg_path, "--work-dir", work, timeout=3600)
    log = train.stdout + train.stderr

    # The packed sample, decoded by the real tokenizer: internlm_chat's turns
    # with the system prompt and the triplet's reference block.
    template, mark = TEMPLATE_MARK[NAME]
    assert template == "internlm_chat" and real.prompt_template.INSTRUCTION.startswith(mark)
    sample = _train_example(log)
    assert f"<|System|>:{LEGAL_SYSTEM}" in sample
    assert f"{mark}参考法条：\n《" in sample
    assert "<eoh>\n<|Bot|>:" in sample and "<eoa>" in sample

    ckpt_path = work / f"iter_{max_iters}.pth"
    assert (work / "last_checkpoint").read_text().strip() == str(ckpt_path)
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    assert ckpt["meta"]["iter"] == max_iters
    steps = {int(s["step"]) for s in ckpt["optimizer"]["state"].values()}
    assert steps == {2}, steps  # two AdamW updates of every trainable tensor

    rows = [json.loads(line)
            for line in next(work.glob("*/vis_data/scalars.json")).read_text().splitlines()]
    losses = [row["loss"] for row in rows if "loss" in row]
    # a random model over a 103168-token vocabulary starts near ln(103168) = 11.54
    assert losses and all(math.isfinite(loss) and 10 < loss < 13 for loss in losses), losses
    peak = max(row["lr"] for row in rows if "lr" in row)
    assert peak > 0.5 * real.optim_wrapper.optimizer.lr, peak
    assert all(row["tokens_per_sec"] > 0 for row in rows if "loss" in row)
    val = [row for row in rows if "val_loss" in row]
    assert [row["step"] for row in val] == [max_iters], val
    assert math.isfinite(val[0]["val_loss"]) and val[0]["val_tokens"] > 0
    assert len(re.findall(r"validation hold-out: 2 of \d+ records", log)) == 2, log[-3000:]

    adapter = tmp_path / "adapter"
    run_module("xtuner.tools.model_converters.pth_to_hf", cfg_path, ckpt_path,
               adapter, "--safe-serialization")
    from peft import PeftConfig
    from safetensors.torch import load_file

    peft_cfg = PeftConfig.from_pretrained(str(adapter))
    assert (peft_cfg.r, peft_cfg.lora_alpha, peft_cfg.lora_dropout) == (
        real.model.lora.r, real.model.lora.lora_alpha, real.model.lora.lora_dropout)
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    lora_b = [t for k, t in weights.items() if "lora_B" in k]
    # two steps of lr <= 2e-5 from zero: small, but every B moved
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b), "LoRA B never moved"
    targets = {k.split(".")[-3] for k in weights if "lora_A" in k}
    assert targets == V1_LINEAR  # every linear layer of the remote model, not lm_head

    chat = run_module(
        "xtuner.tools.chat", tiny_internlm_v1, "--adapter", adapter,
        "--prompt-template", template, "--system-template", "lawyer",
        "--torch-dtype", "fp32", "--no-streamer", "--max-new-tokens", "8",
        stdin="请问离婚需要准备什么材料？\n\nEXIT\n\n",
    )
    assert "Log: Exit!" in chat.stdout
    assert len(re.findall(r"double enter to end input", chat.stdout)) == 2


def test_eval_generate_writes_files_the_scorer_reads(tiny_internlm_v1, tmp_path, capsys):
    from legal_eagle_xtuner.cli import main
    from legal_eagle_xtuner.eval.generate import build_prompt, prompt_template

    data = tmp_path / "zero_shot"
    data.mkdir()
    rows = [{"instruction": "请你运用法律知识从A,B,C,D中选出一个正确的答案，并写在[正确答案]和<eoa>之间。",
             "question": f"问题{i}：A:甲;B:乙;C:丙;D:丁", "answer": f"正确答案：{'ABCD'[i]}。"}
            for i in range(4)]
    (data / "1-2.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    out = tmp_path / "preds"
    assert main(["eval", "generate", "--model", str(tiny_internlm_v1), "--prompt-template",
                 "internlm_chat", "--lawbench", str(data), "-o", str(out), "--limit", "3",
                 "--max-new-tokens", "4", "--batch-size", "2", "--no-progress"]) == 0
    assert f"{out / '1-2.json'}: 3 items (3 generated, 0 kept from before)" in \
        capsys.readouterr().out
    preds = json.loads((out / "1-2.json").read_text("utf-8"))
    template = prompt_template("internlm_chat")
    assert list(preds) == ["0", "1", "2"]
    for key, row in zip(preds, rows):
        item = preds[key]
        assert item["origin_prompt"] == build_prompt(
            template, f"{row['instruction']}\n{row['question']}")
        assert item["origin_prompt"].startswith("<|User|>:" + row["instruction"])
        assert item["origin_prompt"].endswith("<eoh>\n<|Bot|>:")
        assert item["refr"] == row["answer"]
        assert isinstance(item["prediction"], str) and "<eoa>" not in item["prediction"]
    assert main(["eval", "score", "--lawbench", str(out), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"1-2", "average"} and scores["average"]["tasks"] == 1
