"""Contract cases for nips2019.discrete (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
