"""Benchmarks for the hub: token streaming latency, durable message throughput, idle socket memory.

Run with ``python -m bench`` (``--help`` for options). Never part of the test suite.
"""
