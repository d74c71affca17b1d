"""Benchmarks, run by hand: `python bench/<name>.py`."""
