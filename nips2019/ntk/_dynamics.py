"""Training dynamics of wide networks: closed forms for MSE in function space."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from nips2019.utils import check_finite, check_positive, check_tensor


class MSEPrediction(NamedTuple):
    """Outputs predicted by a closed-form training dynamics.

    Attributes
    ----------
    train : Tensor, shape (n, out) or (T, n, out)
        Predictions on the training inputs (one slice per requested time).
    test : Tensor or None, shape (m, out) or (T, m, out)
        Predictions on the test inputs, when ``k_test_train`` was given.
    """

    train: torch.Tensor
    test: torch.Tensor | None


class GaussianPrediction(NamedTuple):
    """Mean and covariance of a Gaussian over test outputs (shared by all output units).

    Attributes
    ----------
    mean : Tensor, shape (m, out)
    cov : Tensor, shape (m, m)
    """

    mean: torch.Tensor
    cov: torch.Tensor


# ----------------------------------------------------------------------------- helpers


def _as_kernel(k, name, n=None):
    """Return a square 2-D kernel, flattening a full (n, n, out, out) kernel to (n*out, n*out)."""
    check_tensor(k, name, ndim=(2, 4), floating=True)
    if k.dim() == 4:
        if k.shape[0] != k.shape[1] or k.shape[2] != k.shape[3]:
            raise ValueError(f"{name} must have shape (n, n, out, out), got {tuple(k.shape)}")
        k = k.permute(0, 2, 1, 3).reshape(k.shape[0] * k.shape[2], -1)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"{name} must be square, got shape {tuple(k.shape)}")
    check_finite(k, name)
    return k


def _as_cross(k, name, n_train, full):
    check_tensor(k, name, ndim=4 if full else 2, floating=True)
    if full:
        k = k.permute(0, 2, 1, 3).reshape(k.shape[0] * k.shape[2], k.shape[1] * k.shape[3])
    if k.shape[1] != n_train:
        raise ValueError(f"{name} must have {n_train} columns (training points), got shape {tuple(k.shape)}")
    check_finite(k, name)
    return k


def _targets(y, n, name, full):
    """(n, out) targets -> (n, out) for a shared kernel, or a column (n*out, 1) for a full kernel."""
    check_tensor(y, name, ndim=(1, 2), floating=True)
    y2 = y[:, None] if y.dim() == 1 else y
    if full:
        y2 = y2.reshape(-1, 1)
    if y2.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} rows but the kernel has {n if not full else 'n*out'} rows")
    return y2


def _eigh(k):
    lam, v = torch.linalg.eigh(0.5 * (k + k.T))
    return lam, v


def _null(lam):
    info = torch.finfo(lam.dtype)
    return lam <= lam.abs().max().clamp_min(info.tiny) * lam.shape[0] * info.eps * 10


def _times(t, like):
    tt = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if tt.dim() > 1:
        raise ValueError(f"t must be a scalar or 1-D, got shape {tuple(tt.shape)}")
    if torch.isnan(tt).any() or (tt < 0).any():
        raise ValueError("t must be non-negative")
    return tt


def _spectral(lam, t, lr, discrete, natural, damping):
    """Residual decay d(lambda, t) and test propagation phi(lambda, t) = (1 - d) / lambda, shape (..., n)."""
    null = _null(lam)
    one, zero = torch.ones_like(lam), torch.zeros_like(lam)
    lam_safe = torch.where(null, one, lam)
    if natural:
        g = lam.clamp_min(0) / (lam.clamp_min(0) + damping) if damping > 0 else torch.where(null, zero, one)
    else:
        g = torch.where(null, zero, lam)
    tc = t[..., None]
    is_inf = torch.isinf(tc)
    t_fin = torch.where(is_inf, torch.zeros_like(tc), tc)
    if discrete:
        base = 1 - lr * g
        if is_inf.any() and (base.abs() >= 1).logical_and(base != 1).any():
            rate = "2" if natural else f"2/lambda_max={2 / lam.max().item():.4g}"
            raise ValueError(f"gradient descent diverges: lr={lr} >= {rate}")
        d_fin = torch.pow(base, t_fin)
        d_inf = torch.where(base == 1, one, zero)
    else:
        d_fin = torch.exp(-lr * g * t_fin)
        d_inf = torch.where(g > 0, zero, one)
    d = torch.where(is_inf, d_inf, d_fin)
    phi = (1 - d) / lam_safe
    # On the (numerical) null space of the kernel: gradient descent moves linearly in t there;
    # natural gradient without damping does not move; t = inf uses the pseudo-inverse convention.
    if natural:
        lim = lr * t_fin / damping if damping > 0 else torch.zeros_like(t_fin)
    else:
        lim = lr * t_fin
    lim = torch.where(is_inf, torch.zeros_like(lim), lim)
    phi = torch.where(null, lim.expand_as(phi), phi)
    return d, phi


def _predict(k_train_train, y_train, t, lr, f0_train, k_test_train, f0_test, discrete, natural, damping):
    check_positive(lr, "lr")
    full = k_train_train.dim() == 4
    out = k_train_train.shape[2] if full else None
    k = _as_kernel(k_train_train, "k_train_train")
    n = k.shape[0]
    y = _targets(y_train, n, "y_train", full)
    f0 = torch.zeros_like(y) if f0_train is None else _targets(f0_train, n, "f0_train", full)
    if f0.shape != y.shape:
        raise ValueError(f"f0_train must have the shape of y_train, got {tuple(f0_train.shape)}")
    tt = _times(t, k)
    if discrete:
        fin = tt[torch.isfinite(tt)]
        if (fin != fin.round()).any():
            raise ValueError("t must hold integer step counts when discrete=True")
    lam, v = _eigh(k)
    d, phi = _spectral(lam, tt, lr, discrete, natural, damping)
    r0 = v.T @ (f0 - y)  # residual in the eigenbasis, (n, c)
    train = y + torch.einsum("ij,...j,jc->...ic", v, d, r0)
    test = None
    if k_test_train is not None:
        kx = _as_cross(k_test_train, "k_test_train", n, full)
        m = kx.shape[0]
        if f0_test is None:
            g0 = torch.zeros(m, y.shape[1], dtype=y.dtype, device=y.device)
        else:
            g0 = _targets(f0_test, m, "f0_test", full)
        test = g0 - torch.einsum("mi,ij,...j,jc->...mc", kx, v, phi, r0)
    if full:
        shape = lambda a: a.reshape(*a.shape[:-2], -1, out)  # noqa: E731
        train = shape(train)
        test = None if test is None else shape(test)
    elif y_train.dim() == 1:
        train = train[..., 0]
        test = None if test is None else test[..., 0]
    return MSEPrediction(train, test)


def gradient_descent_mse(k_train_train, y_train, t, *, lr=1.0, f0_train=None, k_test_train=None, f0_test=None,
                         discrete=False) -> MSEPrediction:
    """Closed-form gradient descent on MSE for a linearised network (or kernel).

    See the chapter *Neural tangent kernel*.

    For the loss :math:`L = \\tfrac12 \\lVert f(X) - Y \\rVert^2` (a *sum*, not a
    mean) and a constant kernel :math:`\\Theta = V \\Lambda V^\\top`,

    .. math::

        f_t(X) = Y + V e^{-\\eta \\Lambda t} V^\\top (f_0(X) - Y), \\qquad
        f_t(x_*) = f_0(x_*) - \\Theta_{*X}\\, V \\frac{1 - e^{-\\eta\\Lambda t}}{\\Lambda}
        V^\\top (f_0(X) - Y),

    and with ``discrete=True`` the exponential becomes :math:`(1 - \\eta\\Lambda)^t`,
    which diverges as soon as :math:`\\eta > 2 / \\lambda_{max}`. At :math:`t = \\infty`
    this is kernel regression.

    Parameters
    ----------
    k_train_train : Tensor, shape (n, n) or (n, n, out, out)
        Kernel on the training inputs (a shared kernel, or a full empirical one).
    y_train : Tensor, shape (n, out) or (n,)
        Targets.
    t : float or Tensor, shape (T,)
        Time (continuous) or number of steps (``discrete=True``); ``inf`` allowed.
    lr : float
        Learning rate :math:`\\eta`.
    f0_train, f0_test : Tensor, optional
        Outputs at initialisation (default zero, i.e. the mean prediction).
    k_test_train : Tensor, shape (m, n) or (m, n, out, out), optional
        Kernel between test and training inputs.
    discrete : bool
        Discrete steps instead of the continuous-time flow.

    Returns
    -------
    MSEPrediction

    References
    ----------
    lee2019wide.

    Examples
    --------
    >>> import torch
    >>> k = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    >>> y = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    >>> p = gradient_descent_mse(k, y, float("inf"), k_test_train=k)
    >>> torch.allclose(p.train, y) and torch.allclose(p.test, y)
    True
    """
    return _predict(k_train_train, y_train, t, lr, f0_train, k_test_train, f0_test, discrete, False, 0.0)


def natural_gradient_mse(k_train_train, y_train, t, *, lr=1.0, f0_train=None, k_test_train=None, f0_test=None,
                         discrete=False, damping=0.0) -> MSEPrediction:
    """Closed-form natural-gradient descent on MSE for a linearised network.

    See the chapter *Neural tangent kernel*.

    With the Gauss-Newton / Fisher matrix :math:`F = J^\\top J + \\rho I` of the
    linearised model, :math:`\\dot\\theta = -\\eta F^{-1} J^\\top (f - Y)` becomes in
    function space :math:`\\dot f = -\\eta\\, \\Theta (\\Theta + \\rho I)^{-1} (f - Y)`:
    with :math:`\\rho = 0` every eigen-direction of the residual decays at the same
    rate :math:`e^{-\\eta t}`, and test points follow the *natural tangent kernel*
    :math:`\\Theta_{*X} \\Theta^{-1}`:

    .. math::

        f_t(x_*) = f_0(x_*) - \\Theta_{*X}\\, V \\frac{1 - e^{-\\eta g(\\Lambda) t}}{\\Lambda}
        V^\\top (f_0(X) - Y), \\qquad g(\\lambda) = \\frac{\\lambda}{\\lambda + \\rho}.

    The end point (:math:`t = \\infty`) is the same kernel regression as gradient descent.

    Parameters
    ----------
    k_train_train : Tensor, shape (n, n) or (n, n, out, out)
        Kernel on the training inputs (a shared kernel, or a full empirical one).
    y_train : Tensor, shape (n, out) or (n,)
        Targets.
    t : float or Tensor, shape (T,)
        Time (continuous) or number of steps (``discrete=True``); ``inf`` allowed.
    lr : float
        Learning rate :math:`\\eta`.
    f0_train, f0_test : Tensor, optional
        Outputs at initialisation (default zero, i.e. the mean prediction).
    k_test_train : Tensor, shape (m, n) or (m, n, out, out), optional
        Kernel between test and training inputs.
    discrete : bool
        Discrete steps instead of the continuous-time flow.
    damping : float
        :math:`\\rho \\ge 0`; ``0`` uses the pseudo-inverse.

    Returns
    -------
    MSEPrediction

    References
    ----------
    rudner2019natural.

    Examples
    --------
    >>> import torch
    >>> k = torch.tensor([[10.0, 0.0], [0.0, 0.1]], dtype=torch.float64)
    >>> y = torch.ones(2, 1, dtype=torch.float64)
    >>> natural_gradient_mse(k, y, 1.0).train[:, 0]   # both residuals decay as exp(-1)
    tensor([0.6321, 0.6321], dtype=torch.float64)
    """
    check_positive(damping, "damping", strict=False)
    return _predict(k_train_train, y_train, t, lr, f0_train, k_test_train, f0_test, discrete, True,
                    float(damping))


def critical_learning_rate(k_train_train: torch.Tensor) -> float:
    """Largest stable learning rate of gradient descent on the sum-MSE: :math:`2 / \\lambda_{max}(\\Theta)`.

    See the chapter *Neural tangent kernel*.

    Parameters
    ----------
    k_train_train : Tensor, shape (n, n) or (n, n, out, out)

    Returns
    -------
    float

    Examples
    --------
    >>> import torch
    >>> critical_learning_rate(torch.diag(torch.tensor([4.0, 1.0])))
    0.5
    """
    k = _as_kernel(k_train_train, "k_train_train")
    return 2.0 / torch.linalg.eigvalsh(0.5 * (k + k.T)).max().item()


def _psd_solve(k, b, rcond=None):
    lam, v = _eigh(k)
    keep = ~_null(lam)
    inv = torch.where(keep, 1 / torch.where(keep, lam, torch.ones_like(lam)), torch.zeros_like(lam))
    return v @ (inv[:, None] * (v.T @ b))


def kernel_regression(k_train_train, y_train, k_test_train, *, diag_reg=0.0) -> torch.Tensor:
    """Kernel (ridge) regression: the infinite-time limit of gradient descent from :math:`f_0 = 0`.

    See the chapter *Neural tangent kernel*.

    .. math::

        f(x_*) = \\Theta_{*X} (\\Theta + \\lambda I)^{-1} Y .

    Parameters
    ----------
    k_train_train : Tensor, shape (n, n)
    y_train : Tensor, shape (n, out) or (n,)
    k_test_train : Tensor, shape (m, n)
    diag_reg : float
        Ridge :math:`\\lambda \\ge 0` (pseudo-inverse when 0).

    Returns
    -------
    Tensor, shape (m, out) or (m,)

    Examples
    --------
    >>> import torch
    >>> k = torch.eye(2, dtype=torch.float64)
    >>> kernel_regression(k, torch.tensor([1.0, 2.0], dtype=torch.float64), k)
    tensor([1., 2.], dtype=torch.float64)
    """
    k = _as_kernel(k_train_train, "k_train_train")
    check_tensor(k_test_train, "k_test_train", ndim=2, floating=True)
    if k.dim() != 2 or k_test_train.shape[1] != k.shape[0]:
        raise ValueError(
            f"k_test_train must have {k.shape[0]} columns, got shape {tuple(k_test_train.shape)}"
        )
    check_positive(diag_reg, "diag_reg", strict=False)
    y = _targets(y_train, k.shape[0], "y_train", False)
    k = k + diag_reg * torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
    out = k_test_train @ _psd_solve(k, y)
    return out[:, 0] if y_train.dim() == 1 else out


def nngp_posterior(k_train_train, y_train, k_test_train, k_test_test, *, noise_var=0.0) -> GaussianPrediction:
    """Exact Bayesian posterior of the infinitely wide network (Gaussian-process regression with the NNGP).

    See the chapter *Neural tangent kernel*.

    .. math::

        \\mu = K_{*X}(K + \\sigma^2 I)^{-1} Y, \\qquad
        \\Sigma = K_{**} - K_{*X}(K + \\sigma^2 I)^{-1} K_{X*}.

    Parameters
    ----------
    k_train_train : Tensor, shape (n, n)
    y_train : Tensor, shape (n, out) or (n,)
    k_test_train : Tensor, shape (m, n)
    k_test_test : Tensor, shape (m, m)
    noise_var : float
        Observation noise :math:`\\sigma^2 \\ge 0`.

    Returns
    -------
    GaussianPrediction

    References
    ----------
    lee2018dnngp.

    Examples
    --------
    >>> import torch
    >>> k = torch.tensor([[1.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    >>> post = nngp_posterior(k[:1, :1], torch.tensor([2.0], dtype=torch.float64), k[1:, :1], k[1:, 1:])
    >>> post.mean.item(), post.cov.item()
    (1.0, 0.75)
    """
    k = _as_kernel(k_train_train, "k_train_train")
    check_tensor(k_test_test, "k_test_test", ndim=2, floating=True)
    kx = _as_cross(k_test_train, "k_test_train", k.shape[0], False)
    if k_test_test.shape != (kx.shape[0], kx.shape[0]):
        m = kx.shape[0]
        raise ValueError(f"k_test_test must have shape ({m}, {m}), got {tuple(k_test_test.shape)}")
    check_positive(noise_var, "noise_var", strict=False)
    y = _targets(y_train, k.shape[0], "y_train", False)
    k = k + noise_var * torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
    mean = kx @ _psd_solve(k, y)
    cov = k_test_test - kx @ _psd_solve(k, kx.T)
    return GaussianPrediction(mean[:, 0] if y_train.dim() == 1 else mean, 0.5 * (cov + cov.T))


def ntk_ensemble(nngp_train_train, ntk_train_train, y_train, nngp_test_train, ntk_test_train, nngp_test_test,
                 t=math.inf, *, lr=1.0, discrete=False) -> GaussianPrediction:
    """Distribution of test outputs over random initialisations after gradient descent (infinite width).

    See the chapter *Neural tangent kernel*.

    At initialisation :math:`(f_0(X), f_0(x_*))` is Gaussian with the NNGP kernel
    :math:`K`; training is linear in it with
    :math:`A_t = V \\frac{1 - e^{-\\eta\\Lambda t}}{\\Lambda} V^\\top`
    (eigen-decomposition of the NTK :math:`\\Theta`), so

    .. math::

        \\mu_t = \\Theta_{*X} A_t Y, \\qquad
        \\Sigma_t = K_{**} - \\Theta_{*X} A_t K_{X*} - K_{*X} A_t \\Theta_{X*}
        + \\Theta_{*X} A_t K A_t \\Theta_{X*}.

    Unlike :func:`nngp_posterior` this is *not* a Bayesian posterior for a
    general network (it is only when :math:`\\Theta = K`, e.g. training the readout alone).

    Parameters
    ----------
    nngp_train_train, ntk_train_train : Tensor, shape (n, n)
    y_train : Tensor, shape (n, out) or (n,)
    nngp_test_train, ntk_test_train : Tensor, shape (m, n)
    nngp_test_test : Tensor, shape (m, m)
    t : float
        Training time (or steps when ``discrete``); ``inf`` by default.
    lr : float
    discrete : bool

    Returns
    -------
    GaussianPrediction

    References
    ----------
    lee2019wide.

    Examples
    --------
    >>> import torch
    >>> k = torch.tensor([[1.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    >>> y = torch.tensor([2.0], dtype=torch.float64)
    >>> ens = ntk_ensemble(k[:1, :1], k[:1, :1], y, k[1:, :1], k[1:, :1], k[1:, 1:])
    >>> ens.mean.item(), ens.cov.item()   # Theta = K: the NNGP posterior
    (1.0, 0.75)
    """
    kxx = _as_kernel(nngp_train_train, "nngp_train_train")
    txx = _as_kernel(ntk_train_train, "ntk_train_train")
    if kxx.shape != txx.shape:
        raise ValueError("nngp_train_train and ntk_train_train must have the same shape")
    n = txx.shape[0]
    ksx = _as_cross(nngp_test_train, "nngp_test_train", n, False)
    tsx = _as_cross(ntk_test_train, "ntk_test_train", n, False)
    check_tensor(nngp_test_test, "nngp_test_test", shape=(ksx.shape[0], ksx.shape[0]), floating=True)
    check_positive(lr, "lr")
    y = _targets(y_train, n, "y_train", False)
    lam, v = _eigh(txx)
    tt = _times(t, txx)
    if tt.dim() != 0:
        raise ValueError("t must be a scalar for ntk_ensemble")
    _, phi = _spectral(lam, tt, lr, discrete, False, 0.0)
    a = v @ (phi[:, None] * v.T)
    ta = tsx @ a
    mean = ta @ y
    cross = ta @ ksx.T
    cov = nngp_test_test - cross - cross.T + ta @ kxx @ ta.T
    return GaussianPrediction(mean[:, 0] if y_train.dim() == 1 else mean, 0.5 * (cov + cov.T))
