"""Certified robustness: randomised smoothing and Lipschitz bounds.

Introduced in the chapter :doc:`/book/robustness` (in progress).
"""

__all__: list[str] = []
