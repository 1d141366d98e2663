"""benchmarks/data_pipeline.py runs and reports what it should (small size)."""

import os
import subprocess
import sys

from conftest import REPO


def test_data_pipeline_benchmark_small():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "data_pipeline.py"), "--records", "800",
         "--max-length", "1024"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    last = dict(item.split("=") for item in proc.stdout.strip().splitlines()[-1].split())
    assert set(last) == {"ratio", "split", "utilisation", "xtuner_split", "xtuner_orphan_share"}
    assert last["split"] == "0"  # ours never splits a sample
    assert int(last["xtuner_split"]) > 0  # XTuner's stream cutting does
    assert float(last["xtuner_orphan_share"]) > 0
    assert 0.9 <= float(last["utilisation"]) <= 1.0
    assert float(last["ratio"]) > 0
