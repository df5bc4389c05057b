"""Contract cases for nips2019.info (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
