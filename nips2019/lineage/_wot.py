"""Waddington-OT: unbalanced entropic couplings between consecutive snapshots, with growth."""

from __future__ import annotations

import dataclasses

import torch

from nips2019.ot import cost_matrix, entropic_ot, normalize_cost, unbalanced_ot
from nips2019.utils import check_finite, check_positive, check_tensor


@dataclasses.dataclass
class Coupling:
    """A transport map between two snapshots (see the chapter *OT for lineage tracing*).

    Attributes
    ----------
    plan : Tensor, shape (n0, n1)
        Mass transported from early cell ``i`` to late cell ``j``; the total equals the
        target mass, one unit spread over the late cells when ``normalize_target`` (the default).
    dt : float
        Time between the snapshots.
    growth_rate : Tensor, shape (n0,)
        Growth rate of each early cell implied by the plan,
        :math:`\\log(n_0 \\, \\gamma_{i\\cdot} / \\sum\\gamma) / \\Delta t` (relative: zero on average
        in the log-mean sense; absolute rates are not identifiable from normalised snapshots).
    cost_scale : float
        The statistic the cost was divided by.
    n_iter : int
        Sinkhorn iterations of the last solve.
    """

    plan: torch.Tensor
    dt: float
    growth_rate: torch.Tensor
    cost_scale: float
    n_iter: int

    @property
    def transition(self) -> torch.Tensor:
        """Row-normalised plan: where the descendants of each early cell go, shape (n0, n1)."""
        return self.plan / self.plan.sum(1, keepdim=True).clamp_min(torch.finfo(self.plan.dtype).tiny)

    @property
    def ancestry(self) -> torch.Tensor:
        """Column-normalised plan: where each late cell came from, shape (n0, n1)."""
        return self.plan / self.plan.sum(0, keepdim=True).clamp_min(torch.finfo(self.plan.dtype).tiny)


def wot_coupling(
    x0: torch.Tensor,
    x1: torch.Tensor,
    dt: float = 1.0,
    growth_rate: torch.Tensor | None = None,
    eps: float = 0.05,
    lambda1: float = 1.0,
    lambda2: float = 50.0,
    growth_iters: int = 1,
    cost_normalization: str | None = "median",
    reg_type: str = "kl",
    method: str = "sinkhorn_log",
    balanced: bool = False,
    tol: float = 1e-6,
    max_iter: int = 10_000,
) -> Coupling:
    r"""The Waddington-OT coupling between two snapshots of a growing population.

    With cost :math:`C_{ij} = \lVert x_i - y_j\rVert^2 / \operatorname{median}` and a growth prior
    :math:`g_i = e^{\Delta t\, r_i}` (:math:`r_i` = birth minus death rate), solve

    .. math::

        \min_{\gamma \ge 0} \langle \gamma, C \rangle + \varepsilon\,\Omega(\gamma)
        + \lambda_1 \operatorname{KL}(\gamma 1 \,\|\, a) + \lambda_2 \operatorname{KL}(\gamma^\top 1 \,\|\, b),
        \qquad a_i = \frac{g_i}{\sum_k g_k}, \quad b_j = \frac{1}{n_1}.

    The weak penalty :math:`\lambda_1` lets the mass leaving each early cell deviate from
    its prior (cells multiply or die), the strong :math:`\lambda_2` makes the plan explain
    every late cell. With ``growth_iters > 1`` the prior is replaced by the plan's row sums
    and the problem solved again (Waddington-OT's growth re-estimation). Defaults are those
    of Schiebinger et al. (2019): :math:`\varepsilon = 0.05, \lambda_1 = 1, \lambda_2 = 50`.
    ``balanced=True`` solves the balanced entropic problem instead (both marginals exact).
    See the chapter *OT for lineage tracing*.

    Parameters
    ----------
    x0 : Tensor, shape (n0, d)
        Early cells (e.g. PCA coordinates).
    x1 : Tensor, shape (n1, d)
        Late cells.
    dt : float
        Time between the snapshots (only scales the growth prior and estimate).
    growth_rate : Tensor, shape (n0,), optional
        Prior net growth rates :math:`r_i`; zero (no prior knowledge) by default.
    eps, lambda1, lambda2 : float
        Entropic and marginal-penalty weights, in units of the normalised cost.
    growth_iters : int
        Number of solves, each using the previous row sums as the prior.
    cost_normalization : {"median", "mean", "max"} or None
    reg_type, method : str
        Passed to :func:`nips2019.ot.unbalanced_ot`.
    balanced : bool
    tol, max_iter
        Solver stopping rule.

    Returns
    -------
    Coupling

    References
    ----------
    Schiebinger et al. (2019), *Optimal-transport analysis of single-cell gene expression identifies
    developmental trajectories in reprogramming*, Cell 176(4).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    >>> c = wot_coupling(x, x + 0.1)
    >>> c.transition.argmax(1).tolist()
    [0, 1, 2]
    """
    check_tensor(x0, "x0", ndim=2, floating=True)
    check_tensor(x1, "x1", ndim=2, shape=(None, x0.shape[1]), floating=True)
    check_positive(dt, "dt")
    check_positive(eps, "eps")
    if not isinstance(growth_iters, int) or growth_iters < 1:
        raise ValueError(f"growth_iters must be a positive integer, got {growth_iters!r}")
    n0, n1 = x0.shape[0], x1.shape[0]
    kw = dict(device=x0.device, dtype=x0.dtype)
    if growth_rate is None:
        growth_rate = torch.zeros(n0, **kw)
    check_tensor(growth_rate, "growth_rate", shape=(n0,), floating=True)
    check_finite(growth_rate, "growth_rate")
    raw = cost_matrix(x0, x1)
    cost = normalize_cost(raw, cost_normalization)
    scale = float(raw.max() / cost.max()) if bool(cost.max() > 0) else 1.0
    logg = dt * growth_rate.to(**kw)
    a = torch.softmax(logg, 0)
    b = torch.full((n1,), 1.0 / n1, **kw)
    res = None
    for _ in range(growth_iters):
        if balanced:
            res = entropic_ot(a, b, cost, eps, method="sinkhorn_log", tol=tol, max_iter=max_iter)
        else:
            res = unbalanced_ot(a, b, cost, eps, (lambda1, lambda2), reg_type=reg_type, method=method,
                                tol=tol, max_iter=max_iter)
        rows = res.plan.sum(1).clamp_min(torch.finfo(x0.dtype).tiny)
        a = rows / rows.sum()
    rows = res.plan.sum(1).clamp_min(torch.finfo(x0.dtype).tiny)
    rel = torch.log(n0 * rows / rows.sum()) / dt
    return Coupling(plan=res.plan, dt=float(dt), growth_rate=rel, cost_scale=scale, n_iter=res.n_iter)


def wot_couplings(xs, times, growth_rates=None, **kwargs) -> list:
    """Waddington-OT couplings between every pair of consecutive snapshots.

    ``xs`` is a list of (n_k, d) tensors at increasing ``times``; ``growth_rates`` an optional
    list of per-cell prior rates (one per snapshot but the last). Other keyword arguments go
    to :func:`wot_coupling`. See the chapter *OT for lineage tracing*.

    Examples
    --------
    >>> import torch
    >>> xs = [torch.randn(5, 2, dtype=torch.float64) + t for t in range(3)]
    >>> [c.plan.shape for c in wot_couplings(xs, [0.0, 1.0, 2.0])]
    [torch.Size([5, 5]), torch.Size([5, 5])]
    """
    times = [float(t) for t in times]
    if len(xs) != len(times) or len(xs) < 2:
        raise ValueError(f"xs and times must have the same length >= 2, got {len(xs)} and {len(times)}")
    if any(t1 <= t0 for t0, t1 in zip(times, times[1:])):
        raise ValueError(f"times must increase, got {times}")
    if growth_rates is not None and len(growth_rates) < len(xs) - 1:
        raise ValueError("growth_rates needs one tensor per snapshot but the last")
    out = []
    for k in range(len(xs) - 1):
        g = None if growth_rates is None else growth_rates[k]
        out.append(wot_coupling(xs[k], xs[k + 1], dt=times[k + 1] - times[k], growth_rate=g, **kwargs))
    return out


def descendants(couplings, weights: torch.Tensor, k_end: int | None = None) -> torch.Tensor:
    r"""Push a distribution over early cells forward through chained couplings.

    .. math::

        d^{(k+1)} \propto (\gamma^{(k)})^\top d^{(k)},

    so a cell whose lineage multiplies passes on more mass (the plan's row sums carry the
    growth). ``couplings[0]`` starts at the snapshot of ``weights``. See the chapter
    *OT for lineage tracing*.

    Parameters
    ----------
    couplings : list of Coupling
        Consecutive couplings.
    weights : Tensor, shape (n0,)
        Non-negative weights over the first snapshot's cells (e.g. an indicator of a cell set).
    k_end : int, optional
        Number of couplings to chain (all by default).

    Returns
    -------
    Tensor, shape (n_k,)
        A probability vector over the cells at the end snapshot.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> c = wot_coupling(x, x, eps=0.01, cost_normalization="max")
    >>> descendants([c], torch.tensor([1.0, 0.0], dtype=torch.float64)).round(decimals=3)
    tensor([1., 0.], dtype=torch.float64)
    """
    k_end = len(couplings) if k_end is None else k_end
    d = _check_weights(weights, couplings[0].plan.shape[0])
    for c in couplings[:k_end]:
        d = c.plan.T @ d
        d = d / d.sum()
    return d


def ancestors(couplings, weights: torch.Tensor) -> torch.Tensor:
    r"""Pull a distribution over late cells back through chained couplings.

    .. math::

        p^{(k)} \propto \gamma^{(k)} p^{(k+1)}.

    ``couplings[-1]`` ends at the snapshot of ``weights``; the result lives on the first
    coupling's early cells. See the chapter *OT for lineage tracing*.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> c = wot_coupling(x, x, eps=0.01, cost_normalization="max")
    >>> ancestors([c], torch.tensor([0.0, 1.0], dtype=torch.float64)).round(decimals=3)
    tensor([0., 1.], dtype=torch.float64)
    """
    p = _check_weights(weights, couplings[-1].plan.shape[1])
    for c in reversed(couplings):
        p = c.plan @ p
        p = p / p.sum()
    return p


def _check_weights(weights, n):
    check_tensor(weights, "weights", shape=(n,), floating=True)
    check_finite(weights, "weights")
    if bool((weights < 0).any()) or not bool(weights.sum() > 0):
        raise ValueError("weights must be non-negative with a positive sum")
    return weights / weights.sum()


def fate_probabilities(couplings, labels: torch.Tensor) -> torch.Tensor:
    r"""Probability that each early cell's descendants end in each fate.

    .. math::

        F^{(k)} = \Gamma^{(k)} F^{(k+1)}, \qquad F^{(K)}_{jf} = \mathbb 1[\text{cell } j \text{ has fate } f],

    with :math:`\Gamma^{(k)}` the row-normalised plan (:attr:`Coupling.transition`): the
    fraction of a cell's descendants that reach each fate. See the chapter *OT for lineage tracing*.

    Parameters
    ----------
    couplings : list of Coupling
        From the snapshot of interest to the last one.
    labels : Tensor, shape (n_K,) int64 or (n_K, F) float
        Fate of each cell at the last snapshot (integer labels or soft memberships).

    Returns
    -------
    Tensor, shape (n_0, F)
        Rows sum to one.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> fate_probabilities([wot_coupling(x, x, eps=0.01, cost_normalization="max")], torch.tensor([0, 1])).round(decimals=3)
    tensor([[1., 0.],
            [0., 1.]], dtype=torch.float64)
    """
    if not couplings:
        raise ValueError("couplings must not be empty")
    ref = couplings[-1].plan
    if labels.dim() == 1:
        if labels.is_floating_point():
            raise TypeError("1-D labels must be integer fate indices")
        labels = torch.nn.functional.one_hot(labels.long()).to(device=ref.device, dtype=ref.dtype)
    check_tensor(labels, "labels", ndim=2, shape=(ref.shape[1], None), floating=True)
    f = labels
    for c in reversed(couplings):
        f = c.transition @ f
    return f / f.sum(1, keepdim=True).clamp_min(torch.finfo(f.dtype).tiny)


def independent_plan(x0: torch.Tensor, x1: torch.Tensor, growth_rate: torch.Tensor | None = None, dt: float = 1.0):
    r"""The null coupling :math:`a \otimes b`: every early cell sends mass to every late cell alike.

    ``a`` is uniform, or proportional to :math:`e^{\Delta t\, r_i}` with a growth prior.
    See the chapter *OT for lineage tracing*.

    Examples
    --------
    >>> import torch
    >>> independent_plan(torch.zeros(2, 1), torch.zeros(4, 1)).sum(0)
    tensor([0.2500, 0.2500, 0.2500, 0.2500])
    """
    kw = dict(device=x0.device, dtype=x0.dtype)
    a = torch.full((x0.shape[0],), 1.0 / x0.shape[0], **kw) if growth_rate is None else torch.softmax(dt * growth_rate, 0)
    b = torch.full((x1.shape[0],), 1.0 / x1.shape[0], **kw)
    return a[:, None] * b[None, :]
