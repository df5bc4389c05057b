"""Recovering bandits (Pike-Burke & Grunewalder 2019): rewards that depend on the time since the last pull."""

from __future__ import annotations

import dataclasses
import itertools

import torch

from ..utils import Bool, Generator, Integer, Options, Real, Tensor, as_generator, randn, validate
from ..utils import progress as _progress_bar

_RPOLICIES = ("ucb", "thompson", "oracle")


@dataclasses.dataclass
class RecoveringResult:
    """Runs of a policy on a recovering bandit.

    Attributes
    ----------
    arms : Tensor, shape (R, T), int64
        The arm pulled at each step.
    expected_rewards : Tensor, shape (R, T)
        :math:`f_{a_t}(z_{a_t, t})`, the expected reward of each pull (noise-free).
    total : Tensor, shape (R,)
        The sum of ``expected_rewards`` over the horizon.
    """

    arms: torch.Tensor
    expected_rewards: torch.Tensor
    total: torch.Tensor


def _rbf(z, lengthscale, variance):
    d = z.unsqueeze(0) - z.unsqueeze(1)
    return variance * torch.exp(-0.5 * (d / lengthscale) ** 2)


def _gp_posterior(kzz, counts, sums, noise_std, prior_mean):
    """Posterior mean and sd of f on the grid from grouped observations (counts, sums), batched."""
    s_half = (counts / noise_std**2).sqrt()  # (..., Z)
    b = torch.eye(kzz.shape[0], dtype=kzz.dtype, device=kzz.device) + s_half.unsqueeze(-1) * kzz * s_half.unsqueeze(-2)
    chol = torch.linalg.cholesky(b)
    ybar = torch.where(counts > 0, sums / counts.clamp(min=1), torch.zeros_like(sums)) - prior_mean
    rhs = torch.cholesky_solve((s_half * ybar).unsqueeze(-1), chol).squeeze(-1)
    mean = prior_mean + (kzz @ (s_half * rhs).unsqueeze(-1)).squeeze(-1)
    v = torch.linalg.solve_triangular(chol, s_half.unsqueeze(-1) * kzz, upper=False)
    var = kzz.diagonal() - (v**2).sum(-2)
    return mean, var.clamp(min=0).sqrt()


def _plan(values, z, sequences, z_max):
    """Best sequence per row: values (R, K, Z) over z = 1..z_max, z (R, K) current delays."""
    r = values.shape[0]
    n_seq, d = sequences.shape
    zz = z.unsqueeze(1).expand(r, n_seq, -1).clone()  # (R, S, K)
    score = torch.zeros(r, n_seq, dtype=values.dtype, device=values.device)
    rows = torch.arange(r, device=values.device).unsqueeze(1)
    for j in range(d):
        a = sequences[:, j].unsqueeze(0).expand(r, -1)  # (R, S)
        za = zz.gather(2, a.unsqueeze(-1)).squeeze(-1)
        score = score + values[rows, a, za - 1]
        zz = (zz + 1).clamp(max=z_max)
        zz.scatter_(2, a.unsqueeze(-1), 1)
    return sequences[score.argmax(1)]  # (R, d)


@validate(
    curves=Tensor(shape=("k", "z"), dtype="floating"),
    n_steps=Integer(low=1),
    n_replications=Integer(low=1),
    policy=Options(*_RPOLICIES),
    lookahead=Integer(low=1, high=4),
    noise_std=Real(low=0, closed="neither"),
    lengthscale=Real(low=0, closed="neither"),
    prior_std=Real(low=0, closed="neither"),
    prior_mean=Real(),
    beta=Real(low=0),
    generator=Generator(),
    progress=Bool(optional=True),
)
def recovering_bandit(curves, n_steps, n_replications, *, policy="ucb", lookahead=1, noise_std=0.1,
                      lengthscale=3.0, prior_std=1.0, prior_mean=0.0, beta=2.0, generator=None,
                      progress=None) -> RecoveringResult:
    r"""Play a recovering bandit with a GP model of each arm's recovery curve.

    Arm :math:`k` pulled :math:`z` steps after its previous pull (capped at
    :math:`z_{\max}`; every arm starts rested, at :math:`z_{\max}`) pays
    :math:`f_k(z) + \sigma\varepsilon`. Each arm's curve gets an independent GP prior on
    :math:`z \in \{1, \dots, z_{\max}\}` with the squared-exponential kernel
    :math:`s^2 \exp(-(z - z')^2 / 2\ell^2)`; its posterior is exact (a
    :math:`z_{\max} \times z_{\max}` solve per arm). With lookahead :math:`d` the policy
    scores every sequence of :math:`d` arms (:math:`K^d` of them) by the sum of
    per-pull values along the delays the sequence itself produces, plays the best
    sequence in full, then re-plans. The per-pull value is

    - ``"ucb"``: :math:`\mu(z) + \beta\,\sigma_{\text{post}}(z)` (the sum of single-pull
      UCBs, a simplification of the paper's joint UCB of a sequence);
    - ``"thompson"``: one joint draw of each arm's curve from its posterior per plan;
    - ``"oracle"``: the true :math:`f_k(z)` (no learning: the :math:`d`-step lookahead
      oracle the paper measures regret against).

    ``lookahead=1`` is the greedy policy.

    Parameters
    ----------
    curves : Tensor, shape (K, z_max)
        ``curves[k, z - 1]`` is :math:`f_k(z)`; dtype and device are used throughout.
    n_steps : int
    n_replications : int
    policy : {"ucb", "thompson", "oracle"}
    lookahead : int in [1, 4]
    noise_std : float
        :math:`\sigma` (also the GP's noise model).
    lengthscale, prior_std, prior_mean : float
        :math:`\ell`, :math:`s` and the constant prior mean of the GP.
    beta : float
        UCB width.
    generator : None, int or torch.Generator
    progress : bool, optional

    Returns
    -------
    RecoveringResult

    References
    ----------
    Pike-Burke & Grunewalder (2019), *Recovering bandits*, NeurIPS.

    Notes
    -----
    See the chapter :doc:`Bandits </book/bandits>`.

    Examples
    --------
    >>> import torch
    >>> z = torch.arange(1, 11, dtype=torch.float64)
    >>> curves = torch.stack([1 - torch.exp(-z / 3), 0.5 + 0 * z])
    >>> res = recovering_bandit(curves, 12, 4, policy="oracle", lookahead=2, generator=0)
    >>> res.arms.shape, res.total.shape
    (torch.Size([4, 12]), torch.Size([4]))
    """
    k, z_max = curves.shape
    g = as_generator(generator)
    dev, dt = curves.device, curves.dtype
    grid = torch.arange(1, z_max + 1, device=dev, dtype=dt)
    kzz = _rbf(grid, lengthscale, prior_std**2)
    jitter = 1e-9 * prior_std**2 * torch.eye(z_max, device=dev, dtype=dt)
    chol_prior = torch.linalg.cholesky(kzz + jitter)
    sequences = torch.tensor(list(itertools.product(range(k), repeat=lookahead)), device=dev, dtype=torch.long)
    counts = torch.zeros(n_replications, k, z_max, device=dev, dtype=dt)
    sums = torch.zeros_like(counts)
    z = torch.full((n_replications, k), z_max, device=dev, dtype=torch.long)
    arms = torch.empty(n_replications, n_steps, device=dev, dtype=torch.long)
    exp_r = torch.empty(n_replications, n_steps, device=dev, dtype=dt)
    rows = torch.arange(n_replications, device=dev)
    noise = noise_std * randn(n_replications, n_steps, generator=g, device=dev, dtype=dt)
    plan, step_in_plan = None, lookahead
    for t in _progress_bar(range(n_steps), desc="recovering bandit",
                           disable=None if progress is None else not progress):
        if step_in_plan == lookahead:
            if policy == "oracle":
                values = curves.expand(n_replications, k, z_max)
            else:
                mean, sd = _gp_posterior(kzz, counts, sums, noise_std, prior_mean)
                if policy == "ucb":
                    values = mean + beta * sd
                else:
                    # joint posterior draw per arm: prior draw corrected by the posterior (Matheron's rule)
                    f0 = (chol_prior @ randn(n_replications, k, z_max, 1, generator=g, device=dev,
                                             dtype=dt)).squeeze(-1)
                    y0 = f0 + noise_std * randn(n_replications, k, z_max, generator=g, device=dev, dtype=dt) \
                        / counts.clamp(min=1).sqrt()
                    m0, _ = _gp_posterior(kzz, counts, y0 * counts, noise_std, 0.0)
                    values = mean + f0 - m0
            plan, step_in_plan = _plan(values, z, sequences, z_max), 0
        a = plan[:, step_in_plan]
        step_in_plan += 1
        za = z[rows, a]
        f = curves[a, za - 1]
        arms[:, t], exp_r[:, t] = a, f
        counts[rows, a, za - 1] += 1
        sums[rows, a, za - 1] += f + noise[:, t]
        z = (z + 1).clamp(max=z_max)
        z[rows, a] = 1
    return RecoveringResult(arms=arms, expected_rewards=exp_r, total=exp_r.sum(1))
