"""Contract cases for nips2019.optim (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
