"""Each shipped config trains on CPU through XTuner's real entry points.

Only the model is swapped (to the tiny InternLM2), quantization is removed and
AmpOptimWrapper becomes OptimWrapper (see legal_eagle_xtuner/smoke.py); datasets,
map function, template, batch size, accumulation, max length, schedule and hooks
come from the real file. The run is cut to exactly two optimizer steps, then the
checkpoint goes through pth_to_hf and one chat turn.
"""

import json
import math
import re

import pytest
import torch
from conftest import CONFIGS, SAMPLES, run_module
from mmengine.config import Config

DATA = {
    "internlm_7b_disc": {
        "./data/DISC-Law-SFT-Pair.jsonl": SAMPLES / "disc_pair.jsonl",
        "./data/DISC-Law-SFT-Triplet-released.jsonl": SAMPLES / "disc_triplet.jsonl",
    },
    "internlm2_7b_disc": {
        "./data/DISC-Law-SFT-Pair.jsonl": SAMPLES / "disc_pair.jsonl",
        "./data/DISC-Law-SFT-Triplet-released.jsonl": SAMPLES / "disc_triplet.jsonl",
    },
    "internlm2_20b_qlora_lawgpt": {
        "./data/CrimeKgAssitant清洗后_52k.json": SAMPLES / "lawgpt_52k.json",
        "./data/训练数据_带法律依据_92k.json": SAMPLES / "lawgpt_92k.json",
    },
}
INTERNLM2_LINEAR = ["wqkv", "wo", "w1", "w2", "w3"]
"""The InternLM2 configs' LoRA targets; the InternLM v1 config's (q/k/v/o/gate/up/down
projections) are swapped for them on the tiny InternLM2 (test_internlm_v1.py trains
them on InternLM v1 itself)."""
TEMPLATE_MARK = {
    "internlm_7b_disc": ("internlm_chat", "<|User|>:"),
    "internlm2_7b_disc": ("internlm2_chat", "<|im_start|>user"),
    "internlm2_20b_qlora_lawgpt": ("internlm2_chat", "<|im_start|>user"),
}


@pytest.mark.parametrize("name", sorted(DATA))
def test_config_trains_converts_and_chats(name, tiny_model, tmp_path):
    from legal_eagle_xtuner.train.smoke import SmokeOverrides, derive_smoke_config

    real = Config.fromfile(str(CONFIGS / f"{name}.py"))
    accumulation = real.optim_wrapper.accumulative_counts
    max_iters = 2 * accumulation  # exactly two optimizer steps
    cfg_path = derive_smoke_config(
        CONFIGS / f"{name}.py",
        tmp_path / f"{name}_smoke.py",
        SmokeOverrides(model_path=str(tiny_model), data_files=DATA[name],
                       max_iters=max_iters, lora_target_modules=INTERNLM2_LINEAR),
    )
    smoke = Config.fromfile(str(cfg_path))
    assert "quantization_config" not in smoke.model.llm
    assert smoke.train_dataloader.batch_size == real.train_dataloader.batch_size
    assert smoke.optim_wrapper.accumulative_counts == accumulation
    assert smoke.max_length == real.max_length == 2048

    work = tmp_path / "work"
    train = run_module("xtuner.tools.train", cfg_path, "--work-dir", work)
    log = train.stdout + train.stderr

    # DatasetInfoHook printed a packed sample with the reference context in the
    # config's own chat template.
    template, mark = TEMPLATE_MARK[name]
    assert real.prompt_template.INSTRUCTION.startswith(mark)
    assert "参考法条：" in log
    assert mark in log
    # Isolated packing is the default of every config, on CPU with sdpa.
    assert real.isolate_packed_samples is True and real.attention_path == "auto"
    assert ("isolated packing: packed samples attend only to themselves, positions restart "
            "per sample; attention path 'sdpa' (asked 'auto') on 2 layers") in log

    ckpt_path = work / f"iter_{max_iters}.pth"
    assert (work / "last_checkpoint").read_text().strip() == str(ckpt_path)
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    assert ckpt["meta"]["iter"] == max_iters
    steps = {int(s["step"]) for s in ckpt["optimizer"]["state"].values()}
    assert steps == {2}, steps  # two AdamW updates of every trainable tensor
    assert ckpt["optimizer"]["param_groups"][0]["weight_decay"] == \
        real.optim_wrapper.optimizer.weight_decay

    rows = [json.loads(line)
            for line in next(work.glob("*/vis_data/scalars.json")).read_text().splitlines()]
    losses = [row["loss"] for row in rows if "loss" in row]
    assert losses and all(loss == loss and loss > 0 for loss in losses)
    # The schedule really reached the configured learning rate (a warmup that
    # rounds to one iteration would leave it at start_factor * lr).
    peak = max(row["lr"] for row in rows if "lr" in row)
    assert peak > 0.5 * real.optim_wrapper.optimizer.lr, peak
    assert all(row["tokens_per_sec"] > 0 for row in rows if "loss" in row)  # ThroughputHook

    # Validation: the smoke run holds out 2 records of each file and, with the
    # config's val_interval beyond the run, validates once, after the last iter.
    assert real.val_size >= 100 and real.train_cfg.val_interval == real.evaluation_freq
    assert len(re.findall(r"validation hold-out: 2 of \d+ records", log)) == 2, log[-3000:]
    val = [row for row in rows if "val_loss" in row]
    assert [row["step"] for row in val] == [max_iters], val
    assert val[0]["val_loss"] > 0 and val[0]["val_tokens"] > 0
    assert math.isclose(val[0]["val_ppl"], math.exp(val[0]["val_loss"]), rel_tol=1e-6)
    assert "val_loss" in log

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
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b), "LoRA B never moved"
    targets = {k.split(".")[-3] for k in weights if "lora_A" in k}
    # every linear layer but the output head, which serving engines refuse
    assert targets == set(peft_cfg.target_modules) == set(INTERNLM2_LINEAR)

    chat = run_module(
        "xtuner.tools.chat", tiny_model, "--adapter", adapter,
        "--prompt-template", template, "--system-template", "lawyer",
        "--torch-dtype", "fp32", "--no-streamer", "--max-new-tokens", "8",
        stdin="请问离婚需要准备什么材料？\n\nEXIT\n\n",
    )
    assert "Log: Exit!" in chat.stdout
    assert len(re.findall(r"double enter to end input", chat.stdout)) == 2
