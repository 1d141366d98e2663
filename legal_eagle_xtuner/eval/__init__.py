"""Evaluation: LawBench-format generation and scoring, citation accuracy on
held-out data, and comparison of two scored runs."""
