"""Contract cases for nips2019.calibration (see tests/contract.py)."""

CASES: list = []

EXEMPT: dict = {}
