"""Causal inference: instrumental variables (2SLS, kernel IV) and synthetic control.

Introduced in the chapter :doc:`/book/causal` (in progress).
"""

__all__: list[str] = []
