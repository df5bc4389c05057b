"""Differentiable simulators and a soft rasteriser.

Introduced in the chapter :doc:`/book/generative` (in progress).
"""

__all__: list[str] = []
