import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"
SAMPLES = REPO / "legal_eagle_xtuner" / "resources" / "samples"

# Never reach a model hub from the tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny random InternLM2 (model + tokenizer) built for this test session."""
    from legal_eagle_xtuner.demo.tiny import build_tiny_internlm2

    return build_tiny_internlm2(tmp_path_factory.mktemp("tiny-cache"))


INTERNLM_V1_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "models" / "internlm-v1"
"""InternLM v1's tokenizer.model and remote code (never committed; beside the repo)."""


@pytest.fixture(scope="session")
def internlm_v1_source():
    """``../shared/models/internlm-v1``, or a skip saying it is needed."""
    from legal_eagle_xtuner.demo.tiny_internlm_v1 import SOURCE_FILES

    missing = [name for name in SOURCE_FILES if not (INTERNLM_V1_SOURCE / name).is_file()]
    if missing:
        pytest.skip(f"{INTERNLM_V1_SOURCE}: {', '.join(missing)} not found: the InternLM v1 "
                    "tests need ../shared/models/internlm-v1 (tokenizer.model and remote code)")
    return INTERNLM_V1_SOURCE


@pytest.fixture(scope="session")
def tiny_internlm_v1(tmp_path_factory, internlm_v1_source):
    """A tiny random InternLM v1 (real remote code and tokenizer) for this session."""
    from legal_eagle_xtuner.demo.tiny_internlm_v1 import build_tiny_internlm_v1

    return build_tiny_internlm_v1(tmp_path_factory.mktemp("tiny-v1-cache"), internlm_v1_source)


INTERNLM2_GEN1_SOURCE = (Path(__file__).resolve().parents[2] / "shared" / "models"
                         / "internlm2-hub-2024-01")
"""The first generation of InternLM2's hub remote code (never committed; beside the repo)."""


@pytest.fixture(scope="session")
def internlm2_gen1_source():
    """``../shared/models/internlm2-hub-2024-01``, or a skip saying it is needed."""
    from legal_eagle_xtuner.demo.tiny_internlm2_gen1 import SOURCE_FILES

    missing = [name for name in SOURCE_FILES if not (INTERNLM2_GEN1_SOURCE / name).is_file()]
    if missing:
        pytest.skip(f"{INTERNLM2_GEN1_SOURCE}: {', '.join(missing)} not found: the tests of "
                    "InternLM2's first-generation remote code need "
                    "../shared/models/internlm2-hub-2024-01")
    return INTERNLM2_GEN1_SOURCE


@pytest.fixture(scope="session")
def tiny_internlm2_gen1(tmp_path_factory, internlm2_gen1_source):
    """A tiny random InternLM2 on the hub's first-generation remote code, for this session."""
    from legal_eagle_xtuner.demo.tiny_internlm2_gen1 import build_tiny_internlm2_gen1

    return build_tiny_internlm2_gen1(tmp_path_factory.mktemp("tiny-gen1-cache"),
                                     internlm2_gen1_source)


def run_module(module, *args, cwd=None, stdin=None, timeout=900):
    """Run ``python -m module args`` the way the ``xtuner`` CLI would, but with
    this interpreter and a real exit status. Returns the CompletedProcess; fails
    the test with the output's tail if it exits non-zero."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        pytest.fail(f"python -m {module} exited {proc.returncode}:\n{tail}")
    return proc


DATA_PARALLEL_DATA = {
    "./data/DISC-Law-SFT-Pair.jsonl": SAMPLES / "disc_pair.jsonl",
    "./data/DISC-Law-SFT-Triplet-released.jsonl": SAMPLES / "disc_triplet.jsonl",
}


def data_parallel_config(tiny_model, path, *, accumulation, max_iters):
    """A smoke variant of internlm2_7b_disc.py on the packaged DISC samples whose
    runs with different process counts can be compared step by step: batch 1, one
    sample an item, constant lr 1e-3, no dropout, every iteration's loss logged.
    Returns the loaded Config (already written to ``path``) for further changes."""
    from mmengine.config import Config

    from legal_eagle_xtuner.train.smoke import SmokeOverrides, derive_smoke_config

    derive_smoke_config(CONFIGS / "internlm2_7b_disc.py", path,
                        SmokeOverrides(model_path=str(tiny_model),
                                       data_files=DATA_PARALLEL_DATA,
                                       max_iters=max_iters, max_length=512))
    cfg = Config.fromfile(str(path))
    # one sample an item (the 11 training samples would fill only a few packs), so
    # that all samples of a short run come from the first epoch's shuffle
    for part in cfg.train_dataloader.dataset.datasets:
        part.pack_to_max_length = False
    assert cfg.model.lora.lora_dropout == 0  # no per-process random masks
    cfg.train_dataloader.batch_size = 1
    cfg.optim_wrapper.accumulative_counts = accumulation
    cfg.optim_wrapper.optimizer.lr = 1e-3  # large enough that the adapter really moves
    cfg.param_scheduler = None  # constant lr: mmengine schedules per micro-batch
    cfg.default_hooks.logger.interval = 1
    cfg.log_processor.window_size = 1  # each logged loss is that iteration's (default: mean of 10)
    cfg.dump(str(path))
    return cfg


@pytest.fixture(scope="session")
def vllm_server(tiny_model, tmp_path_factory):
    """One vLLM-CPU server for the session (tests/vllm_server.py), base + LoRA module,
    shared by test_serve_vllm and test_web_browser; skips where .venv-vllm is absent."""
    from vllm_server import serve

    yield from serve(tiny_model, tmp_path_factory)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SLOW_MODULES = {"test_configs_train", "test_demo", "test_resume", "test_multiprocess",
                "test_deepspeed_train",
                "test_internlm_v1", "test_internlm2_gen1_train", "test_serve_vllm",
                "test_configs_prepared",
                "test_web_browser"}
"""Whole modules of training runs, servers and environments (minutes each)."""


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: starts training processes or builds environments (minutes); "
        "the inner loop runs -m 'not slow'")
