"""Classical (Torgerson) multidimensional scaling: the Euclidean baseline for tree metrics."""

from __future__ import annotations

import torch

from ..utils import Integer, Tensor, validate

__all__ = ["classical_mds"]


@validate(
    distances=Tensor(shape=("n", "n"), dtype="floating", low=0),
    dim=Integer(low=1),
)
def classical_mds(distances: torch.Tensor, dim: int = 2) -> torch.Tensor:
    r"""Euclidean coordinates whose distances best reproduce ``distances`` (classical MDS).

    Torgerson's scaling: double-centre the squared distances and keep the top eigenvectors,

    .. math::
        B = -\tfrac12\, J D^{\circ 2} J, \qquad J = I - \tfrac1n \mathbf{1}\mathbf{1}^\top, \qquad
        X = V_{\mathrm{dim}}\, \Lambda_{\mathrm{dim}}^{1/2},

    with :math:`\Lambda_{\mathrm{dim}}` the ``dim`` largest eigenvalues of :math:`B` (negative ones
    clamped to 0) and :math:`V_{\mathrm{dim}}` their eigenvectors. :math:`XX^\top` is the best
    rank-``dim`` positive semi-definite approximation of the Gram matrix :math:`B` in Frobenius norm
    (the *strain*), so when ``distances`` are the distances of ``n`` points of :math:`\mathbb{R}^k`,
    ``dim >= k`` recovers them exactly, up to a rigid motion. For a metric that is not Euclidean,
    such as the tree distances of the chapter, it is the best *linear* low-dimensional picture, not
    the one of least distortion. Each column's sign is fixed so that its largest entry in absolute
    value is positive (the result is then deterministic; within a repeated eigenvalue it is still
    one of many equivalent bases).
    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    distances : Tensor, shape (n, n)
        Symmetric (up to rounding), non-negative and finite, zero on the diagonal.
    dim : int
        Number of coordinates, at most ``n``.

    Returns
    -------
    Tensor, shape (n, dim)
        Centred coordinates (the columns sum to 0), on ``distances``' device and in its dtype;
        columns are ordered by decreasing eigenvalue.

    Raises
    ------
    ValueError
        If ``distances`` is not symmetric, has a non-zero diagonal, or ``dim > n``.

    References
    ----------
    Torgerson, "Multidimensional scaling: I. Theory and method", Psychometrika 17, 1952.
    Gower, "Some distance properties of latent root and vector methods used in multivariate
    analysis", Biometrika 53, 1966.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    >>> y = classical_mds(torch.cdist(x, x), 2)
    >>> torch.cdist(y, y).round(decimals=10).tolist()
    [[0.0, 3.0, 4.0], [3.0, 0.0, 5.0], [4.0, 5.0, 0.0]]
    """
    n = distances.shape[0]
    if dim > n:
        raise ValueError(f"classical_mds: dim must be at most n = {n} (the number of points), got {dim}")
    scale = float(distances.abs().max())
    tol = torch.finfo(distances.dtype).eps ** 0.5 * max(scale, 1.0)
    asym = float((distances - distances.T).abs().max())
    if not asym <= tol:
        raise ValueError(f"classical_mds: distances must be symmetric (up to rounding), "
                         f"got max |D - D^T| = {asym:.3g}")
    diag = float(distances.diagonal().abs().max())
    if not diag <= tol:
        raise ValueError(f"classical_mds: distances must be 0 on the diagonal, got max |D_ii| = {diag:.3g}")
    return _classical_mds(distances, dim)


def _classical_mds(distances: torch.Tensor, dim: int) -> torch.Tensor:
    """:func:`classical_mds` without the input checks."""
    sq = distances * distances
    sq = (sq + sq.T) / 2
    b = -0.5 * (sq - sq.mean(0, keepdim=True) - sq.mean(1, keepdim=True) + sq.mean())
    w, v = torch.linalg.eigh(b)  # ascending
    w, v = w.flip(0)[:dim], v.flip(1)[:, :dim]
    peak = v.gather(0, v.abs().argmax(0, keepdim=True))  # (1, dim): the largest entry of each column
    v = v * torch.where(peak < 0, -1.0, 1.0).to(v.dtype)
    return v * w.clamp_min(0).sqrt()
