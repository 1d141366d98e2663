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
        "assert model_type is SupervisedFinetune\n"
        "print(torch.cpu.is_bf16_supported())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(__import__("conftest").REPO))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
