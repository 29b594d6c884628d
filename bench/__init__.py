"""Benchmarks: scripts that print a table and record it in docs/BENCHMARKS.md (`python bench/NAME.py`)."""
