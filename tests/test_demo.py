"""`legal-eagle demo` end to end, and the tiny model it is built on."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


def test_tiny_model_is_cached_and_loads(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from legal_eagle_xtuner.demo.tiny import build_tiny_internlm2

    stamp = (tiny_model / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_internlm2(tiny_model.parent) == tiny_model
    assert (tiny_model / "model.safetensors").stat().st_mtime_ns == stamp
    assert not list(tiny_model.parent.glob(".building-*"))

    config = json.loads((tiny_model / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"] == \
        "modeling_internlm2.InternLM2ForCausalLM"
    tok = AutoTokenizer.from_pretrained(tiny_model, trust_remote_code=True)
    # the chat templates' special tokens are single tokens
    for special in ("<|im_start|>", "<|im_end|>", "<eoa>", "<eoh>"):
        assert len(tok.encode(special, add_special_tokens=False)) == 1, special
    text = "夫妻一方要求离婚的，可以向人民法院提起离婚诉讼。"
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    model = AutoModelForCausalLM.from_pretrained(tiny_model, trust_remote_code=True)
    assert type(model).__name__ == "InternLM2ForCausalLM"
    assert model.config.vocab_size == len(tok)


def test_demo_trains_converts_and_chats(tmp_path):
    env = {**os.environ, "LEGAL_EAGLE_CACHE": str(tmp_path / "cache")}
    work = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "legal_eagle_xtuner.cli", "demo", "--work-dir", str(work)],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=900,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == f"adapter: {work / 'adapter'}"
    for step in ("[1/4]", "[2/4]", "[3/4]", "[4/4]"):
        assert any(line.startswith(step) for line in lines), step

    # The loss, read back from mmengine's scalar log, goes down clearly.
    scalars = next((work / "train").glob("*/vis_data/scalars.json"))
    losses = [json.loads(row)["loss"] for row in scalars.read_text().splitlines()
              if '"loss"' in row]
    # One loss per iteration: 6 epochs over the best-fit packs of the samples
    # (whole samples need at least the 10 packs per epoch of a stream cutter).
    summary = next(line for line in lines if " iterations; checkpoint iter_" in line)
    iterations = int(summary.split(" over ")[1].split()[0])
    assert summary.endswith(f"checkpoint iter_{iterations}.pth")
    assert len(losses) == iterations and iterations % 6 == 0 and iterations >= 60
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first - 1.0, (first, last)
    # TensorBoard got the same scalars, validation loss and throughput included.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next((work / "train").glob("*/vis_data"))))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss", "lr", "grad_norm", "tokens_per_sec", "val_loss"} <= tags, tags
    assert [e.value for e in events.Scalars("loss")] == pytest.approx(losses, rel=1e-5)

    # Validation on the held-out records every 20 iterations and at the end.
    # What was learnt carries over to questions never trained on: the first
    # validation is well below the untrained model's loss. (On ~110 records the
    # tiny model then overfits, and the curve shows it.)
    val = [json.loads(row) for row in scalars.read_text().splitlines() if '"val_loss"' in row]
    steps = [row["step"] for row in val]
    assert steps == sorted(set(list(range(20, iterations + 1, 20)) + [iterations])), steps
    assert val[0]["val_loss"] < losses[0] - 0.3, (losses[0], val)
    best = min(val, key=lambda row: row["val_loss"])
    said = next(line for line in lines if "val_loss" in line)
    assert said.strip().startswith(
        f"val_loss {val[0]['val_loss']:.3f} -> {val[-1]['val_loss']:.3f} over {len(val)} "
        f"validations (best {best['val_loss']:.3f} at iteration {best['step']}); curves: ")
    import matplotlib.image

    image = matplotlib.image.imread(work / "loss.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600

    from peft import PeftConfig, PeftModel
    from transformers import AutoModelForCausalLM

    adapter = work / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    peft_cfg = PeftConfig.from_pretrained(str(adapter))
    assert (peft_cfg.r, peft_cfg.lora_alpha) == (8, 16)
    # servable as LoRA: no LoRA on the output head; the training prompt beside it
    assert set(peft_cfg.target_modules) == {"wqkv", "wo", "w1", "w2", "w3"}
    from legal_eagle_xtuner.export.chat_template import chat_template
    from legal_eagle_xtuner.map_fns import LEGAL_SYSTEM

    assert (adapter / "chat_template.jinja").read_text("utf-8") == \
        chat_template("internlm2_chat", LEGAL_SYSTEM)
    base_dir = Path(peft_cfg.base_model_name_or_path)
    assert base_dir.parent == tmp_path / "cache"
    base = AutoModelForCausalLM.from_pretrained(base_dir, trust_remote_code=True)
    model = PeftModel.from_pretrained(base, str(adapter))
    assert sum(p.numel() for n, p in model.named_parameters() if "lora_" in n) > 0

    chat_log = (work / "chat.log").read_text()
    assert "Log: Exit!" in chat_log


def test_the_printed_answer_ends_at_the_end_of_turn_token():
    """xtuner chat prints the stop token and then its own message on the same stream;
    the demo's answer is the reply up to the end-of-turn token."""
    from legal_eagle_xtuner.demo import _answer

    transcript = ("double enter to end input (EXIT: exit chat, RESET: reset history) >>> "
                  "，材料。<|im_end|>\nRemove the memory of history "
                  "responses, since it exceeds the length limitation 2048.\n\n"
                  "double enter to end input (EXIT: exit chat, RESET: reset history) >>> ")
    assert _answer(transcript) == "，材料。"
    assert _answer(transcript.replace("<|im_end|>", "<eoa>")) == "，材料。"
