"""Training dynamics of wide networks: closed forms for MSE in function space."""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np
import torch

from nips2019.utils import Bool, Constraint, Real, Tensor, validate


@dataclasses.dataclass
class MSEPrediction:
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


@dataclasses.dataclass
class GaussianPrediction:
    """Mean and covariance of a Gaussian over test outputs (shared by all output units).

    Attributes
    ----------
    mean : Tensor, shape (m, out)
    cov : Tensor, shape (m, m)
    """

    mean: torch.Tensor
    cov: torch.Tensor


# ----------------------------------------------------------------------------- declarations


class Times(Constraint):
    """Training times: a real >= 0 (``inf`` allowed), or a 0-/1-D tensor or list of them (internal constraint type).

    Times are values, not data: a tensor of times may have any real dtype and is
    converted to the kernel's dtype and device.
    """

    optional = False

    def check_value(self, value, name, ctx):
        if isinstance(value, (list, tuple)):
            if not value or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
                ctx.fail(TypeError, f"{name} must be {self.describe()}, got {value!r}")
            value = torch.tensor(value, dtype=torch.float64)
        if isinstance(value, torch.Tensor):
            if value.is_complex() or value.dtype == torch.bool:
                ctx.fail(TypeError, f"{name} must be {self.describe()}, got a tensor of dtype {value.dtype}")
            if value.dim() > 1:
                ctx.fail(ValueError, f"{name} must be a scalar or 1-D, got shape {tuple(value.shape)}")
            if value.numel() == 0:
                ctx.fail(ValueError, f"{name} must not be empty")
            if bool(torch.isnan(value).any()) or bool((value < 0).any()):
                ctx.fail(ValueError, f"{name} must be non-negative (inf allowed), got {value.tolist()}")
            return
        if isinstance(value, np.ndarray):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got a numpy array (convert with torch.as_tensor)")
        if not isinstance(value, (numbers.Real, np.floating, np.integer)) or isinstance(value, (bool, np.bool_)):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {type(value).__name__} {value!r}")
        if math.isnan(value) or value < 0:
            ctx.fail(ValueError, f"{name} must be non-negative (inf allowed), got {value}")

    def describe(self):
        return "a real number >= 0 (inf allowed) or a 1-D tensor of them"


KERNEL = Tensor(ndim=(2, 4), dtype="floating")
KERNEL_OPTIONAL = Tensor(ndim=(2, 4), dtype="floating", optional=True)
TARGETS = Tensor(ndim=(1, 2), dtype="floating")
TARGETS_OPTIONAL = Tensor(ndim=(1, 2), dtype="floating", optional=True)
LR = Real(low=0, closed="neither")

#: Relative tolerance for a kernel's asymmetry and negative eigenvalues (round-off, not nonsense).
_PSD_RTOL = 1e-3


# ----------------------------------------------------------------------------- helpers


def _as_kernel(func, k, name):
    """Return a square 2-D kernel, flattening a full (n, n, out, out) kernel to (n*out, n*out)."""
    if k.dim() == 4:
        if k.shape[0] != k.shape[1] or k.shape[2] != k.shape[3]:
            raise ValueError(f"{func}: {name} must have shape (n, n, out, out), got {tuple(k.shape)}")
        k = k.permute(0, 2, 1, 3).reshape(k.shape[0] * k.shape[2], -1)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"{func}: {name} must be square, got shape {tuple(k.shape)}")
    return k


def _as_cross(func, k, name, n_train, full, train_name="k_train_train"):
    if k.dim() != (4 if full else 2):
        want = "4-D (m, n, out, out)" if full else "2-D (m, n)"
        raise ValueError(f"{func}: {name} must be {want} like {train_name}, got shape {tuple(k.shape)}")
    if full:
        k = k.permute(0, 2, 1, 3).reshape(k.shape[0] * k.shape[2], k.shape[1] * k.shape[3])
    if k.shape[1] != n_train:
        raise ValueError(f"{func}: {name} must have {n_train} columns (training points of {train_name}), "
                         f"got shape {tuple(k.shape)}")
    return k


def _targets(func, y, n, name, full, kernel_name="k_train_train"):
    """(n, out) targets -> (n, out) for a shared kernel, or a column (n*out, 1) for a full kernel."""
    y2 = y[:, None] if y.dim() == 1 else y
    if full:
        y2 = y2.reshape(-1, 1)
    if y2.shape[0] != n:
        rows = "n*out" if full else str(n)
        raise ValueError(f"{func}: {name} has {y.shape[0]} rows but {kernel_name} has {rows} rows "
                         f"({name} has shape {tuple(y.shape)})")
    return y2


def _check_psd(func, k, name, lam):
    """Refuse a kernel that is not symmetric positive semi-definite (beyond round-off)."""
    scale = k.abs().max()
    if bool((k - k.T).abs().max() > _PSD_RTOL * scale):
        raise ValueError(f"{func}: {name} must be symmetric, got max |K - K^T| = "
                         f"{(k - k.T).abs().max().item():.3g} for max |K| = {scale.item():.3g}")
    if bool(lam.min() < -_PSD_RTOL * lam.abs().max()):
        raise ValueError(f"{func}: {name} must be positive semi-definite, got eigenvalue {lam.min().item():.3g} "
                         f"(largest {lam.abs().max().item():.3g})")


def _eigh(func, k, name, shift=0.0):
    """Eigen-decomposition of a symmetric PSD kernel (checked), optionally of ``k + shift * I``."""
    ks = 0.5 * (k + k.T)
    if shift:
        ks = ks + shift * torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
    lam, v = torch.linalg.eigh(ks)
    _check_psd(func, k, name, lam - shift)
    return lam, v


def _null(lam):
    info = torch.finfo(lam.dtype)
    return lam <= lam.abs().max().clamp_min(info.tiny) * lam.shape[0] * info.eps * 10


def _times(func, t, like, discrete):
    if isinstance(t, (list, tuple)):
        t = torch.tensor(t, dtype=torch.float64)
    if isinstance(t, torch.Tensor):
        tt = t.to(dtype=like.dtype, device=like.device)
    else:
        tt = torch.as_tensor(float(t), dtype=like.dtype, device=like.device)
    if discrete:
        fin = tt[torch.isfinite(tt)]
        if bool((fin != fin.round()).any()):
            raise ValueError(f"{func}: t must hold integer step counts when discrete=True, got {tt.tolist()}")
    return tt


def _spectral(func, lam, t, lr, discrete, natural, damping):
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
            raise ValueError(f"{func}: gradient descent diverges at t = inf: lr={lr} >= {rate}")
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


def _predict(func, k_train_train, y_train, t, lr, f0_train, k_test_train, f0_test, discrete, natural, damping):
    full = k_train_train.dim() == 4
    out = k_train_train.shape[2] if full else None
    k = _as_kernel(func, k_train_train, "k_train_train")
    n = k.shape[0]
    if full and (y_train.dim() != 2 or y_train.shape[1] != out):
        raise ValueError(f"{func}: y_train must have shape (n, {out}) for a full kernel k_train_train of shape "
                         f"{tuple(k_train_train.shape)}, got {tuple(y_train.shape)}")
    y = _targets(func, y_train, n, "y_train", full)
    if f0_train is None:
        f0 = torch.zeros_like(y)
    else:
        f0 = _targets(func, f0_train, n, "f0_train", full)
        if f0.shape != y.shape:
            raise ValueError(f"{func}: f0_train must have the shape of y_train, {tuple(y_train.shape)}, "
                             f"got {tuple(f0_train.shape)}")
    tt = _times(func, t, k, discrete)
    lam, v = _eigh(func, k, "k_train_train")
    d, phi = _spectral(func, lam, tt, lr, discrete, natural, damping)
    r0 = v.T @ (f0 - y)  # residual in the eigenbasis, (n, c)
    train = y + torch.einsum("ij,...j,jc->...ic", v, d, r0)
    test = None
    if k_test_train is not None:
        kx = _as_cross(func, k_test_train, "k_test_train", n, full)
        if full and k_test_train.shape[2:] != k_train_train.shape[2:]:
            raise ValueError(f"{func}: k_test_train must have output dimensions {tuple(k_train_train.shape[2:])} "
                             f"like k_train_train, got shape {tuple(k_test_train.shape)}")
        m = kx.shape[0]
        if f0_test is None:
            g0 = torch.zeros(m, y.shape[1], dtype=y.dtype, device=y.device)
        else:
            g0 = _targets(func, f0_test, m, "f0_test", full, kernel_name="k_test_train")
            if g0.shape != (m, y.shape[1]):
                raise ValueError(f"{func}: f0_test must have {m} rows and the columns of y_train "
                                 f"{tuple(y_train.shape)}, got shape {tuple(f0_test.shape)}")
        test = g0 - torch.einsum("mi,ij,...j,jc->...mc", kx, v, phi, r0)
    elif f0_test is not None:
        raise ValueError(f"{func}: f0_test is given without k_test_train")
    if discrete and not (bool(torch.isfinite(train).all()) and (test is None or bool(torch.isfinite(test).all()))):
        rate = "2" if natural else f"2/lambda_max = {2 / lam.max().item():.4g}"
        raise ValueError(f"{func}: the predictions overflow {k.dtype}: gradient descent diverges with lr={lr} >= "
                         f"{rate} and t up to {tt.max().item():g} steps")
    if full:
        shape = lambda a: a.reshape(*a.shape[:-2], -1, out)  # noqa: E731
        train = shape(train)
        test = None if test is None else shape(test)
    elif y_train.dim() == 1:
        train = train[..., 0]
        test = None if test is None else test[..., 0]
    return MSEPrediction(train=train, test=test)


_MSE_DECL = dict(
    k_train_train=KERNEL,
    y_train=TARGETS,
    t=Times(),
    lr=LR,
    f0_train=TARGETS_OPTIONAL,
    k_test_train=KERNEL_OPTIONAL,
    f0_test=TARGETS_OPTIONAL,
    discrete=Bool(),
    same=[("k_train_train", "y_train", "f0_train", "k_test_train", "f0_test")],
)


@validate(**_MSE_DECL)
def gradient_descent_mse(k_train_train, y_train, t, *, lr=1.0, f0_train=None, k_test_train=None, f0_test=None,
                         discrete=False) -> MSEPrediction:
    """Closed-form gradient descent on MSE for a linearised network (or kernel).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

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
    return _predict("gradient_descent_mse", k_train_train, y_train, t, lr, f0_train, k_test_train, f0_test, discrete,
                    False, 0.0)


@validate(damping=Real(low=0), **_MSE_DECL)
def natural_gradient_mse(k_train_train, y_train, t, *, lr=1.0, f0_train=None, k_test_train=None, f0_test=None,
                         discrete=False, damping=0.0) -> MSEPrediction:
    """Closed-form natural-gradient descent on MSE for a linearised network.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

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
    return _predict("natural_gradient_mse", k_train_train, y_train, t, lr, f0_train, k_test_train, f0_test, discrete,
                    True, float(damping))


@validate(k_train_train=KERNEL)
def critical_learning_rate(k_train_train: torch.Tensor) -> float:
    """Largest stable learning rate of gradient descent on the sum-MSE: :math:`2 / \\lambda_{max}(\\Theta)`.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

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
    func = "critical_learning_rate"
    k = _as_kernel(func, k_train_train, "k_train_train")
    lam = torch.linalg.eigvalsh(0.5 * (k + k.T))
    _check_psd(func, k, "k_train_train", lam)
    lam_max = lam.max().item()
    if not lam_max > 0:
        raise ValueError(f"{func}: k_train_train has no positive eigenvalue (every learning rate is stable)")
    return 2.0 / lam_max


def _psd_solve(lam, v, b):
    keep = ~_null(lam)
    inv = torch.where(keep, 1 / torch.where(keep, lam, torch.ones_like(lam)), torch.zeros_like(lam))
    return v @ (inv[:, None] * (v.T @ b))


@validate(
    k_train_train=Tensor(shape=("n", "n"), dtype="floating"),
    y_train=TARGETS,
    k_test_train=Tensor(shape=("m", "n"), dtype="floating"),
    diag_reg=Real(low=0),
    same=[("k_train_train", "y_train", "k_test_train")],
)
def kernel_regression(k_train_train, y_train, k_test_train, *, diag_reg=0.0) -> torch.Tensor:
    """Kernel (ridge) regression: the infinite-time limit of gradient descent from :math:`f_0 = 0`.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

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
    func = "kernel_regression"
    k = k_train_train
    y = _targets(func, y_train, k.shape[0], "y_train", False)
    lam, v = _eigh(func, k, "k_train_train", shift=float(diag_reg))
    out = k_test_train @ _psd_solve(lam, v, y)
    return out[:, 0] if y_train.dim() == 1 else out


@validate(
    k_train_train=Tensor(shape=("n", "n"), dtype="floating"),
    y_train=TARGETS,
    k_test_train=Tensor(shape=("m", "n"), dtype="floating"),
    k_test_test=Tensor(shape=("m", "m"), dtype="floating"),
    noise_var=Real(low=0),
    same=[("k_train_train", "y_train", "k_test_train", "k_test_test")],
)
def nngp_posterior(k_train_train, y_train, k_test_train, k_test_test, *, noise_var=0.0) -> GaussianPrediction:
    """Exact Bayesian posterior of the infinitely wide network (Gaussian-process regression with the NNGP).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

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
    func = "nngp_posterior"
    k, kx = k_train_train, k_test_train
    y = _targets(func, y_train, k.shape[0], "y_train", False)
    lam, v = _eigh(func, k, "k_train_train", shift=float(noise_var))
    mean = kx @ _psd_solve(lam, v, y)
    cov = k_test_test - kx @ _psd_solve(lam, v, kx.T)
    return GaussianPrediction(mean=mean[:, 0] if y_train.dim() == 1 else mean, cov=0.5 * (cov + cov.T))


@validate(
    nngp_train_train=Tensor(shape=("n", "n"), dtype="floating"),
    ntk_train_train=Tensor(shape=("n", "n"), dtype="floating"),
    y_train=TARGETS,
    nngp_test_train=Tensor(shape=("m", "n"), dtype="floating"),
    ntk_test_train=Tensor(shape=("m", "n"), dtype="floating"),
    nngp_test_test=Tensor(shape=("m", "m"), dtype="floating"),
    t=Real(low=0, finite=False),
    lr=LR,
    discrete=Bool(),
    same=[("nngp_train_train", "ntk_train_train", "y_train", "nngp_test_train", "ntk_test_train", "nngp_test_test")],
)
def ntk_ensemble(nngp_train_train, ntk_train_train, y_train, nngp_test_train, ntk_test_train, nngp_test_test,
                 *, t=math.inf, lr=1.0, discrete=False) -> GaussianPrediction:
    """Distribution of test outputs over random initialisations after gradient descent (infinite width).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

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
    func = "ntk_ensemble"
    kxx, txx, ksx, tsx = nngp_train_train, ntk_train_train, nngp_test_train, ntk_test_train
    n = txx.shape[0]
    y = _targets(func, y_train, n, "y_train", False, kernel_name="ntk_train_train")
    _check_psd(func, kxx, "nngp_train_train", torch.linalg.eigvalsh(0.5 * (kxx + kxx.T)))
    lam, v = _eigh(func, txx, "ntk_train_train")
    tt = _times(func, t, txx, discrete)
    _, phi = _spectral(func, lam, tt, lr, discrete, False, 0.0)
    a = v @ (phi[:, None] * v.T)
    ta = tsx @ a
    mean = ta @ y
    cross = ta @ ksx.T
    cov = nngp_test_test - cross - cross.T + ta @ kxx @ ta.T
    if discrete and not (bool(torch.isfinite(mean).all()) and bool(torch.isfinite(cov).all())):
        raise ValueError(f"{func}: the prediction overflows {txx.dtype}: gradient descent diverges with lr={lr} >= "
                         f"2/lambda_max = {2 / lam.max().item():.4g} over t = {float(t):g} steps")
    return GaussianPrediction(mean=mean[:, 0] if y_train.dim() == 1 else mean, cov=0.5 * (cov + cov.T))
