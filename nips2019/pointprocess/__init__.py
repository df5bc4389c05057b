"""Temporal point processes: multivariate Hawkes processes.

Introduced in the chapter :doc:`/book/causal` (in progress).
"""

__all__: list[str] = []
