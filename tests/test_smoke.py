"""Deriving CPU smoke variants of configs."""

import pytest
from conftest import CONFIGS, SAMPLES
from mmengine.config import Config

from legal_eagle_xtuner import LEGAL_SYSTEM
from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.train.smoke import SmokeOverrides, derive_smoke_config

DATA = {
    "./data/CrimeKgAssitant清洗后_52k.json": str(SAMPLES / "lawgpt_52k.json"),
    "./data/训练数据_带法律依据_92k.json": str(SAMPLES / "lawgpt_92k.json"),
}


def test_smoke_variant_changes_only_what_cpu_needs(tmp_path):
    out = derive_smoke_config(
        CONFIGS / "internlm2_20b_qlora_lawgpt.py", tmp_path / "s.py",
        SmokeOverrides(model_path="/models/tiny", data_files=DATA, max_iters=32),
    )
    cfg = Config.fromfile(str(out))
    real = Config.fromfile(str(CONFIGS / "internlm2_20b_qlora_lawgpt.py"))
    assert cfg.model.llm.pretrained_model_name_or_path == "/models/tiny"
    assert cfg.tokenizer.pretrained_model_name_or_path == "/models/tiny"
    for ds in cfg.train_dataloader.dataset.datasets:
        assert ds.tokenizer.pretrained_model_name_or_path == "/models/tiny"
        # constants are written as values, not as dotted names
        assert ds.dataset_map_fn.system == LEGAL_SYSTEM
        assert ds.template_map_fn.template["SUFFIX"] == "<|im_end|>"
    assert [d.dataset.data_files.train for d in cfg.train_dataloader.dataset.datasets] \
        == [DATA["./data/训练数据_带法律依据_92k.json"],
            DATA["./data/CrimeKgAssitant清洗后_52k.json"]]
    assert "quantization_config" not in cfg.model.llm
    assert cfg.model.llm.torch_dtype == "float32"
    assert cfg.optim_wrapper.type == "OptimWrapper"
    assert "loss_scale" not in cfg.optim_wrapper and "dtype" not in cfg.optim_wrapper
    assert cfg.optim_wrapper.accumulative_counts == real.optim_wrapper.accumulative_counts
    assert cfg.optim_wrapper.optimizer.lr == real.optim_wrapper.optimizer.lr
    assert cfg.train_cfg == {"type": "xtuner.engine.runner.TrainLoop", "max_iters": 32,
                             "val_interval": real.evaluation_freq}
    # the validation hold-out shrinks to 2 records a file; the real config holds out 300
    assert [d.holdout for d in cfg.val_dataloader.dataset.datasets] == [2, 2]
    assert [d.holdout for d in cfg.train_dataloader.dataset.datasets] == [2, 2]
    assert [d.holdout for d in real.train_dataloader.dataset.datasets] == [300, 300]
    assert cfg.env_cfg.dist_cfg.backend == "gloo"
    hook = next(h for h in cfg.custom_hooks if h.type.endswith("EvaluateChatHook"))
    assert hook.system == LEGAL_SYSTEM
    real_hook = next(h for h in real.custom_hooks
                     if getattr(h["type"], "__name__", "") == "EvaluateChatHook")
    assert hook.evaluation_inputs == real_hook["evaluation_inputs"]


def test_unknown_data_path_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"data paths not found in the config: \['nope.json'\]"):
        derive_smoke_config(CONFIGS / "internlm2_7b_disc.py", tmp_path / "s.py",
                            SmokeOverrides(model_path="m", data_files={"nope.json": "x"}))


def test_smoke_config_cli(tmp_path, capsys):
    rc = main(["smoke-config", str(CONFIGS / "internlm2_7b_disc.py"), "-o",
               str(tmp_path / "s.py"), "--model", "/m", "--max-iters", "4",
               "--data", "./data/DISC-Law-SFT-Pair.jsonl=/p.jsonl"])
    assert rc == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "s.py")
    cfg = Config.fromfile(str(tmp_path / "s.py"))
    assert cfg.train_dataloader.dataset.datasets[1].dataset.data_files.train == "/p.jsonl"

    rc = main(["smoke-config", str(CONFIGS / "internlm2_7b_disc.py"), "-o",
               str(tmp_path / "t.py"), "--model", "/m", "--data", "no-equals-sign"])
    assert rc == 2
    assert "--data expects OLD=NEW, got 'no-equals-sign'" in capsys.readouterr().err


def test_short_run_keeps_the_schedule_shape(tmp_path):
    # 5% warmup of 64 iterations = 3 iterations, then linear decay to the end;
    # a 3% warmup of 32 iterations gets two (one would pin lr at start_factor).
    cfg = Config.fromfile(str(derive_smoke_config(
        CONFIGS / "internlm_7b_disc.py", tmp_path / "a.py",
        SmokeOverrides(model_path="/m", max_iters=64))))
    assert [(s.begin, s.end, s.by_epoch) for s in cfg.param_scheduler] == \
        [(0, 3, False), (3, 64, False)]
    assert all("convert_to_iter_based" not in s for s in cfg.param_scheduler)
    cfg = Config.fromfile(str(derive_smoke_config(
        CONFIGS / "internlm2_20b_qlora_lawgpt.py", tmp_path / "b.py",
        SmokeOverrides(model_path="/m", max_iters=32))))
    assert [(s.begin, s.end) for s in cfg.param_scheduler] == [(0, 2), (2, 32)]


def test_non_sft_config_is_reported_not_a_traceback(tmp_path, capsys):
    other = tmp_path / "other.py"
    other.write_text("model = dict(type='Foo')\noptim_wrapper = dict()\ntrain_cfg = dict()\n")
    rc = main(["smoke-config", str(other), "-o", str(tmp_path / "s.py"), "--model", "/m"])
    assert rc == 1
    assert capsys.readouterr().err.strip() == (
        f"legal-eagle smoke-config: {other}: not an XTuner fine-tuning config (no model.llm)")
