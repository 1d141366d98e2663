"""Helpers of benchmarks/gpu_kit.py: wheels.py builds and checks the offline kit,
environment.py reports an installed one and rehearses it on CPU."""
