"""A small exact Gaussian process: ARD squared-exponential kernel, marginal likelihood, posterior."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Generator, InstanceOf, Integer, Real, Tensor, as_generator, validate


def _sqdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = (a * a).sum(-1)[:, None] + (b * b).sum(-1)[None, :] - 2 * a @ b.T
    return d.clamp_min(0)


def _lml(k: torch.Tensor, y: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    n = y.shape[0]
    eye = torch.eye(n, dtype=k.dtype, device=k.device)
    chol = torch.linalg.cholesky(k + noise * eye)
    alpha = torch.cholesky_solve(y[:, None], chol)[:, 0]
    return -0.5 * (y @ alpha) - torch.log(torch.diagonal(chol)).sum() - 0.5 * n * math.log(2 * math.pi)


@validate(x=Tensor(shape=("n", "d"), dtype="floating"), y=Tensor(shape=("n",), dtype="floating"),
          lengthscale=Tensor(shape=("d",), dtype="floating", low=0, closed="neither"),
          outputscale=Real(low=0, closed="neither"), noise=Real(low=0, closed="neither"),
          same=[("x", "y", "lengthscale")])
def gp_log_marginal_likelihood(x: torch.Tensor, y: torch.Tensor, lengthscale: torch.Tensor, *,
                               outputscale: float = 1.0, noise: float = 1e-4) -> torch.Tensor:
    r"""Exact log marginal likelihood of a zero-mean GP with an ARD squared-exponential kernel.

    .. math::

        k(x, x') = \sigma_f^2 \exp\Bigl(-\tfrac12 \sum_i (x_i - x'_i)^2 / \ell_i^2\Bigr), \qquad
        \log p(y) = -\tfrac12 y^\top (K + \sigma_n^2 I)^{-1} y - \tfrac12 \log|K + \sigma_n^2 I|
        - \tfrac n2 \log 2\pi,

    computed through a Cholesky factor.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    y : Tensor, shape (n,)
    lengthscale : Tensor, shape (d,), positive
        :math:`\ell`.
    outputscale : float > 0
        :math:`\sigma_f^2`.
    noise : float > 0
        :math:`\sigma_n^2`.

    Returns
    -------
    Tensor, scalar
        Differentiable in every tensor argument; dtype and device of ``x``.

    Notes
    -----
    Matches scikit-learn's ``GaussianProcessRegressor.log_marginal_likelihood`` for the
    kernel ``ConstantKernel(outputscale) * RBF(lengthscale) + WhiteKernel(noise)`` with
    ``normalize_y=False``. See the chapter
    :doc:`Fourier-sparse set functions and high-dimensional BO </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(1, 2, dtype=torch.float64); y = torch.zeros(1, dtype=torch.float64)
    >>> lml = gp_log_marginal_likelihood(x, y, torch.ones(2, dtype=torch.float64), noise=1e-12)
    >>> round(float(lml), 4)  # -0.5 log(2 pi)
    -0.9189
    """
    k = outputscale * torch.exp(-0.5 * _sqdist(x / lengthscale, x / lengthscale))
    return _lml(k, y, torch.as_tensor(noise, dtype=x.dtype, device=x.device))


@dataclasses.dataclass
class GaussianProcess:
    r"""A Gaussian process fitted by :func:`fit_gp`, ready to predict.

    The kernel acts on features :math:`z = P x` (``projection``: the identity scaled by
    inverse lengthscales for an ARD GP, a learned :math:`p \times d` matrix for a GP in a
    learned low-dimensional space): :math:`k(x, x') = \sigma_f^2 \exp(-\tfrac12 \|P x - P x'\|^2)`.

    Attributes
    ----------
    x_train : Tensor, shape (n, d)
    y_mean, y_std : float
        The training targets are standardised with these before the fit.
    projection : Tensor, shape (p, d)
    outputscale : float
        :math:`\sigma_f^2` (for the standardised targets).
    noise : float
        :math:`\sigma_n^2` (for the standardised targets).
    log_marginal_likelihood : float
        Of the standardised targets at the fitted hyperparameters.
    chol : Tensor, shape (n, n)
        Cholesky factor of :math:`K + \sigma_n^2 I`.
    alpha : Tensor, shape (n,)
        :math:`(K + \sigma_n^2 I)^{-1} y`.
    """

    x_train: torch.Tensor
    y_mean: float
    y_std: float
    projection: torch.Tensor
    outputscale: float
    noise: float
    log_marginal_likelihood: float
    chol: torch.Tensor
    alpha: torch.Tensor

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The features :math:`z = P x` the kernel sees, shape (m, p)."""
        return x @ self.projection.T

    def predict(self, x: torch.Tensor):
        """Posterior mean and standard deviation of the latent function at ``x`` (shape (m, d)).

        Returns ``(mean, std)``, each of shape (m,), in the units of the training targets.
        """
        if x.ndim != 2 or x.shape[1] != self.x_train.shape[1]:
            raise ValueError(f"GaussianProcess.predict: x must have shape (m, {self.x_train.shape[1]}), "
                             f"got {tuple(x.shape)}")
        zs, zt = self.embed(x), self.embed(self.x_train)
        kxs = self.outputscale * torch.exp(-0.5 * _sqdist(zs, zt))
        mean = kxs @ self.alpha
        v = torch.linalg.solve_triangular(self.chol, kxs.T, upper=False)
        var = (self.outputscale - (v * v).sum(0)).clamp_min(1e-12)
        return self.y_mean + self.y_std * mean, self.y_std * var.sqrt()


@validate(x=Tensor(shape=("n", "d"), dtype="floating"), y=Tensor(shape=("n",), dtype="floating"),
          projection_dim=Integer(low=1, optional=True), n_steps=Integer(low=0), lr=Real(low=0, closed="neither"),
          min_noise=Real(low=0, closed="neither"), init=InstanceOf(GaussianProcess, optional=True),
          generator=Generator(), same=[("x", "y")])
def fit_gp(x: torch.Tensor, y: torch.Tensor, *, projection_dim: int | None = None, n_steps: int = 100,
           lr: float = 0.05, min_noise: float = 1e-6, init: GaussianProcess | None = None,
           generator=None) -> GaussianProcess:
    r"""Fit a GP by maximising its exact log marginal likelihood (Adam on log-parameters).

    Without ``projection_dim``: an ARD squared-exponential kernel, one lengthscale per
    input (:math:`P = \mathrm{diag}(1/\ell)`). With ``projection_dim = p``: the kernel
    acts on :math:`z = P x` with a learned :math:`P \in \mathbb R^{p \times d}`, trained
    jointly with :math:`\sigma_f^2, \sigma_n^2` on the same marginal likelihood: the linear
    case of the jointly learned feature map of Moriconi, Deisenroth & Sesh Kumar (2019).
    The targets are standardised first; the noise variance is kept above ``min_noise``.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    y : Tensor, shape (n,)
    projection_dim : int, optional
        Learn a :math:`p`-dimensional linear feature space.
    n_steps : int
        Adam steps.
    lr : float > 0
    min_noise : float > 0
    init : GaussianProcess, optional
        Warm start from an earlier fit with the same kind of kernel and input dimension
        (Bayesian optimisation refits after each new point).
    generator : None, int or torch.Generator
        Initialises the learned projection (Gaussian entries of variance :math:`1/d`).

    Returns
    -------
    GaussianProcess

    References
    ----------
    C. E. Rasmussen, C. K. I. Williams. Gaussian Processes for Machine Learning (2006),
    chapter 5; R. Moriconi, M. P. Deisenroth, K. S. Sesh Kumar,
    High-dimensional Bayesian optimization using low-dimensional feature spaces (2019).

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions and high-dimensional BO </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.linspace(-1, 1, 12, dtype=torch.float64)[:, None]
    >>> gp = fit_gp(x, torch.sin(3 * x[:, 0]), n_steps=100)
    >>> mean, std = gp.predict(torch.tensor([[0.1]], dtype=torch.float64))
    >>> bool(abs(mean - torch.sin(torch.tensor(0.3))) < 0.05)
    True
    """
    n, d = x.shape
    ym, ys = float(y.mean()), float(y.std()) if n > 1 else 1.0
    ys = ys if ys > 0 else 1.0
    yt = (y - ym) / ys
    opts = dict(dtype=x.dtype, device=x.device)
    if projection_dim is None:
        raw_p = torch.zeros(d, **opts, requires_grad=True)  # log inverse lengthscale (lengthscale 1)
    else:
        gen = as_generator(generator)
        start = torch.randn(projection_dim, d, generator=gen, dtype=x.dtype) / math.sqrt(d)
        raw_p = start.to(x.device).requires_grad_(True)
    raw_s = torch.zeros((), **opts, requires_grad=True)
    raw_n = torch.tensor(math.log(1e-2), **opts, requires_grad=True)
    if init is not None:
        if tuple(init.projection.shape) != (projection_dim or d, d):
            raise ValueError(f"fit_gp: init has a projection of shape {tuple(init.projection.shape)}, expected "
                             f"{(projection_dim or d, d)}")
        with torch.no_grad():
            if projection_dim is None:
                raw_p.copy_(torch.log(torch.diagonal(init.projection).clamp_min(1e-12)))
            else:
                raw_p.copy_(init.projection)
            raw_s.fill_(math.log(init.outputscale))
            raw_n.fill_(math.log(max(init.noise - min_noise, 1e-12)))
    opt = torch.optim.Adam([raw_p, raw_s, raw_n], lr=lr)

    def parts():
        proj = torch.diag(torch.exp(raw_p)) if projection_dim is None else raw_p
        return proj, torch.exp(raw_s), min_noise + torch.exp(raw_n)

    def loss():
        proj, s, nz = parts()
        z = x @ proj.T
        return -_lml(s * torch.exp(-0.5 * _sqdist(z, z)), yt, nz) / n

    for _ in range(n_steps):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    with torch.no_grad():
        proj, s, nz = parts()
        z = x @ proj.T
        k = s * torch.exp(-0.5 * _sqdist(z, z))
        chol = torch.linalg.cholesky(k + nz * torch.eye(n, **opts))
        alpha = torch.cholesky_solve(yt[:, None], chol)[:, 0]
        lml = float(_lml(k, yt, nz))
    return GaussianProcess(x.detach(), ym, ys, proj.detach(), float(s), float(nz), lml, chol, alpha)
