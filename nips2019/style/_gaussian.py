"""Optimal transport between Gaussians: Monge maps, geodesics, Bures distance, barycentres.

Written in torch (not POT's ``ot.gaussian``) so that everything runs batched on the
inputs' device, keeps autograd, and uses clamped symmetric eigendecompositions, which
stay finite for the rank-deficient covariances of deep features at low resolution.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch

from nips2019.utils import Bool, Integer, InstanceOf, Items, Real, Tensor, check_arguments, validate

from ._checks import check_same_device_dtype, check_stats

_MATRIX = Tensor(shape=("...", "d", "d"), dtype="floating")


def _sym(a: torch.Tensor) -> torch.Tensor:
    return 0.5 * (a + a.transpose(-1, -2))


def _eig_power(cov: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    evals, evecs = torch.linalg.eigh(_sym(cov))
    top = evals.amax(dim=-1, keepdim=True).clamp_min(0)
    floor = eps * top if power < 0 else torch.zeros_like(top)
    evals = torch.maximum(evals, floor)
    if power < 0:
        evals = torch.where(evals > 0, evals, torch.ones_like(evals))  # all-zero matrix: avoid inf
    return (evecs * evals.pow(power).unsqueeze(-2)) @ evecs.transpose(-1, -2)


@validate(cov=_MATRIX)
def sqrtm_psd(cov: torch.Tensor) -> torch.Tensor:
    r"""Square root of a symmetric positive semi-definite matrix.

    .. math:: S^{1/2} = V \operatorname{diag}(\sqrt{\max(\lambda_i, 0)}) V^\top,
       \qquad S = V \operatorname{diag}(\lambda) V^\top,

    so that round-off negative eigenvalues give no NaN.
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    cov : Tensor, shape (..., d, d)
        Symmetric PSD matrices (only the symmetric part is used).

    Returns
    -------
    Tensor, shape (..., d, d)
        Symmetric PSD, with ``root @ root == cov`` up to round-off.

    Examples
    --------
    >>> s = sqrtm_psd(torch.tensor([[4.0, 0.0], [0.0, 9.0]]))
    >>> s.diag().tolist()
    [2.0, 3.0]
    """
    return _eig_power(cov, 0.5, 0.0)


@validate(cov=_MATRIX, eps=Real(low=0, closed="neither"))
def inv_sqrtm_psd(cov: torch.Tensor, *, eps: float = 1e-10) -> torch.Tensor:
    r"""Inverse square root of a symmetric PSD matrix, with eigenvalues floored.

    .. math:: S^{-1/2} = V \operatorname{diag}(\max(\lambda_i, \varepsilon\lambda_{\max})^{-1/2}) V^\top.

    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    cov : Tensor, shape (..., d, d)
    eps : float
        Relative floor on the eigenvalues (the pseudo-inverse of a singular matrix
        would be discontinuous; a floor keeps the map smooth and finite).

    Returns
    -------
    Tensor, shape (..., d, d)

    Examples
    --------
    >>> inv_sqrtm_psd(torch.tensor([[4.0, 0.0], [0.0, 16.0]])).diag().tolist()
    [0.5, 0.25]
    """
    return _eig_power(cov, -0.5, eps)


@dataclasses.dataclass
class GaussianStats:
    """Mean and covariance of a distribution in :math:`\\mathbb{R}^d`.

    A plain container: every function that takes one checks its fields (shapes, floating
    dtype, finite values, one device and dtype).

    Attributes
    ----------
    mean : Tensor, shape (d,)
    cov : Tensor, shape (d, d)
    """

    mean: torch.Tensor
    cov: torch.Tensor

    @property
    def device_dtype(self) -> tuple[torch.device, torch.dtype]:
        """Device and dtype of the covariance (for ``same=`` groups of :func:`nips2019.utils.validate`)."""
        return self.cov.device, self.cov.dtype


_STATS = InstanceOf(GaussianStats)


@validate(x=Tensor(shape=("n", "d"), dtype="floating"), ridge=Real(low=0))
def gaussian_stats(x: torch.Tensor, *, ridge: float = 0.0) -> GaussianStats:
    r"""Empirical mean and (biased) covariance of a point cloud.

    .. math:: \mu = \tfrac1n\textstyle\sum_i x_i,\qquad
       \Sigma = \tfrac1n\sum_i (x_i-\mu)(x_i-\mu)^\top + \rho\,\bar\sigma^2 I,

    with :math:`\bar\sigma^2 = \operatorname{tr}\Sigma / d` (a relative ridge).
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        Samples (pixels' colours, or a feature map flattened to positions x channels).
    ridge : float
        Relative ridge :math:`\rho \ge 0` added to the diagonal.

    Returns
    -------
    GaussianStats
        ``mean`` of shape (d,), ``cov`` of shape (d, d), on ``x``'s device and dtype.

    Examples
    --------
    >>> s = gaussian_stats(torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
    >>> s.mean.tolist(), s.cov.tolist()
    ([1.0, 1.0], [[1.0, 0.0], [0.0, 0.0]])
    """
    return _gaussian_stats(x, ridge)


def _gaussian_stats(x: torch.Tensor, ridge: float = 0.0) -> GaussianStats:
    mean = x.mean(dim=0)
    xc = x - mean
    cov = xc.T @ xc / x.shape[0]
    if ridge > 0:
        d = cov.shape[-1]
        cov = cov + ridge * (cov.diagonal().sum() / d).clamp_min(torch.finfo(x.dtype).tiny) * torch.eye(
            d, device=x.device, dtype=x.dtype
        )
    return GaussianStats(mean, cov)


@dataclasses.dataclass
class AffineMap:
    r"""An affine map :math:`T(x) = \mu_t + A(x - \mu_s)` with McCann interpolation.

    Calling it with strength ``t`` returns :math:`(1-t)\,x + t\,T(x)`: for an OT map this
    walks along the Wasserstein geodesic from the source to the target distribution.

    Attributes
    ----------
    matrix : Tensor, shape (d, d)
    source_mean, target_mean : Tensor, shape (d,)
    """

    matrix: torch.Tensor
    source_mean: torch.Tensor
    target_mean: torch.Tensor

    @property
    def device_dtype(self) -> tuple[torch.device, torch.dtype]:
        """Device and dtype of the matrix (for ``same=`` groups)."""
        return self.matrix.device, self.matrix.dtype

    @validate(x=Tensor(dtype="floating"), t=Real(0.0, 1.0), same=[("self", "x")])
    def __call__(self, x: torch.Tensor, t: float = 1.0) -> torch.Tensor:
        """Apply :math:`(1-t)\\,x + t\\,T(x)` to ``x`` of shape (..., d)."""
        if x.dim() < 1 or x.shape[-1] != self.matrix.shape[-1]:
            raise ValueError(
                f"AffineMap.__call__: x must have last dimension {self.matrix.shape[-1]}, got shape {tuple(x.shape)}"
            )
        y = self.target_mean + (x - self.source_mean) @ self.matrix.T
        return x + t * (y - x)


def _check_matrices(func: str, cov_source: torch.Tensor, cov_target: torch.Tensor) -> None:
    if cov_source.shape != cov_target.shape:
        raise ValueError(
            f"{func}: cov_source and cov_target must have the same shape, got {tuple(cov_source.shape)} and "
            f"{tuple(cov_target.shape)}"
        )


_PAIR = dict(cov_source=_MATRIX, cov_target=_MATRIX, eps=Real(low=0, closed="neither"), same=[("cov_source", "cov_target")])


@validate(**_PAIR)
def gaussian_ot_matrix(cov_source: torch.Tensor, cov_target: torch.Tensor, *, eps: float = 1e-10) -> torch.Tensor:
    r"""Linear part of the optimal transport (Monge) map between two centred Gaussians.

    .. math:: A = \Sigma_s^{-1/2}\big(\Sigma_s^{1/2}\Sigma_t\Sigma_s^{1/2}\big)^{1/2}\Sigma_s^{-1/2}.

    :math:`A` is symmetric PSD and :math:`A\Sigma_sA = \Sigma_t`; among all linear maps
    pushing :math:`\mathcal N(0,\Sigma_s)` to :math:`\mathcal N(0,\Sigma_t)` it minimises
    :math:`\mathbb E\|x - Ax\|^2`. See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    cov_source, cov_target : Tensor, shape (..., d, d)
    eps : float
        Relative eigenvalue floor of :func:`inv_sqrtm_psd`.

    Returns
    -------
    Tensor, shape (..., d, d)

    References
    ----------
    Dowson & Landau (1982); Knott & Smith (1984); Mroueh, AISTATS 2020.

    Examples
    --------
    >>> gaussian_ot_matrix(torch.eye(2), 4 * torch.eye(2)).diag().tolist()
    [2.0, 2.0]
    """
    _check_matrices("gaussian_ot_matrix", cov_source, cov_target)
    return _ot_matrix(cov_source, cov_target, eps)


def _ot_matrix(cs: torch.Tensor, ct: torch.Tensor, eps: float) -> torch.Tensor:
    root = _eig_power(cs, 0.5, 0.0)
    inv_root = _eig_power(cs, -0.5, eps)
    middle = _eig_power(root @ ct @ root, 0.5, 0.0)
    return _sym(inv_root @ middle @ inv_root)


@validate(**_PAIR)
def wct_matrix(cov_source: torch.Tensor, cov_target: torch.Tensor, *, eps: float = 1e-10) -> torch.Tensor:
    r"""Whitening-colouring matrix of WCT (Li et al. 2017).

    .. math:: W = \Sigma_t^{1/2}\,\Sigma_s^{-1/2}.

    Like the OT matrix it satisfies :math:`W\Sigma_sW^\top = \Sigma_t`, but it is not
    symmetric in general, hence not an optimal map; it equals
    :func:`gaussian_ot_matrix` when the covariances commute.
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Examples
    --------
    >>> wct_matrix(torch.eye(2), 4 * torch.eye(2)).diag().tolist()
    [2.0, 2.0]
    """
    _check_matrices("wct_matrix", cov_source, cov_target)
    return _eig_power(cov_target, 0.5, 0.0) @ _eig_power(cov_source, -0.5, eps)


_STATS_PAIR = dict(source=_STATS, target=_STATS, same=[("source", "target")])


@validate(**_STATS_PAIR, eps=Real(low=0, closed="neither"))
def gaussian_ot_map(source: GaussianStats, target: GaussianStats, *, eps: float = 1e-10) -> AffineMap:
    r"""The optimal transport map between two Gaussians, as a callable :class:`AffineMap`.

    .. math:: T(x) = \mu_t + A\,(x - \mu_s),\qquad A = \text{see } :func:`gaussian\_ot\_matrix`.

    Applied to samples of *any* distribution with the source's mean and covariance, it
    is the optimal *linear* transport to the target's first two moments.
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    source, target : GaussianStats
        Means of shape (d,), covariances of shape (d, d).
    eps : float
        Relative eigenvalue floor for :math:`\Sigma_s^{-1/2}`.

    Returns
    -------
    AffineMap
        ``T(x, t)`` applies :math:`(1-t)x + tT(x)` to ``x`` of shape (..., d).

    Examples
    --------
    >>> s = GaussianStats(torch.zeros(1), torch.ones(1, 1))
    >>> t = GaussianStats(torch.ones(1), 4 * torch.ones(1, 1))
    >>> gaussian_ot_map(s, t)(torch.tensor([[1.0]])).item()
    3.0
    """
    check_stats("gaussian_ot_map", source=source, target=target)
    return AffineMap(_ot_matrix(source.cov, target.cov, eps), source.mean, target.mean)


@validate(**_STATS_PAIR, eps=Real(low=0, closed="neither"))
def wct_map(source: GaussianStats, target: GaussianStats, *, eps: float = 1e-10) -> AffineMap:
    r"""WCT's whitening-colouring transform as an :class:`AffineMap`.

    .. math:: T_{\mathrm{WCT}}(x) = \mu_t + \Sigma_t^{1/2}\Sigma_s^{-1/2}(x - \mu_s).

    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Examples
    --------
    >>> s = GaussianStats(torch.zeros(1), torch.ones(1, 1))
    >>> wct_map(s, s)(torch.tensor([[2.0]])).item()
    2.0
    """
    check_stats("wct_map", source=source, target=target)
    matrix = _eig_power(target.cov, 0.5, 0.0) @ _eig_power(source.cov, -0.5, eps)
    return AffineMap(matrix, source.mean, target.mean)


@validate(**_STATS_PAIR, squared=Bool())
def bures_wasserstein(source: GaussianStats, target: GaussianStats, *, squared: bool = False) -> torch.Tensor:
    r"""2-Wasserstein distance between two Gaussians (Bures-Wasserstein).

    .. math:: W_2^2 = \|\mu_s-\mu_t\|^2 + \operatorname{tr}\Sigma_s + \operatorname{tr}\Sigma_t
       - 2\operatorname{tr}\big(\Sigma_t^{1/2}\Sigma_s\Sigma_t^{1/2}\big)^{1/2}.

    The last trace is the sum of square roots of the (clamped) eigenvalues, computed
    with ``eigvalsh``, whose gradient stays finite for repeated eigenvalues.
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    source, target : GaussianStats
    squared : bool
        Return :math:`W_2^2` instead of :math:`W_2`.

    Returns
    -------
    Tensor, shape ()

    Examples
    --------
    >>> a = GaussianStats(torch.zeros(2), torch.eye(2))
    >>> b = GaussianStats(torch.tensor([3.0, 4.0]), torch.eye(2))
    >>> bures_wasserstein(a, b).item()
    5.0
    """
    check_stats("bures_wasserstein", source=source, target=target)
    root_t = _eig_power(target.cov, 0.5, 0.0)
    return _bures_with_root(source.mean, source.cov, target.mean, target.cov, root_t, squared)


def _bures_with_root(mean_s, cov_s, mean_t, cov_t, root_t, squared=True):
    cross = torch.linalg.eigvalsh(_sym(root_t @ cov_s @ root_t))
    # sqrt has an infinite slope at 0: eigenvalues below a tiny floor count as 0, with gradient 0.
    tiny = 1e-12 * cross.detach().amax().clamp_min(torch.finfo(cross.dtype).tiny)
    trace_cross = torch.where(cross > tiny, torch.maximum(cross, tiny).sqrt(), torch.zeros_like(cross)).sum()
    w2 = (mean_s - mean_t).pow(2).sum() + cov_s.diagonal().sum() + cov_t.diagonal().sum() - 2 * trace_cross
    w2 = w2.clamp_min(0)
    return w2 if squared else w2.sqrt()


@validate(**_STATS_PAIR, t=Real(0.0, 1.0), eps=Real(low=0, closed="neither"))
def gaussian_geodesic(source: GaussianStats, target: GaussianStats, t: float, *, eps: float = 1e-10) -> GaussianStats:
    r"""Point at time ``t`` on the Wasserstein geodesic between two Gaussians (McCann).

    .. math:: \mu_\tau = (1-\tau)\mu_s + \tau\mu_t,\qquad
       \Sigma_\tau = \big((1-\tau)I + \tau A\big)\,\Sigma_s\,\big((1-\tau)I + \tau A\big),

    with :math:`A` the OT matrix; :math:`W_2(\mathcal N_s, \mathcal N_\tau) = \tau\,W_2(\mathcal N_s,\mathcal N_t)`.
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Examples
    --------
    >>> s = GaussianStats(torch.zeros(1), torch.ones(1, 1))
    >>> t = GaussianStats(torch.ones(1), 9 * torch.ones(1, 1))
    >>> g = gaussian_geodesic(s, t, 0.5)
    >>> g.mean.item(), g.cov.item()
    (0.5, 4.0)
    """
    check_stats("gaussian_geodesic", source=source, target=target)
    return _geodesic(source, target, t, eps)


def _geodesic(source: GaussianStats, target: GaussianStats, t: float, eps: float = 1e-10) -> GaussianStats:
    a = _ot_matrix(source.cov, target.cov, eps)
    eye = torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
    m = (1 - t) * eye + t * a
    return GaussianStats((1 - t) * source.mean + t * target.mean, _sym(m @ source.cov @ m))


@validate(
    stats=Items(_STATS, min_length=1),
    weights=InstanceOf(torch.Tensor, list, tuple, optional=True),
    max_iter=Integer(low=1),
    tol=Real(low=0),
)
def gaussian_barycenter(
    stats: Sequence[GaussianStats],
    weights: torch.Tensor | Sequence[float] | None = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-8,
) -> GaussianStats:
    r"""Wasserstein barycentre of Gaussians by the fixed-point iteration.

    .. math:: \mu = \sum_k w_k\mu_k,\qquad
       \Sigma \leftarrow \Sigma^{-1/2}\Big(\sum_k w_k\big(\Sigma^{1/2}\Sigma_k\Sigma^{1/2}\big)^{1/2}\Big)^2\Sigma^{-1/2},

    started from :math:`\Sigma = \sum_k w_k\Sigma_k` and stopped when the relative change
    is below ``tol`` (Álvarez-Esteban et al. 2016). For commuting covariances the answer
    is :math:`(\sum_k w_k\Sigma_k^{1/2})^2`; for two Gaussians it is the point at time
    :math:`w_2` of the geodesic (:func:`gaussian_geodesic`), a closed form that needs no
    iteration. Rank-deficient covariances converge slowly: add a small ridge.
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    stats : sequence of GaussianStats
        The Gaussians to mix, all of dimension d.
    weights : sequence of float or Tensor, shape (K,), optional
        Non-negative weights summing to one (default uniform).
    max_iter : int
        Maximum number of iterations.
    tol : float
        Relative Frobenius change that stops the iteration.

    Returns
    -------
    GaussianStats

    References
    ----------
    Agueh & Carlier (2011); Álvarez-Esteban, del Barrio, Cuesta-Albertos & Matrán (2016);
    Rabin, Peyré, Delon & Bernot (2011) for texture mixing.

    Examples
    --------
    >>> a = GaussianStats(torch.zeros(1), torch.ones(1, 1))
    >>> b = GaussianStats(torch.ones(1), 9 * torch.ones(1, 1))
    >>> gaussian_barycenter([a, b]).cov.item()
    4.0
    """
    stats = list(stats)
    check_stats("gaussian_barycenter", **{f"stats[{k}]": s for k, s in enumerate(stats)})
    ref = stats[0].cov
    if weights is None:
        w = torch.full((len(stats),), 1.0 / len(stats), device=ref.device, dtype=ref.dtype)
    else:
        if isinstance(weights, torch.Tensor):
            check_arguments("gaussian_barycenter", weights=(weights, Tensor(dtype="floating")))
            check_same_device_dtype("gaussian_barycenter", {"stats[0].cov": ref, "weights": weights})
            w = weights
        else:
            check_arguments("gaussian_barycenter", weights=(weights, Items(Real())))
            w = torch.tensor([float(v) for v in weights], device=ref.device, dtype=ref.dtype)
        if w.shape != (len(stats),):
            raise ValueError(f"gaussian_barycenter: weights must have shape ({len(stats)},), got {tuple(w.shape)}")
        if not bool(torch.isfinite(w).all()) or (w < 0).any() or abs(float(w.sum()) - 1.0) > 1e-6:
            raise ValueError(f"gaussian_barycenter: weights must be non-negative and sum to 1, got {w.tolist()}")
    return _barycenter(stats, w, max_iter, tol)


def _barycenter(stats: list[GaussianStats], w: torch.Tensor, max_iter: int, tol: float) -> GaussianStats:
    covs = torch.stack([s.cov for s in stats])
    mean = torch.einsum("k,kd->d", w, torch.stack([s.mean for s in stats]))
    cov = torch.einsum("k,kij->ij", w, covs)
    for _ in range(max_iter):
        evals, evecs = torch.linalg.eigh(_sym(cov))  # one decomposition for both roots
        evals = evals.clamp_min(1e-10 * evals.amax().clamp_min(torch.finfo(cov.dtype).tiny))
        root = (evecs * evals.sqrt()) @ evecs.T
        inv_root = (evecs * evals.rsqrt()) @ evecs.T
        inner = torch.einsum("k,kij->ij", w, _eig_power(root @ covs @ root, 0.5, 0.0))
        new = _sym(inv_root @ inner @ inner @ inv_root)
        change = torch.linalg.norm(new - cov) / torch.linalg.norm(cov).clamp_min(torch.finfo(cov.dtype).tiny)
        cov = new
        if change < tol:
            break
    return GaussianStats(mean, cov)
