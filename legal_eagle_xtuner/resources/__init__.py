"""Data files the package ships, and nothing else: sample records of each source,
LawBench's label sets, the synthetic corpus's topic table. Imports nothing of ours."""

from pathlib import Path

ROOT = Path(__file__).parent
SAMPLES = ROOT / "samples"
"""One small file per source format, written for this project (the demo trains on them)."""
LAWBENCH_LABELS = ROOT / "lawbench_labels.json"
"""The label sets behind LawBench's published scores (see ``eval.lawbench``)."""
