"""Benchmark harness (not shipped): ``python benchmarks/run.py [--quick]``."""
