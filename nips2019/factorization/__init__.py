"""Deep matrix factorisation: depth as an implicit regulariser towards low rank.

Matrix completion by plain gradient descent on a product :math:`W_N \\cdots W_1` of
matrices from a small initialisation (:func:`deep_factorization`), on random low-rank
problems (:func:`make_completion_problem`); the effective rank of the solutions
(:func:`effective_rank`), the singular-value dynamics of Arora, Cohen, Hu & Luo (2019)
(:func:`singular_value_rates`), and the minimum nuclear norm completion that a depth-2
factorisation was conjectured to reach (:func:`nuclear_norm_completion`, cvxpy).
See the chapter :doc:`Depth as a regulariser, moments as features </book/factorization>`.
"""

from ._data import CompletionProblem, make_completion_problem
from ._deep import DeepFactorizationResult, deep_factorization
from ._spectral import effective_rank, nuclear_norm_completion, relative_error, singular_value_rates

__all__ = [
    "CompletionProblem",
    "DeepFactorizationResult",
    "deep_factorization",
    "effective_rank",
    "make_completion_problem",
    "nuclear_norm_completion",
    "relative_error",
    "singular_value_rates",
]
