"""Q-learning with linear features, in the regular space or on the logarithmic scale of van Seijen et al. (2019)."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Bool, Generator, Integer, Options, Real, Tensor, as_generator, rand, validate
from ._mdp import _check_stochastic
from ._successor import _progress, _sample_index


@dataclasses.dataclass
class QLearningResult:
    """Action values learned by :func:`q_learning`.

    Attributes
    ----------
    q : Tensor, shape (n_states, n_actions)
        Learned action values, mapped back to the regular space.
    weights : Tensor, shape (n_features, n_actions) or (2, n_features, n_actions)
        Linear weights: regular-space weights, or (positive, negative) streams in log space.
    policy : Tensor, shape (n_states, n_actions)
        Greedy policy of ``q`` (one-hot rows).
    """

    q: torch.Tensor
    weights: torch.Tensor
    policy: torch.Tensor


def _log_map(c: float, offset: float):
    d = -c * math.log(offset)  # f(0) = 0, so zero weights mean zero values

    def f(x):
        return c * torch.log((x + offset).clamp_min(offset * 1e-6)) + d

    def f_inv(y):
        return torch.exp((y - d) / c) - offset

    return f, f_inv


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          rewards=Tensor(shape=("s", "a"), dtype="floating"),
          features=Tensor(shape=("s", "f"), dtype="floating"),
          terminal=Tensor(shape=("s",), dtype="bool", optional=True),
          gamma=Real(low=0, high=1, closed="left"), mapping=Options("identity", "log"),
          lr=Real(low=0, closed="neither"), lr_reg=Real(low=0, high=1, closed="right"),
          n_steps=Integer(low=1), batch_size=Integer(low=1), c=Real(low=0, closed="neither"),
          offset_power=Real(low=0, closed="neither"), generator=Generator(), progress=Bool(optional=True),
          same=[("transitions", "rewards", "features")])
def q_learning(transitions: torch.Tensor, rewards: torch.Tensor, features: torch.Tensor, *, gamma: float,
               mapping: str = "identity", terminal: torch.Tensor | None = None, lr: float = 0.1,
               lr_reg: float = 1.0, n_steps: int = 2000, batch_size: int = 64, c: float = 0.5,
               offset_power: float = 100.0, generator=None, progress: bool | None = None) -> QLearningResult:
    r"""Semi-gradient Q-learning with linear features, optionally on a logarithmic value scale.

    Each step draws ``batch_size`` state-action pairs uniformly over the non-terminal states (an exploring,
    off-policy behaviour), samples their next states and updates
    :math:`Q(s, a) = \phi(s)^\top \theta_a`. With ``mapping="identity"`` this is plain Q-learning:

    .. math::

        \theta_a \leftarrow \theta_a + \alpha\,\phi(s)\,\bigl(r + \gamma \max_{a'} Q(s', a') - Q(s, a)\bigr).

    With ``mapping="log"`` (logarithmic Q-learning, van Seijen, Fatemi & Tavakoli 2019) the reward is split
    into :math:`r^+ = \max(r, 0)` and :math:`r^- = \max(-r, 0)`; each stream has its own linear estimate
    :math:`\tilde Q^\pm` in the space of :math:`f(x) = c \ln(x + \gamma^k) + d` (with :math:`d` such that
    :math:`f(0) = 0`), :math:`Q = f^{-1}(\tilde Q^+) - f^{-1}(\tilde Q^-)`, and

    .. math::

        U^\pm = r^\pm + \gamma f^{-1}\bigl(\tilde Q^\pm(s', \tilde a)\bigr), \quad
        \hat Q^\pm = f^{-1}(\tilde Q^\pm(s, a)) + \beta_{\mathrm{reg}}\bigl(U^\pm - f^{-1}(\tilde Q^\pm(s, a))\bigr),
        \quad \tilde\theta^\pm_a \leftarrow \tilde\theta^\pm_a + \alpha\,\phi(s)\bigl(f(\hat Q^\pm) - \tilde Q^\pm(s, a)\bigr),

    where :math:`\tilde a` is greedy for :math:`Q` at :math:`s'`. On a sparse-reward task the optimal
    values :math:`\gamma^{\text{distance}}` are spread over orders of magnitude and so are the action gaps;
    on the log scale a gap is about :math:`c \ln(1/\gamma)` per step of distance everywhere, so one linear
    fit can keep the right action order far from the reward at low :math:`\gamma`.

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    rewards : Tensor, shape (n_states, n_actions)
    features : Tensor, shape (n_states, n_features)
        :math:`\phi(s)`; one-hot rows give tabular Q-learning.
    gamma : float in [0, 1)
    mapping : {"identity", "log"}
    terminal : Tensor, shape (n_states,), bool, optional
        States with value zero (never updated, not bootstrapped from).
    lr : float > 0
        Step size :math:`\alpha` (``beta_log`` in the paper for ``mapping="log"``).
    lr_reg : float in (0, 1]
        :math:`\beta_{\mathrm{reg}}`, the regular-space step of the log variant (1 for deterministic tasks).
    n_steps, batch_size : int
        Updates, and transitions averaged per update.
    c : float > 0
        Scale of the log mapping.
    offset_power : float > 0
        :math:`k` in the offset :math:`\gamma^k` (or ``1e-12``, whichever is larger) that keeps the log finite
        at zero.
    generator : None, int or torch.Generator
    progress : bool, optional

    Returns
    -------
    QLearningResult

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> from nips2019.rl import chain_mdp
    >>> mdp = chain_mdp(5)
    >>> phi = torch.eye(5, dtype=torch.float64)
    >>> res = q_learning(mdp.transitions, mdp.rewards, phi, gamma=0.5, mapping="log", terminal=mdp.terminal,
    ...                  lr=0.5, n_steps=600, generator=0)
    >>> [round(v, 4) for v in res.q[0].tolist()]
    [0.0625, 0.125]
    """
    _check_stochastic("q_learning", "transitions", transitions)
    dev, dt = features.device, features.dtype
    n_s, n_a = rewards.shape
    term = torch.zeros(n_s, dtype=torch.bool, device=dev) if terminal is None else terminal.to(dev)
    live = (~term).nonzero().squeeze(1)
    if live.numel() == 0:
        raise ValueError("q_learning: every state is terminal")
    g = as_generator(generator)
    cdf_p = transitions.cumsum(-1)
    not_term = (~term).to(dt)
    arange = torch.arange(batch_size, device=dev)
    log = mapping == "log"
    if log:
        f, f_inv = _log_map(c, max(gamma ** offset_power, 1e-250))
        theta = torch.zeros(2, features.shape[1], n_a, dtype=dt, device=dev)
        r_pm = torch.stack([rewards.clamp_min(0), (-rewards).clamp_min(0)])
    else:
        theta = torch.zeros(features.shape[1], n_a, dtype=dt, device=dev)

    def values(th):
        q_all = features @ th  # (2, S, A) or (S, A)
        return f_inv(q_all[0]) - f_inv(q_all[1]) if log else q_all

    for _ in _progress(range(n_steps), progress):
        u = rand(batch_size, 3, generator=g, device=dev, dtype=dt)
        s = live[(u[:, 0] * live.numel()).long().clamp_max(live.numel() - 1)]
        a = (u[:, 1] * n_a).long().clamp_max(n_a - 1)
        s2 = _sample_index(cdf_p[s, a], u[:, 2])
        phi = features[s]
        if log:
            q_tilde = features[s2] @ theta  # (2, B, A)
            q_next = f_inv(q_tilde)
            a2 = (q_next[0] - q_next[1]).argmax(-1)
            u_pm = r_pm[:, s, a] + gamma * q_next[:, arange, a2] * not_term[s2]
            cur = (phi @ theta)[:, arange, a]  # (2, B)
            q_hat = f_inv(cur) + lr_reg * (u_pm - f_inv(cur))
            delta = f(q_hat) - cur
            grad = torch.zeros(2, batch_size, n_a, dtype=dt, device=dev)
            grad[:, arange, a] = delta
            theta += (lr / batch_size) * phi.T @ grad
        else:
            target = rewards[s, a] + gamma * (features[s2] @ theta).max(-1).values * not_term[s2]
            delta = target - (phi @ theta)[arange, a]
            grad = torch.zeros(batch_size, n_a, dtype=dt, device=dev)
            grad[arange, a] = delta
            theta += (lr / batch_size) * phi.T @ grad
    q = values(theta) * not_term.unsqueeze(1)
    policy = torch.nn.functional.one_hot(q.argmax(-1), n_a).to(dt)
    return QLearningResult(q, theta, policy)


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          policy=Tensor(shape=("s", "a"), dtype="floating"),
          terminal=Tensor(shape=("s",), dtype="bool"),
          horizon=Integer(low=1), same=[("transitions", "policy")])
def success_probability(transitions: torch.Tensor, policy: torch.Tensor, terminal: torch.Tensor, *,
                        horizon: int) -> torch.Tensor:
    r"""Probability of reaching a terminal state within ``horizon`` steps, from every state.

    The finite-horizon, undiscounted objective that a discount factor stands in for: with
    :math:`P_\pi` the state chain of the policy and terminal states absorbing,
    :math:`p = (P_\pi^{H})\,\mathbb{1}_{\text{terminal}}`.

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    policy : Tensor, shape (n_states, n_actions)
    terminal : Tensor, shape (n_states,), bool
    horizon : int

    Returns
    -------
    Tensor, shape (n_states,)

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> from nips2019.rl import chain_mdp
    >>> mdp = chain_mdp(4)
    >>> right = torch.tensor([[0.0, 1.0]] * 4, dtype=torch.float64)
    >>> success_probability(mdp.transitions, right, mdp.terminal, horizon=2).tolist()
    [0.0, 1.0, 1.0, 1.0]
    """
    _check_stochastic("success_probability", "transitions", transitions)
    _check_stochastic("success_probability", "policy", policy)
    p_pi = torch.einsum("sa,sat->st", policy, transitions).clone()
    p_pi[terminal] = 0
    p_pi[terminal, terminal.nonzero().squeeze(1)] = 1
    prob = terminal.to(policy.dtype)
    for _ in range(horizon):
        prob = p_pi @ prob
    return prob
