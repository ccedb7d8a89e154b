"""Local fake vendor APIs for tests, the demo and benchmarks (not part of the shipped package)."""
