"""Style losses between feature point clouds: Gaussian W2 (Bures), sliced Wasserstein, Gram."""

from __future__ import annotations

import torch

from nips2019.utils import check_tensor

from ._gaussian import GaussianStats, _bures_with_root, _check_pair, gaussian_stats, sqrtm_psd


def _points(x: torch.Tensor, name: str) -> torch.Tensor:
    return check_tensor(x, name, ndim=2, floating=True)


def _same_dim(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"points and target must have the same dimension, got {x.shape[1]} and {y.shape[1]}")


def _tiny(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(torch.finfo(x.dtype).tiny, device=x.device, dtype=x.dtype)


def gram_matrix(points: torch.Tensor) -> torch.Tensor:
    r"""Uncentred second-moment (Gram) matrix of a feature cloud, :math:`G = \tfrac1n F^\top F`.

    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    points : Tensor, shape (n, d)

    Returns
    -------
    Tensor, shape (d, d)

    Examples
    --------
    >>> gram_matrix(torch.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[5.0, 7.0], [7.0, 10.0]]
    """
    points = _points(points, "points")
    return points.T @ points / points.shape[0]


def gram_loss(points: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Relative Gram-matrix style loss of Gatys et al. (2016).

    .. math:: \mathcal L = \|G(F) - G(F_t)\|_F^2 \,/\, \|G(F_t)\|_F^2 .

    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    points : Tensor, shape (n, d)
        Current features (positions x channels).
    target : Tensor, shape (m, d)
        Style features.

    Returns
    -------
    Tensor, shape ()

    Examples
    --------
    >>> f = torch.rand(10, 3)
    >>> gram_loss(f, f).item()
    0.0
    """
    points, target = _points(points, "points"), _points(target, "target")
    _same_dim(points, target)
    gt = gram_matrix(target)
    return (gram_matrix(points) - gt).pow(2).sum() / gt.pow(2).sum().clamp_min(_tiny(gt))


class BuresTarget:
    """A style layer's Gaussian with its precomputed covariance square root.

    Parameters
    ----------
    stats : GaussianStats
        Mean (d,) and covariance (d, d) to match.
    """

    def __init__(self, stats: GaussianStats):
        _check_pair(stats, stats)
        self.stats = stats
        self.root = sqrtm_psd(stats.cov)
        self.scale = (stats.cov.diagonal().sum() + stats.mean.pow(2).sum()).clamp_min(_tiny(stats.cov))


def bures_loss(points: torch.Tensor, target: GaussianStats | BuresTarget) -> torch.Tensor:
    r"""Relative Gaussian 2-Wasserstein style loss (Mroueh 2020).

    .. math:: \mathcal L = W_2^2\big(\mathcal N(\mu_F,\Sigma_F),\ \mathcal N(\mu_t,\Sigma_t)\big)
       \,/\, \big(\operatorname{tr}\Sigma_t + \|\mu_t\|^2\big),

    differentiable in ``points`` (see :func:`bures_wasserstein`).
    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    points : Tensor, shape (n, d)
    target : GaussianStats or BuresTarget
        The Gaussian to match; pass a :class:`BuresTarget` to reuse its square root
        across optimisation steps.

    Returns
    -------
    Tensor, shape ()

    Examples
    --------
    >>> f = torch.randn(50, 4, dtype=torch.float64)
    >>> bures_loss(f, gaussian_stats(f)).item() < 1e-6
    True
    """
    points = _points(points, "points")
    if not isinstance(target, BuresTarget):
        target = BuresTarget(target)
    if target.stats.cov.shape[-1] != points.shape[1]:
        raise ValueError(f"points and target must have the same dimension, got {points.shape[1]} and {target.stats.cov.shape[-1]}")
    n, d = points.shape
    if n >= d:
        s = gaussian_stats(points)
        w2 = _bures_with_root(s.mean, s.cov, target.stats.mean, target.stats.cov, target.root, squared=True)
        return w2 / target.scale
    # Fewer samples than channels (deep layers, small images): Sigma_t^{1/2} Sigma Sigma_t^{1/2}
    # = B^T B / n with B = Xc Sigma_t^{1/2} has the same non-zero spectrum as the n x n matrix B B^T / n.
    mean = points.mean(dim=0)
    b = (points - mean) @ target.root
    cross = torch.linalg.eigvalsh(b @ b.T / n)
    tiny = 1e-12 * cross.detach().amax().clamp_min(torch.finfo(cross.dtype).tiny)
    trace_cross = torch.where(cross > tiny, torch.maximum(cross, tiny).sqrt(), torch.zeros_like(cross)).sum()
    tr_cov = (points - mean).pow(2).sum() / n
    tr_target = target.stats.cov.diagonal().sum()
    w2 = (mean - target.stats.mean).pow(2).sum() + tr_cov + tr_target - 2 * trace_cross
    return w2.clamp_min(0) / target.scale


def _quantiles(sorted_proj: torch.Tensor, n: int) -> torch.Tensor:
    """Resample (m, k) sorted projections to n quantiles by linear interpolation."""
    m = sorted_proj.shape[0]
    if m == n:
        return sorted_proj
    pos = (torch.arange(n, device=sorted_proj.device, dtype=sorted_proj.dtype) + 0.5) * m / n - 0.5
    pos = pos.clamp(0, m - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(m - 1)
    w = (pos - lo.to(pos.dtype))[:, None]
    return sorted_proj[lo] * (1 - w) + sorted_proj[hi] * w


def sliced_wasserstein(
    x: torch.Tensor, y: torch.Tensor, n_directions: int = 128, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Monte-Carlo sliced 2-Wasserstein distance (squared) between two point clouds.

    .. math:: SW_2^2(\mu,\nu) = \mathbb E_{\theta\sim\mathcal U(S^{d-1})}\, W_2^2(\theta_\#\mu, \theta_\#\nu),

    each 1-D term computed exactly by sorting (the smaller cloud's quantiles are
    interpolated when the sizes differ). See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    y : Tensor, shape (m, d)
    n_directions : int
        Random directions drawn uniformly on the sphere.
    generator : torch.Generator, optional
        On ``x``'s device.

    Returns
    -------
    Tensor, shape ()

    References
    ----------
    Rabin, Peyré, Delon & Bernot (2011); Heitz, Vanhoey, Chambon & Belcour (CVPR 2021).

    Examples
    --------
    >>> x = torch.randn(200, 3)
    >>> g = torch.Generator().manual_seed(0)
    >>> sw = sliced_wasserstein(x, x + torch.tensor([3.0, 0.0, 0.0]), 5000, g)  # |v|^2 / d = 3
    >>> abs(sw.item() - 3.0) < 0.1
    True
    """
    x, y = _points(x, "x"), _points(y, "y")
    _same_dim(x, y)
    if n_directions < 1:
        raise ValueError(f"n_directions must be >= 1, got {n_directions}")
    theta = torch.randn(x.shape[1], n_directions, generator=generator, device=x.device, dtype=x.dtype)
    theta = theta / theta.norm(dim=0, keepdim=True)
    px = (x @ theta).sort(dim=0).values
    py = _quantiles((y.to(x.dtype) @ theta).sort(dim=0).values, x.shape[0])
    return (px - py).pow(2).mean()


def sliced_wasserstein_loss(
    points: torch.Tensor,
    target: torch.Tensor,
    n_directions: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Relative sliced Wasserstein style loss (Heitz et al. 2021).

    .. math:: \mathcal L = \frac{SW_2^2(F, F_t)}{\mathbb E_\theta\,\mathbb E_{y\sim F_t} (\theta^\top y)^2},

    with fresh random directions at every call (pass no generator during optimisation).
    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    points : Tensor, shape (n, d)
    target : Tensor, shape (m, d)
    n_directions : int, optional
        Defaults to d, as Heitz et al.
    generator : torch.Generator, optional

    Returns
    -------
    Tensor, shape ()

    Examples
    --------
    >>> f = torch.rand(30, 4)
    >>> sliced_wasserstein_loss(f, f).item()
    0.0
    """
    points, target = _points(points, "points"), _points(target, "target")
    _same_dim(points, target)
    k = points.shape[1] if n_directions is None else n_directions
    scale = target.pow(2).sum(dim=1).mean() / target.shape[1]  # E (theta . y)^2 for uniform theta
    return sliced_wasserstein(points, target, k, generator) / scale.clamp_min(_tiny(target))
