"""Kernel two-sample tests: MMD with permutation and asymptotic nulls.

Introduced in the chapter :doc:`/book/distributions` (in progress).
"""

__all__: list[str] = []
