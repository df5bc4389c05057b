"""Contract cases for nips2019.kernels (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
