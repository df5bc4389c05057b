"""A linear-Gaussian latent model where the whole thermodynamic path is Gaussian in closed form."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Bool, Generator, Integer, Real, Tensor, as_generator, validate
from ..utils import randn as _randn

_X = Tensor(shape=("n", "D"), dtype="floating")
_W = Tensor(shape=("D", "d"), dtype="floating")
_B = Tensor(shape=("D",), dtype="floating")
_QM = Tensor(shape=("n", "d"), dtype="floating")
_QS = Tensor(shape=("n", "d"), dtype="floating", low=0.0, closed="neither")
_SAME = [("x", "weight", "bias", "q_mean", "q_std")]


@dataclasses.dataclass
class GaussianPathResult:
    r"""The geometric path :math:`\pi_\beta \propto q^{1-\beta} p(x, \cdot)^\beta` of a linear-Gaussian model.

    Attributes
    ----------
    betas : Tensor, shape (k,)
    mean : Tensor, shape (n, k, d)
        Mean of :math:`\pi_\beta`.
    cov : Tensor, shape (n, k, d, d)
        Covariance of :math:`\pi_\beta`.
    log_normalizer : Tensor, shape (n, k)
        :math:`\psi(\beta) = \log Z_\beta = \log \int q^{1-\beta} p(x, z)^\beta dz`;
        :math:`\psi(0) = 0`, :math:`\psi(1) = \log p(x)`.
    integrand : Tensor, shape (n, k)
        :math:`\eta(\beta) = \mathbb E_{\pi_\beta}[\log w] = \psi'(\beta)`.
    variance : Tensor, shape (n, k)
        :math:`\mathrm{Var}_{\pi_\beta}[\log w] = \eta'(\beta)`.
    """

    betas: torch.Tensor
    mean: torch.Tensor
    cov: torch.Tensor
    log_normalizer: torch.Tensor
    integrand: torch.Tensor
    variance: torch.Tensor


@dataclasses.dataclass
class ImportanceSample:
    r"""Samples from :math:`q(z \mid x)` with their log-weights.

    Attributes
    ----------
    z : Tensor, shape (n, s, d)
    log_weight : Tensor, shape (n, s)
        :math:`\log p(x, z_s) - \log q(z_s \mid x)`.
    log_q : Tensor, shape (n, s)
        :math:`\log q(z_s \mid x)`.
    """

    z: torch.Tensor
    log_weight: torch.Tensor
    log_q: torch.Tensor


def _quadratics(x, weight, bias, noise_std, q_mean, q_std):
    # log p(x, z) = -z'Lp z/2 + hp'z + cp ; log q(z) = -z'Lq z/2 + hq'z + cq (per data point)
    D, d = weight.shape
    var = noise_std ** 2
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    lp = eye + weight.T @ weight / var  # (d, d)
    r = x - bias
    hp = r @ weight / var  # (n, d)
    cp = -0.5 * (r * r).sum(-1) / var - 0.5 * D * math.log(2 * math.pi * var) - 0.5 * d * math.log(2 * math.pi)
    prec_q = q_std ** -2
    lq = torch.diag_embed(prec_q)  # (n, d, d)
    hq = q_mean * prec_q
    cq = -0.5 * (q_mean * hq).sum(-1) - 0.5 * d * math.log(2 * math.pi) - torch.log(q_std).sum(-1)
    return lp, hp, cp, lq, hq, cq


@validate(x=_X, weight=_W, bias=_B, noise_std=Real(low=0.0, closed="neither"), q_mean=_QM, q_std=_QS,
          betas=Tensor(ndim=1, dtype="floating", low=0.0, high=1.0),
          same=[("x", "weight", "bias", "q_mean", "q_std", "betas")])
def linear_gaussian_path(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, noise_std: float,
                         q_mean: torch.Tensor, q_std: torch.Tensor, betas: torch.Tensor) -> GaussianPathResult:
    r"""The thermodynamic path of :math:`z \sim N(0, I_d)`, :math:`x \mid z \sim N(Wz + b, \sigma^2 I_D)` in closed form.

    With a Gaussian :math:`q(z \mid x) = N(m, \mathrm{diag}(s^2))`, both :math:`\log q` and
    :math:`\log p(x, z)` are quadratic in :math:`z`, so is :math:`f = \log w =
    -\tfrac12 z^\top A z + a^\top z + c`, and every
    :math:`\pi_\beta \propto q\, e^{\beta f}` is Gaussian with precision
    :math:`\Lambda_q + \beta A = (1 - \beta)\Lambda_q + \beta (I + W^\top W / \sigma^2)`.
    Completing the square gives :math:`\psi(\beta) = \log Z_\beta`, and the moments of a
    quadratic under a Gaussian give

    .. math::

        \eta(\beta) = -\tfrac12 \operatorname{tr}(A\Sigma_\beta)
        - \tfrac12 \mu_\beta^\top A \mu_\beta + a^\top \mu_\beta + c, \qquad
        \eta'(\beta) = \tfrac12 \operatorname{tr}\bigl((A\Sigma_\beta)^2\bigr)
        + (a - A\mu_\beta)^\top \Sigma_\beta (a - A\mu_\beta).

    Everything is differentiable in all inputs (autograd of :math:`\eta` is the exact
    gradient that TVO estimators approximate).

    Parameters
    ----------
    x : Tensor, shape (n, D)
    weight : Tensor, shape (D, d)
        :math:`W`.
    bias : Tensor, shape (D,)
        :math:`b`.
    noise_std : float > 0
        :math:`\sigma`.
    q_mean, q_std : Tensor, shape (n, d)
        :math:`m` and :math:`s > 0` of the diagonal Gaussian :math:`q(z \mid x)`.
    betas : Tensor, shape (k,), values in [0, 1]

    Returns
    -------
    GaussianPathResult

    Notes
    -----
    See the chapter :doc:`The thermodynamic variational objective </book/tvo>`.

    Examples
    --------
    >>> x, w, b = torch.ones(1, 2), torch.ones(2, 1), torch.zeros(2)
    >>> q_mean, q_std = torch.zeros(1, 1), torch.ones(1, 1)
    >>> path = linear_gaussian_path(x, w, b, 1.0, q_mean, q_std, torch.tensor([0.0, 1.0]))
    >>> path.log_normalizer[0, 0].abs() < 1e-6
    tensor(True)
    >>> torch.allclose(path.log_normalizer[:, 1], linear_gaussian_log_evidence(x, w, b, 1.0))
    True
    """
    lp, hp, cp, lq, hq, cq = _quadratics(x, weight, bias, noise_std, q_mean, q_std)
    d = weight.shape[1]
    A, a, c = lp - lq, hp - hq, cp - cq  # (n,d,d), (n,d), (n,)
    bt = betas.to(x.dtype)[None, :, None]
    prec = lq[:, None] + bt[..., None] * A[:, None]  # (n, k, d, d)
    h = hq[:, None] + bt * a[:, None]  # (n, k, d)
    chol = torch.linalg.cholesky(prec)
    cov = torch.cholesky_inverse(chol)
    mean = torch.cholesky_solve(h.unsqueeze(-1), chol).squeeze(-1)
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    b2 = betas.to(x.dtype)[None, :]
    psi = cq[:, None] + b2 * c[:, None] + 0.5 * (h * mean).sum(-1) + 0.5 * d * math.log(2 * math.pi) - 0.5 * logdet
    Ak = A[:, None]
    A_cov = Ak @ cov
    Amu = (Ak @ mean.unsqueeze(-1)).squeeze(-1)
    eta = (-0.5 * torch.diagonal(A_cov, dim1=-2, dim2=-1).sum(-1) - 0.5 * (mean * Amu).sum(-1)
           + (a[:, None] * mean).sum(-1) + c[:, None])
    g = a[:, None] - Amu
    var = 0.5 * (A_cov * A_cov.transpose(-1, -2)).sum((-1, -2)) + (g * (cov @ g.unsqueeze(-1)).squeeze(-1)).sum(-1)
    return GaussianPathResult(betas=betas, mean=mean, cov=cov, log_normalizer=psi, integrand=eta, variance=var)


@validate(x=_X, weight=_W, bias=_B, noise_std=Real(low=0.0, closed="neither"), same=[("x", "weight", "bias")])
def linear_gaussian_log_evidence(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                                 noise_std: float) -> torch.Tensor:
    r"""Exact :math:`\log p(x) = \log N(x;\, b,\, W W^\top + \sigma^2 I)` of the linear-Gaussian model.

    The marginal of probabilistic PCA, computed through a Cholesky factor of the
    :math:`D \times D` covariance (independently of :func:`linear_gaussian_path`, which
    reaches the same number by completing the square in :math:`z`).

    Parameters
    ----------
    x : Tensor, shape (n, D)
    weight : Tensor, shape (D, d)
    bias : Tensor, shape (D,)
    noise_std : float > 0

    Returns
    -------
    Tensor, shape (n,)

    Notes
    -----
    See the chapter :doc:`The thermodynamic variational objective </book/tvo>`.

    Examples
    --------
    >>> x = torch.zeros(1, 1)
    >>> linear_gaussian_log_evidence(x, torch.ones(1, 1), torch.zeros(1), 1.0)  # log N(0; 0, 2)
    tensor([-1.2655])
    """
    D = weight.shape[0]
    cov = weight @ weight.T + noise_std ** 2 * torch.eye(D, dtype=x.dtype, device=x.device)
    chol = torch.linalg.cholesky(cov)
    r = (x - bias).unsqueeze(-1)
    sol = torch.linalg.solve_triangular(chol, r, upper=False).squeeze(-1)
    logdet = 2 * torch.log(torch.diagonal(chol)).sum()
    return -0.5 * (sol * sol).sum(-1) - 0.5 * logdet - 0.5 * D * math.log(2 * math.pi)


@validate(x=_X, weight=_W, bias=_B, noise_std=Real(low=0.0, closed="neither"), q_mean=_QM, q_std=_QS,
          n_samples=Integer(low=1), reparameterize=Bool(), generator=Generator(), same=_SAME)
def linear_gaussian_importance(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, noise_std: float,
                               q_mean: torch.Tensor, q_std: torch.Tensor, n_samples: int, *,
                               reparameterize: bool = True, generator=None) -> ImportanceSample:
    r"""Draw :math:`z_s \sim q(z \mid x) = N(m, \mathrm{diag}(s^2))` and their log-weights under the linear-Gaussian model.

    :math:`z_s = m + s \odot \epsilon_s`. With ``reparameterize=True`` gradients flow
    through :math:`z_s` (pathwise estimators); with ``False`` the samples are detached
    and only the densities carry gradients (what :func:`tvo_surrogate` needs).

    Parameters
    ----------
    x : Tensor, shape (n, D)
    weight, bias, noise_std
        The model (see :func:`linear_gaussian_path`).
    q_mean, q_std : Tensor, shape (n, d)
    n_samples : int
        ``s``.
    reparameterize : bool
    generator : None, int or torch.Generator

    Returns
    -------
    ImportanceSample

    Notes
    -----
    See the chapter :doc:`The thermodynamic variational objective </book/tvo>`.

    Examples
    --------
    >>> x, w, b = torch.ones(3, 2), torch.ones(2, 1), torch.zeros(2)
    >>> smp = linear_gaussian_importance(x, w, b, 1.0, torch.zeros(3, 1), torch.ones(3, 1), 5, generator=0)
    >>> smp.log_weight.shape, smp.z.shape
    (torch.Size([3, 5]), torch.Size([3, 5, 1]))
    """
    n, d = q_mean.shape
    D = weight.shape[0]
    eps = _randn(n, n_samples, d, generator=as_generator(generator), device=x.device, dtype=x.dtype)
    z = q_mean[:, None] + q_std[:, None] * eps
    if not reparameterize:
        z = z.detach()
    eps_q = (z - q_mean[:, None]) / q_std[:, None]
    log_q = -0.5 * (eps_q * eps_q).sum(-1) - torch.log(q_std).sum(-1)[:, None] - 0.5 * d * math.log(2 * math.pi)
    resid = x[:, None] - z @ weight.T - bias
    var = noise_std ** 2
    log_joint = (-0.5 * (resid * resid).sum(-1) / var - 0.5 * D * math.log(2 * math.pi * var)
                 - 0.5 * (z * z).sum(-1) - 0.5 * d * math.log(2 * math.pi))
    return ImportanceSample(z=z, log_weight=log_joint - log_q, log_q=log_q)
