"""Score-based generative models: denoising score matching and annealed Langevin dynamics.

Introduced in the chapter :doc:`/book/generative` (in progress).
"""

__all__: list[str] = []
