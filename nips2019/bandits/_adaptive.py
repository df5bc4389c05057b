"""Adaptive experiments that record their propensities, vectorised over replications."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Bool, Generator, Integer, Options, Real, Tensor, as_generator, rand, randn, validate
from ..utils import progress as _progress_bar

_POLICIES = ("thompson", "epsilon_greedy")


@dataclasses.dataclass
class AdaptiveExperiment:
    """The data of ``n_replications`` adaptive experiments run side by side.

    Attributes
    ----------
    arms : Tensor, shape (R, T), int64
        The arm :math:`W_t` assigned at each step of each replication.
    rewards : Tensor, shape (R, T)
        The observed rewards :math:`Y_t`.
    propensities : Tensor, shape (R, T, K)
        :math:`e_t(k) = P(W_t = k \\mid \\text{history before } t)`, the assignment
        probabilities the policy used (the arm was drawn from exactly these).
    means : Tensor, shape (K,)
        The true arm means :math:`Q(k)`.
    """

    arms: torch.Tensor
    rewards: torch.Tensor
    propensities: torch.Tensor
    means: torch.Tensor


def _posterior(counts, sums, noise_std, prior_std):
    """Gaussian posterior of each arm's mean under a N(0, prior_std^2) prior, known noise."""
    precision = 1.0 / prior_std**2 + counts / noise_std**2
    return sums / noise_std**2 / precision, 1.0 / precision


@validate(
    counts=Tensor(shape=("...", "k"), dtype="floating", low=0),
    sums=Tensor(shape=("...", "k"), dtype="floating"),
    policy=Options(*_POLICIES),
    noise_std=Real(low=0, closed="neither"),
    prior_std=Real(low=0, closed="neither"),
    epsilon=Real(low=0, high=1),
    floor=Real(low=0, high=1),
    n_draws=Integer(low=1),
    generator=Generator(),
    same=[("counts", "sums")],
)
def policy_probabilities(counts, sums, *, policy="thompson", noise_std=1.0, prior_std=1.0, epsilon=0.1,
                         floor=0.0, n_draws=1000, generator=None):
    r"""Assignment probabilities of a bandit policy given per-arm pull counts and reward sums.

    With the Gaussian posterior :math:`\theta_k \sim N(m_k, v_k)` of each arm's mean
    (prior :math:`N(0, \sigma_0^2)`, known noise :math:`\sigma`,
    :math:`v_k = (\sigma_0^{-2} + n_k \sigma^{-2})^{-1}`, :math:`m_k = v_k S_k / \sigma^2`):

    - ``"thompson"``: :math:`p_k = P(\theta_k = \max_j \theta_j)`, exact for two arms,
      :math:`p_1 = \Phi\bigl((m_1 - m_2)/\sqrt{v_1 + v_2}\bigr)`, and estimated from
      ``n_draws`` posterior draws for more arms;
    - ``"epsilon_greedy"``: :math:`p_k = \epsilon / K + (1 - \epsilon)\,1\{k \in G\}/|G|`
      with :math:`G` the arms of largest posterior mean.

    A floor :math:`f \le 1/K` is then mixed in, :math:`e_k = f + (1 - K f) p_k`, so every
    arm keeps probability at least :math:`f`.

    Parameters
    ----------
    counts, sums : Tensor, shape (..., K)
        Pulls of each arm and the sum of their rewards (float).
    policy : {"thompson", "epsilon_greedy"}
    noise_std, prior_std : float
        Reward noise :math:`\sigma` and prior scale :math:`\sigma_0` of the arm means.
    epsilon : float in [0, 1]
        Exploration rate of epsilon-greedy.
    floor : float in [0, 1/K]
        Smallest probability of every arm.
    n_draws : int
        Posterior draws per row for Thompson sampling with more than two arms.
    generator : None, int or torch.Generator

    Returns
    -------
    Tensor, shape (..., K)
        Probabilities summing to one along the last axis, dtype and device of ``counts``.

    Notes
    -----
    See the chapter :doc:`Bandits </book/bandits>`.

    Examples
    --------
    >>> import torch
    >>> e = policy_probabilities(torch.tensor([3.0, 1.0]), torch.tensor([3.0, -1.0]), floor=0.05)
    >>> round(float(e.sum()), 6), bool(e[0] > 0.8)
    (1.0, True)
    """
    k = counts.shape[-1]
    if floor * k > 1 + 1e-12:
        raise ValueError(f"policy_probabilities: floor must be <= 1/K = {1 / k:.4g}, got {floor}")
    return _probabilities(counts, sums, policy, noise_std, prior_std, epsilon, floor, n_draws,
                          as_generator(generator))


def _probabilities(counts, sums, policy, noise_std, prior_std, epsilon, floor, n_draws, g):
    k = counts.shape[-1]
    m, v = _posterior(counts, sums, noise_std, prior_std)
    if policy == "epsilon_greedy":
        best = m >= m.max(-1, keepdim=True).values - 1e-12 * (1 + m.abs())
        greedy = best.to(m.dtype) / best.sum(-1, keepdim=True)
        p = epsilon / k + (1 - epsilon) * greedy
    elif k == 2:
        z = (m[..., 0] - m[..., 1]) / (v[..., 0] + v[..., 1]).sqrt()
        p0 = torch.special.ndtr(z)
        p = torch.stack([p0, 1 - p0], -1)
    else:
        draws = m.unsqueeze(-2) + v.sqrt().unsqueeze(-2) * randn(*m.shape[:-1], n_draws, k, generator=g,
                                                                 device=m.device, dtype=m.dtype)
        win = torch.nn.functional.one_hot(draws.argmax(-1), k).to(m.dtype)
        p = win.mean(-2)
    return floor + (1 - k * floor) * p


@validate(
    means=Tensor(ndim=1, dtype="floating"),
    n_steps=Integer(low=1),
    n_replications=Integer(low=1),
    policy=Options(*_POLICIES),
    batch_size=Integer(low=1),
    noise_std=Real(low=0, closed="neither"),
    prior_std=Real(low=0, closed="neither"),
    epsilon=Real(low=0, high=1),
    floor=Real(low=0, high=1),
    n_draws=Integer(low=1),
    generator=Generator(),
    progress=Bool(optional=True),
)
def run_adaptive_experiment(means, n_steps, n_replications, *, policy="thompson", batch_size=1, noise_std=1.0,
                            prior_std=1.0, epsilon=0.1, floor=0.0, n_draws=1000, generator=None,
                            progress=None) -> AdaptiveExperiment:
    r"""Run ``n_replications`` independent adaptive experiments on a Gaussian K-armed bandit.

    At step :math:`t` every replication computes its assignment probabilities
    :math:`e_t` from its own history with :func:`policy_probabilities`, draws
    :math:`W_t \sim e_t` and observes :math:`Y_t = Q(W_t) + \sigma \varepsilon_t`. The
    probabilities are recomputed every ``batch_size`` steps (a batched policy, as in
    clinical trials) and recorded, so that inverse-propensity estimators can be formed
    afterwards with :func:`arm_estimates`. All replications advance together: one
    step is a handful of tensor operations on shape ``(R, K)``.

    Parameters
    ----------
    means : Tensor, shape (K,)
        True arm means :math:`Q(k)`; its dtype and device are used throughout.
    n_steps : int
        Horizon :math:`T`.
    n_replications : int
        Number :math:`R` of independent experiments.
    policy, noise_std, prior_std, epsilon, floor, n_draws
        As in :func:`policy_probabilities` (the policy assumes the true ``noise_std``).
    batch_size : int
        Steps between policy updates.
    generator : None, int or torch.Generator
    progress : bool, optional
        Progress bar over steps (default: on in interactive sessions only).

    Returns
    -------
    AdaptiveExperiment

    Notes
    -----
    See the chapter :doc:`Bandits </book/bandits>`.

    Examples
    --------
    >>> import torch
    >>> exp = run_adaptive_experiment(torch.tensor([0.0, 0.5]), 50, 8, floor=0.05, generator=0)
    >>> exp.arms.shape, exp.propensities.shape, bool((exp.propensities >= 0.05 - 1e-12).all())
    (torch.Size([8, 50]), torch.Size([8, 50, 2]), True)
    """
    k = means.shape[0]
    if floor * k > 1 + 1e-12:
        raise ValueError(f"run_adaptive_experiment: floor must be <= 1/K = {1 / k:.4g}, got {floor}")
    g = as_generator(generator)
    dev, dt = means.device, means.dtype
    counts = torch.zeros(n_replications, k, device=dev, dtype=dt)
    sums = torch.zeros_like(counts)
    arms = torch.empty(n_replications, n_steps, device=dev, dtype=torch.long)
    rewards = torch.empty(n_replications, n_steps, device=dev, dtype=dt)
    props = torch.empty(n_replications, n_steps, k, device=dev, dtype=dt)
    rows = torch.arange(n_replications, device=dev)
    uniforms = rand(n_replications, n_steps, generator=g, device=dev, dtype=dt)
    noise = randn(n_replications, n_steps, generator=g, device=dev, dtype=dt)
    e = None
    for t in _progress_bar(range(n_steps), desc="adaptive experiment",
                           disable=None if progress is None else not progress):
        if t % batch_size == 0:
            e = _probabilities(counts, sums, policy, noise_std, prior_std, epsilon, floor, n_draws, g)
        w = (e.cumsum(-1) < uniforms[:, t : t + 1]).sum(-1).clamp(max=k - 1)
        y = means[w] + noise_std * noise[:, t]
        arms[:, t], rewards[:, t], props[:, t] = w, y, e
        counts[rows, w] += 1
        sums[rows, w] += y
    return AdaptiveExperiment(arms=arms, rewards=rewards, propensities=props, means=means)
