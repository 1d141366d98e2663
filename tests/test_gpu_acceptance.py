"""benchmarks/gpu_acceptance.py's budget and usage rules. The whole tiny run, every part
and figure, is run through the offline kit by tests/test_gpu_kit.py (the rehearsal)."""

import json
import subprocess
import sys

import pytest
import torch

from conftest import REPO

SCRIPT = REPO / "benchmarks" / "gpu_acceptance.py"


def _run(*args, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=1500)


def test_a_part_past_its_budget_is_stopped_and_fails(tmp_path):
    proc = _run("--shape", "tiny", "--parts", "generate", "--budget-s", 1,
                "-o", tmp_path / "acc.json", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.strip().splitlines()[-1] == "PASS 0 / FAIL 1"
    assert "[stopped after 1 s, the part's share of --budget-s]" in proc.stdout
    report = json.loads((tmp_path / "acc.json").read_text("utf-8"))
    assert report["parts"]["generate"]["checks"][0]["ok"] is False


def test_usage_errors(tmp_path):
    proc = _run("--parts", "throughput,nope", "--shape", "tiny", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown part(s) nope" in proc.stderr
    if not torch.cuda.is_available():
        proc = _run("--shape", "real", cwd=tmp_path)
        assert proc.returncode == 2
        assert "--shape real needs a CUDA GPU; use --shape tiny on CPU" in proc.stderr
