"""Calibration: label smoothing, expected calibration error, temperature scaling.

Introduced in the chapter :doc:`/book/robustness` (in progress).
"""

__all__: list[str] = []
