r"""The Bayesian learning rule for Gaussian posteriors, and the optimisers it contains.

Khan & Rue (2021) write learning as natural-gradient descent on a variational objective
:math:`\mathbb{E}_q[\bar\ell(\theta)] - \mathcal{H}(q)`. For a Gaussian
:math:`q = \mathcal{N}(m, S^{-1})` the natural-gradient step with step size :math:`\rho` is

.. math::

    S \leftarrow (1 - \rho) S + \rho\, \mathbb{E}_q[\nabla^2 \bar\ell(\theta)],\qquad
    m \leftarrow m - \rho\, S^{-1}\, \mathbb{E}_q[\nabla \bar\ell(\theta)]

(the variational online Newton update). Replacing the expectations by their value at the
mean (the delta method) gives Newton's method for :math:`\rho = 1`; a diagonal :math:`S`
and squared per-example gradients in place of the Hessian give VOGN and, at the mean, an
RMSprop-like update without the square root. See the chapter :doc:`Gradients and update
rules </book/gradients>`.
"""

from __future__ import annotations

import dataclasses

import torch
from torch.func import grad, hessian, jacrev, vmap

from nips2019.utils import (Generator, Integer, InstanceOf, IsCallable, Options, Real, Tensor, as_generator,
                            validate)

__all__ = ["GaussianPosterior", "blr_step", "logistic_predictive"]


@dataclasses.dataclass
class GaussianPosterior:
    r"""A Gaussian :math:`\mathcal{N}(m, S^{-1})` in mean / precision form.

    Attributes
    ----------
    mean : Tensor, shape (d,)
        :math:`m`.
    precision : Tensor, shape (d, d) or (d,)
        :math:`S`, full (symmetric positive definite) or diagonal (positive entries).

    Examples
    --------
    >>> import torch
    >>> q = GaussianPosterior(torch.zeros(2), torch.tensor([4.0, 1.0]))
    >>> q.covariance
    tensor([[0.2500, 0.0000],
            [0.0000, 1.0000]])
    """

    mean: torch.Tensor
    precision: torch.Tensor

    def __post_init__(self):
        name = "GaussianPosterior"
        for arg, value in (("mean", self.mean), ("precision", self.precision)):
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{name}: {arg} must be a torch.Tensor, got {type(value).__name__}")
            if not value.is_floating_point():
                raise TypeError(f"{name}: {arg} must have a floating dtype, got {value.dtype}")
            if value.numel() == 0 or not bool(torch.isfinite(value).all()):
                raise ValueError(f"{name}: {arg} must be non-empty and finite")
        if self.mean.dim() != 1:
            raise ValueError(f"{name}: mean must be 1-D (d,), got shape {tuple(self.mean.shape)}")
        d = self.mean.shape[0]
        if self.precision.shape not in ((d,), (d, d)):
            raise ValueError(f"{name}: precision must have shape ({d},) or ({d}, {d}), "
                             f"got {tuple(self.precision.shape)}")
        if self.precision.dtype != self.mean.dtype or self.precision.device != self.mean.device:
            raise ValueError(f"{name}: mean and precision must share dtype and device, got "
                             f"{self.mean.dtype}/{self.mean.device} and "
                             f"{self.precision.dtype}/{self.precision.device}")
        if self.diagonal:
            if not bool((self.precision > 0).all()):
                raise ValueError(f"{name}: a diagonal precision must be positive")
        elif torch.linalg.cholesky_ex(self.precision).info.item() != 0:
            raise ValueError(f"{name}: precision must be symmetric positive definite")

    @property
    def diagonal(self) -> bool:
        """Whether the precision is stored as its diagonal."""
        return self.precision.dim() == 1

    @property
    def covariance(self) -> torch.Tensor:
        """:math:`S^{-1}`, shape (d, d)."""
        if self.diagonal:
            return torch.diag(1.0 / self.precision)
        return torch.cholesky_inverse(torch.linalg.cholesky(self.precision))

    def _noise_factor(self, eps: torch.Tensor) -> torch.Tensor:
        """Map standard normals (k, d) to draws of N(0, S^{-1})."""
        if self.diagonal:
            return eps / self.precision.sqrt()
        chol = torch.linalg.cholesky(self.precision)  # S = L L^T, so L^{-T} eps has covariance S^{-1}
        return torch.linalg.solve_triangular(chol.T, eps.T, upper=True).T

    def sample(self, n_samples: int, *, generator=None) -> torch.Tensor:
        """Draws, shape (n_samples, d)."""
        eps = torch.randn(n_samples, self.mean.shape[0], generator=as_generator(generator),
                          dtype=self.mean.dtype).to(self.mean.device)
        return self.mean + self._noise_factor(eps)




def _batched(fn, thetas):
    """``fn`` over the rows of ``thetas`` with vmap; a plain loop for losses vmap cannot trace."""
    try:
        return vmap(fn)(thetas)
    except (RuntimeError, ValueError, NotImplementedError):
        return torch.stack([fn(t) for t in thetas])


@validate(loss=IsCallable(), posterior=InstanceOf(GaussianPosterior), lr=Real(low=0, high=1, closed="right"),
          prior_precision=Real(low=0), method=Options("mc", "delta"),
          hessian_approx=Options("exact", "squared_gradients"), n_samples=Integer(low=1),
          n_data=Integer(low=1, optional=True), generator=Generator())
def blr_step(loss, posterior, *, lr=1.0, prior_precision=1.0, method="mc", hessian_approx="exact",
             n_samples=1, n_data=None, generator=None):
    r"""One step of the Bayesian learning rule for a Gaussian posterior (VON / VOGN / Newton).

    With :math:`\bar\ell(\theta) = c \sum_i \ell_i(\theta) + \frac{\delta}{2}\|\theta\|^2`
    (:math:`\delta` = ``prior_precision``, :math:`c` = ``n_data / n`` for a minibatch of
    :math:`n` examples, else 1):

    .. math::

        S' = (1 - \rho) S + \rho\, \mathbb{E}_q[H(\theta)],\qquad
        m' = m - \rho\, S'^{-1}\, \mathbb{E}_q[\nabla \bar\ell(\theta)],

    where :math:`H` is the Hessian of :math:`\bar\ell` (``hessian_approx="exact"``) or
    :math:`c\sum_i g_i g_i^\top + \delta I` with per-example gradients :math:`g_i`
    (``"squared_gradients"``, the Gauss-Newton-like approximation of VOGN; its diagonal
    for a diagonal posterior). ``method="mc"`` estimates the expectations with
    ``n_samples`` antithetic pairs :math:`m \pm S^{-1/2}\epsilon` (exact for quadratic
    losses); ``method="delta"`` evaluates them at :math:`m`.

    Special cases: ``method="delta"``, exact Hessian, :math:`\rho = 1`: Newton's step
    :math:`m' = m - H(m)^{-1}\nabla\bar\ell(m)`. Diagonal, ``"delta"``,
    ``"squared_gradients"``: :math:`s' = (1-\rho)s + \rho(c\sum_i g_i^2 + \delta)`,
    :math:`m' = m - \rho\,\nabla\bar\ell(m) / s'`, RMSprop's update without its square root.

    Parameters
    ----------
    loss : callable
        :math:`\theta` (shape (d,)) -> per-example losses (n,) or their sum (a scalar);
        differentiable by ``torch.func`` (``"squared_gradients"`` needs per-example losses).
    posterior : GaussianPosterior
        The current :math:`q` (full or diagonal precision).
    lr : float
        Step size :math:`\rho \in (0, 1]`.
    prior_precision : float
        :math:`\delta \ge 0` of the prior :math:`\mathcal{N}(0, \delta^{-1} I)`.
    method : {"mc", "delta"}
        How the expectations under :math:`q` are taken.
    hessian_approx : {"exact", "squared_gradients"}
        Curvature used.
    n_samples : int
        Antithetic pairs for ``method="mc"``.
    n_data : int, optional
        Size of the full data set when ``loss`` covers a minibatch.
    generator : None, int or torch.Generator
        Randomness.

    Returns
    -------
    GaussianPosterior
        The updated :math:`q` (same storage: full or diagonal).

    References
    ----------
    Khan & Rue (2021) ``khan2021bayesian``; Khan et al. (2018) ``khan2018fast``; Osawa et al.
    (2019) ``osawa2019practical``.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    >>> y = torch.tensor([0.1, 0.9, 2.1], dtype=torch.float64)
    >>> q0 = GaussianPosterior(torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    >>> q = blr_step(lambda t: 0.5 * (y - x @ t) ** 2, q0, lr=1.0, prior_precision=1.0)
    >>> q.precision   # exact posterior precision X^T X + I
    tensor([[4., 3.],
            [3., 6.]], dtype=torch.float64)
    """
    name = "blr_step"
    q = posterior
    d = q.mean.shape[0]
    probe = loss(q.mean.detach())
    if not isinstance(probe, torch.Tensor) or probe.dim() > 1:
        shape = tuple(probe.shape) if isinstance(probe, torch.Tensor) else ""
        raise ValueError(f"{name}: loss must return a scalar or per-example losses (n,), got "
                         f"{type(probe).__name__} {shape}")
    if probe.dtype != q.mean.dtype or probe.device != q.mean.device:
        raise ValueError(f"{name}: loss returned {probe.dtype} on {probe.device}, but posterior is "
                         f"{q.mean.dtype} on {q.mean.device}")
    if not bool(torch.isfinite(probe).all()):
        raise ValueError(f"{name}: loss is not finite at the posterior mean")
    n = probe.shape[0] if probe.dim() == 1 else 1
    if hessian_approx == "squared_gradients" and probe.dim() == 0:
        raise ValueError(f"{name}: hessian_approx='squared_gradients' needs per-example losses (n,), "
                         "but loss returned a scalar")
    c = 1.0 if n_data is None else n_data / n
    delta = float(prior_precision)

    def total(theta):
        return c * loss(theta).sum() + 0.5 * delta * (theta * theta).sum()

    if method == "delta":
        thetas = q.mean.detach()[None]
    else:
        eps = torch.randn(n_samples, d, generator=as_generator(generator), dtype=q.mean.dtype)
        eps = eps.to(q.mean.device)
        noise = q._noise_factor(eps)
        thetas = torch.cat([q.mean + noise, q.mean - noise]).detach()

    g_mean = _batched(grad(total), thetas).mean(0)
    eye = torch.eye(d, dtype=q.mean.dtype, device=q.mean.device)
    if hessian_approx == "exact":
        h = _batched(hessian(total), thetas).mean(0)
        h = torch.diagonal(h) if q.diagonal else h
    else:
        per = _batched(jacrev(loss), thetas)  # (k, n, d)
        if q.diagonal:
            h = c * (per * per).sum(1).mean(0) + delta
        else:
            h = c * torch.einsum("kni,knj->ij", per, per) / per.shape[0] + delta * eye
    new_precision = (1 - lr) * q.precision + lr * h
    if not bool(torch.isfinite(new_precision).all()) or not bool(torch.isfinite(g_mean).all()):
        raise ValueError(f"{name}: the loss's gradient or curvature is not finite under the posterior")
    if q.diagonal:
        if not bool((new_precision > 0).all()):
            raise ValueError(f"{name}: the updated precision has non-positive entries (a non-convex loss "
                             "with hessian_approx='exact'; use 'squared_gradients' or a smaller lr)")
        new_mean = q.mean - lr * g_mean / new_precision
    else:
        chol, info = torch.linalg.cholesky_ex(new_precision)
        if info.item() != 0:
            raise ValueError(f"{name}: the updated precision is not positive definite (a non-convex loss "
                             "with hessian_approx='exact'; use 'squared_gradients' or a smaller lr)")
        new_mean = q.mean - lr * torch.cholesky_solve(g_mean[:, None], chol)[:, 0]
    return GaussianPosterior(new_mean.detach(), new_precision.detach())


@validate(posterior=InstanceOf(GaussianPosterior), x=Tensor(shape=("n", "d"), dtype="floating"),
          method=Options("probit", "mc"), n_samples=Integer(low=1), generator=Generator())
def logistic_predictive(posterior, x, *, method="probit", n_samples=1000, generator=None):
    r"""Posterior predictive of logistic regression, :math:`\mathbb{E}_q[\sigma(x^\top\theta)]`.

    With :math:`a = x^\top\theta \sim \mathcal{N}(x^\top m, x^\top S^{-1} x)`, ``"probit"``
    uses MacKay's approximation :math:`\sigma\big(\mu_a / \sqrt{1 + \pi s_a^2 / 8}\big)`;
    ``"mc"`` averages :math:`\sigma(a)` over ``n_samples`` draws of :math:`\theta`.

    Parameters
    ----------
    posterior : GaussianPosterior
        :math:`q` over the weights, dimension d.
    x : Tensor, shape (n, d)
        Inputs (include a constant column for a bias).
    method : {"probit", "mc"}
        Approximation of the integral.
    n_samples : int
        Draws for ``"mc"``.
    generator : None, int or torch.Generator
        Randomness for ``"mc"``.

    Returns
    -------
    Tensor, shape (n,)
        Probabilities in (0, 1).

    Examples
    --------
    >>> import torch
    >>> q = GaussianPosterior(torch.tensor([2.0]), torch.tensor([0.1]))
    >>> p = logistic_predictive(q, torch.tensor([[1.0]]))
    >>> bool(0.5 < p < torch.sigmoid(torch.tensor(2.0)))   # pulled towards 1/2
    True
    """
    q = posterior
    if x.shape[1] != q.mean.shape[0]:
        raise ValueError(f"logistic_predictive: x must have d = {q.mean.shape[0]} columns (the posterior's "
                         f"dimension), got {x.shape[1]}")
    if x.dtype != q.mean.dtype or x.device != q.mean.device:
        raise ValueError(f"logistic_predictive: x is {x.dtype} on {x.device} but posterior is "
                         f"{q.mean.dtype} on {q.mean.device}")
    mu = x @ q.mean
    if method == "mc":
        theta = q.sample(n_samples, generator=generator)
        return torch.sigmoid(x @ theta.T).mean(1)
    var = (x * (x @ q.covariance)).sum(1) if not q.diagonal else (x * x / q.precision).sum(1)
    return torch.sigmoid(mu / torch.sqrt(1 + torch.pi * var / 8))
