"""Benchmarks: one module per measurement, run as ``python -m bench.<name>``."""
