"""Entropy, mutual information and total correlation of Gaussian vectors, and the InfoNCE bound."""

from __future__ import annotations

import math

import torch

from ..utils import Integer, Items, Tensor, validate

_COV = Tensor(shape=("...", "d", "d"), dtype="floating")


def _logdet(func, cov):
    chol, info = torch.linalg.cholesky_ex(0.5 * (cov + cov.transpose(-1, -2)))
    if bool((info != 0).any()):
        raise ValueError(f"{func}: cov must be symmetric positive definite "
                         "(its Cholesky factorisation failed)")
    return 2.0 * chol.diagonal(0, -2, -1).log().sum(-1)


@validate(cov=_COV)
def gaussian_entropy(cov: torch.Tensor) -> torch.Tensor:
    r"""Differential entropy of :math:`N(\mu, \Sigma)`: :math:`\tfrac12 \log\det(2\pi e\, \Sigma)` (nats).

    See the chapter :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    cov : Tensor, shape (..., d, d)
        Symmetric positive definite.

    Returns
    -------
    Tensor, shape (...)

    Examples
    --------
    >>> import torch
    >>> gaussian_entropy(torch.eye(1, dtype=torch.float64))  # 0.5 log(2 pi e)
    tensor(1.4189, dtype=torch.float64)
    """
    d = cov.shape[-1]
    return 0.5 * (_logdet("gaussian_entropy", cov) + d * math.log(2 * math.pi * math.e))


@validate(cov=_COV, index=Items(Integer(low=0), min_length=1))
def gaussian_mutual_information(cov: torch.Tensor, index) -> torch.Tensor:
    r"""Mutual information between two blocks of a Gaussian vector.

    With :math:`X` the coordinates in ``index`` and :math:`Y` the others,

    .. math::

        I(X; Y) = H(X) + H(Y) - H(X, Y)
        = \tfrac12 \bigl(\log\det\Sigma_{XX} + \log\det\Sigma_{YY} - \log\det\Sigma\bigr) \ \ge 0 .

    (The review writes :math:`H(X,Y) - H(X) - H(Y)`, which is minus the mutual information.) For
    scalars with correlation :math:`\rho`: :math:`-\tfrac12 \log(1 - \rho^2)`. See the chapter
    :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    cov : Tensor, shape (..., d, d)
        Symmetric positive definite.
    index : sequence of int
        The coordinates of :math:`X` (distinct, in [0, d), not all of them).

    Returns
    -------
    Tensor, shape (...)
        In nats.

    Examples
    --------
    >>> import torch
    >>> cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)
    >>> gaussian_mutual_information(cov, [0])  # -log(1 - 0.64) / 2
    tensor(0.5108, dtype=torch.float64)
    """
    func = "gaussian_mutual_information"
    d = cov.shape[-1]
    idx = list(index)
    if len(set(idx)) != len(idx) or max(idx) >= d or len(idx) >= d:
        raise ValueError(f"{func}: index must hold distinct coordinates in [0, {d}) and leave at "
                         "least one out, "
                         f"got {idx}")
    rest = [i for i in range(d) if i not in idx]
    sx = cov[..., idx, :][..., :, idx]
    sy = cov[..., rest, :][..., :, rest]
    return 0.5 * (_logdet(func, sx) + _logdet(func, sy) - _logdet(func, cov))


@validate(cov=_COV)
def gaussian_total_correlation(cov: torch.Tensor) -> torch.Tensor:
    r"""Total correlation of a Gaussian vector.

    .. math::

        TC(X_1, \dots, X_d) = \sum_i H(X_i) - H(X_1, \dots, X_d)
        = \operatorname{KL}\Bigl(p(x) \,\Big\|\, \prod_i p(x_i)\Bigr)
        = \tfrac12 \Bigl(\sum_i \log \Sigma_{ii} - \log\det\Sigma\Bigr) \ \ge 0,

    zero exactly when the coordinates are independent. (The review's
    :math:`H(X_1, \dots, X_n) - \sum_i H(X_i)` has the wrong sign.) Equal to
    :math:`-\tfrac12 \log\det R` with :math:`R` the correlation matrix. See the chapter
    :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    cov : Tensor, shape (..., d, d)
        Symmetric positive definite.

    Returns
    -------
    Tensor, shape (...)
        In nats.

    Examples
    --------
    >>> import torch
    >>> gaussian_total_correlation(torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64))
    tensor(0.1438, dtype=torch.float64)
    """
    func = "gaussian_total_correlation"
    diag = cov.diagonal(0, -2, -1)
    if not bool((diag > 0).all()):
        raise ValueError(f"{func}: cov must be symmetric positive definite (non-positive variance)")
    return 0.5 * (diag.log().sum(-1) - _logdet(func, cov))


@validate(scores=Tensor(shape=("...", "n", "n"), dtype="floating"))
def infonce_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""The InfoNCE lower bound on mutual information from a matrix of critic scores.

    With :math:`N` pairs :math:`(x_i, y_i)` drawn from the joint and a critic :math:`s_{ij} = f(x_i, y_j)`,

    .. math::

        I(X; Y) \ \ge\ \hat I_{\mathrm{NCE}} = \log N + \frac1N \sum_i
        \Bigl(s_{ii} - \log \sum_j e^{s_{ij}}\Bigr)

    in expectation (van den Oord et al. 2018; Poole et al. 2019). Each term is a log-softmax, so
    :math:`\hat I_{\mathrm{NCE}} \le \log N` whatever the critic: the bound saturates at
    :math:`\log N` and cannot certify more information than that. Its negative is the
    contrastive loss of CPC and Greedy InfoMax. See the chapter
    :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    scores : Tensor, shape (..., N, N)
        :math:`s_{ij}`; row ``i`` scores the positive ``j = i`` against ``N - 1`` negatives.

    Returns
    -------
    Tensor, shape (...)
        In nats; differentiable (maximise it to train the critic).

    Examples
    --------
    >>> import torch
    >>> infonce_bound(torch.zeros(8, 8))  # an uninformative critic
    tensor(0.)
    >>> float(infonce_bound(100 * torch.eye(8))) <= float(torch.log(torch.tensor(8.0)))
    True
    """
    n = scores.shape[-1]
    log_softmax = scores.diagonal(0, -2, -1) - torch.logsumexp(scores, -1)
    return math.log(n) + log_softmax.mean(-1)


