"""Helpers of benchmarks/train_throughput.py (and later GPU acceptance runs):
settings from a config, synthetic data and packing, the model, FLOPs, the timed loop."""
