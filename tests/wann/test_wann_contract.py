"""Contract cases for nips2019.wann (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
