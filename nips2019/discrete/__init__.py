"""Differentiating through discrete solvers: blackbox-solver gradients and soft sorting.

Introduced in the chapter :doc:`/book/discrete` (in progress).
"""

__all__: list[str] = []
