"""Contract cases for nips2019.pointprocess (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
