"""Contract cases for nips2019.robust (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
