"""The space Waddington-OT couples in: principal components, and how much of a latent space they keep."""

from __future__ import annotations

import dataclasses

import torch

from nips2019.utils import Integer, Tensor, validate


@dataclasses.dataclass
class PCAResult:
    """Principal components of a data matrix, from :func:`pca`.

    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Attributes
    ----------
    components : Tensor, shape (k, d)
        Orthonormal principal axes, by decreasing variance. Each axis is only defined up to
        sign; the sign is fixed so that its largest-magnitude entry is positive.
    scores : Tensor, shape (n, k)
        Coordinates of the centred rows on the axes, ``(x - mean) @ components.T``.
    mean : Tensor, shape (d,)
        The column means that were subtracted.
    explained_variance : Tensor, shape (k,)
        Variance of the data along each axis, :math:`s_i^2 / (n - 1)`.
    explained_variance_ratio : Tensor, shape (k,)
        Fraction of the total variance (over all ``d`` directions) along each axis.
    """

    components: torch.Tensor
    scores: torch.Tensor
    mean: torch.Tensor
    explained_variance: torch.Tensor
    explained_variance_ratio: torch.Tensor


@validate(x=Tensor(shape=("n", "d"), dtype="floating"), n_components=Integer(low=1))
def pca(x: torch.Tensor, n_components: int) -> PCAResult:
    r"""Principal component analysis of the rows of ``x`` by a thin SVD of the centred data.

    With :math:`\bar x` the column means and :math:`X - \mathbf 1 \bar x^\top = U S V^\top`
    (singular values :math:`s_1 \ge s_2 \ge \dots`), the first ``n_components`` :math:`k` rows of
    :math:`V^\top` are the principal axes, the scores are :math:`(X - \mathbf 1 \bar x^\top) V_k`,
    axis :math:`i` carries variance :math:`s_i^2 / (n - 1)` and the fraction
    :math:`s_i^2 / \sum_j s_j^2` of the total. This is how single-cell snapshots are usually
    reduced before they are coupled (Schiebinger et al. 2019 couple in the first 30 principal
    components of the log-expression). The result stays on the device and in the dtype of
    ``x``. See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        Data, one row per sample (cell), at least two rows, not all equal.
    n_components : int
        Number :math:`k` of axes kept, :math:`1 \le k \le \min(n, d)`.

    Returns
    -------
    PCAResult
        Axes, scores, mean and explained variances; it matches scikit-learn's
        ``PCA(n_components)`` up to the sign of each axis.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0, 0.0], [2.0, 0.2], [4.0, 0.2], [6.0, 0.0]], dtype=torch.float64)
    >>> res = pca(x, 1)
    >>> res.components
    tensor([[1., 0.]], dtype=torch.float64)
    >>> res.scores.squeeze(1)
    tensor([-3., -1.,  1.,  3.], dtype=torch.float64)
    >>> round(float(res.explained_variance_ratio[0]), 4)
    0.998
    """
    n, d = x.shape
    if n < 2:
        raise ValueError(f"pca: x needs at least 2 rows to have a variance, got shape {tuple(x.shape)}")
    if n_components > min(n, d):
        raise ValueError(f"pca: n_components must be <= min(n, d) = {min(n, d)} for x of shape "
                         f"{tuple(x.shape)}, got {n_components}")
    mean = x.mean(0)
    xc = x - mean
    _, s, vh = torch.linalg.svd(xc, full_matrices=False)
    total = (s**2).sum()
    if not bool(total > 0):
        raise ValueError("pca: x has no variance (all rows are equal)")
    axes = vh[:n_components]
    pick = axes.abs().argmax(1, keepdim=True)
    axes = axes * torch.where(axes.gather(1, pick) < 0, -1.0, 1.0).to(axes.dtype)
    var = s[:n_components] ** 2
    return PCAResult(components=axes, scores=xc @ axes.T, mean=mean, explained_variance=var / (n - 1),
                     explained_variance_ratio=var / total)


@validate(
    x=Tensor(shape=("n", None), dtype="floating"),
    y=Tensor(shape=("n", None), dtype="floating"),
    same=[("x", "y")],
)
def linear_r2(x: torch.Tensor, y: torch.Tensor) -> float:
    r"""Fraction of the variance of ``y`` explained by its best affine prediction from ``x``.

    The least-squares fit :math:`\hat y_i = B^\top x_i + c` (an intercept is always fitted) gives

    .. math::

        R^2 = 1 - \frac{\sum_{ij} (y_{ij} - \hat y_{ij})^2}{\sum_{ij} (y_{ij} - \bar y_j)^2},

    the residual sum of squares over all columns of ``y`` against their total variance: 1 when
    ``y`` is an affine function of ``x``, 0 when ``x`` predicts nothing. This is scikit-learn's
    ``r2_score(y, LinearRegression().fit(x, y).predict(x), multioutput="variance_weighted")``.
    The fit uses the pseudo-inverse of the centred ``x``, so collinear columns are allowed.
    The chapter uses it to check that principal components of the gene read-out keep the
    simulator's latent coordinates; see the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    x : Tensor, shape (n, p)
        Predictors.
    y : Tensor, shape (n, q)
        Targets (``y[:, None]`` for a single one), same device and dtype as ``x``, not constant.

    Returns
    -------
    float

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0]], dtype=torch.float64)
    >>> linear_r2(x, 2 * x + 1)
    1.0
    >>> linear_r2(x, torch.tensor([[0.0], [1.0], [1.0], [0.0]], dtype=torch.float64))
    0.0
    """
    yc = y - y.mean(0)
    total = (yc**2).sum()
    if not bool(total > 0):
        raise ValueError("linear_r2: y has no variance (every column is constant), so R^2 is undefined")
    xc = x - x.mean(0)
    resid = yc - xc @ (torch.linalg.pinv(xc) @ yc)
    return float(1.0 - (resid**2).sum() / total)
