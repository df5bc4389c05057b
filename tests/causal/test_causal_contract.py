"""Contract cases for nips2019.causal (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
