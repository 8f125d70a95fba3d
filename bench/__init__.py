"""Benchmarks, each a script (`python bench/pdf.py`); `bench.memory` is shared with the tests."""
