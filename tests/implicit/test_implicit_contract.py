"""Contract cases for nips2019.implicit (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
