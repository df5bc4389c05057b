"""Monte Carlo gradient estimators: score function, pathwise and measure-valued.

Introduced in the chapter :doc:`/book/gradients` (in progress).
"""

__all__: list[str] = []
