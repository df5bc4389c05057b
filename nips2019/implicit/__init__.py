"""Implicit layers: batched fixed-point solvers and deep equilibrium models.

Plain (Picard) iteration, Anderson acceleration and limited-memory Broyden, batched over
samples with convergence reporting (:func:`fixed_point`); a :class:`DEQ` layer whose forward
pass solves :math:`z^\\star = f(z^\\star, x)` without storing iterations and whose backward pass
solves the implicit linear system with vector-Jacobian products and the same solvers; a
layer that is a contraction by construction (:class:`ContractiveCell`, spectral norm of the
recurrent matrix capped) and its explicit weight-tied stack (:class:`WeightTiedStack`).
See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.
"""

from ._deq import DEQ, ContractiveCell, WeightTiedStack
from ._solvers import FixedPointResult, fixed_point
from ._train import ClassifierFit, fit_classifier, saved_tensor_bytes

__all__ = [
    "ClassifierFit",
    "ContractiveCell",
    "DEQ",
    "FixedPointResult",
    "WeightTiedStack",
    "fit_classifier",
    "fixed_point",
    "saved_tensor_bytes",
]
