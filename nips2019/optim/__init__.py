"""Optimisers beyond SGD: extragradient, mirror-prox, UniXGrad and aProx.

Introduced in the chapter :doc:`/book/gradients` (in progress).
"""

__all__: list[str] = []
