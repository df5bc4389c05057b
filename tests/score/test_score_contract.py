"""Contract cases for nips2019.score (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
