"""The CPU shim and how configs reach it."""

import subprocess
import sys

import torch


def test_cpu_bf16_probe_exists_after_import():
    import legal_eagle_xtuner  # noqa: F401

    assert torch.cpu.is_bf16_supported() is False


def test_resolving_the_config_model_type_applies_the_shim():
    # In a fresh interpreter: loading a config and resolving model.type (what
    # xtuner train / pth_to_hf do before building the model) must install the
    # probe, although the config never runs a bare `import legal_eagle_xtuner`.
    code = (
        "import torch\n"
        "from mmengine.config import Config\n"
        "cfg = Config.fromfile('configs/internlm2_7b_disc.py')\n"
        "assert not hasattr(torch.cpu, 'is_bf16_supported')\n"
        "model_type = cfg.model.type\n"
        "from xtuner.model import SupervisedFinetune\n"
        "from legal_eagle_xtuner.train.model import SupervisedFinetune as Ours\n"
        "assert model_type is Ours and issubclass(Ours, SupervisedFinetune)\n"
        "import xtuner.model.sft as sft\n"
        "assert sft.prepare_model_for_kbit_training.legal_eagle_shim\n"
        "print(torch.cpu.is_bf16_supported())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(__import__("conftest").REPO))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_lora_keeps_the_frozen_base_in_fp16(tiny_model):
    # xtuner + peft would cast every frozen fp16 weight of a LoRA model to fp32.
    from mmengine.config import ConfigDict
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM

    import legal_eagle_xtuner

    SupervisedFinetune = legal_eagle_xtuner.SupervisedFinetune
    model = SupervisedFinetune(
        llm=ConfigDict(type=AutoModelForCausalLM.from_pretrained,
                       pretrained_model_name_or_path=str(tiny_model), trust_remote_code=True,
                       torch_dtype=torch.float16),
        lora=ConfigDict(type=LoraConfig, r=4, lora_alpha=8, lora_dropout=0.0, bias="none",
                        task_type="CAUSAL_LM"),
        use_activation_checkpointing=True,
    )
    params = dict(model.llm.named_parameters())
    lora = {n: p for n, p in params.items() if "lora_" in n}
    frozen = {n: p for n, p in params.items() if "lora_" not in n}
    assert lora and frozen
    assert all(p.requires_grad and p.dtype == torch.float32 for p in lora.values())
    assert all(not p.requires_grad and p.dtype == torch.float16 for p in frozen.values())


def test_quantized_models_still_go_through_peft():
    import legal_eagle_xtuner
    import xtuner.model.sft as sft

    legal_eagle_xtuner.SupervisedFinetune  # applies the model shims
    assert sft.prepare_model_for_kbit_training.legal_eagle_shim
    plain = torch.nn.Linear(2, 2).half()
    sft.prepare_model_for_kbit_training(plain, use_gradient_checkpointing=False)
    assert plain.weight.dtype == torch.float16 and not plain.weight.requires_grad
    # a k-bit model: peft's own function, which casts its non-quantized fp16
    # parameters to fp32 (what QLoRA needs)
    quantized = torch.nn.Linear(2, 2).half()
    quantized.is_loaded_in_4bit = True
    sft.prepare_model_for_kbit_training(quantized, use_gradient_checkpointing=False)
    assert quantized.weight.dtype == torch.float32 and not quantized.weight.requires_grad


# --- the launch-time shims: DeepSpeed and torchrun on a host without a GPU ------------

def _fresh(code, *, shimmed, env=None):
    """Run ``code`` in a fresh interpreter, as ``xtuner train`` runs: xtuner's training
    entry imported first; then this package (as the config loads it) if ``shimmed``."""
    import os

    prologue = "import xtuner.tools.train\n" + ("import legal_eagle_xtuner\n" if shimmed else "")
    return subprocess.run([sys.executable, "-c", prologue + code], capture_output=True,
                          text=True, cwd=str(__import__("conftest").REPO),
                          env=dict(os.environ, **(env or {})), timeout=300)


def _result(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_deepspeed_auto_precision_is_fp32_on_a_cpu():
    code = ("import json\n"
            "from xtuner.configs import cfgs_name_path\n"
            "from xtuner.tools.utils import auto_dtype_of_deepspeed_config\n"
            "cfg = json.load(open(cfgs_name_path['deepspeed_zero2']))\n"
            "cfg = auto_dtype_of_deepspeed_config(cfg)\n"
            "print(cfg['fp16']['enabled'], cfg['bf16']['enabled'])\n")
    if torch.cuda.is_available():
        import pytest

        pytest.skip("a GPU host: XTuner's own resolution is right there")
    bare = _fresh(code, shimmed=False)
    assert bare.returncode != 0 and "is_bf16_supported" in bare.stderr  # the bug, still
    assert _result(_fresh(code, shimmed=True)) == "False False"


def test_the_launcher_starts_without_cuda():
    import socket

    if torch.cuda.is_available():
        import pytest

        pytest.skip("a GPU host: torch.cuda.set_device works there")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(port))
    code = ("from mmengine.dist import init_dist, get_world_size\n"
            "init_dist('pytorch', backend='gloo')\n"
            "import torch\n"
            "print(get_world_size(), torch.cuda.set_device.__module__)\n")
    bare = _fresh(code, shimmed=False, env=env)
    assert bare.returncode != 0 and "set_device" in bare.stderr  # mmengine's bug, still
    world, module = _result(_fresh(code, shimmed=True, env=env)).split()
    assert world == "1" and module == "torch.cuda"  # torch's own function is back


def test_lora_initialises_alike_whatever_was_drawn_before_the_model(tiny_model):
    # FlexibleRunner (--deepspeed) builds the model after the dataloader, Runner right
    # after seeding; the same seed must give the same LoRA initialisation.
    from mmengine.config import ConfigDict
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM

    import legal_eagle_xtuner

    def build(draw):
        torch.manual_seed(42)
        torch.rand(draw)  # what building datasets and samplers first would draw
        model = legal_eagle_xtuner.SupervisedFinetune(
            llm=ConfigDict(type=AutoModelForCausalLM.from_pretrained,
                           pretrained_model_name_or_path=str(tiny_model),
                           trust_remote_code=True),
            lora=ConfigDict(type=LoraConfig, r=4, lora_alpha=8, lora_dropout=0.0,
                            bias="none", task_type="CAUSAL_LM"))
        return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_A" in n}

    runner, flexible = build(0), build(1000)
    assert runner and runner.keys() == flexible.keys()
    assert all(torch.equal(runner[k], flexible[k]) for k in runner)
    assert torch.initial_seed() == 42
