"""Gaussian-process factor analysis (Yu, Cunningham, Santhanam, Ryu, Shenoy & Sahani 2009), fitted by EM."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import (
    Bool,
    Device,
    DType,
    Generator,
    InstanceOf,
    Integer,
    Real,
    Tensor,
    as_generator,
    progress,
    randn,
    rand,
    validate,
)

_FLOOR = 1e-6  # smallest private noise variance, relative to each neuron's variance


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


def _gp_cov(times: torch.Tensor, timescales: torch.Tensor, gp_noise: float) -> torch.Tensor:
    d2 = (times[:, None] - times[None, :]).square()
    k = (1 - gp_noise) * torch.exp(-0.5 * d2[None] / timescales[:, None, None].square())
    return k + gp_noise * torch.eye(times.numel(), dtype=times.dtype, device=times.device)


@validate(
    times=Tensor(ndim=1, dtype="floating"),
    timescales=Tensor(ndim=1, dtype="floating", low=0),
    gp_noise=Real(low=0, high=1, closed="left"),
    same=[("times", "timescales")],
)
def gp_covariance(times: torch.Tensor, timescales: torch.Tensor, *, gp_noise: float = 1e-3) -> torch.Tensor:
    r"""GPFA's prior covariance of each latent over time: a squared-exponential kernel with unit variance.

    .. math::

        K_i(t, t') = (1 - \sigma_n^2) \exp\!\Bigl(-\frac{(t - t')^2}{2 \tau_i^2}\Bigr)
        + \sigma_n^2\, \delta_{t t'} ,

    so every latent has unit prior variance (the scale lives in the loadings) and
    :math:`\sigma_n^2` (``gp_noise``) keeps :math:`K_i` well conditioned.

    Parameters
    ----------
    times : Tensor, shape (T,)
        Bin centres.
    timescales : Tensor, shape (q,), positive
        :math:`\tau_i`, in the units of ``times``.
    gp_noise : float in [0, 1)

    Returns
    -------
    Tensor, shape (q, T, T)

    Examples
    --------
    >>> k = gp_covariance(torch.arange(5.0), torch.tensor([1.0, 3.0]))
    >>> k.shape, torch.allclose(k.diagonal(dim1=1, dim2=2), torch.ones(2, 5))
    (torch.Size([2, 5, 5]), True)
    """
    if (timescales <= 0).any():
        raise ValueError("gp_covariance: timescales must be positive")
    return _gp_cov(times, timescales, float(gp_noise))


@dataclasses.dataclass
class GPFAData:
    r"""Trials generated from the GPFA model (see :func:`make_gpfa_data`).

    Attributes
    ----------
    y : Tensor, shape (n_trials, T, p)
        Observations (for example binned, square-rooted spike counts of :math:`p` neurons).
    latents : Tensor, shape (n_trials, T, q)
        The true latent trajectories.
    loading : Tensor, shape (p, q)
        :math:`C`.
    offset : Tensor, shape (p,)
        :math:`d`.
    noise : Tensor, shape (p,)
        Diagonal of :math:`R`, the private noise variances.
    timescales : Tensor, shape (q,)
        :math:`\tau_i`.
    times : Tensor, shape (T,)
    """

    y: torch.Tensor
    latents: torch.Tensor
    loading: torch.Tensor
    offset: torch.Tensor
    noise: torch.Tensor
    timescales: torch.Tensor
    times: torch.Tensor


@validate(
    n_trials=Integer(low=1),
    n_timesteps=Integer(low=2),
    n_neurons=Integer(low=1),
    timescales=Tensor(ndim=1, dtype="floating", low=0),
    noise_std=Real(low=0, closed="neither"),
    bin_width=Real(low=0, closed="neither"),
    gp_noise=Real(low=0, high=1, closed="left"),
    generator=Generator(),
    dtype=DType(),
    device=Device(),
)
def make_gpfa_data(n_trials: int, n_timesteps: int, n_neurons: int, timescales: torch.Tensor, *,
                   noise_std: float = 1.0, bin_width: float = 1.0, gp_noise: float = 1e-3, generator=None,
                   dtype: torch.dtype = torch.float64, device=None) -> GPFAData:
    r"""Draw trials from the GPFA model: smooth latents, a linear map, private Gaussian noise.

    .. math::

        x_{i,:} \sim \mathcal N(0, K_i), \qquad
        y_t = C x_t + d + \varepsilon_t, \quad \varepsilon_t \sim \mathcal N(0, R),

    with :math:`K_i` from :func:`gp_covariance`, loadings :math:`C_{ki} \sim \mathcal N(0, 1)`,
    offsets :math:`d_k \sim \mathcal U(1, 3)` and private standard deviations
    :math:`\sqrt{R_k} = \text{noise\_std} \cdot \mathcal U(0.5, 1.5)`.

    Parameters
    ----------
    n_trials, n_timesteps, n_neurons : int
        :math:`N`, :math:`T` and :math:`p`.
    timescales : Tensor, shape (q,), positive
        One timescale per latent, in the units of ``bin_width`` (so :math:`q` = ``len(timescales)``).
    noise_std : float > 0
        Typical private noise standard deviation.
    bin_width : float > 0
        Spacing of the bins: ``times = bin_width * arange(T)``.
    gp_noise : float in [0, 1)
    generator : None, int or torch.Generator
    dtype, device
        Of the returned tensors (``timescales`` is converted to them).

    Returns
    -------
    GPFAData

    Examples
    --------
    >>> d = make_gpfa_data(3, 20, 10, torch.tensor([2.0, 5.0]), generator=0)
    >>> d.y.shape, d.latents.shape
    (torch.Size([3, 20, 10]), torch.Size([3, 20, 2]))
    """
    g = as_generator(generator)
    kw = dict(generator=g, dtype=dtype, device=device)
    tau = timescales.to(dtype=dtype, device=device)
    if (tau <= 0).any():
        raise ValueError("make_gpfa_data: timescales must be positive")
    q = tau.numel()
    times = bin_width * torch.arange(n_timesteps, dtype=dtype, device=device)
    chol = torch.linalg.cholesky(_gp_cov(times, tau, float(gp_noise)))  # (q, T, T)
    z = randn(n_trials, q, n_timesteps, 1, **kw)
    latents = (chol[None] @ z)[..., 0].transpose(1, 2)  # (N, T, q)
    loading = randn(n_neurons, q, **kw)
    offset = 1 + 2 * rand(n_neurons, **kw)
    noise = (noise_std * (0.5 + rand(n_neurons, **kw))).square()
    eps = randn(n_trials, n_timesteps, n_neurons, **kw) * noise.sqrt()
    y = latents @ loading.T + offset + eps
    return GPFAData(y, latents, loading, offset, noise, tau, times)


# ---------------------------------------------------------------------------------------------
# Inference: exact posterior over all of a trial's latents, shared across trials of equal length
# ---------------------------------------------------------------------------------------------


def _posterior(y, loading, offset, noise, kbar_inv, logdet_k, q, t):
    """Posterior of stacked latents (latent-major order i*T + t) for all trials, and the log-likelihood.

    y: (N, T, p). kbar_inv: (qT, qT). Returns mean (N, T, q), cov (qT, qT), total log-likelihood.
    """
    n, _, p = y.shape
    ctrc = loading.T @ (loading / noise[:, None])  # C^T R^-1 C, (q, q)
    eye_t = torch.eye(t, dtype=y.dtype, device=y.device)
    prec = kbar_inv + torch.kron(ctrc, eye_t)
    chol = torch.linalg.cholesky(prec)
    resid = y - offset
    b = (resid / noise) @ loading  # (N, T, q)
    bvec = b.transpose(1, 2).reshape(n, q * t)  # latent-major
    mvec = torch.cholesky_solve(bvec.T, chol).T  # (N, qT)
    cov = torch.cholesky_inverse(chol)
    logdet_prec = 2 * chol.diagonal().log().sum()
    quad = (resid.square() / noise).sum((1, 2)) - (bvec * mvec).sum(1)
    logdet = t * noise.log().sum() + logdet_k + logdet_prec
    ll = -0.5 * (n * (p * t * math.log(2 * math.pi) + logdet) + quad.sum())
    mean = mvec.reshape(n, q, t).transpose(1, 2)
    return mean, cov, ll


def _prior_terms(times, timescales, gp_noise, q, t):
    if timescales is None:  # factor analysis: independent unit-variance latents
        eye = torch.eye(q * t, dtype=times.dtype, device=times.device)
        return eye, torch.zeros((), dtype=times.dtype, device=times.device)
    k = _gp_cov(times, timescales, gp_noise)
    chol = torch.linalg.cholesky(k)
    k_inv = torch.cholesky_inverse(chol)
    return torch.block_diag(*k_inv), 2 * chol.diagonal(dim1=1, dim2=2).log().sum()


@dataclasses.dataclass
class GPFAFit:
    r"""A fitted GPFA (or factor-analysis) model.

    Attributes
    ----------
    loading : Tensor, shape (p, q)
        :math:`C`.
    offset : Tensor, shape (p,)
        :math:`d`.
    noise : Tensor, shape (p,)
        Diagonal of :math:`R`.
    timescales : Tensor, shape (q,) or None
        :math:`\tau_i`; ``None`` for plain factor analysis (:func:`factor_analysis`).
    times : Tensor, shape (T,)
        The bin times the model was fitted on.
    gp_noise : float
    log_likelihood : Tensor, shape (n_iter + 1,)
        Marginal log-likelihood of the training trials before each EM iteration and after the last.
    n_iter : int
        EM iterations run.
    """

    loading: torch.Tensor
    offset: torch.Tensor
    noise: torch.Tensor
    timescales: torch.Tensor | None
    times: torch.Tensor
    gp_noise: float
    log_likelihood: torch.Tensor
    n_iter: int

    @property
    def n_latents(self) -> int:
        """:math:`q`."""
        return self.loading.shape[1]


@dataclasses.dataclass
class GPFAPosterior:
    r"""Posterior of the latents of a set of trials.

    Attributes
    ----------
    mean : Tensor, shape (n_trials, T, q)
        :math:`E[x_t \mid y]`.
    cov : Tensor, shape (q T, q T)
        Posterior covariance of a trial's stacked latents (latent-major: index :math:`iT + t`),
        the same for every trial of the same length.
    log_likelihood : Tensor, scalar
        :math:`\sum_n \log p(y^{(n)})` under the model.
    """

    mean: torch.Tensor
    cov: torch.Tensor
    log_likelihood: torch.Tensor


def _check_fit_data(func: str, fit: GPFAFit, y: torch.Tensor) -> None:
    if y.shape[-1] != fit.loading.shape[0]:
        raise ValueError(f"{func}: y must have {fit.loading.shape[0]} neurons (the fit's), got {y.shape[-1]}")
    if fit.timescales is not None and y.shape[1] != fit.times.numel():
        raise ValueError(f"{func}: y must have {fit.times.numel()} time bins (the fit's), got {y.shape[1]}")
    _check_like_fit(func, "y", y, fit)


def _check_like_fit(func: str, name: str, x: torch.Tensor, fit: GPFAFit) -> None:
    if x.device != fit.loading.device or x.dtype != fit.loading.dtype:
        raise ValueError(f"{func}: {name} ({x.dtype}, {x.device}) and the fit ({fit.loading.dtype}, "
                         f"{fit.loading.device}) must share dtype and device")


def _posterior_of(fit: GPFAFit, y: torch.Tensor, loading=None, offset=None, noise=None):
    loading = fit.loading if loading is None else loading
    offset = fit.offset if offset is None else offset
    noise = fit.noise if noise is None else noise
    q = loading.shape[1]
    if fit.timescales is None:  # FA: every bin is its own "trial"
        n, t, p = y.shape
        kinv, logdet = _prior_terms(fit.times[:1], None, 0.0, q, 1)
        mean, cov, ll = _posterior(y.reshape(n * t, 1, p), loading, offset, noise, kinv, logdet, q, 1)
        return mean.reshape(n, t, q), cov, ll
    t = y.shape[1]
    kinv, logdet = _prior_terms(fit.times, fit.timescales, fit.gp_noise, q, t)
    return _posterior(y, loading, offset, noise, kinv, logdet, q, t)


@validate(fit=InstanceOf(GPFAFit), y=Tensor(ndim=3, dtype="floating"))
def gpfa_posterior(fit: GPFAFit, y: torch.Tensor) -> GPFAPosterior:
    r"""Exact posterior of the latents given observed trials, and their log-likelihood.

    Stack a trial's latents into :math:`\bar x \in \mathbb R^{qT}` with prior
    :math:`\mathcal N(0, \bar K)`, :math:`\bar K = \operatorname{blockdiag}(K_1, \dots, K_q)`. The
    observations are linear-Gaussian in :math:`\bar x`, so

    .. math::

        \Sigma = \bigl(\bar K^{-1} + (C^\top R^{-1} C) \otimes I_T\bigr)^{-1}, \qquad
        E[\bar x \mid y] = \Sigma\, \bar C^\top \bar R^{-1} (\bar y - \bar d),

    one :math:`qT \times qT` Cholesky factorisation for all trials of the same length. The
    log-likelihood uses the matrix determinant lemma and Woodbury's identity on the same factor,
    never the :math:`pT \times pT` covariance.

    Parameters
    ----------
    fit : GPFAFit
    y : Tensor, shape (n_trials, T, p)
        On the fit's device and dtype.

    Returns
    -------
    GPFAPosterior

    Examples
    --------
    >>> d = make_gpfa_data(4, 15, 8, torch.tensor([3.0]), generator=0)
    >>> fit = fit_gpfa(d.y, 1, max_iter=5, generator=0)
    >>> gpfa_posterior(fit, d.y).mean.shape
    torch.Size([4, 15, 1])
    """
    _check_fit_data("gpfa_posterior", fit, y)
    mean, cov, ll = _posterior_of(fit, y)
    return GPFAPosterior(mean, cov, ll)


# ---------------------------------------------------------------------------------------------
# Fitting by EM
# ---------------------------------------------------------------------------------------------


def _init(y, q, g):
    """PCA initialisation: loadings from the top q principal directions, noise from the residual."""
    flat = y.reshape(-1, y.shape[-1])
    offset = flat.mean(0)
    centred = flat - offset
    cov = centred.T @ centred / flat.shape[0]
    evals, evecs = torch.linalg.eigh(cov)
    evals, evecs = evals.flip(0)[:q], evecs.flip(1)[:, :q]
    # a small random rotation breaks ties between equal eigenvalues reproducibly
    jitter = 1e-3 * randn(q, q, generator=g, dtype=y.dtype, device=y.device)
    loading = evecs * evals.clamp_min(0).sqrt() + 1e-3 * evecs @ jitter
    floor = _FLOOR * cov.diagonal().clamp_min(torch.finfo(y.dtype).tiny)
    noise = (cov.diagonal() - loading.square().sum(1)).clamp_min(0) + floor
    noise = torch.maximum(noise, 0.1 * cov.diagonal())
    return loading, offset, noise, floor


def _m_step(y, mean, cov, q, t):
    n, _, p = y.shape
    # per-bin posterior second moments: Sigma_tt blocks, the same for every trial
    idx = torch.arange(q, device=y.device)[:, None] * t + torch.arange(t, device=y.device)[None]  # (q, T)
    sig_tt = cov[idx.T[:, :, None], idx.T[:, None, :]]  # (T, q, q)
    ex = torch.cat([mean, torch.ones(n, t, 1, dtype=y.dtype, device=y.device)], -1)  # (N, T, q+1)
    a = torch.einsum("ntp,ntk->pk", y, ex)
    b = torch.einsum("ntk,ntl->kl", ex, ex)
    b[:q, :q] += n * sig_tt.sum(0)
    cd = torch.linalg.solve(b, a.T).T  # (p, q+1)
    loading, offset = cd[:, :q], cd[:, q]
    noise = (torch.einsum("ntp,ntp->p", y, y) - (cd * a).sum(1)) / (n * t)
    return loading, offset, noise


def _timescale_step(times, timescales, gp_noise, mean, cov, q, t, n, n_steps):
    """Maximise the expected log prior of the latents over log tau (independent per latent)."""
    idx = torch.arange(q, device=mean.device)[:, None] * t + torch.arange(t, device=mean.device)[None]
    s = n * cov[idx[:, :, None], idx[:, None, :]] + torch.einsum("nti,nsi->its", mean, mean)  # (q, T, T)
    log_tau = timescales.log().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([log_tau], lr=1.0, max_iter=n_steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        k = _gp_cov(times, log_tau.exp(), gp_noise)
        chol = torch.linalg.cholesky(k)
        logdet = 2 * chol.diagonal(dim1=1, dim2=2).log().sum(1)
        tr = torch.cholesky_solve(s, chol).diagonal(dim1=1, dim2=2).sum(1)
        loss = 0.5 * (n * logdet + tr).sum() / (n * t)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    span = (times[-1] - times[0]).item() if t > 1 else 1.0
    step = (times[1] - times[0]).item() if t > 1 else 1.0
    return log_tau.detach().exp().clamp(0.05 * step, 10 * span)


def _fit(y, q, times, timescales, gp_noise, max_iter, tol, n_tau_steps, g, progress_flag, desc):
    n, t, _ = y.shape
    loading, offset, noise, floor = _init(y, q, g)
    fit = GPFAFit(loading, offset, noise, timescales, times, gp_noise,
                  torch.zeros(0, dtype=y.dtype, device=y.device), 0)
    history = []
    it = 0
    for it in progress(range(max_iter), desc=desc, disable=None if progress_flag is None else not progress_flag):
        mean, cov, ll = _posterior_of(fit, y)
        history.append(ll)
        if it > 0 and (ll - history[-2]).abs() <= tol * ll.abs():
            break
        if fit.timescales is None:
            yy = y.reshape(n * t, 1, -1)
            loading, offset, noise = _m_step(yy, mean.reshape(n * t, 1, q), cov, q, 1)
        else:
            loading, offset, noise = _m_step(y, mean, cov, q, t)
            timescales = _timescale_step(times, fit.timescales, gp_noise, mean, cov, q, t, n, n_tau_steps)
        fit = GPFAFit(loading, offset, torch.maximum(noise, floor), timescales if fit.timescales is not None
                      else None, times, gp_noise, fit.log_likelihood, 0)
    else:
        history.append(_posterior_of(fit, y)[2])
        it = max_iter
    fit.log_likelihood = torch.stack(history)
    fit.n_iter = it
    return fit


@validate(
    y=Tensor(ndim=3, dtype="floating"),
    n_latents=Integer(low=1),
    times=Tensor(ndim=1, dtype="floating", optional=True),
    init_timescale=Real(low=0, closed="neither", optional=True),
    gp_noise=Real(low=0, high=1, closed="left"),
    max_iter=Integer(low=1),
    tol=Real(low=0),
    n_tau_steps=Integer(low=1),
    generator=Generator(),
    progress=Bool(optional=True),
    same=[("y", "times")],
)
def fit_gpfa(y: torch.Tensor, n_latents: int, *, times: torch.Tensor | None = None,
             init_timescale: float | None = None, gp_noise: float = 1e-3, max_iter: int = 200,
             tol: float = 1e-7, n_tau_steps: int = 10, generator=None, progress: bool | None = None) -> GPFAFit:
    r"""Fit Gaussian-process factor analysis to trials of equal length by expectation-maximisation.

    The model (Yu et al. 2009): :math:`q` latent time series with independent GP priors
    (:func:`gp_covariance`) and :math:`y_t = C x_t + d + \varepsilon_t`,
    :math:`\varepsilon_t \sim \mathcal N(0, R)`, :math:`R` diagonal. The E-step is the exact
    posterior of :func:`gpfa_posterior`; the M-step has closed forms for :math:`C, d, R` (a
    regression of :math:`y_t` on :math:`E[x_t]` with the posterior second moments) and runs a few
    L-BFGS steps on :math:`\log \tau_i` for the expected log prior. Each EM iteration does not
    decrease the marginal log-likelihood when the timescale step is run to convergence; the
    history is in ``GPFAFit.log_likelihood``.

    Parameters
    ----------
    y : Tensor, shape (n_trials, T, p)
        Observations: trials of :math:`T` bins of :math:`p` signals.
    n_latents : int
        :math:`q`.
    times : Tensor, shape (T,), optional
        Bin times (default ``arange(T)``).
    init_timescale : float, optional
        Starting :math:`\tau` for every latent (default: a tenth of the trial's duration, at least
        two bins).
    gp_noise : float in [0, 1)
    max_iter : int
        EM iterations at most.
    tol : float
        Stop when the log-likelihood changes by at most ``tol`` times its magnitude.
    n_tau_steps : int
        L-BFGS iterations on the timescales per M-step.
    generator : None, int or torch.Generator
        Breaks ties in the PCA initialisation.
    progress : bool, optional

    Returns
    -------
    GPFAFit

    References
    ----------
    Yu, Cunningham, Santhanam, Ryu, Shenoy & Sahani, *Gaussian-process factor analysis for
    low-dimensional single-trial analysis of neural population activity*, J. Neurophysiol. 2009.

    Notes
    -----
    See the chapter :doc:`Dimension reduction </book/reduction>`.

    Examples
    --------
    >>> d = make_gpfa_data(10, 30, 12, torch.tensor([4.0]), noise_std=0.5, generator=0)
    >>> fit = fit_gpfa(d.y, 1, generator=0)
    >>> bool((fit.log_likelihood.diff() > -1e-6 * fit.log_likelihood[1:].abs()).all())
    True
    """
    n, t, p = y.shape
    if t < 2:
        raise ValueError(f"fit_gpfa: y must have at least 2 time bins, got {t}")
    if times is None:
        times = torch.arange(t, dtype=y.dtype, device=y.device)
    elif times.numel() != t:
        raise ValueError(f"fit_gpfa: times must have {t} entries (y's time bins), got {times.numel()}")
    if n_latents > p:
        raise ValueError(f"fit_gpfa: n_latents must be at most the number of signals ({p}), got {n_latents}")
    span = (times[-1] - times[0]).item()
    if span <= 0:
        raise ValueError("fit_gpfa: times must be increasing")
    tau0 = init_timescale if init_timescale is not None else max(span / 10, 2 * span / (t - 1))
    timescales = torch.full((n_latents,), float(tau0), dtype=y.dtype, device=y.device)
    return _fit(y, n_latents, times, timescales, float(gp_noise), max_iter, tol, n_tau_steps,
                as_generator(generator), progress, "GPFA EM")


@validate(
    y=Tensor(ndim=3, dtype="floating"),
    n_latents=Integer(low=1),
    max_iter=Integer(low=1),
    tol=Real(low=0),
    generator=Generator(),
    progress=Bool(optional=True),
)
def factor_analysis(y: torch.Tensor, n_latents: int, *, max_iter: int = 500, tol: float = 1e-8, generator=None,
                    progress: bool | None = None) -> GPFAFit:
    r"""Factor analysis by EM: GPFA without the time prior (every bin independent, :math:`x_t \sim \mathcal N(0, I)`).

    The static baseline of Yu et al. 2009: the same loadings, offsets and private noise as
    :func:`fit_gpfa`, but no smoothing across time. Returns a :class:`GPFAFit` with
    ``timescales=None`` that :func:`gpfa_posterior` and :func:`leave_neuron_out` accept.

    Parameters
    ----------
    y : Tensor, shape (n_trials, T, p)
        Any number of bins per trial (bins are exchangeable here).
    n_latents : int
    max_iter : int
    tol : float
    generator : None, int or torch.Generator
    progress : bool, optional

    Returns
    -------
    GPFAFit

    Examples
    --------
    >>> d = make_gpfa_data(10, 30, 12, torch.tensor([4.0]), generator=0)
    >>> factor_analysis(d.y, 1, generator=0).timescales is None
    True
    """
    n, t, p = y.shape
    if n_latents > p:
        raise ValueError(f"factor_analysis: n_latents must be at most the number of signals ({p}), got {n_latents}")
    times = torch.arange(t, dtype=y.dtype, device=y.device)
    return _fit(y, n_latents, times, None, 0.0, max_iter, tol, 1, as_generator(generator), progress, "FA EM")


@validate(fit=InstanceOf(GPFAFit), y=Tensor(ndim=3, dtype="floating"), kernel_width=Real(low=0, optional=True))
def leave_neuron_out(fit: GPFAFit, y: torch.Tensor, *, kernel_width: float | None = None) -> torch.Tensor:
    r"""Predict each signal from all the others through the model's latents (Yu et al.'s cross-validation).

    For signal :math:`k`, the posterior of the latents given the other :math:`p - 1` signals,
    :math:`E[x_t \mid y_{-k}]`, is mapped back: :math:`\hat y_{t,k} = C_k E[x_t \mid y_{-k}] + d_k`.
    With ``kernel_width`` (factor analysis fits only), the latent means are first smoothed over
    time by a Gaussian kernel of that width (in bins): the two-stage "FA then smooth" baseline.

    Parameters
    ----------
    fit : GPFAFit
    y : Tensor, shape (n_trials, T, p)
        Held-out trials.
    kernel_width : float, optional
        Gaussian smoothing width in bins, for factor-analysis fits (``0`` or ``None``: none).

    Returns
    -------
    Tensor, shape (n_trials, T, p)
        The predictions :math:`\hat y`.

    Examples
    --------
    >>> d = make_gpfa_data(6, 20, 8, torch.tensor([3.0]), generator=0)
    >>> fit = fit_gpfa(d.y, 1, max_iter=10, generator=0)
    >>> leave_neuron_out(fit, d.y).shape
    torch.Size([6, 20, 8])
    """
    _check_fit_data("leave_neuron_out", fit, y)
    if kernel_width and fit.timescales is not None:
        raise ValueError("leave_neuron_out: kernel_width is for factor-analysis fits; GPFA smooths through its prior")
    p = y.shape[-1]
    if p < 2:
        raise ValueError("leave_neuron_out: y needs at least 2 signals")
    out = torch.empty_like(y)
    keep = torch.ones(p, dtype=torch.bool, device=y.device)
    for k in range(p):
        keep[k] = False
        mean, _, _ = _posterior_of(fit, y[..., keep], fit.loading[keep], fit.offset[keep], fit.noise[keep])
        if kernel_width:
            mean = _smooth(mean, float(kernel_width))
        out[..., k] = mean @ fit.loading[k] + fit.offset[k]
        keep[k] = True
    return out


def _smooth(x: torch.Tensor, width: float) -> torch.Tensor:
    """Gaussian smoothing over axis 1 (time), renormalised at the edges."""
    t = x.shape[1]
    s = torch.arange(t, dtype=x.dtype, device=x.device)
    w = torch.exp(-0.5 * ((s[:, None] - s[None]) / width).square())
    w = w / w.sum(1, keepdim=True)
    return torch.einsum("ts,nsq->ntq", w, x)


@validate(fit=InstanceOf(GPFAFit), mean=Tensor(ndim=3, dtype="floating"))
def orthonormalize(fit: GPFAFit, mean: torch.Tensor) -> torch.Tensor:
    r"""Express latent trajectories in orthonormal coordinates ordered by explained variance.

    GPFA's latents are identified only up to the loadings' scale and mixing; with the SVD
    :math:`C = U S V^\top`, the trajectories :math:`S V^\top x_t` live in the orthonormal
    basis :math:`U` of the loading space, the first coordinate explaining the most variance
    (Yu et al. 2009, section 2.4).

    Parameters
    ----------
    fit : GPFAFit
    mean : Tensor, shape (n_trials, T, q)
        Latent means (from :func:`gpfa_posterior`).

    Returns
    -------
    Tensor, shape (n_trials, T, q)

    Examples
    --------
    >>> d = make_gpfa_data(4, 15, 8, torch.tensor([3.0, 6.0]), generator=0)
    >>> fit = fit_gpfa(d.y, 2, max_iter=5, generator=0)
    >>> orthonormalize(fit, gpfa_posterior(fit, d.y).mean).shape
    torch.Size([4, 15, 2])
    """
    if mean.shape[-1] != fit.n_latents:
        raise ValueError(f"orthonormalize: mean must have {fit.n_latents} latents, got {mean.shape[-1]}")
    _check_like_fit("orthonormalize", "mean", mean, fit)
    _, s, vh = torch.linalg.svd(fit.loading, full_matrices=False)
    return mean @ (vh.T * s)
