"""Benchmarks of the receiver against theory and rtl_433 (run ``python3 -m benchmarks``)."""
