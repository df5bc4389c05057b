"""Batched successive elimination (Gao, Han, Ren & Zhou 2019) against fully adaptive UCB."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Bool, Generator, Integer, Options, Real, Tensor, as_generator, randn, validate
from ..utils import progress as _progress_bar

_GRIDS = ("minimax", "geometric", "arithmetic")


@dataclasses.dataclass
class RegretResult:
    """Pseudo-regret of a bandit policy over ``n_replications`` runs.

    Attributes
    ----------
    regret : Tensor, shape (R,)
        :math:`\\sum_k n_k(T) \\Delta_k`, the pulls of each arm times its gap to the best arm.
    pulls : Tensor, shape (R, K)
        Pulls :math:`n_k(T)` of each arm.
    grid : Tensor or None, shape (M,), int64
        The batch ends :math:`t_1 < \\dots < t_M = T` (``None`` for a fully adaptive policy).
    n_active : Tensor or None, shape (R, M)
        Arms still active during each batch (``None`` for a fully adaptive policy).
    """

    regret: torch.Tensor
    pulls: torch.Tensor
    grid: torch.Tensor | None = None
    n_active: torch.Tensor | None = None


@validate(horizon=Integer(low=1), n_batches=Integer(low=1), kind=Options(*_GRIDS))
def batch_grid(horizon: int, n_batches: int, *, kind: str = "minimax") -> torch.Tensor:
    r"""The ends :math:`t_1 < \dots < t_M = T` of the batches of a static grid.

    - ``"minimax"``: :math:`u_1 = a`, :math:`u_m = a\sqrt{u_{m-1}}`, with
      :math:`a = T^{1/(2 - 2^{1-M})}` so that :math:`u_M = T`;
    - ``"geometric"``: :math:`u_m = b^m` with :math:`b = T^{1/M}`;
    - ``"arithmetic"``: :math:`u_m = mT/M`;

    and :math:`t_m = \lfloor u_m \rfloor`, raised where needed so the grid is strictly
    increasing.

    Parameters
    ----------
    horizon : int
        :math:`T`.
    n_batches : int
        :math:`M \le T`.
    kind : {"minimax", "geometric", "arithmetic"}

    Returns
    -------
    Tensor, shape (M,), int64

    References
    ----------
    Gao, Han, Ren & Zhou (2019), *Batched multi-armed bandits problem*, NeurIPS.

    Notes
    -----
    See the chapter :doc:`Bandits </book/bandits>`.

    Examples
    --------
    >>> batch_grid(10_000, 3).tolist()
    [193, 2682, 10000]
    """
    if n_batches > horizon:
        raise ValueError(f"batch_grid: n_batches must be <= horizon = {horizon}, got {n_batches}")
    t, m = float(horizon), n_batches
    if kind == "minimax":
        a = t ** (1.0 / (2.0 - 2.0 ** (1 - m)))
        u = [a]
        for _ in range(m - 1):
            u.append(a * math.sqrt(u[-1]))
    elif kind == "geometric":
        b = t ** (1.0 / m)
        u = [b ** (i + 1) for i in range(m)]
    else:
        u = [(i + 1) * t / m for i in range(m)]
    out = []
    for i, v in enumerate(u):
        x = horizon if i == m - 1 else int(math.floor(v + 1e-9))
        out.append(max(x, out[-1] + 1 if out else 1))
    out = [min(x, horizon - (m - 1 - i)) for i, x in enumerate(out)]
    return torch.tensor(out, dtype=torch.long)


@validate(
    means=Tensor(ndim=1, dtype="floating"),
    horizon=Integer(low=2),
    n_batches=Integer(low=2),
    n_replications=Integer(low=1),
    grid=Options(*_GRIDS),
    gamma=Real(low=0, closed="neither"),
    noise_std=Real(low=0),
    generator=Generator(),
)
def batched_elimination(means, horizon, n_batches, n_replications, *, grid="minimax", gamma=0.5, noise_std=1.0,
                        generator=None) -> RegretResult:
    r"""BaSE, batched successive elimination, on a Gaussian bandit, vectorised over replications.

    The policy may look at its data only at the batch ends :math:`t_1 < \dots < t_M = T`
    of :func:`batch_grid`. In batches :math:`1, \dots, M-1` it pulls every active arm
    equally often (the remainder of a batch goes to the lowest-indexed active arms); at
    the end of each of them it drops every active arm :math:`k` with

    .. math::

        \max_j \bar Y_j - \bar Y_k \ge \sqrt{\gamma \log(TK) / \tau},

    :math:`\tau` the pulls per active arm so far. The last batch pulls the active arm with
    the best sample mean. Rewards are :math:`N(\mu_k, \sigma^2)`; a batch's reward sum
    for an arm pulled :math:`n` times is drawn directly as :math:`N(n\mu_k, n\sigma^2)`,
    so a run costs :math:`O(M K)` operations per replication, whatever :math:`T`.

    Parameters
    ----------
    means : Tensor, shape (K,)
        Arm means (dtype and device are used throughout).
    horizon : int
        :math:`T`.
    n_batches : int
        :math:`M \ge 2`.
    n_replications : int
    grid : {"minimax", "geometric", "arithmetic"}
    gamma : float
        Width constant :math:`\gamma` of the elimination test.
    noise_std : float
        :math:`\sigma` (0 gives deterministic rewards).
    generator : None, int or torch.Generator

    Returns
    -------
    RegretResult

    References
    ----------
    Gao, Han, Ren & Zhou (2019), *Batched multi-armed bandits problem*, NeurIPS.

    Notes
    -----
    See the chapter :doc:`Bandits </book/bandits>`.

    Examples
    --------
    >>> import torch
    >>> res = batched_elimination(torch.tensor([0.5, 0.4, 0.0]), 10_000, 3, 100, generator=0)
    >>> res.regret.shape, res.grid.tolist()
    (torch.Size([100]), [193, 2682, 10000])
    """
    k = means.shape[0]
    if n_batches > horizon:
        raise ValueError(f"batched_elimination: n_batches must be <= horizon = {horizon}, got {n_batches}")
    g = as_generator(generator)
    dev, dt = means.device, means.dtype
    ends = batch_grid(horizon, n_batches, kind=grid)
    active = torch.ones(n_replications, k, device=dev, dtype=torch.bool)
    pulls = torch.zeros(n_replications, k, device=dev, dtype=dt)
    sums = torch.zeros_like(pulls)
    n_active = torch.empty(n_replications, n_batches, device=dev, dtype=torch.long)
    width = gamma * math.log(horizon * k)
    start = 0
    for m, end in enumerate(ends.tolist()):
        length = end - start
        n_act = active.sum(1, keepdim=True)
        n_active[:, m] = n_act[:, 0]
        if m < n_batches - 1:
            base = torch.div(length, n_act, rounding_mode="floor")
            rem = length - base * n_act
            rank = active.long().cumsum(1) - 1
            new = active * (base + (rank < rem).long())
        else:
            mean = torch.where(active, sums / pulls.clamp(min=1), torch.full_like(sums, -math.inf))
            new = torch.nn.functional.one_hot(mean.argmax(1), k) * length
        new = new.to(dt)
        z = randn(n_replications, k, generator=g, device=dev, dtype=dt)
        sums = sums + new * means + noise_std * new.sqrt() * z
        pulls = pulls + new
        if m < n_batches - 1:
            mean = torch.where(active, sums / pulls.clamp(min=1), torch.full_like(sums, -math.inf))
            tau = torch.where(active, pulls, torch.full_like(pulls, math.inf)).min(1, keepdim=True).values
            best = mean.max(1, keepdim=True).values
            active = active & (best - mean < (width / tau.clamp(min=1)).sqrt())
        start = end
    gaps = means.max() - means
    return RegretResult(regret=pulls @ gaps, pulls=pulls, grid=ends.to(dev), n_active=n_active)


@validate(
    means=Tensor(ndim=1, dtype="floating"),
    horizon=Integer(low=2),
    n_replications=Integer(low=1),
    noise_std=Real(low=0, closed="neither"),
    generator=Generator(),
    progress=Bool(optional=True),
)
def ucb_regret(means, horizon, n_replications, *, noise_std=1.0, generator=None, progress=None) -> RegretResult:
    r"""Fully adaptive UCB on a Gaussian bandit, vectorised over replications.

    Each arm is pulled once; afterwards step :math:`t` pulls the arm maximising
    :math:`\bar Y_k + \sigma\sqrt{2\log t / n_k}` (UCB1 with the known noise scale).
    This is the :math:`M = T` end of the batched trade-off of
    :func:`batched_elimination`.

    Parameters
    ----------
    means : Tensor, shape (K,)
    horizon : int
        :math:`T \ge K`.
    n_replications : int
    noise_std : float
        :math:`\sigma`.
    generator : None, int or torch.Generator
    progress : bool, optional
        Progress bar over steps.

    Returns
    -------
    RegretResult
        ``grid`` and ``n_active`` are ``None``.

    Notes
    -----
    See the chapter :doc:`Bandits </book/bandits>`.

    Examples
    --------
    >>> import torch
    >>> res = ucb_regret(torch.tensor([0.5, 0.0]), 200, 16, generator=0)
    >>> res.pulls.sum(1).unique().tolist()
    [200.0]
    """
    k = means.shape[0]
    if horizon < k:
        raise ValueError(f"ucb_regret: horizon must be >= K = {k}, got {horizon}")
    g = as_generator(generator)
    dev, dt = means.device, means.dtype
    noise = randn(n_replications, horizon, generator=g, device=dev, dtype=dt) * noise_std
    pulls = torch.ones(n_replications, k, device=dev, dtype=dt)
    sums = means + noise[:, :k]
    rows = torch.arange(n_replications, device=dev)
    for t in _progress_bar(range(k, horizon), desc="UCB", disable=None if progress is None else not progress):
        index = sums / pulls + noise_std * (2 * math.log(t) / pulls).sqrt()
        w = index.argmax(1)
        pulls[rows, w] += 1
        sums[rows, w] += means[w] + noise[:, t]
    gaps = means.max() - means
    return RegretResult(regret=pulls @ gaps, pulls=pulls)
