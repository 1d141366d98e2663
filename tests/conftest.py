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
