"""Contract cases for nips2019.simulate (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
