"""The Bayesian learning rule: natural-gradient variational inference and its limits.

Introduced in the chapter :doc:`/book/gradients` (in progress).
"""

__all__: list[str] = []
