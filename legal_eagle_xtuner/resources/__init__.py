"""Data files the package ships, and nothing else: sample records of each source,
LawBench's label sets, the synthetic corpus's phrase tables. Imports nothing of ours."""

from pathlib import Path

ROOT = Path(__file__).parent
SAMPLES = ROOT / "samples"
"""One small file per source format, written for this project (the demo trains on them)."""
LAWBENCH_LABELS = ROOT / "lawbench_labels.json"
"""The label sets behind LawBench's published scores (see ``eval.lawbench``)."""
SYNTHETIC_TOPICS = ROOT / "synthetic_topics.json"
"""The synthetic corpus's statutes (``laws``) and kinds of case (``topics``), see ``data.synthetic``."""
SYNTHETIC_WORDS = ROOT / "synthetic_words.json"
"""Slot values of the synthetic corpus: surnames, cities, districts, companies, goods …"""
SYNTHETIC_PHRASES = ROOT / "synthetic_phrases.json"
"""Sentences of the synthetic corpus shared by all topics: generic facts, openers,
closings, court procedure, public-opinion text, task instructions."""
LAW_QUERY_TERMS = ROOT / "law_query_terms.json"
"""Everyday words of legal questions and the statute terms they stand for (``law``'s search)."""
