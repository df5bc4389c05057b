"""Partition schedules, the thermodynamic integrand and the TVO Riemann sums from importance weights."""

from __future__ import annotations

import math

import torch

from ..utils import Device, DType, Integer, Options, Real, Tensor, validate

_LOGW = Tensor(shape=("...", "s"), dtype="floating")
_BETAS = Tensor(ndim=1, dtype="floating", low=0.0, high=1.0)


@validate(n_partitions=Integer(low=1), kind=Options("linear", "log"),
          beta_min=Real(low=0.0, high=1.0, closed="neither"), dtype=DType(optional=True),
          device=Device())
def partition_schedule(n_partitions: int, *, kind: str = "log", beta_min: float = 0.01,
                       dtype=None, device=None) -> torch.Tensor:
    r"""The points :math:`0 = \beta_0 < \beta_1 < \dots < \beta_K = 1` of a TVO partition.

    ``"linear"``: :math:`\beta_k = k / K`. ``"log"`` (the schedule of Masrani et al.):
    :math:`\beta_0 = 0` and :math:`\beta_1, \dots, \beta_K` equally spaced in
    :math:`\log \beta` from ``beta_min`` to 1, so most points sit near :math:`\beta = 0`
    where the integrand rises fastest. With one partition both are :math:`(0, 1)`: the
    left Riemann sum is then the ELBO.

    Parameters
    ----------
    n_partitions : int >= 1
        :math:`K`.
    kind : {"linear", "log"}
    beta_min : float in (0, 1)
        :math:`\beta_1` of the log schedule (ignored by ``"linear"``).
    dtype, device : optional
        Of the output (default float32, CPU).

    Returns
    -------
    Tensor, shape (n_partitions + 1,)

    Notes
    -----
    See the chapter :doc:`The thermodynamic variational objective </book/tvo>`.

    Examples
    --------
    >>> partition_schedule(2, kind="linear")
    tensor([0.0000, 0.5000, 1.0000])
    >>> partition_schedule(3, kind="log", beta_min=0.01, dtype=torch.float64)
    tensor([0.0000, 0.0100, 0.1000, 1.0000], dtype=torch.float64)
    """
    dtype = dtype or torch.get_default_dtype()
    if n_partitions == 1:
        return torch.tensor([0.0, 1.0], dtype=dtype, device=device)
    if kind == "linear":
        return torch.linspace(0.0, 1.0, n_partitions + 1, dtype=dtype, device=device)
    logs = torch.linspace(math.log10(beta_min), 0.0, n_partitions, dtype=torch.float64)
    out = torch.cat([torch.zeros(1, dtype=torch.float64), 10.0 ** logs])
    out[-1] = 1.0
    return out.to(dtype=dtype, device=device)


def _integrand(log_weight: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    # (..., s), (k,) -> (..., k): self-normalised estimate of E_{pi_beta}[log w]
    lw = log_weight.unsqueeze(-2)  # (..., 1, s)
    wbar = torch.softmax(betas.to(log_weight.dtype).unsqueeze(-1) * lw, dim=-1)  # (..., k, s)
    return (wbar * lw).sum(-1)


@validate(log_weight=_LOGW, betas=_BETAS, same=[("log_weight", "betas")])
def tvo_integrand(log_weight: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    r"""Self-normalised importance estimate of the thermodynamic integrand at each :math:`\beta`.

    With samples :math:`z_s \sim q(z \mid x)` and log-weights
    :math:`\log w_s = \log p(x, z_s) - \log q(z_s \mid x)`, the expectation under the
    geometric path :math:`\pi_\beta \propto q^{1-\beta} p(x, \cdot)^{\beta}` is

    .. math::

        \eta(\beta) = \mathbb E_{\pi_\beta}[\log w]
        \approx \sum_s \bar w_{\beta, s} \log w_s, \qquad
        \bar w_{\beta, s} = \frac{w_s^\beta}{\sum_{s'} w_{s'}^\beta}.

    At :math:`\beta = 0` this is the sample mean of :math:`\log w` (an unbiased ELBO
    estimate); for :math:`\beta > 0` it is consistent but biased for finite samples.
    Differentiable: with reparameterised samples autograd gives a pathwise gradient.

    Parameters
    ----------
    log_weight : Tensor, shape (..., s)
        Log importance weights of ``s`` samples from :math:`q` (per data point in the
        leading dimensions).
    betas : Tensor, shape (k,), values in [0, 1]

    Returns
    -------
    Tensor, shape (..., k)

    Notes
    -----
    See the chapter :doc:`The thermodynamic variational objective </book/tvo>`.

    Examples
    --------
    >>> lw = torch.tensor([0.0, 1.0])
    >>> tvo_integrand(lw, torch.tensor([0.0, 1.0]))
    tensor([0.5000, 0.7311])
    """
    return _integrand(log_weight, betas)


def _check_partition(func: str, betas: torch.Tensor) -> None:
    if betas.numel() < 2:
        raise ValueError(f"{func}: betas must have at least 2 points (0 and 1), got {betas.numel()}")
    if float(betas[0]) != 0.0 or float(betas[-1]) != 1.0:
        raise ValueError(f"{func}: betas must start at 0 and end at 1, got {float(betas[0])} .. "
                         f"{float(betas[-1])}")
    if bool((betas[1:] <= betas[:-1]).any()):
        raise ValueError(f"{func}: betas must be strictly increasing")


@validate(log_weight=_LOGW, betas=_BETAS, side=Options("lower", "upper"),
          same=[("log_weight", "betas")])
def tvo_bound(log_weight: torch.Tensor, betas: torch.Tensor, *, side: str = "lower") -> torch.Tensor:
    r"""The thermodynamic variational objective: a Riemann sum of the integrand over a partition.

    Since :math:`\log p(x) = \int_0^1 \eta(\beta)\, d\beta` and :math:`\eta` is
    non-decreasing (:math:`\eta' = \mathrm{Var}_{\pi_\beta}[\log w] \ge 0`),

    .. math::

        \mathrm{TVO}_L = \sum_{k=0}^{K-1} (\beta_{k+1} - \beta_k)\, \eta(\beta_k)
        \;\le\; \log p(x) \;\le\;
        \sum_{k=0}^{K-1} (\beta_{k+1} - \beta_k)\, \eta(\beta_{k+1}) = \mathrm{TVO}_U,

    with :math:`\eta` estimated by :func:`tvo_integrand`. One partition gives the ELBO
    (lower) and the EUBO :math:`\mathbb E_{p(z \mid x)}[\log w]` (upper). The bound
    ordering holds for the exact integrand; the self-normalised estimate at
    :math:`\beta > 0` is biased, so an estimated sum is not guaranteed to respect it.

    Parameters
    ----------
    log_weight : Tensor, shape (..., s)
    betas : Tensor, shape (K + 1,)
        A partition: starts at 0, ends at 1, strictly increasing
        (see :func:`partition_schedule`).
    side : {"lower", "upper"}
        Left or right Riemann sum.

    Returns
    -------
    Tensor, shape (...)

    Notes
    -----
    The gap of the exact left sum is :math:`\sum_k \mathrm{KL}(\pi_{\beta_k} \,\|\,
    \pi_{\beta_{k+1}})`, of the right sum :math:`\sum_k \mathrm{KL}(\pi_{\beta_{k+1}}
    \,\|\, \pi_{\beta_k})` (Brekelmans et al. 2020). See the chapter
    :doc:`The thermodynamic variational objective </book/tvo>`.

    References
    ----------
    Masrani, Le & Wood, *The thermodynamic variational objective*, NeurIPS 2019.

    Examples
    --------
    >>> lw = torch.tensor([-1.0, 0.0, 1.0])
    >>> betas = torch.tensor([0.0, 1.0])
    >>> tvo_bound(lw, betas)  # the ELBO estimate: mean log-weight
    tensor(0.)
    >>> tvo_bound(lw, betas, side="upper") > 0
    tensor(True)
    """
    _check_partition("tvo_bound", betas)
    eta = _integrand(log_weight, betas)
    delta = (betas[1:] - betas[:-1]).to(log_weight.dtype)
    return (eta[..., :-1] if side == "lower" else eta[..., 1:]) @ delta


@validate(log_weight=_LOGW)
def iwae_bound(log_weight: torch.Tensor) -> torch.Tensor:
    r"""The importance-weighted bound :math:`\log \frac1S \sum_s w_s` (Burda et al. 2016).

    A lower bound on :math:`\log p(x)` in expectation, tighter as ``s`` grows; with many
    samples it is the usual estimate of a model's held-out log-likelihood.

    Parameters
    ----------
    log_weight : Tensor, shape (..., s)

    Returns
    -------
    Tensor, shape (...)

    Notes
    -----
    See the chapter :doc:`The thermodynamic variational objective </book/tvo>`.

    Examples
    --------
    >>> iwae_bound(torch.log(torch.tensor([1.0, 3.0])))
    tensor(0.6931)
    """
    return torch.logsumexp(log_weight, -1) - math.log(log_weight.shape[-1])


@validate(log_weight=_LOGW, log_q=Tensor(shape=("...", "s"), dtype="floating"), betas=_BETAS,
          side=Options("lower", "upper"), same=[("log_weight", "log_q", "betas")])
def tvo_surrogate(log_weight: torch.Tensor, log_q: torch.Tensor, betas: torch.Tensor, *,
                  side: str = "lower") -> torch.Tensor:
    r"""A surrogate whose value is :func:`tvo_bound` and whose gradient is the covariance estimator.

    For a partition point :math:`\beta` and :math:`f = \log w = \log p_\theta(x, z) -
    \log q_\phi(z \mid x)` evaluated at *fixed* samples :math:`z_s`, the gradient in all
    parameters :math:`\lambda = (\theta, \phi)` of :math:`\mathbb E_{\pi_\beta}[f]` is

    .. math::

        \nabla_\lambda \mathbb E_{\pi_\beta}[f]
        = \mathbb E_{\pi_\beta}[\nabla_\lambda f]
        + \mathrm{Cov}_{\pi_\beta}\bigl[\nabla_\lambda \log \tilde\pi_\beta,\; f\bigr],
        \qquad \log \tilde\pi_\beta = \log q_\phi + \beta f,

    (a score-function identity: no reparameterisation needed, so discrete latents work).
    Both terms are estimated with the self-normalised weights
    :math:`\bar w_{\beta, s}`; the returned tensor is

    .. math::

        \sum_k \Delta\beta_k \sum_s \operatorname{sg}(\bar w_{\beta, s})
        \Bigl[f_s + \operatorname{sg}\bigl(f_s - \bar f_\beta\bigr)
        \bigl(\log q_s + \beta f_s\bigr)\Bigr]

    minus the detached value of the covariance part, where sg stops gradients and
    :math:`\bar f_\beta = \sum_s \bar w_{\beta,s} f_s`. At one partition and ``"lower"``
    this is REINFORCE for the ELBO with the sample mean as baseline.

    Parameters
    ----------
    log_weight : Tensor, shape (..., s)
        :math:`f_s`, computed at samples that carry no gradient (``z.detach()``).
    log_q : Tensor, shape (..., s)
        :math:`\log q_\phi(z_s \mid x)` at the same samples.
    betas : Tensor, shape (K + 1,)
        A partition (see :func:`partition_schedule`).
    side : {"lower", "upper"}

    Returns
    -------
    Tensor, shape (...)
        Equal in value to ``tvo_bound(log_weight, betas, side=side)``; maximise it.

    Notes
    -----
    See the chapter :doc:`The thermodynamic variational objective </book/tvo>`.

    References
    ----------
    Masrani, Le & Wood, *The thermodynamic variational objective*, NeurIPS 2019, section 4.

    Examples
    --------
    >>> mu = torch.zeros(1, requires_grad=True)
    >>> z = torch.tensor([-1.0, 0.5, 2.0])  # fixed samples
    >>> log_q = -0.5 * (z - mu) ** 2
    >>> log_w = -0.5 * (z - 1.0) ** 2 - log_q
    >>> betas = torch.tensor([0.0, 0.5, 1.0])
    >>> s = tvo_surrogate(log_w, log_q, betas)
    >>> torch.allclose(s, tvo_bound(log_w.detach(), betas))
    True
    >>> s.backward(); mu.grad.shape
    torch.Size([1])
    """
    _check_partition("tvo_surrogate", betas)
    b = betas[:-1] if side == "lower" else betas[1:]
    return _surrogate(log_weight, log_q, b.to(log_weight.dtype), (betas[1:] - betas[:-1]).to(log_weight.dtype))


def _surrogate(log_weight, log_q, b, delta):
    # covariance-estimator surrogate at points b (K,) with widths delta (K,)
    f = log_weight.unsqueeze(-2)  # (..., 1, s)
    fd = f.detach()
    wbar = torch.softmax(b.unsqueeze(-1) * fd, dim=-1)  # (..., K, s)
    fbar = (wbar * fd).sum(-1, keepdim=True)
    value = (wbar * f).sum(-1)  # (..., K)
    cov = (wbar * (fd - fbar) * (log_q.unsqueeze(-2) + b.unsqueeze(-1) * f)).sum(-1)
    return (value + cov - cov.detach()) @ delta


@validate(log_weight=_LOGW, n_partitions=Integer(low=1), max_iter=Integer(low=1),
          tol=Real(low=0.0, closed="neither"))
def moment_schedule(log_weight: torch.Tensor, n_partitions: int, *, max_iter: int = 60,
                    tol: float = 1e-10) -> torch.Tensor:
    r"""A partition equally spaced in the moment :math:`\eta(\beta)` (Brekelmans et al. 2020).

    The path :math:`\pi_\beta` is an exponential family in :math:`\beta` with sufficient
    statistic :math:`\log w` and mean parameter :math:`\eta(\beta)`. This schedule picks
    :math:`\beta_k` with :math:`\hat\eta(\beta_k) = \hat\eta(0) + \tfrac{k}{K}
    (\hat\eta(1) - \hat\eta(0))`, where :math:`\hat\eta` is :func:`tvo_integrand`
    averaged over the leading (batch) dimensions. The estimate is non-decreasing in
    :math:`\beta` (its derivative is the self-normalised variance of :math:`\log w`), so
    each point is found by safeguarded Newton steps inside a shrinking bisection bracket.

    Parameters
    ----------
    log_weight : Tensor, shape (..., s)
    n_partitions : int
        :math:`K`.
    max_iter : int
        Newton/bisection steps at most.
    tol : float
        Stop when every :math:`|\hat\eta(\beta_k) - \text{target}_k|` is below ``tol``
        times :math:`\hat\eta(1) - \hat\eta(0)`.

    Returns
    -------
    Tensor, shape (n_partitions + 1,)
        Starts at 0, ends at 1, non-decreasing; dtype and device of ``log_weight``.

    Notes
    -----
    Points can coincide when the weights are degenerate (one sample dominates already at
    small :math:`\beta`); :func:`tvo_bound` then refuses the partition. See the chapter
    :doc:`The thermodynamic variational objective </book/tvo>`.

    References
    ----------
    Brekelmans, Masrani, Wood, Ver Steeg & Galstyan, *All in the exponential family:
    Bregman duality in thermodynamic variational inference*, ICML 2020.

    Examples
    --------
    >>> lw = torch.tensor([-3.0, -1.0, 0.0, 0.5])
    >>> moment_schedule(lw, 2)
    tensor([0.0000, 0.3241, 1.0000])
    """
    lw = log_weight.detach().reshape(-1, log_weight.shape[-1])
    ends = torch.tensor([0.0, 1.0], dtype=lw.dtype, device=lw.device)
    if n_partitions == 1:
        return ends
    eta0, eta1 = _integrand(lw, ends).mean(0).unbind()
    k = torch.arange(1, n_partitions, dtype=lw.dtype, device=lw.device)
    target = eta0 + k / n_partitions * (eta1 - eta0)
    lo, hi = torch.zeros_like(k), torch.ones_like(k)
    beta = k / n_partitions
    scale = float(eta1 - eta0)
    for _ in range(max_iter):
        x = lw.unsqueeze(-2)
        wbar = torch.softmax(beta.unsqueeze(-1) * x, dim=-1)
        mean = (wbar * x).sum(-1)
        var = (wbar * (x - mean.unsqueeze(-1)) ** 2).sum(-1).mean(0)
        resid = mean.mean(0) - target
        if float(resid.abs().max()) <= tol * scale:
            break
        below = resid < 0
        lo, hi = torch.where(below, beta, lo), torch.where(below, hi, beta)
        newton = beta - resid / var.clamp_min(torch.finfo(lw.dtype).tiny)
        inside = (newton > lo) & (newton < hi)
        beta = torch.where(inside, newton, 0.5 * (lo + hi))
    return torch.cat([ends[:1], beta, ends[1:]])
