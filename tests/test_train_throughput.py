"""benchmarks/train_throughput.py: the FLOPs formula on hand-computed numbers, its
packing modes, its mirror of the configs, and a tiny CPU run end to end."""

import importlib.util
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import CONFIGS, REPO

SCRIPT = REPO / "benchmarks" / "train_throughput.py"

_spec = importlib.util.spec_from_file_location("train_throughput", SCRIPT)
tt = importlib.util.module_from_spec(_spec)
sys.modules["train_throughput"] = tt  # dataclasses look their module up
_spec.loader.exec_module(tt)

# A stand-in for legal_eagle_xtuner.train.packing.plan_packs with the same contract
# (every sample in exactly one pack, at most max_length tokens per pack), used only
# while that module is not there.
STUB_PACKING = textwrap.dedent("""
    import numpy as np

    def plan_packs(lengths, max_length, *, seed=0):
        order = np.argsort(-np.asarray(lengths), kind="stable")
        packs, room = [], []
        for i in order:
            n = int(lengths[i])
            for p, free in enumerate(room):
                if n <= free:
                    packs[p].append(int(i))
                    room[p] -= n
                    break
            else:
                packs.append([int(i)])
                room.append(max_length - n)
        return [np.asarray(p, dtype=np.int64) for p in packs]
""")


def _has_packing():
    try:
        from legal_eagle_xtuner.train.packing import plan_packs  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def planner(tmp_path, monkeypatch):
    """(--plan-packs value, the function): the real planner, else the stub."""
    if _has_packing():
        from legal_eagle_xtuner.train.packing import plan_packs

        return "legal_eagle_xtuner.train.packing:plan_packs", plan_packs
    (tmp_path / "stub_packing.py").write_text(STUB_PACKING, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p))
    import stub_packing

    return "stub_packing:plan_packs", stub_packing.plan_packs


# -- FLOPs ----------------------------------------------------------------------------

def test_flops_per_token_by_hand():
    # N_trainable 10, N_frozen 100, 2 layers, hidden 4, attending 8 tokens:
    # 6*10 + 4*100 + 12*2*4*8 = 60 + 400 + 768
    assert tt.flops_per_token(10, 100, 2, 4, 8) == 1228
    # recompute adds one forward: 2*(10 + 100) + 4*2*4*8 = 220 + 256
    assert tt.flops_per_token(10, 100, 2, 4, 8, recompute=True) == 1228 + 476
    # a pack row of r real tokens costs r * (460 + 96 * r)
    assert tt.batch_flops([8, 3], 10, 100, 2, 4) == 8 * (460 + 768) + 3 * (460 + 288)
    assert tt.batch_flops([], 10, 100, 2, 4) == 0


def test_matmul_params_by_hand():
    # 7B per layer: wqkv 4096 x (32 + 2*8) * 128, wo 4096^2, w1/w2/w3 3 x 4096 x 14336;
    # plus the output head 4096 x 92544 (the embedding table is not a matmul).
    per_layer = 4096 * 6144 + 4096 * 4096 + 3 * 4096 * 14336
    assert per_layer == 218_103_808
    assert tt.matmul_params(tt.SHAPES["7b"]) == 32 * per_layer + 4096 * 92544 == 7_358_382_080
    per_layer = 6144 * 8192 + 6144 * 6144 + 3 * 6144 * 16384
    assert tt.matmul_params(tt.SHAPES["20b"]) == 48 * per_layer + 6144 * 92544 == 19_291_963_392


def test_flops_of_a_7b_lora_step_by_hand():
    # 7B, LoRA with 20M trainable, one full 2048-token pack:
    # per token 6*20e6 + 4*7_358_382_080 + 12*32*4096*2048
    n = tt.matmul_params(tt.SHAPES["7b"])
    per_token = 120_000_000 + 29_433_528_320 + 3_221_225_472
    assert tt.flops_per_token(20e6, n, 32, 4096, 2048) == per_token
    assert tt.batch_flops([2048] * 4, 20e6, n, 32, 4096) == 4 * 2048 * per_token


def test_matmul_params_match_the_built_model(tmp_path):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    model_dir = tmp_path / "train-throughput-internlm2"  # the script's remote-code cache name
    model_dir.mkdir()
    tt.write_model_dir(model_dir, tt.SHAPES["tiny"])
    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=True)
    model = AutoModelForCausalLM.from_config(config, trust_remote_code=True)
    linear = sum(m.in_features * m.out_features for m in model.modules()
                 if isinstance(m, torch.nn.Linear))
    assert linear == tt.matmul_params(tt.SHAPES["tiny"])


def test_peak_tflops_by_device_name():
    assert tt.peak_tflops_for("NVIDIA H100 80GB HBM3") == 989
    assert tt.peak_tflops_for("NVIDIA H100 PCIe") == 756
    assert tt.peak_tflops_for("NVIDIA H200") == 989
    assert tt.peak_tflops_for("NVIDIA A100-SXM4-80GB") == 312
    assert tt.peak_tflops_for("Tesla T4") is None


# -- packing modes ------------------------------------------------------------------------

def test_count_stream_splits():
    # stream [0,3) [3,6) [6,9) cut every 4 tokens: the 2nd and 3rd samples are cut
    assert tt.count_stream_splits(np.array([3, 3, 3]), 4) == 2
    assert tt.count_stream_splits(np.array([4, 4, 2]), 4) == 0


def test_xtuner_and_our_packs(planner):
    lengths = {"a": np.array([50, 80, 30, 100, 20, 128, 7]), "b": np.array([60, 70])}
    packs, split = tt.xtuner_packs(lengths, 128, 1000, seed=0)
    sizes = [len(p["input_ids"]) for p in packs]
    # source a: 415 tokens -> 3 full packs; source b: 130 -> 1 (Packer keeps the
    # tails, 31 and 2 tokens, as residue for a next call that never comes)
    assert sizes == [128] * 4
    assert split == tt.count_stream_splits(lengths["a"], 128) + 1 > 0

    packs, split = tt.our_packs(lengths, 128, 1000, seed=0, planner=planner[1])
    assert split == 0
    assert all(0 < len(p["input_ids"]) <= 128 for p in packs)
    assert sum(len(p["input_ids"]) for p in packs) == 415 + 130
    assert all(min(p["input_ids"]) >= tt.FIRST_TOKEN for p in packs)

    batches = tt.make_batches(packs, 2, 5)
    assert len(batches) == 5
    data, rows = batches[0]
    assert data["input_ids"].shape[0] == 2
    assert rows == data["attention_mask"].sum(dim=1).tolist()


def test_our_packs_rejects_a_broken_planner():
    def twice(lengths, max_length, seed=0):
        return [np.arange(len(lengths)), np.arange(len(lengths))]

    with pytest.raises(SystemExit, match="contract"):
        tt.our_packs({"a": np.array([3, 4])}, 128, 100, seed=0, planner=twice)


# -- settings ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(tt.MIRROR))
def test_mirror_matches_config(name):
    from_config = tt.settings_from_config(CONFIGS / f"{name}.py")
    assert from_config.origin == "config"
    assert from_config.comparable() == tt.mirrored_settings(name).comparable()


def test_the_benchmark_builds_the_model_the_config_builds(tiny_model):
    """The benchmark's model (random weights) against ``MODELS.build(cfg.model)`` of the
    config with real weights -- what `xtuner train` runs: the same parameters, dtypes
    (16-bit base, fp32 LoRA), trainable names, LoRA targets, attention classes, loss."""
    from mmengine.config import Config
    from mmengine.registry import MODELS

    settings = tt.load_settings("internlm2_7b_disc")
    bench = tt.build_model(settings, tiny_model, "cpu", "auto", False)
    cfg = Config.fromfile(str(CONFIGS / "internlm2_7b_disc.py"))
    cfg.model.llm.pretrained_model_name_or_path = str(tiny_model)
    real = MODELS.build(cfg.model)

    def attention_classes(model):
        return sorted({type(m).__name__ for m in model.modules()
                       if type(m).__name__.endswith("Attention")})

    assert tt.describe(bench) == tt.describe(real)
    assert {n: p.dtype for n, p in bench.named_parameters()} == \
        {n: p.dtype for n, p in real.named_parameters()}
    assert attention_classes(bench) == attention_classes(real) != []
    built = tt.describe(bench)
    assert (built["base_dtype"], built["lora_dtype"], built["loss_impl"]) == \
        ("float16", "float32", "chunked")
    assert built["lora_targets"] == sorted(cfg.model.lora.target_modules)
    assert built["checkpointing"] is True
    assert settings.attention_path == cfg.attention_path == "auto"


# -- end to end ------------------------------------------------------------------------------

def test_tiny_cpu_run(planner):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--shape", "tiny", "--device", "cpu",
         "--steps", "3", "--warmup", "1", "--plan-packs", planner[0]],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    last = proc.stdout.strip().splitlines()[-1]
    kv = dict(item.split("=", 1) for item in last.split())
    assert kv["shape"] == "tiny" and kv["device"] == "cpu" and kv["mode"] == "ours"
    assert kv["max_length"] == "128"
    for prefix in ("", "xtuner_"):
        assert float(kv[prefix + "tokens_per_s"]) > 0
        assert int(kv[prefix + "steps"]) == 3
        assert math.isfinite(float(kv[prefix + "loss"]))
        assert float(kv[prefix + "peak_gb"]) > 0
        assert kv[prefix + "mfu"] == "n/a"  # no peak FLOP/s on CPU
    assert int(kv["split"]) == 0
    assert int(kv["xtuner_split"]) > 0
    assert float(kv["xtuner_fill"]) == 1.0  # stream packs are full
    assert 0 < float(kv["fill"]) <= 1.0
    assert float(kv["ratio"]) > 0
    assert "target met" not in out and "target missed" not in out
    assert (kv["base_dtype"], kv["lora_dtype"], kv["loss_impl"], kv["attn"]) == \
        ("float16", "float32", "chunked", "sdpa")
