"""Quantum-entropy (QUE) outlier scores and a filtered robust mean (Dong, Hopkins & Li 2019)."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Integer, Probability, Real, Tensor, validate


def _centre_cov(x, mean):
    xc = x - mean
    return xc, xc.T @ xc / x.shape[0]


def _que_scores(x, alpha, mean):
    xc, cov = _centre_cov(x, mean)
    d = x.shape[1]
    lam, vec = torch.linalg.eigh(cov - torch.eye(d, device=x.device, dtype=x.dtype))
    top = float(lam.max())
    scale = top if top > 0 else 1.0
    w = torch.softmax(alpha * lam / scale, 0)  # the eigenvalues of U = exp(aM) / tr exp(aM)
    return ((xc @ vec) ** 2) @ w


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    alpha=Real(low=0, finite=False),
    mean=Tensor(shape=("d",), dtype="floating", optional=True),
    same=[("x", "mean")],
)
def que_scores(x: torch.Tensor, *, alpha: float, mean: torch.Tensor | None = None) -> torch.Tensor:
    r"""Quantum-entropy (QUE) outlier scores of the rows of ``x``.

    For data whose inliers have identity covariance, with :math:`\Sigma` the empirical covariance
    about ``mean`` (the sample mean if None) and :math:`M = (\Sigma - I) / \lVert \Sigma - I
    \rVert_+` (divided by its largest eigenvalue when positive, so ``alpha`` is scale-free),

    .. math::

        U = \frac{\exp(\alpha M)}{\operatorname{tr} \exp(\alpha M)}, \qquad
        \tau_i = (x_i - \mu)^\top U (x_i - \mu) .

    :math:`U` is the density matrix of maximum von Neumann entropy :math:`-\operatorname{tr}(U \log U)`
    at a given alignment :math:`\langle U, \Sigma \rangle`; it interpolates between
    :math:`U = I/d` at :math:`\alpha = 0` (the score is :math:`\lVert x_i - \mu \rVert^2 / d`) and the
    projector :math:`v v^\top` on the top eigenvector of :math:`\Sigma` as
    :math:`\alpha \to \infty` (the score is :math:`\langle x_i - \mu, v\rangle^2`; ``alpha=inf`` is
    accepted). Computed from one eigendecomposition of :math:`\Sigma` (:math:`O(nd^2 + d^3)`; the
    paper's fast version uses Chebyshev/Taylor expansions of the matrix exponential). See the
    chapter :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    alpha : float
        :math:`\alpha \ge 0`, or ``inf``.
    mean : Tensor, shape (d,), optional
        Centre (the sample mean if None).

    Returns
    -------
    Tensor, shape (n,)

    References
    ----------
    Dong, Hopkins, Li (2019), *Quantum entropy scoring for fast robust mean estimation and improved
    outlier detection*, NeurIPS.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 3.0], [0.0, -3.0]])
    >>> que_scores(x, alpha=0.0), que_scores(x, alpha=float("inf"))
    (tensor([0.5000, 0.5000, 4.5000, 4.5000]), tensor([0., 0., 9., 9.]))
    """
    if x.shape[0] < 2:
        raise ValueError(f"que_scores: needs at least 2 rows in x, got {x.shape[0]}")
    mean = x.mean(0) if mean is None else mean
    if math.isinf(alpha):
        xc, cov = _centre_cov(x, mean)
        v = torch.linalg.eigh(cov)[1][:, -1]
        return (xc @ v) ** 2
    return _que_scores(x, float(alpha), mean)


@dataclasses.dataclass
class RobustMeanResult:
    """The filtered mean (:func:`que_robust_mean`).

    See the chapter :doc:`Comparing distributions </book/distributions>`.

    Attributes
    ----------
    mean : Tensor, shape (d,)
        Mean of the points kept.
    inliers : Tensor, shape (n,), bool
        Which rows were kept.
    n_rounds : int
        Filtering rounds run.
    top_eigenvalue : float
        Largest eigenvalue of the covariance of the kept points at the end.
    """

    mean: torch.Tensor
    inliers: torch.Tensor
    n_rounds: int
    top_eigenvalue: float


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    contamination=Probability(),
    alpha=Real(low=0),
    max_rounds=Integer(low=1),
)
def que_robust_mean(x: torch.Tensor, *, contamination: float, alpha: float = 4.0,
                    max_rounds: int = 100) -> RobustMeanResult:
    r"""Robust mean of data with identity-covariance inliers, by filtering on QUE scores.

    Repeats: centre on the mean of the points kept, compute the covariance :math:`\Sigma`; stop if
    its top eigenvalue is within 2% of the Marchenko-Pastur edge :math:`(1 + \sqrt{d/n})^2` of pure
    inliers (no direction has excess variance left, so the remaining outliers cannot move the mean
    much); otherwise drop the :math:`\lceil \varepsilon n / 4 \rceil` kept points with the highest
    :func:`que_scores`. At most :math:`2 \varepsilon n` points are removed in all. A simple
    deterministic version of the filter of Dong, Hopkins & Li (2019), which removes points at random
    with probabilities proportional to the scores. See the chapter
    :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    contamination : float
        :math:`\varepsilon`, an upper bound on the fraction of outliers.
    alpha : float
        QUE weighting parameter of the scores.
    max_rounds : int

    Returns
    -------
    RobustMeanResult

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(500, 20, generator=g)
    >>> x[:25] += 2.0  # 5% of points shifted together
    >>> bool(que_robust_mean(x, contamination=0.05).mean.norm() < x.mean(0).norm())
    True
    """
    n, d = x.shape
    if n < 2:
        raise ValueError(f"que_robust_mean: needs at least 2 rows in x, got {n}")
    keep = torch.ones(n, dtype=torch.bool, device=x.device)
    step = max(1, math.ceil(contamination * n / 4))
    budget = math.floor(2 * contamination * n)
    removed, rounds, top = 0, 0, math.nan
    for rounds in range(1, max_rounds + 1):
        xk = x[keep]
        mean = xk.mean(0)
        _, cov = _centre_cov(xk, mean)
        top = float(torch.linalg.eigvalsh(cov)[-1])
        edge = (1 + math.sqrt(d / xk.shape[0])) ** 2
        k = min(step, budget - removed)
        if top <= 1.02 * edge or k <= 0 or xk.shape[0] - k < 2:
            break
        scores = _que_scores(xk, float(alpha), mean)
        idx = keep.nonzero().squeeze(1)
        keep[idx[scores.topk(k).indices]] = False
        removed += k
    xk = x[keep]
    return RobustMeanResult(mean=xk.mean(0), inliers=keep, n_rounds=rounds, top_eigenvalue=top)
