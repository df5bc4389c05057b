"""Hindsight credit assignment (Harutyunyan et al. 2019): exact hindsight distributions and policy gradients."""

from __future__ import annotations

import torch

from ..utils import DType, Generator, Integer, Options, Real, Tensor, validate
from ._mdp import TabularMDP, _check_stochastic, _policy_matrix
from ._successor import sample_trajectories


@validate(length=Integer(low=1), final_reward=Real(), dtype=DType())
def delayed_effect_mdp(length: int = 5, *, final_reward: float = 1.0, dtype: torch.dtype = torch.float64) -> TabularMDP:
    r"""An episode whose outcome is decided by the first action and paid only at the end.

    State 0 offers two branches (action 0 or 1); each branch is a corridor of ``length`` states in which
    both actions move on; leaving the last cell of branch 0 pays ``final_reward``, leaving branch 1 pays 0,
    and the episode ends. Every action after the first is irrelevant to the future, which is the situation
    where hindsight credit assignment helps (a "delayed effect" task in the spirit of Harutyunyan et al.
    2019); noisy rewards along the corridor come from ``reward_noise`` of :func:`sample_trajectories`.

    Parameters
    ----------
    length : int >= 1
        Corridor cells per branch.
    final_reward : float
    dtype : torch.dtype

    Returns
    -------
    TabularMDP
        ``2 * length + 2`` states, the last one terminal; episodes last ``length + 1`` steps.

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> mdp = delayed_effect_mdp(2)
    >>> mdp.n_states, mdp.rewards[2].tolist()
    (6, [1.0, 1.0])
    """
    n = 2 * length + 2
    term = n - 1
    p = torch.zeros(n, 2, n, dtype=dtype)
    r = torch.zeros(n, 2, dtype=dtype)
    p[0, 0, 1] = 1
    p[0, 1, length + 1] = 1
    for b in range(2):
        for i in range(length):
            s = 1 + b * length + i
            nxt = s + 1 if i < length - 1 else term
            p[s, :, nxt] = 1
            if i == length - 1:
                r[s] = final_reward if b == 0 else 0.0
    p[term, :, term] = 1
    start = torch.zeros(n, dtype=dtype)
    start[0] = 1
    terminal = torch.zeros(n, dtype=torch.bool)
    terminal[term] = True
    return TabularMDP(p, r, start, terminal, None)


def _discounted_occupancy(transitions, policy, gamma):
    """D[x, a, y] = sum_{k >= 1} gamma^(k-1) P(X_k = y | X_0 = x, A_0 = a)."""
    p_pi = _policy_matrix(transitions, policy)
    eye = torch.eye(p_pi.shape[0], dtype=p_pi.dtype, device=p_pi.device)
    m = torch.linalg.solve(eye - gamma * p_pi, eye)
    return transitions @ m


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          policy=Tensor(shape=("s", "a"), dtype="floating"),
          gamma=Real(low=0, high=1, closed="left"), same=[("transitions", "policy")])
def hindsight_distribution(transitions: torch.Tensor, policy: torch.Tensor, *, gamma: float) -> torch.Tensor:
    r"""The state-conditional hindsight distribution :math:`h(a \mid x, y)` of a tabular MDP, exactly.

    The probability that action :math:`a` was taken in :math:`x`, given that :math:`y` is visited later,
    with future visits weighted by :math:`\gamma^{k}` (Harutyunyan et al. 2019):

    .. math::

        h(a \mid x, y) = \frac{\pi(a \mid x)\, D(y \mid x, a)}{\sum_b \pi(b \mid x)\, D(y \mid x, b)}, \qquad
        D(y \mid x, a) = \sum_{z} P(z \mid x, a)\, M_\pi(z, y),

    with :math:`M_\pi = (I - \gamma P_\pi)^{-1}` the successor representation. Where :math:`y` cannot follow
    :math:`x`, :math:`h = \pi`. The paper learns :math:`h` by classification; here the model is known.

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    policy : Tensor, shape (n_states, n_actions)
    gamma : float in [0, 1)

    Returns
    -------
    Tensor, shape (n_states, n_actions, n_states)
        ``h[x, a, y]``; sums to 1 over ``a``.

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> mdp = delayed_effect_mdp(1)
    >>> pi = torch.full((4, 2), 0.5, dtype=torch.float64)
    >>> hindsight_distribution(mdp.transitions, pi, gamma=0.9)[0, :, 1].tolist()
    [1.0, 0.0]
    """
    _check_stochastic("hindsight_distribution", "transitions", transitions)
    _check_stochastic("hindsight_distribution", "policy", policy)
    occ = _discounted_occupancy(transitions, policy, gamma)  # (S, A, S)
    joint = policy.unsqueeze(-1) * occ
    z = joint.sum(1, keepdim=True)
    return torch.where(z > 0, joint / z.clamp_min(torch.finfo(z.dtype).tiny), policy.unsqueeze(-1).expand_as(joint))


def _softmax_value(transitions, rewards, logits, start, gamma):
    policy = torch.softmax(logits, -1)
    p_pi = _policy_matrix(transitions, policy)
    eye = torch.eye(p_pi.shape[0], dtype=p_pi.dtype, device=p_pi.device)
    return start @ torch.linalg.solve(eye - gamma * p_pi, (policy * rewards).sum(-1))


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          rewards=Tensor(shape=("s", "a"), dtype="floating"),
          logits=Tensor(shape=("s", "a"), dtype="floating"),
          start=Tensor(shape=("s",), dtype="floating"),
          gamma=Real(low=0, high=1, closed="left"), same=[("transitions", "rewards", "logits", "start")])
def exact_policy_gradient(transitions: torch.Tensor, rewards: torch.Tensor, logits: torch.Tensor,
                          start: torch.Tensor, *, gamma: float) -> torch.Tensor:
    r"""Gradient of the expected return of a softmax policy with respect to its logits, exactly.

    :math:`J(\theta) = \rho^\top (I - \gamma P_{\pi_\theta})^{-1} r_{\pi_\theta}` with
    :math:`\pi_\theta(a \mid s) = \operatorname{softmax}(\theta_s)_a`, differentiated by autograd.

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    rewards : Tensor, shape (n_states, n_actions)
    logits : Tensor, shape (n_states, n_actions)
    start : Tensor, shape (n_states,)
    gamma : float in [0, 1)

    Returns
    -------
    Tensor, shape (n_states, n_actions)

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> mdp = delayed_effect_mdp(1)
    >>> g = exact_policy_gradient(mdp.transitions, mdp.rewards, torch.zeros(4, 2, dtype=torch.float64),
    ...                           mdp.start, gamma=0.5)
    >>> g[0].tolist()
    [0.125, -0.125]
    """
    _check_stochastic("exact_policy_gradient", "transitions", transitions)
    _check_stochastic("exact_policy_gradient", "start", start)
    theta = logits.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        j = _softmax_value(transitions, rewards, theta, start, gamma)
        (grad,) = torch.autograd.grad(j, theta)
    return grad


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          rewards=Tensor(shape=("s", "a"), dtype="floating"),
          logits=Tensor(shape=("s", "a"), dtype="floating"),
          start=Tensor(shape=("s",), dtype="floating"),
          terminal=Tensor(shape=("s",), dtype="bool", optional=True),
          gamma=Real(low=0, high=1, closed="left"), estimator=Options("reinforce", "state_hca"),
          n_episodes=Integer(low=1), n_steps=Integer(low=1), reward_noise=Real(low=0), generator=Generator(),
          same=[("transitions", "rewards", "logits", "start")])
def policy_gradient_samples(transitions: torch.Tensor, rewards: torch.Tensor, logits: torch.Tensor,
                            start: torch.Tensor, *, gamma: float, estimator: str = "reinforce",
                            terminal: torch.Tensor | None = None, n_episodes: int = 100, n_steps: int = 50,
                            reward_noise: float = 0.0, generator=None) -> torch.Tensor:
    r"""One policy-gradient estimate per sampled episode, by REINFORCE or by state-conditional HCA.

    For a softmax policy, :math:`\nabla_{\theta_x} \log \pi(a \mid x) = e_a - \pi(\cdot \mid x)`.
    ``"reinforce"`` returns :math:`\sum_t \gamma^t \nabla \log \pi(A_t \mid X_t)\, G_t` with the discounted
    return :math:`G_t = \sum_{k \ge t} \gamma^{k-t} R_k`. ``"state_hca"`` returns the all-actions estimate
    with the hindsight action values of Harutyunyan et al. (2019),

    .. math::

        \sum_t \gamma^t \sum_a \nabla \pi(a \mid X_t)\, \hat Q(X_t, a), \qquad
        \hat Q(X_t, a) = r(X_t, a) + \sum_{k > t} \gamma^{k-t} \frac{h(a \mid X_t, X_k)}{\pi(a \mid X_t)} R_k,

    with the exact :func:`hindsight_distribution` and the expected immediate reward :math:`r(x, a)` of the
    model. Both are unbiased for :func:`exact_policy_gradient` (up to the truncation at ``n_steps``);
    a reward at step :math:`k` only credits the actions whose probability it changes.

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    rewards : Tensor, shape (n_states, n_actions)
    logits : Tensor, shape (n_states, n_actions)
    start : Tensor, shape (n_states,)
    gamma : float in [0, 1)
    estimator : {"reinforce", "state_hca"}
    terminal : Tensor, shape (n_states,), bool, optional
    n_episodes, n_steps : int
    reward_noise : float >= 0
        Standard deviation of Gaussian noise added to every reward.
    generator : None, int or torch.Generator

    Returns
    -------
    Tensor, shape (n_episodes, n_states, n_actions)

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> mdp = delayed_effect_mdp(1)
    >>> theta = torch.zeros(4, 2, dtype=torch.float64)
    >>> g = policy_gradient_samples(mdp.transitions, mdp.rewards, theta, mdp.start, gamma=0.5,
    ...                             estimator="state_hca", terminal=mdp.terminal, n_episodes=4, n_steps=3,
    ...                             generator=0)
    >>> g.shape, g[:, 0].abs().unique().tolist()
    (torch.Size([4, 4, 2]), [0.0, 0.25])
    """
    policy = torch.softmax(logits, -1)
    tr = sample_trajectories(transitions, rewards, policy, start, terminal=terminal, n_episodes=n_episodes,
                             n_steps=n_steps, reward_noise=reward_noise, generator=generator)
    x, a, rew, alive = tr.states[:, :-1], tr.actions, tr.rewards, tr.alive.to(rewards.dtype)
    steps = x.shape[1]
    disc = gamma ** torch.arange(steps, dtype=rewards.dtype, device=rewards.device)
    pi_x = policy[x]  # (B, T, A)
    out = torch.zeros(n_episodes, *logits.shape, dtype=rewards.dtype, device=rewards.device)
    if estimator == "reinforce":
        g_t = torch.flip(torch.cumsum(torch.flip(rew * disc, [1]), 1), [1]) / disc  # G_t
        score = torch.nn.functional.one_hot(a, logits.shape[1]).to(rewards.dtype) - pi_x
        contrib = score * (disc * g_t * alive).unsqueeze(-1)
    else:
        h = hindsight_distribution(transitions, policy, gamma=gamma)  # (S, A, S)
        # ratio[b, t, k, a] = h(a | X_t, X_k) / pi(a | X_t)
        hx = h[x.unsqueeze(2), :, x.unsqueeze(1)]  # (B, T, T, A)
        ratio = hx / pi_x.unsqueeze(2).clamp_min(torch.finfo(pi_x.dtype).tiny)
        k_minus_t = torch.arange(steps, device=x.device).unsqueeze(0) - torch.arange(steps, device=x.device).unsqueeze(1)
        weight = torch.where(k_minus_t > 0, gamma ** k_minus_t.clamp_min(0).to(rewards.dtype), 0.0)
        q_hat = rewards[x] + torch.einsum("tk,btka,bk->bta", weight, ratio, rew)
        contrib = pi_x * (q_hat - (pi_x * q_hat).sum(-1, keepdim=True))
        contrib = contrib * (disc * alive).unsqueeze(-1)
    idx = x.unsqueeze(-1).expand(-1, -1, logits.shape[1])
    out.scatter_add_(1, idx, contrib)
    return out
