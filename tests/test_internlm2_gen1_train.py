"""The InternLM2-7B recipe on a model folder of the hub's first-generation InternLM2 code.

The model is a tiny random InternLM2 whose ``configuration_internlm2.py`` and
``modeling_internlm2.py`` are the first generation's (``../shared/models/
internlm2-hub-2024-01``, never committed; skipped where absent): what folders of
``internlm/internlm2-chat-7b`` downloaded before mid-2024 load. ``configs/
internlm2_7b_disc.py``, smoke-derived as in tests/test_configs_train.py and cut to one
optimizer step, goes through XTuner's train (isolated packing on that code), ``pth_to_hf``
and chat, and ``legal-eagle export`` merges the adapter into a model that still carries
the first generation's code and computes what base + adapter computed."""

import json
import math
import re

import torch
from conftest import CONFIGS, run_module
from mmengine.config import Config
from test_configs_train import DATA, INTERNLM2_LINEAR
from test_export import _parity

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.export.chat_template import chat_template
from legal_eagle_xtuner.map_fns import LEGAL_SYSTEM
from legal_eagle_xtuner.train.doctor.remote_code import detect

NAME = "internlm2_7b_disc"


def test_first_generation_folder_trains_converts_chats_and_exports(
        tiny_internlm2_gen1, internlm2_gen1_source, tmp_path, capsys):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from legal_eagle_xtuner.train.smoke import SmokeOverrides, derive_smoke_config

    for name in ("configuration_internlm2.py", "modeling_internlm2.py"):
        assert (tiny_internlm2_gen1 / name).read_bytes() == \
            (internlm2_gen1_source / name).read_bytes()
    assert detect(tiny_internlm2_gen1).generation == 1
    real = Config.fromfile(str(CONFIGS / f"{NAME}.py"))
    accumulation = real.optim_wrapper.accumulative_counts
    cfg_path = derive_smoke_config(
        CONFIGS / f"{NAME}.py", tmp_path / f"{NAME}_smoke.py",
        SmokeOverrides(model_path=str(tiny_internlm2_gen1), data_files=DATA[NAME],
                       max_iters=accumulation, max_length=512))  # one optimizer step
    smoke = Config.fromfile(str(cfg_path))  # short sample answers keep the run short
    [hook] = [h for h in smoke.custom_hooks if "EvaluateChatHook" in str(h["type"])]
    hook["max_new_tokens"] = 24
    smoke.dump(str(cfg_path))
    work = tmp_path / "work"
    train = run_module("xtuner.tools.train", cfg_path, "--work-dir", work)
    log = train.stdout + train.stderr
    assert ("isolated packing: packed samples attend only to themselves, positions restart "
            "per sample; attention path 'sdpa' (asked 'auto') on 2 layers") in log
    assert "<|im_start|>user" in log and "参考法条：" in log  # DatasetInfoHook's sample

    ckpt_path = work / f"iter_{accumulation}.pth"
    assert (work / "last_checkpoint").read_text().strip() == str(ckpt_path)
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    assert {int(s["step"]) for s in ckpt["optimizer"]["state"].values()} == {1}
    rows = [json.loads(line)
            for line in next(work.glob("*/vis_data/scalars.json")).read_text().splitlines()]
    losses = [row["loss"] for row in rows if "loss" in row]
    # a random model over the tiny ~2000-token vocabulary starts near ln(2048) = 7.6
    assert losses and all(math.isfinite(loss) and 5 < loss < 10 for loss in losses), losses
    val = [row for row in rows if "val_loss" in row]
    assert [row["step"] for row in val] == [accumulation], val

    adapter = tmp_path / "adapter"
    run_module("xtuner.tools.model_converters.pth_to_hf", cfg_path, ckpt_path, adapter,
               "--safe-serialization")
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    assert {k.split(".")[-3] for k in weights if "lora_A" in k} == set(INTERNLM2_LINEAR)
    assert all(t.abs().sum() > 0 for k, t in weights.items() if "lora_B" in k)

    chat = run_module(
        "xtuner.tools.chat", tiny_internlm2_gen1, "--adapter", adapter,
        "--prompt-template", "internlm2_chat", "--system-template", "lawyer",
        "--torch-dtype", "fp32", "--no-streamer", "--max-new-tokens", "8",
        stdin="请问离婚需要准备什么材料？\n\nEXIT\n\n")
    assert "Log: Exit!" in chat.stdout
    assert len(re.findall(r"double enter to end input", chat.stdout)) == 2

    out = tmp_path / "merged"
    assert main(["export", str(adapter), "-o", str(out), "--prompt-template",
                 "internlm2_chat", "--dtype", "float32"]) == 0
    assert f"merged model: {out} (safetensors" in capsys.readouterr().out
    assert (out / "modeling_internlm2.py").read_bytes() == \
        (internlm2_gen1_source / "modeling_internlm2.py").read_bytes()
    merged = AutoModelForCausalLM.from_pretrained(str(out), trust_remote_code=True,
                                                  torch_dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_internlm2_gen1),
                                                trust_remote_code=True,
                                                torch_dtype=torch.float32)
    tuned = PeftModel.from_pretrained(base, str(adapter))
    ids = torch.tensor([[1, 50, 60, 70, 80, 90, 4, 100]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, tuned(ids).logits, rtol=1e-5,
                                   atol=1e-5)
    tokenizer = AutoTokenizer.from_pretrained(str(out), trust_remote_code=True)
    assert tokenizer.chat_template == chat_template("internlm2_chat", LEGAL_SYSTEM)
    _parity(tokenizer, "internlm2_chat")
