"""benchmarks/gpu_acceptance.py runs end to end on CPU with the tiny model, so the
one command a GPU session runs cannot rot: every part reports, the figures land
in the JSON, and the last line counts what passed and failed."""

import json
import re
import subprocess
import sys

import pytest
import torch

from conftest import REPO

SCRIPT = REPO / "benchmarks" / "gpu_acceptance.py"


def _run(*args, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=1500)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path; a GPU runs --shape real")
def test_tiny_acceptance_run_passes_and_reports_every_part(tmp_path):
    proc = _run("--shape", "tiny", "--budget-s", 900, "-o", tmp_path / "acc.json", cwd=tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    lines = out.strip().splitlines()
    assert re.fullmatch(r"PASS (\d+) / FAIL 0", lines[-1]), lines[-1]
    for name, state in [("throughput", "PASS"), ("qlora_20b", "SKIP"), ("resume", "PASS"),
                        ("deepspeed", "SKIP"), ("generate", "PASS")]:
        assert re.search(rf"^\[{name}\] {state} in \d+\.\d s", out, re.M), (name, out)

    report = json.loads((tmp_path / "acc.json").read_text("utf-8"))
    assert report["failed"] == 0
    assert report["passed"] == int(lines[-1].split()[1]) == 4
    parts = report["parts"]
    assert set(parts) == {"throughput", "qlora_20b", "resume", "deepspeed", "generate"}
    assert parts["resume"]["figures"]["adapter_max_abs_diff"] == 0.0
    throughput = parts["throughput"]["figures"]
    assert throughput["shape"] == "tiny" and throughput["split"] == 0
    assert throughput["tokens_per_s"] > 0 and throughput["xtuner_tokens_per_s"] > 0
    assert parts["generate"]["figures"]["answers"] == 7  # the packaged triplets
    assert "citation_f1" in json.dumps(parts["generate"]["figures"]["score"])
    assert "CUDA" in parts["qlora_20b"]["skipped"]
    assert sum(p["seconds"] for p in parts.values()) <= report["wall_s"] + 1


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
