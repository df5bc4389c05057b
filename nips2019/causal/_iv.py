"""Instrumental-variable regression: two-stage least squares and kernel IV (Singh, Sahani & Gretton 2019)."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Bool, Integer, Options, Real, Tensor, as_generator, randn, validate
from ._common import _DRAWN

_FLOAT2 = dict(ndim=2, dtype="floating")


# ---------------------------------------------------------------------------------------------
# Generated designs
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class IVData:
    """A confounded sample with an instrument (see :func:`make_iv_data`).

    Attributes
    ----------
    x : Tensor, shape (n, 1) or (n, p)
        The endogenous input (the treatment).
    y : Tensor, shape (n,)
        The outcome.
    z : Tensor, shape (n, q)
        The instruments.
    structural : Tensor, shape (n,)
        The structural function :math:`f(x_i)` at the sample's inputs (no noise, no confounder).
    x_test : Tensor, shape (n_test, 1) or (n_test, p)
        Fresh inputs (a grid for the one-dimensional designs) to measure out-of-sample error on.
    f_test : Tensor, shape (n_test,)
        :math:`f` at ``x_test``: the causal target, what :math:`E[Y \\mid do(X = x)]` equals.
    design : str
        ``"linear"`` or ``"sigmoid"``.
    """

    x: torch.Tensor
    y: torch.Tensor
    z: torch.Tensor
    structural: torch.Tensor
    x_test: torch.Tensor
    f_test: torch.Tensor
    design: str


def _sigmoid_f(x: torch.Tensor) -> torch.Tensor:
    return torch.log((16 * x - 8).abs() + 1) * torch.sign(x - 0.5)


def _normal_cdf(t: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(t / math.sqrt(2)))


@validate(
    n_samples=Integer(low=2),
    design=Options("linear", "sigmoid"),
    confounding=Real(low=0, high=1, closed="left"),
    effect=Real(),
    strength=Real(low=0, closed="neither"),
    n_instruments=Integer(low=1),
    n_test=Integer(low=2),
    **_DRAWN,
)
def make_iv_data(n_samples: int, *, design: str = "linear", confounding: float = 0.5, effect: float = 1.0,
                 strength: float = 1.0, n_instruments: int = 1, n_test: int = 200, generator=None,
                 dtype: torch.dtype = torch.float64, device=None) -> IVData:
    r"""Draw a confounded sample with a valid instrument and a known structural function.

    ``design="linear"``: an unobserved confounder :math:`u \sim \mathcal N(0, 1)` drives
    both the treatment and the outcome,

    .. math::

        x = s\, z^\top \mathbf 1 / \sqrt{q} + u + v, \qquad
        y = \beta x + 2\rho\, u + \sqrt{1 - \rho^2}\, \varepsilon,

    with instruments :math:`z \sim \mathcal N(0, I_q)` and :math:`v, \varepsilon \sim \mathcal N(0, 1)`
    (``strength`` :math:`s`, ``effect`` :math:`\beta`, ``confounding`` :math:`\rho`). OLS of
    :math:`y` on :math:`x` converges to :math:`\beta + 2\rho/(s^2 + 2)`, 2SLS to :math:`\beta`.

    ``design="sigmoid"`` (one instrument; after the sigmoid design of Chen & Christensen used
    by Singh et al. 2019): :math:`w, v, \varepsilon \sim \mathcal N(0, 1)`,
    :math:`e = \rho v + \sqrt{1 - \rho^2}\,\varepsilon`,

    .. math::

        x = \Phi\bigl((s w + v)/\sqrt{s^2 + 1}\bigr), \quad z = \Phi(w), \quad
        y = f(x) + e, \quad f(x) = \log(|16 x - 8| + 1)\, \mathrm{sgn}(x - \tfrac12),

    so the noise :math:`e` is correlated with :math:`x` through :math:`v` and :math:`z` is
    independent of :math:`e`. ``effect`` is ignored there.

    Parameters
    ----------
    n_samples : int
    design : {"linear", "sigmoid"}
    confounding : float in [0, 1)
        :math:`\rho`, the strength of the confounding.
    effect : float
        The linear design's causal slope :math:`\beta`.
    strength : float > 0
        How strongly the instrument moves the treatment.
    n_instruments : int
        Number of instruments (linear design only).
    n_test : int
        Size of the test grid ``x_test``.
    generator : None, int or torch.Generator
        Source of the instruments, the confounder and the noise.
    dtype, device
        Of the returned tensors (the sample and the test grid).

    Returns
    -------
    IVData
        The sample, and the structural function on the test grid.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Singh, Sahani & Gretton, *Kernel instrumental variable regression*, NeurIPS 2019 (the
    sigmoid design).

    Examples
    --------
    >>> d = make_iv_data(100, generator=0)
    >>> d.x.shape, d.z.shape, d.y.shape
    (torch.Size([100, 1]), torch.Size([100, 1]), torch.Size([100]))
    """
    g = as_generator(generator)
    kw = dict(generator=g, dtype=dtype, device=device)
    rho, s = float(confounding), float(strength)
    if design == "linear":
        z = randn(n_samples, n_instruments, **kw)
        u, v, eps = (randn(n_samples, **kw) for _ in range(3))
        x = s * z.sum(1) / math.sqrt(n_instruments) + u + v
        structural = effect * x
        y = structural + 2 * rho * u + math.sqrt(1 - rho**2) * eps
        sd = math.sqrt(s**2 + 2)
        x_test = torch.linspace(-2 * sd, 2 * sd, n_test, dtype=dtype, device=device)[:, None]
        f_test = effect * x_test[:, 0]
        return IVData(x=x[:, None], y=y, z=z, structural=structural, x_test=x_test, f_test=f_test,
                      design=design)
    if n_instruments != 1:
        raise ValueError(f"make_iv_data: the sigmoid design has one instrument, got n_instruments={n_instruments}")
    w, v, eps = (randn(n_samples, **kw) for _ in range(3))
    e = rho * v + math.sqrt(1 - rho**2) * eps
    x = _normal_cdf((s * w + v) / math.sqrt(s**2 + 1))
    z = _normal_cdf(w)
    structural = _sigmoid_f(x)
    y = structural + e
    x_test = torch.linspace(0.0, 1.0, n_test + 2, dtype=dtype, device=device)[1:-1, None]
    return IVData(x=x[:, None], y=y, z=z[:, None], structural=structural, x_test=x_test,
                  f_test=_sigmoid_f(x_test[:, 0]), design=design)


# ---------------------------------------------------------------------------------------------
# Two-stage least squares
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class TSLSResult:
    """A two-stage least-squares fit (see :func:`two_stage_least_squares`).

    Attributes
    ----------
    coef : Tensor, shape (k,)
        All coefficients, in the order: intercept (if fitted), ``exog`` columns, ``x`` columns.
    stderr : Tensor, shape (k,)
        Their standard errors (``cov_type`` of the call).
    cov : Tensor, shape (k, k)
        The estimated covariance of ``coef``.
    effect : Tensor, shape (p,)
        The coefficients of the endogenous columns ``x`` (the causal effects).
    effect_stderr : Tensor, shape (p,)
    residuals : Tensor, shape (n,)
        :math:`y - R\\hat\\beta` with the *observed* regressors.
    first_stage_f : Tensor, shape (p,)
        Per endogenous column, the F statistic of the excluded instruments in its first-stage
        regression (homoskedastic). Below ~10 the instruments are weak.
    """

    coef: torch.Tensor
    stderr: torch.Tensor
    cov: torch.Tensor
    effect: torch.Tensor
    effect_stderr: torch.Tensor
    residuals: torch.Tensor
    first_stage_f: torch.Tensor


def _lstsq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # QR-based least squares, identical on CPU and CUDA (full column rank assumed and checked)
    q, r = torch.linalg.qr(a)
    return torch.linalg.solve_triangular(r, q.T @ b, upper=True)


@validate(
    y=Tensor(shape=("n",), dtype="floating"),
    x=Tensor(shape=("n", "p"), dtype="floating"),
    z=Tensor(shape=("n", "q"), dtype="floating"),
    exog=Tensor(shape=("n", None), dtype="floating", optional=True),
    intercept=Bool(),
    cov_type=Options("unadjusted", "robust"),
    same=[("y", "x", "z", "exog")],
)
def two_stage_least_squares(y: torch.Tensor, x: torch.Tensor, z: torch.Tensor, *,
                            exog: torch.Tensor | None = None, intercept: bool = True,
                            cov_type: str = "unadjusted") -> TSLSResult:
    r"""Two-stage least squares (2SLS): the linear instrumental-variable estimator.

    With regressors :math:`R = [\mathbf 1, W, X]` (intercept, exogenous controls, endogenous
    columns) and instruments :math:`Q = [\mathbf 1, W, Z]`, stage 1 projects the regressors
    on the instruments, :math:`\hat R = P_Q R` with :math:`P_Q = Q (Q^\top Q)^{-1} Q^\top`, and
    stage 2 regresses :math:`y` on :math:`\hat R`:

    .. math::

        \hat\beta = (\hat R^\top R)^{-1} \hat R^\top y, \qquad
        \widehat{\mathrm{Cov}}(\hat\beta) = \hat\sigma^2 (\hat R^\top \hat R)^{-1},\
        \hat\sigma^2 = \tfrac1n \lVert y - R\hat\beta \rVert^2

    (``cov_type="unadjusted"``), or the heteroskedasticity-robust sandwich
    :math:`(\hat R^\top \hat R)^{-1} \bigl(\sum_i e_i^2 \hat r_i \hat r_i^\top\bigr)
    (\hat R^\top \hat R)^{-1}` (``"robust"``, HC0). These are the defaults of
    ``linearmodels.IV2SLS`` (``debiased=False``), which the tests match. Passing ``z = x``
    gives ordinary least squares.

    Parameters
    ----------
    y : Tensor, shape (n,)
    x : Tensor, shape (n, p)
        Endogenous regressors (treatments).
    z : Tensor, shape (n, q), q >= p
        Excluded instruments.
    exog : Tensor, shape (n, k), optional
        Exogenous controls, used in both stages.
    intercept : bool
        Add a constant column to both stages (default True).
    cov_type : {"unadjusted", "robust"}

    Returns
    -------
    TSLSResult
        The coefficients, their standard errors and the first-stage diagnostics.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Angrist & Pischke, *Mostly harmless econometrics*, 2009, ch. 4.

    Examples
    --------
    >>> d = make_iv_data(2000, confounding=0.8, generator=0)
    >>> fit = two_stage_least_squares(d.y, d.x, d.z)
    >>> abs(fit.effect.item() - 1.0) < 0.1
    True
    """
    n, p = x.shape
    q = z.shape[1]
    if q < p:
        raise ValueError(f"two_stage_least_squares: z must have at least as many columns as x "
                         f"(order condition), got {q} instruments for {p} endogenous columns")
    kw = dict(dtype=x.dtype, device=x.device)
    common = [torch.ones(n, 1, **kw)] if intercept else []
    if exog is not None:
        common.append(exog)
    w = torch.cat(common, 1) if common else torch.zeros(n, 0, **kw)
    regs = torch.cat([w, x], 1)
    inst = torch.cat([w, z], 1)
    if n <= inst.shape[1]:
        raise ValueError(f"two_stage_least_squares: y needs more rows than instruments + controls "
                         f"({inst.shape[1]}), got n={n}")
    if int(torch.linalg.matrix_rank(inst)) < inst.shape[1]:
        raise ValueError("two_stage_least_squares: the instruments z (with exog and the intercept) are "
                         "collinear: drop a column")
    r_hat = inst @ _lstsq(inst, regs)
    gram = r_hat.T @ r_hat
    if int(torch.linalg.matrix_rank(gram)) < gram.shape[0]:
        raise ValueError("two_stage_least_squares: the projected regressors are collinear: x is not "
                         "identified by z (rank condition fails)")
    coef = torch.linalg.solve(gram, r_hat.T @ y)
    resid = y - regs @ coef
    bread = torch.linalg.inv(gram)
    if cov_type == "unadjusted":
        cov = bread * (resid @ resid / n)
    else:
        meat = (r_hat * resid[:, None] ** 2).T @ r_hat
        cov = bread @ meat @ bread
    cov = (cov + cov.T) / 2
    stderr = cov.diagonal().clamp_min(0).sqrt()
    # first-stage F of the excluded instruments, per endogenous column
    res_u = x - inst @ _lstsq(inst, x)
    res_r = x - w @ _lstsq(w, x) if w.shape[1] else x
    rss_u, rss_r = (res_u**2).sum(0), (res_r**2).sum(0)
    dof = n - inst.shape[1]
    f_stat = ((rss_r - rss_u) / q) / (rss_u / dof).clamp_min(torch.finfo(x.dtype).tiny)
    k = w.shape[1]
    return TSLSResult(coef=coef, stderr=stderr, cov=cov, effect=coef[k:], effect_stderr=stderr[k:],
                      residuals=resid, first_stage_f=f_stat)


# ---------------------------------------------------------------------------------------------
# Kernel instrumental variable regression
# ---------------------------------------------------------------------------------------------


def _gram(a: torch.Tensor, b: torch.Tensor, kernel: str, lengthscale: float) -> torch.Tensor:
    if kernel == "linear":
        return a @ b.T
    d2 = (a.pow(2).sum(1)[:, None] + b.pow(2).sum(1)[None, :] - 2 * a @ b.T).clamp_min(0)
    return torch.exp(-d2 / (2 * lengthscale**2))


def _median_distance(a: torch.Tensor) -> float:
    a = a[:1000]
    d = torch.cdist(a, a)
    iu = torch.triu_indices(len(a), len(a), 1, device=a.device)
    med = float(d[iu[0], iu[1]].median()) if len(a) > 1 else 1.0
    return med if med > 0 else 1.0


@dataclasses.dataclass
class KernelIVResult:
    """A kernel IV fit (see :func:`kernel_iv`); call its ``predict`` method on new inputs.

    Attributes
    ----------
    alpha : Tensor, shape (n,)
        Coefficients of the structural function on the stage-1 inputs:
        :math:`\\hat f(x) = \\sum_i \\alpha_i k_X(x_i, x)`.
    x_train : Tensor, shape (n, d_x)
        The stage-1 inputs :math:`x_i`.
    kernel : str
    lengthscale_x, lengthscale_z : float
        Gaussian-kernel lengthscales (median heuristic unless given); NaN-free, 1.0 for linear.
    lam, xi : float
        The stage-1 and stage-2 regularisers used.
    lam_grid, stage1_loss : Tensor, shape (L,)
        The stage-1 tuning curve (empty when ``lam`` was given).
    xi_grid, stage2_loss : Tensor, shape (L,)
        The stage-2 tuning curve (empty when ``xi`` was given).
    """

    alpha: torch.Tensor
    x_train: torch.Tensor
    kernel: str
    lengthscale_x: float
    lengthscale_z: float
    lam: float
    xi: float
    lam_grid: torch.Tensor
    stage1_loss: torch.Tensor
    xi_grid: torch.Tensor
    stage2_loss: torch.Tensor

    @validate(x=Tensor(ndim=2, dtype="floating"))
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The fitted structural function at ``x`` (shape (m, d_x)); returns shape (m,)."""
        if x.shape[1] != self.x_train.shape[1]:
            raise ValueError(f"predict: x must have {self.x_train.shape[1]} columns, got {x.shape[1]}")
        if x.dtype != self.x_train.dtype or x.device != self.x_train.device:
            raise ValueError(f"predict: x has {x.dtype} on {x.device}, the fit has {self.x_train.dtype} on "
                             f"{self.x_train.device}: convert x")
        return _gram(x, self.x_train, self.kernel, self.lengthscale_x) @ self.alpha


def _default_grid(like: torch.Tensor) -> torch.Tensor:
    return torch.logspace(-8, 1, 28, dtype=like.dtype, device=like.device)


@validate(
    x=Tensor(shape=("n", "dx"), dtype="floating"),
    y=Tensor(shape=("n",), dtype="floating"),
    z=Tensor(shape=("n", "dz"), dtype="floating"),
    kernel=Options("gaussian", "linear"),
    lam=Real(low=0, closed="neither", optional=True),
    xi=Real(low=0, closed="neither", optional=True),
    lengthscale_x=Real(low=0, closed="neither", optional=True),
    lengthscale_z=Real(low=0, closed="neither", optional=True),
    split=Real(low=0, high=1, closed="neither"),
    sample_split=Bool(),
    lam_grid=Tensor(ndim=1, dtype="floating", low=0, closed="neither", optional=True),
    xi_grid=Tensor(ndim=1, dtype="floating", low=0, closed="neither", optional=True),
    same=[("x", "y", "z", "lam_grid", "xi_grid")],
)
def kernel_iv(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, *, kernel: str = "gaussian",
              lam: float | None = None, xi: float | None = None, lengthscale_x: float | None = None,
              lengthscale_z: float | None = None, split: float = 0.5, sample_split: bool = True,
              lam_grid: torch.Tensor | None = None, xi_grid: torch.Tensor | None = None) -> KernelIVResult:
    r"""Kernel instrumental variable regression (KIV) with the paper's two-stage tuning.

    Stage 1 learns the conditional mean embedding :math:`\mu(z) = E[\psi(X) \mid Z = z]` by
    kernel ridge regression of :math:`\psi(x_i)` on :math:`z_i` over the first :math:`n`
    rows; stage 2 regresses the outcomes :math:`\tilde y_j` of the other :math:`m` rows on the
    estimated embeddings :math:`\hat\mu(\tilde z_j)`. With Gram matrices
    :math:`K_{XX}, K_{ZZ}` (stage 1) and :math:`K_{Z\tilde Z}`,

    .. math::

        \Gamma = (K_{ZZ} + n\lambda I)^{-1} K_{Z\tilde Z}, \qquad
        \alpha = \Gamma\,(\Gamma^\top K_{XX} \Gamma + m\xi I_m)^{-1} \tilde y, \qquad
        \hat f(x) = \textstyle\sum_i \alpha_i k_X(x_i, x).

    This equals Singh et al.'s :math:`\alpha = (W W^\top + m\xi K_{XX})^{-1} W \tilde y` with
    :math:`W = K_{XX}\Gamma` (push-through identity) but needs only a symmetric positive
    definite :math:`m \times m` solve, which stays stable when :math:`K_{XX}` is singular.

    **Tuning** (the paper's Appendix): :math:`\lambda` minimises the stage-1 error on the
    *stage-2* rows, :math:`\tfrac1m \mathrm{tr}(K_{\tilde X\tilde X} - 2K_{\tilde X X}\Gamma +
    \Gamma^\top K_{XX} \Gamma)`, and then :math:`\xi` minimises the stage-2 error on the
    *stage-1* rows, :math:`\tfrac1n \sum_i (y_i - \hat f(x_i))^2`, each over a log grid
    (one eigendecomposition per stage serves the whole grid).

    With ``kernel="linear"``, tiny regularisers and ``sample_split=False`` (both stages on all
    rows) KIV is 2SLS without intercept (:func:`two_stage_least_squares` with
    ``intercept=False``); with the split it is split-sample 2SLS.

    Parameters
    ----------
    x : Tensor, shape (N, d_x)
        Treatments.
    y : Tensor, shape (N,)
    z : Tensor, shape (N, d_z)
        Instruments.
    kernel : {"gaussian", "linear"}
        The same kind of kernel for x and z; Gaussian :math:`\exp(-\lVert a-b \rVert^2 / 2\ell^2)`.
    lam, xi : float, optional
        Regularisers; tuned as above when None.
    lengthscale_x, lengthscale_z : float, optional
        Gaussian lengthscales; default the median inter-point distance of the stage-1 rows.
    split : float in (0, 1)
        Share of rows (the first ones, in order: shuffle beforehand) used in stage 1.
    sample_split : bool
        False uses all rows in both stages (then ``lam`` and ``xi`` must be given).
    lam_grid, xi_grid : Tensor, shape (L,), optional
        Tuning grids (default ``logspace(-8, 1, 28)``).

    Returns
    -------
    KernelIVResult
        The structural function's coefficients, the regularisers chosen and the tuning curves.

    Notes
    -----
    Cost :math:`O(n^3 + m^3)`. See the chapter
    :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Singh, Sahani & Gretton, *Kernel instrumental variable regression*, NeurIPS 2019.

    Examples
    --------
    >>> d = make_iv_data(400, design="sigmoid", generator=0)
    >>> fit = kernel_iv(d.x, d.y, d.z)
    >>> fit.predict(d.x_test).shape
    torch.Size([200])
    """
    big_n = x.shape[0]
    if sample_split:
        n = int(round(split * big_n))
        if n < 2 or big_n - n < 2:
            raise ValueError(f"kernel_iv: split={split} leaves {n} and {big_n - n} rows; each stage needs >= 2")
        x1, z1, y1 = x[:n], z[:n], y[:n]
        x2, z2, y2 = x[n:], z[n:], y[n:]
    else:
        if lam is None or xi is None:
            raise ValueError("kernel_iv: sample_split=False leaves no held-out rows for tuning: give lam and xi")
        x1, z1, y1 = x2, z2, y2 = x, z, y
        n = big_n
    m = x2.shape[0]
    if kernel == "linear":
        lx = lz = 1.0
    else:
        lx = float(lengthscale_x) if lengthscale_x is not None else _median_distance(x1)
        lz = float(lengthscale_z) if lengthscale_z is not None else _median_distance(z1)
    k_xx = _gram(x1, x1, kernel, lx)
    k_zz = _gram(z1, z1, kernel, lz)
    k_zz2 = _gram(z1, z2, kernel, lz)
    s, u = torch.linalg.eigh((k_zz + k_zz.T) / 2)
    # a pseudo-inverse cut: components at round-off level would get weight s / (s + n lam) > 0
    keep = s > s[-1].clamp_min(0) * n * torch.finfo(s.dtype).eps
    s, u = s[keep], u[:, keep]
    empty = x.new_zeros(0)
    ut_kzz2 = u.T @ k_zz2  # (n, m)
    lam_curve, lam_g = empty, empty
    if lam is None:
        lam_g = lam_grid if lam_grid is not None else _default_grid(x)
        k_xx2 = _gram(x1, x2, kernel, lx)
        k_x2x2_tr = _gram(x2, x2, kernel, lx).diagonal().sum() if kernel == "linear" else x.new_tensor(float(m))
        a = u.T @ k_xx @ u
        b = u.T @ k_xx2
        c = (b * ut_kzz2).sum(1)  # (n,)
        h = a * (ut_kzz2 @ ut_kzz2.T)  # (n, n)
        d = 1.0 / (s[None, :] + n * lam_g[:, None])  # (L, n)
        lam_curve = (k_x2x2_tr - 2 * d @ c + ((d @ h) * d).sum(1)) / m
        lam = float(lam_g[torch.argmin(lam_curve)])
    gamma = u @ (ut_kzz2 / (s + n * lam)[:, None])  # (n, m)
    sm = gamma.T @ k_xx @ gamma
    e, v = torch.linalg.eigh((sm + sm.T) / 2)
    # directions with e ~ 0 carry no signal (f changes by O(sqrt(e)) along them): drop them, as a
    # pseudo-inverse would, so that tiny xi cannot amplify round-off
    keep = e > e[-1].clamp_min(0) * m * torch.finfo(e.dtype).eps
    e, v = e[keep], v[:, keep]
    vt_y = v.T @ y2
    xi_curve, xi_g = empty, empty
    if xi is None:
        xi_g = xi_grid if xi_grid is not None else _default_grid(x)
        kg_v = k_xx @ gamma @ v  # (n, m): f(x1) = kg_v @ diag(1/(e + m xi)) @ vt_y
        pred = (kg_v[None] * (vt_y / (e[None, :] + m * xi_g[:, None]))[:, None, :]).sum(-1)  # (L, n)
        xi_curve = ((y1[None] - pred) ** 2).mean(1)
        xi = float(xi_g[torch.argmin(xi_curve)])
    alpha = gamma @ (v @ (vt_y / (e + m * xi)))
    return KernelIVResult(alpha=alpha, x_train=x1, kernel=kernel, lengthscale_x=lx, lengthscale_z=lz,
                          lam=float(lam), xi=float(xi), lam_grid=lam_g, stage1_loss=lam_curve, xi_grid=xi_g,
                          stage2_loss=xi_curve)
