"""Style losses between feature point clouds: Gaussian W2 (Bures), sliced Wasserstein, Gram."""

from __future__ import annotations

import torch

from nips2019.utils import Generator, InstanceOf, Integer, Tensor, as_generator, validate

from ._checks import check_stats
from ._gaussian import GaussianStats, _STATS, _bures_with_root, _eig_power, _gaussian_stats

_POINTS = Tensor(shape=("n", "d"), dtype="floating")
_TARGET = Tensor(shape=("m", "d"), dtype="floating")


def _tiny(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(torch.finfo(x.dtype).tiny, device=x.device, dtype=x.dtype)


@validate(points=_POINTS)
def gram_matrix(points: torch.Tensor) -> torch.Tensor:
    r"""Uncentred second-moment (Gram) matrix of a feature cloud, :math:`G = \tfrac1n F^\top F`.

    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    points : Tensor, shape (n, d)
        At least one point (the mean of no products is undefined).

    Returns
    -------
    Tensor, shape (d, d)

    Examples
    --------
    >>> gram_matrix(torch.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[5.0, 7.0], [7.0, 10.0]]
    """
    return _gram(points)


def _gram(points: torch.Tensor) -> torch.Tensor:
    return points.T @ points / points.shape[0]


@validate(points=_POINTS, target=_TARGET, same=[("points", "target")])
def gram_loss(points: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Relative Gram-matrix style loss of Gatys et al. (2016).

    .. math:: \mathcal L = \|G(F) - G(F_t)\|_F^2 \,/\, \|G(F_t)\|_F^2 .

    See the chapter :doc:`Wasserstein style transfer </book/style>`.

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
    return _gram_loss(points, target)


def _gram_loss(points: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    gt = _gram(target)
    return (_gram(points) - gt).pow(2).sum() / gt.pow(2).sum().clamp_min(_tiny(gt))


class BuresTarget:
    """A style layer's Gaussian with its precomputed covariance square root.

    Parameters
    ----------
    stats : GaussianStats
        Mean (d,) and covariance (d, d) to match.

    Examples
    --------
    >>> t = BuresTarget(GaussianStats(torch.zeros(2), 4 * torch.eye(2)))
    >>> t.root.diag().tolist()
    [2.0, 2.0]
    """

    @validate(stats=_STATS)
    def __init__(self, stats: GaussianStats):
        check_stats("BuresTarget", stats=stats)
        self._set(stats)

    def _set(self, stats: GaussianStats) -> None:
        self.stats = stats
        self.root = _eig_power(stats.cov, 0.5, 0.0)
        self.scale = (stats.cov.diagonal().sum() + stats.mean.pow(2).sum()).clamp_min(_tiny(stats.cov))

    @classmethod
    def _unchecked(cls, stats: GaussianStats) -> "BuresTarget":
        target = cls.__new__(cls)
        target._set(stats)
        return target

    @property
    def device_dtype(self) -> tuple[torch.device, torch.dtype]:
        """Device and dtype of the target covariance (for ``same=`` groups)."""
        return self.stats.cov.device, self.stats.cov.dtype


@validate(points=_POINTS, target=InstanceOf(GaussianStats, BuresTarget), same=[("points", "target")])
def bures_loss(points: torch.Tensor, target: GaussianStats | BuresTarget) -> torch.Tensor:
    r"""Relative Gaussian 2-Wasserstein style loss (Mroueh 2020).

    .. math:: \mathcal L = W_2^2\big(\mathcal N(\mu_F,\Sigma_F),\ \mathcal N(\mu_t,\Sigma_t)\big)
       \,/\, \big(\operatorname{tr}\Sigma_t + \|\mu_t\|^2\big),

    differentiable in ``points`` (see :func:`bures_wasserstein`).
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

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
    >>> from nips2019.style import gaussian_stats
    >>> f = torch.randn(50, 4, dtype=torch.float64)
    >>> bures_loss(f, gaussian_stats(f)).item() < 1e-6
    True
    """
    if not isinstance(target, BuresTarget):
        check_stats("bures_loss", target=target)
        target = BuresTarget._unchecked(target)
    if target.stats.cov.shape[-1] != points.shape[1]:
        raise ValueError(
            f"bures_loss: points and target must have the same dimension, got {points.shape[1]} and "
            f"{target.stats.cov.shape[-1]}"
        )
    return _bures_loss(points, target)


def _bures_loss(points: torch.Tensor, target: BuresTarget) -> torch.Tensor:
    n, d = points.shape
    if n >= d:
        s = _gaussian_stats(points)
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


@validate(
    x=_POINTS,
    y=Tensor(shape=("m", "d"), dtype="floating"),
    n_directions=Integer(low=1),
    generator=Generator(),
    same=[("x", "y")],
)
def sliced_wasserstein(
    x: torch.Tensor, y: torch.Tensor, *, n_directions: int = 128, generator: int | torch.Generator | None = None
) -> torch.Tensor:
    r"""Monte-Carlo sliced 2-Wasserstein distance (squared) between two point clouds.

    .. math:: SW_2^2(\mu,\nu) = \mathbb E_{\theta\sim\mathcal U(S^{d-1})}\, W_2^2(\theta_\#\mu, \theta_\#\nu),

    each 1-D term computed exactly by sorting (the smaller cloud's quantiles are
    interpolated when the sizes differ). See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        At least one point.
    y : Tensor, shape (m, d)
        At least one point; same device and dtype as ``x``.
    n_directions : int
        Random directions drawn uniformly on the sphere.
    generator : int, torch.Generator or None
        The directions are drawn on the CPU and moved to ``x``'s device (package rule, see
        :func:`nips2019.utils.as_generator`).

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
    >>> sw = sliced_wasserstein(x, x + torch.tensor([3.0, 0.0, 0.0]), n_directions=5000, generator=g)  # |v|^2 / d = 3
    >>> abs(sw.item() - 3.0) < 0.1
    True
    """
    return _sliced_wasserstein(x, y, n_directions, as_generator(generator))


def _directions(d: int, k: int, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """k unit directions in R^d, drawn on the CPU with ``gen`` and moved to ``like``'s device and dtype."""
    theta = torch.randn(d, k, generator=gen, dtype=like.dtype).to(like.device)
    # A draw of exactly zero norm has probability zero; the floor keeps even that finite.
    return theta / theta.norm(dim=0, keepdim=True).clamp_min(torch.finfo(like.dtype).tiny)


def _sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, n_directions: int, gen: torch.Generator) -> torch.Tensor:
    theta = _directions(x.shape[1], n_directions, gen, x)
    px = (x @ theta).sort(dim=0).values
    py = _quantiles((y @ theta).sort(dim=0).values, x.shape[0])
    return (px - py).pow(2).mean()


@validate(
    points=_POINTS,
    target=_TARGET,
    n_directions=Integer(low=1, optional=True),
    generator=Generator(),
    same=[("points", "target")],
)
def sliced_wasserstein_loss(
    points: torch.Tensor,
    target: torch.Tensor,
    *,
    n_directions: int | None = None,
    generator: int | torch.Generator | None = None,
) -> torch.Tensor:
    r"""Relative sliced Wasserstein style loss (Heitz et al. 2021).

    .. math:: \mathcal L = \frac{SW_2^2(F, F_t)}{\mathbb E_\theta\,\mathbb E_{y\sim F_t} (\theta^\top y)^2},

    with fresh random directions at every call (pass no generator during optimisation).
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    points : Tensor, shape (n, d)
    target : Tensor, shape (m, d)
    n_directions : int, optional
        Defaults to d, as Heitz et al.
    generator : int, torch.Generator or None
        For the directions (drawn on the CPU, see :func:`sliced_wasserstein`).

    Returns
    -------
    Tensor, shape ()

    Examples
    --------
    >>> f = torch.rand(30, 4)
    >>> sliced_wasserstein_loss(f, f).item()
    0.0
    """
    return _sliced_wasserstein_loss(points, target, n_directions, as_generator(generator))


def _sliced_wasserstein_loss(
    points: torch.Tensor, target: torch.Tensor, n_directions: int | None, gen: torch.Generator
) -> torch.Tensor:
    k = points.shape[1] if n_directions is None else n_directions
    scale = target.pow(2).sum(dim=1).mean() / target.shape[1]  # E (theta . y)^2 for uniform theta
    return _sliced_wasserstein(points, target, k, gen) / scale.clamp_min(_tiny(target))
