"""Contract cases for nips2019.shapes (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
