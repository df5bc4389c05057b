"""Contract cases for nips2019.bayes (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
