"""Linear CorEx with the modular regulariser (Ver Steeg et al. 2019), fitted by Adam."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Bool, Generator, Integer, Real, Tensor, as_generator, progress, randn, validate


@dataclasses.dataclass
class LinearCorexResult:
    """A fitted linear CorEx model (:func:`linear_corex`).

    See the chapter :doc:`Comparing distributions </book/distributions>`.

    Attributes
    ----------
    weights : Tensor, shape (n_factors, d)
        :math:`W` of :math:`z = W \\tilde x + \\varepsilon` (on standardised data).
    labels : Tensor, shape (d,)
        For each observed variable, the factor it shares most information with.
    mutual_information : Tensor, shape (d, n_factors)
        :math:`I(X_i; Z_j) = -\\tfrac12 \\log(1 - \\rho_{ij}^2)` under the fitted Gaussian model.
    covariance : Tensor, shape (d, d)
        The covariance the model implies, in the data's units: independent factors and
        conditionally independent observations, :math:`B \\operatorname{diag}(\\Sigma_z) B^\\top + D`.
    mean, scale : Tensor, shape (d,)
        The standardisation of the training data.
    objective : float
        Final value of the objective (up to its constant).
    """

    weights: torch.Tensor
    labels: torch.Tensor
    mutual_information: torch.Tensor
    covariance: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor
    objective: float


def _moments(s, w):
    sw = s @ w.T  # Cov(x, z), (d, m)
    sz = w @ sw + torch.eye(w.shape[0], device=w.device, dtype=w.dtype)  # Cov(z)
    return sw, sz


def _objective(s, w, reg_modular):
    """TC(X|Z) + TC(Z) + reg_modular * sum_i TC(Z|X_i), up to a constant (the log det of Cov(x) cancels)."""
    sw, sz = _moments(s, w)
    tiny = torch.finfo(w.dtype).tiny
    sz_inv_c = torch.linalg.solve(sz, sw.T).T  # (d, m): Sz^{-1} c_i per row
    var_x = s.diagonal()
    cond_x = (var_x - (sw * sz_inv_c).sum(1)).clamp_min(tiny)  # Var(x_i | z)
    # TC(X|Z) + TC(Z) = 1/2 sum log Var(x_i|z) + 1/2 sum log Var(z_j) - 1/2 log det Cov(x) (a constant)
    value = 0.5 * cond_x.log().sum() + 0.5 * sz.diagonal().log().sum()
    if reg_modular > 0:
        # TC(Z | X_i) = 1/2 [sum_j log(Var z_j - c_ij^2 / s_ii) - log det Sz
        #                  - log(1 - c_i^T Sz^{-1} c_i / s_ii)]
        cond_z = (sz.diagonal()[None, :] - sw**2 / var_x[:, None]).clamp_min(tiny)
        quad = ((sw * sz_inv_c).sum(1) / var_x).clamp_max(1 - 1e-12)
        tcz = 0.5 * (cond_z.log().sum(1) - torch.logdet(sz) - torch.log1p(-quad))
        value = value + reg_modular * tcz.sum()
    return value


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    n_factors=Integer(low=1),
    reg_modular=Real(low=0),
    n_steps=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    generator=Generator(),
    progress=Bool(optional=True),
)
def linear_corex(
    x: torch.Tensor,
    n_factors: int,
    *,
    reg_modular: float = 1.0,
    n_steps: int = 1000,
    lr: float = 0.02,
    generator=None,
    progress: bool | None = None,
) -> LinearCorexResult:
    r"""Linear CorEx: latent factors that explain the correlations, biased towards modular structure.

    On standardised data :math:`\tilde x` with sample covariance :math:`\Sigma`, factors
    :math:`z = W \tilde x + \varepsilon`, :math:`\varepsilon \sim N(0, I)`, make
    :math:`(x, z)` jointly Gaussian, and the total correlations are closed-form
    (:func:`gaussian_total_correlation`). The objective of Ver Steeg et al. (2019) is

    .. math::

        \min_W\; TC(X \mid Z) + TC(Z) + \lambda \sum_i TC(Z \mid X_i),

    zero-valued exactly when the factors are independent, explain every correlation between the
    :math:`X_i`, and each :math:`X_i` depends on one factor only (a modular latent factor model; the
    last term, weighted by :math:`\lambda` = ``reg_modular``, is what selects it). With
    :math:`\operatorname{Var}(x_i \mid z) = \Sigma_{ii} - c_i^\top \Sigma_z^{-1} c_i`, :math:`c_i =
    (\Sigma W^\top)_i`, :math:`\Sigma_z = W \Sigma W^\top + I`, the first two terms are
    :math:`\tfrac12 \sum_i \log \operatorname{Var}(x_i \mid z) + \tfrac12 \sum_j \log (\Sigma_z)_{jj}`
    up to the constant :math:`-\tfrac12 \log\det\Sigma` (so a singular :math:`\Sigma`, :math:`n < d`,
    is fine), and :math:`TC(Z \mid X_i)` uses the rank-one update :math:`\Sigma_z - c_i c_i^\top /
    \Sigma_{ii}`. Each step costs :math:`O(n d m + d m^2)` after forming :math:`\Sigma` once.
    Fitted by Adam from a small random :math:`W`. (The authors' code uses a different
    parameterisation and annealing schedule; this is a direct transcription of the objective.)
    See the chapter :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        Observations (rows); standardised internally (each column needs a positive variance).
    n_factors : int
        :math:`m`, the number of latent factors.
    reg_modular : float
        :math:`\lambda \ge 0` (0: plain linear CorEx).
    n_steps : int
        Adam steps.
    lr : float
        Adam learning rate.
    generator : None, int or torch.Generator
        The random initialisation of :math:`W`.
    progress : bool, optional
        Progress bar over the steps.

    Returns
    -------
    LinearCorexResult

    References
    ----------
    Ver Steeg, Harutyunyan, Moyer, Galstyan (2019), *Fast structure learning with modular
    regularization*, NeurIPS.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> z = torch.randn(200, 2, generator=g, dtype=torch.float64)
    >>> x = z.repeat_interleave(3, 1) + 0.5 * torch.randn(200, 6, generator=g, dtype=torch.float64)
    >>> linear_corex(x, 2, n_steps=300, generator=0).labels.tolist()  # two groups of three
    [1, 1, 1, 0, 0, 0]
    """
    n, d = x.shape
    if n < 2:
        raise ValueError(f"linear_corex: needs at least 2 rows in x, got {n}")
    mean, scale = x.mean(0), x.std(0)
    if not bool((scale > 0).all()):
        raise ValueError("linear_corex: every column of x needs a positive variance "
                         "(a constant column was found)")
    xs = (x - mean) / scale
    s = xs.T @ xs / n
    gen = as_generator(generator)
    w = (0.01 * randn(n_factors, d, generator=gen, device=x.device, dtype=x.dtype)).requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    show = None if progress is None else not progress
    for _ in _progress(range(n_steps), show):
        loss = _objective(s, w, reg_modular)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        w = w.detach()
        final = float(_objective(s, w, reg_modular))
        sw, sz = _moments(s, w)
        corr = sw / torch.sqrt(s.diagonal()[:, None] * sz.diagonal()[None, :])
        mi = -0.5 * torch.log1p(-(corr**2).clamp_max(1 - 1e-12))
        b = torch.linalg.solve(sz, sw.T).T  # E[x | z] = b z
        cond_x = (s.diagonal() - (b * sw).sum(1)).clamp_min(1e-12)
        cov_s = b @ torch.diag(sz.diagonal()) @ b.T + torch.diag(cond_x)
        cov = cov_s * scale[:, None] * scale[None, :]
    return LinearCorexResult(weights=w, labels=mi.argmax(1), mutual_information=mi, covariance=cov,
                             mean=mean, scale=scale, objective=final)


def _progress(it, disable):
    return progress(it, desc="linear CorEx", disable=disable)
