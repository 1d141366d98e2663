"""`xtuner train CONFIG --deepspeed deepspeed_zero2|3` resolves every config
without a mismatch: XTuner's own resolution code runs (in a subprocess) up to
the point where it builds the runner, on a pretend GPU with and without bf16.
And deepspeed's own shims (compat/deepspeed.py, compat/xtuner.py's conversion
dtype); the training runs are in test_deepspeed_train.py."""

import json
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import CONFIGS, REPO
from test_compat import _fresh, _result
from legal_eagle_xtuner.train.precision import AutoAmpOptimWrapper, amp_dtype

RESOLVE = r"""
import importlib.machinery, json, sys, types
import transformers, xtuner.model  # noqa: F401  (before any stand-in below)
import xtuner.tools.utils as utils
try:
    import deepspeed  # noqa: F401
except ImportError:  # XTuner only reads its version before the runner is built
    stub = types.ModuleType("deepspeed")
    stub.__version__ = "0.16.2"
    stub.__spec__ = importlib.machinery.ModuleSpec("deepspeed", None)
    sys.modules["deepspeed"] = stub
bf16 = sys.argv.pop() == "bf16"
utils.get_torch_device = lambda: types.SimpleNamespace(
    is_available=lambda: True, is_bf16_supported=lambda: bf16)
from mmengine.registry import RUNNERS

def build(cfg, *args, **kwargs):
    strategy = dict(cfg.strategy)
    strategy.pop("type")
    print("RESOLVED " + json.dumps({"strategy": strategy, "runner": cfg.runner_type,
                                    "optim_wrapper": cfg.optim_wrapper["type"]}))
    sys.exit(0)

RUNNERS.build = build
import runpy
sys.argv[0] = "xtuner.tools.train"
runpy.run_module("xtuner.tools.train", run_name="__main__", alter_sys=True)
"""


def _resolve(config, deepspeed, bf16, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", RESOLVE, str(config), "--deepspeed", deepspeed,
         "--work-dir", str(tmp_path), "bf16" if bf16 else "fp16"],
        capture_output=True, text=True, cwd=str(REPO), timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESOLVED "))
    return json.loads(line[len("RESOLVED "):]), out


@pytest.mark.parametrize("deepspeed", ["deepspeed_zero2", "deepspeed_zero3"])
@pytest.mark.parametrize("name", ["internlm_7b_disc", "internlm2_7b_disc",
                                  "internlm2_20b_qlora_lawgpt"])
def test_deepspeed_settings_agree_with_the_config(name, deepspeed, tmp_path):
    cfg = Config.fromfile(str(CONFIGS / f"{name}.py"))
    for bf16 in (True, False):
        resolved, out = _resolve(CONFIGS / f"{name}.py", deepspeed, bf16, tmp_path)
        assert "Mismatch" not in out  # XTuner warns and overrides on any
        strategy = resolved["strategy"]
        assert resolved["runner"] == "FlexibleRunner"
        assert resolved["optim_wrapper"] == "DeepSpeedOptimWrapper"
        assert strategy["train_micro_batch_size_per_gpu"] == cfg.train_dataloader.batch_size
        assert strategy["gradient_accumulation_steps"] == cfg.optim_wrapper.accumulative_counts
        assert strategy["gradient_clipping"] == cfg.optim_wrapper.clip_grad.max_norm
        stage = strategy["config"]["zero_optimization"]["stage"]
        assert stage == (2 if deepspeed.endswith("2") else 3)
        # the same precision as the config trains in without DeepSpeed
        ds = "bfloat16" if strategy["config"]["bf16"]["enabled"] else (
            "float16" if strategy["config"]["fp16"]["enabled"] else "float32")
        assert cfg.optim_wrapper.dtype == "auto"
        assert ds == amp_dtype(bf16_supported=bf16), (bf16, strategy["config"])


def test_auto_amp_dtype():
    assert amp_dtype(bf16_supported=True) == "bfloat16"
    assert amp_dtype(bf16_supported=False) == "float16"
    import inspect

    assert inspect.signature(AutoAmpOptimWrapper).parameters["dtype"].default == "auto"


# --- deepspeed's own shims (the `deepspeed` extra; not on the torch 2.14 stack) ----

def test_deepspeed_builds_no_op_on_a_cpu():
    code = ("import sys, time, deepspeed\n"
            "comm = sys.modules['deepspeed.comm.torch']  # (deepspeed.comm.torch is torch)\n"
            "from deepspeed.accelerator import get_accelerator\n"
            "start = time.time()\n"
            "op = comm.build_shm_op()\n"
            "print(get_accelerator().device_name(), op, "
            "deepspeed.ops.__compatible_ops__['deepspeed_shm_comm'], time.time() - start < 5)\n")
    if torch.cuda.is_available():
        import pytest

        pytest.skip("a GPU host: DeepSpeed builds no shm op there")
    # the op is compatible, so deepspeed alone would compile it (about 100 s)
    assert _result(_fresh(code, shimmed=True)) == "cpu None True True"


def test_deepspeed_checkpoints_convert_at_fp32_by_default():
    import inspect

    from legal_eagle_xtuner import compat

    compat.apply_model_shims()
    import xtuner.utils.zero_to_any_dtype as zero

    assert inspect.signature(zero.get_state_dict_from_zero_checkpoint) \
        .parameters["dtype"].default is torch.float32


def test_one_process_without_a_launcher_needs_no_mpi4py():
    import importlib.util
    import os

    if importlib.util.find_spec("mpi4py") is not None:
        pytest.skip("mpi4py is installed: DeepSpeed's own discovery runs")
    code = ("import os, sys, deepspeed\n"
            "comm = sys.modules['deepspeed.comm.comm']\n"
            "comm.mpi_discovery()\n"
            "print(*(os.environ[k] for k in ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', "
            "'MASTER_ADDR')), int(os.environ['MASTER_PORT']) > 0)\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    bare = subprocess.run([sys.executable, "-c", "import xtuner.tools.train\n" + code],
                          capture_output=True, text=True, env=env, timeout=300)
    assert bare.returncode != 0 and "No module named 'mpi4py'" in bare.stderr  # the bug
    shimmed = subprocess.run(
        [sys.executable, "-c", "import xtuner.tools.train, legal_eagle_xtuner\n" + code],
        capture_output=True, text=True, env=env, timeout=300)
    assert _result(shimmed) == "0 0 1 127.0.0.1 True"


BUILD_MODEL = r"""
import json, sys
import xtuner.tools.train  # noqa: F401  (the entry `xtuner train` runs)
from mmengine.registry import MODELS, RUNNERS
from mmengine.runner import Runner

def build(cfg, *args, **kwargs):  # the runner's first act: build cfg.model
    model = MODELS.build(cfg.model)
    dtypes = {n: str(p.dtype) for n, p in model.named_parameters()}
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    print("BUILT " + json.dumps({"runner": cfg.get("runner_type", "Runner"), "dtypes": dtypes,
                                 "trainable": trainable, "loss_impl": model.loss_impl}))
    sys.exit(0)

RUNNERS.build = build
Runner.from_cfg = classmethod(lambda cls, cfg: build(cfg))
import runpy
sys.argv[0] = "xtuner.tools.train"
runpy.run_module("xtuner.tools.train", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow  # two `xtuner train` start-ups
def test_the_config_model_keeps_a_16bit_base_and_fp32_lora_with_and_without_deepspeed(
        tiny_model, tmp_path):
    """`xtuner train CONFIG [--deepspeed deepspeed_zero2]` builds internlm2_7b_disc.py's
    model (our SupervisedFinetune, every shim in force) with its base weights in the
    config's float16 and its LoRA weights in float32, either way."""
    from legal_eagle_xtuner.train.smoke import SmokeOverrides, derive_smoke_config

    config = tmp_path / "smoke.py"
    derive_smoke_config(CONFIGS / "internlm2_7b_disc.py", config,
                        SmokeOverrides(model_path=str(tiny_model), max_iters=1))
    cfg = Config.fromfile(str(config))
    assert Config.fromfile(str(CONFIGS / "internlm2_7b_disc.py")).model.llm.torch_dtype \
        == torch.float16
    cfg.model.llm.torch_dtype = "float16"  # the config's (the smoke config trains in fp32)
    cfg.dump(str(config))
    built = {}
    for deepspeed in ([], ["--deepspeed", "deepspeed_zero2"]):
        proc = subprocess.run(
            [sys.executable, "-c", BUILD_MODEL, str(config), *deepspeed,
             "--work-dir", str(tmp_path / "work")],
            capture_output=True, text=True, cwd=str(REPO), timeout=300)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        line = next(l for l in proc.stdout.splitlines() if l.startswith("BUILT "))
        built[bool(deepspeed)] = json.loads(line[len("BUILT "):])
    assert built[True]["runner"] == "FlexibleRunner" and built[False]["runner"] == "Runner"
    for result in built.values():
        trainable = set(result["trainable"])
        assert trainable and all("lora_" in n for n in trainable)
        assert {result["dtypes"][n] for n in trainable} == {"torch.float32"}
        assert {d for n, d in result["dtypes"].items() if n not in trainable} == \
            {"torch.float16"}
        assert result["loss_impl"] == "chunked"
    assert built[True]["dtypes"] == built[False]["dtypes"]
