"""Weight-agnostic neural networks: topology search with one shared weight.

Introduced in the chapter :doc:`/book/equilibrium` (in progress).
"""

__all__: list[str] = []
