"""Deep equilibrium models: fixed-point layers with implicit gradients.

Introduced in the chapter :doc:`/book/equilibrium` (in progress).
"""

__all__: list[str] = []
