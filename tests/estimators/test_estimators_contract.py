"""Contract cases for nips2019.estimators (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
