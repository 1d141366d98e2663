"""Each shipped config loads with mmengine and carries the recipe's values."""

import pytest
import torch
from conftest import CONFIGS
from mmengine.config import Config

from legal_eagle_xtuner import LEGAL_SYSTEM

# model, 4-bit, template suffix, (r, alpha, dropout), batch, accumulation, epochs,
# lr, weight decay, max_norm, data files (in ConcatDataset order)
EXPECTED = {
    "internlm_7b_disc": dict(
        model="internlm/internlm-chat-7b", quant=False, suffix="<eoa>",
        lora=(8, 16, 0.05), batch=1, accum=32, epochs=2, lr=2e-5, wd=0.05,
        max_norm=1, data=["./data/DISC-Law-SFT-Triplet-released.jsonl",
                          "./data/DISC-Law-SFT-Pair.jsonl"]),
    "internlm2_7b_disc": dict(
        model="internlm/internlm2-chat-7b", quant=False, suffix="<|im_end|>",
        lora=(8, 16, 0.0), batch=4, accum=8, epochs=2, lr=5e-5, wd=0,
        max_norm=1, data=["./data/DISC-Law-SFT-Triplet-released.jsonl",
                          "./data/DISC-Law-SFT-Pair.jsonl"]),
    "internlm2_20b_qlora_lawgpt": dict(
        model="internlm/internlm2-chat-20b", quant=True, suffix="<|im_end|>",
        lora=(64, 16, 0.1), batch=4, accum=16, epochs=2, lr=1e-4, wd=0,
        max_norm=1, data=["./data/训练数据_带法律依据_92k.json",
                          "./data/CrimeKgAssitant清洗后_52k.json"]),
}


def load(name):
    return Config.fromfile(str(CONFIGS / f"{name}.py"))


def type_name(obj):
    return getattr(obj, "__name__", None) or type(obj).__name__


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_values(name):
    exp = EXPECTED[name]
    cfg = load(name)
    assert cfg.pretrained_model_name_or_path == exp["model"]
    assert cfg.model.llm.pretrained_model_name_or_path == exp["model"]
    assert cfg.tokenizer.pretrained_model_name_or_path == exp["model"]
    assert type_name(cfg.model.type) == "SupervisedFinetune"
    assert cfg.model.llm.torch_dtype == torch.float16
    assert cfg.model.use_activation_checkpointing is True

    lora = cfg.model.lora
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == exp["lora"]
    # every linear layer but the output head (XTuner's search would add InternLM2's)
    assert lora.target_modules == (
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        if name == "internlm_7b_disc" else ["wqkv", "wo", "w1", "w2", "w3"])

    quant = cfg.model.llm.get("quantization_config")
    if exp["quant"]:
        assert quant.load_in_4bit and not quant.load_in_8bit
        assert quant.bnb_4bit_quant_type == "nf4"
        assert quant.bnb_4bit_use_double_quant is True
        assert quant.bnb_4bit_compute_dtype == torch.float16
    else:
        assert quant is None

    assert cfg.prompt_template.SUFFIX == exp["suffix"]
    assert cfg.max_length == 2048
    datasets = cfg.train_dataloader.dataset.datasets
    assert [d.dataset.data_files.train for d in datasets] == exp["data"]
    for d in datasets:
        assert d.max_length == 2048 and d.pack_to_max_length is True
        assert d.packer == "best_fit" and d.overlong == "truncate"
        assert d.template_map_fn.template == cfg.prompt_template
        assert type_name(d.dataset_map_fn.type) == "legal_qa_map_fn_factory"
        assert d.dataset_map_fn.reference_placement == "prompt"
        assert d.dataset_map_fn.system == LEGAL_SYSTEM

    assert cfg.train_dataloader.batch_size == exp["batch"]
    optim = cfg.optim_wrapper
    assert type_name(optim.type) == "AutoAmpOptimWrapper" and optim.dtype == "auto"
    assert optim.accumulative_counts == exp["accum"]
    assert optim.optimizer.lr == exp["lr"]
    assert optim.optimizer.weight_decay == exp["wd"]
    assert tuple(optim.optimizer.betas) == (0.9, 0.999)
    assert optim.clip_grad.max_norm == exp["max_norm"]
    assert cfg.train_cfg.max_epochs == exp["epochs"]

    hooks = {type_name(h.type): h for h in cfg.custom_hooks}
    assert set(hooks) >= {"DatasetInfoHook", "EvaluateChatHook"}
    chat = hooks["EvaluateChatHook"]
    assert chat.system == LEGAL_SYSTEM and chat.prompt_template == cfg.prompt_template
    assert chat.evaluation_inputs and all(isinstance(q, str) for q in chat.evaluation_inputs)
    assert cfg.default_hooks.checkpoint.interval == cfg.save_steps
    backends = [type_name(b.type) for b in cfg.visualizer.vis_backends]
    assert "TensorboardVisBackend" in backends


def schedule(cfg):
    return [(type_name(s.type), s) for s in cfg.param_scheduler]


def test_internlm_7b_schedule_is_hf_linear_with_warmup():
    (w_name, warm), (d_name, decay) = schedule(load("internlm_7b_disc"))
    assert (w_name, d_name) == ("LinearLR", "LinearLR")
    assert warm.begin == 0 and warm.end == pytest.approx(0.05 * 2)
    assert decay.begin == pytest.approx(0.05 * 2) and decay.end == 2
    assert decay.start_factor == 1.0 and decay.end_factor == 0.0


def test_internlm2_7b_schedule_is_cosine_without_warmup():
    ((name, cosine),) = schedule(load("internlm2_7b_disc"))
    assert name == "CosineAnnealingLR"
    assert cosine.begin == 0 and cosine.end == 2 and cosine.eta_min == 0.0


def test_internlm2_20b_schedule_and_eval():
    cfg = load("internlm2_20b_qlora_lawgpt")
    (w_name, warm), (c_name, cosine) = schedule(cfg)
    assert (w_name, c_name) == ("LinearLR", "CosineAnnealingLR")
    assert warm.end == pytest.approx(0.03 * 2) and cosine.begin == pytest.approx(0.03 * 2)
    chat = next(h for h in cfg.custom_hooks if type_name(h.type) == "EvaluateChatHook")
    assert chat.every_n_iters == 1000
    assert chat.evaluation_inputs == ["请问离婚需要准备什么材料？", "销售鳄鱼皮包违法吗？"]
