"""Benchmarks: each module measures one thing against a baseline run in the same process tree.

Numbers, never assertions. Run ``python -m bench`` for all, ``python -m bench <name>`` for one.
"""
