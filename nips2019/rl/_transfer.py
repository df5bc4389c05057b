"""Transfer when the goal moves: Q-learning, one successor map, and inferred successor maps (Madarasz & Behrens 2019)."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Bool, Generator, Integer, Items, Options, Real, Tensor, as_generator, rand, validate
from ._mdp import _check_stochastic
from ._successor import _progress, _sample_index


@dataclasses.dataclass
class GoalSwitchResult:
    """What :func:`goal_switching` recorded.

    Attributes
    ----------
    goals_reached : Tensor, shape (n_agents, n_tasks)
        Goals reached by each agent during each task of the schedule.
    reward : Tensor, shape (n_agents, n_tasks * n_steps)
        Reward (without noise) collected at every step: 1 when the goal was entered.
    active_map : Tensor, shape (n_agents, n_tasks * n_steps), int64
        Map used at each step (``"inferred_maps"``; zeros otherwise).
    n_maps_used : Tensor, shape (n_agents,), int64
        Distinct maps that were ever active.
    """

    goals_reached: torch.Tensor
    reward: torch.Tensor
    active_map: torch.Tensor
    n_maps_used: torch.Tensor


def _eps_greedy(q, eps, u_explore, u_action, u_tie):
    """q (n, A) -> actions (n,); ties among the best actions are broken at random."""
    best = q >= q.max(-1, keepdim=True).values - 1e-12
    greedy = torch.where(best, u_tie, -1.0).argmax(-1)
    random = (u_action * q.shape[-1]).long().clamp_max(q.shape[-1] - 1)
    return torch.where(u_explore < eps, random, greedy)


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          schedule=Items(Integer(low=0), min_length=1),
          agent=Options("q_learning", "successor", "inferred_maps"),
          n_agents=Integer(low=1), n_steps=Integer(low=1), gamma=Real(low=0, high=1, closed="left"),
          lr=Real(low=0, high=1, closed="right"), lr_reward=Real(low=0, high=1, closed="right"),
          epsilon=Real(low=0, high=1), n_maps=Integer(low=1), reward_noise=Real(low=0),
          switch_prob=Real(low=0, high=1, closed="left"), generator=Generator(), progress=Bool(optional=True))
def goal_switching(transitions: torch.Tensor, schedule: list[int], *, agent: str = "inferred_maps",
                   n_agents: int = 16, n_steps: int = 1000, gamma: float = 0.95, lr: float = 0.3,
                   lr_reward: float = 0.5, epsilon: float = 0.1, n_maps: int = 4, reward_noise: float = 0.0,
                   switch_prob: float = 0.01, generator=None, progress: bool | None = None) -> GoalSwitchResult:
    r"""Agents in a grid whose rewarded goal moves between a few locations, following ``schedule``.

    Entering the goal pays 1 (plus Gaussian noise of sd ``reward_noise``) and sends the agent to a uniformly
    random state; each task of the schedule lasts ``n_steps`` steps. Actions are :math:`\varepsilon`-greedy, ties broken at random.
    Three agents, run ``n_agents`` at a time:

    - ``"q_learning"``: tabular Q-learning.
    - ``"successor"``: one state-action successor map
      :math:`\psi(s, a, \cdot) = \mathbb{E}[\sum_{k \ge 1} \gamma^{k-1} e_{S_{t+k}}]` learned by TD along the
      greedy policy, a reward vector :math:`w(s) \approx \mathbb{E}[R \mid S = s]` learned by a delta rule,
      and :math:`Q(s, a) = \psi(s, a, \cdot)^\top w`. A moved reward changes :math:`w` at once, but
      :math:`\psi` still describes the old policy.
    - ``"inferred_maps"``: ``n_maps`` pairs :math:`(\psi_k, w_k)` and a posterior over which one is in force,
      after Madarasz & Behrens (2019). Each step the posterior leaks towards uniform with probability
      ``switch_prob`` (a task may have changed) towards a prior that puts equal mass on every map used so far
      and on one new map (a Chinese-restaurant-like prior), and is multiplied by the likelihood
      :math:`\mathcal N(r;\, w_k(s'), \sigma^2)` of the observed reward, :math:`\sigma` being
      ``max(reward_noise, 0.1)``; the most probable map acts and is the only one updated. An unused map
      predicts no reward anywhere, so it stands for a new task. The paper's agent uses a full Dirichlet-process
      prior, samples maps and updates them by posterior weight; this small version keeps the essential
      step: infer which map fits from rewards and reuse its policy when an old goal returns.

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
        A continuing world without goal (e.g. :func:`grid_mdp` with ``goal=None``).
    schedule : list of int
        Goal state of each task, in order.
    agent : {"q_learning", "successor", "inferred_maps"}
    n_agents, n_steps : int
        Independent agents run in parallel; steps per task.
    gamma : float in [0, 1)
    lr, lr_reward : float in (0, 1]
        Step sizes of the Q / successor TD updates and of the reward vectors.
    epsilon : float in [0, 1]
        Exploration probability.
    n_maps : int
        Maps of the ``"inferred_maps"`` agent.
    reward_noise : float >= 0
    switch_prob : float in [0, 1)
        Per-step probability the ``"inferred_maps"`` agent assigns to a change of task.
    generator : None, int or torch.Generator
    progress : bool, optional

    Returns
    -------
    GoalSwitchResult

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> from nips2019.rl import grid_mdp
    >>> world = grid_mdp(["#####", "#   #", "#   #", "#####"])
    >>> res = goal_switching(world.transitions, [0, 5, 0], n_agents=2, n_steps=200, generator=0)
    >>> res.goals_reached.shape, bool((res.goals_reached[:, 0] > 5).all())
    (torch.Size([2, 3]), True)
    """
    _check_stochastic("goal_switching", "transitions", transitions)
    n_s, n_a, _ = transitions.shape
    bad = [g for g in schedule if g >= n_s]
    if bad:
        raise ValueError(f"goal_switching: schedule entries must be < n_states = {n_s}, got {bad}")
    dev, dt = transitions.device, transitions.dtype
    gen = as_generator(generator)
    cdf_p = transitions.cumsum(-1)
    n, ar = n_agents, torch.arange(n_agents, device=dev)
    k_maps = n_maps if agent == "inferred_maps" else 1
    eye = torch.eye(n_s, dtype=dt, device=dev)
    q = torch.zeros(n, n_s, n_a, dtype=dt, device=dev)
    psi = torch.zeros(n, k_maps, n_s, n_a, n_s, dtype=dt, device=dev)
    w = torch.zeros(n, k_maps, n_s, dtype=dt, device=dev)
    post = torch.zeros(n, k_maps, dtype=dt, device=dev)
    post[:, 0] = 1
    used = post > 0
    sigma = max(reward_noise, 0.1)
    total = len(schedule) * n_steps
    reward_log = torch.zeros(n, total, dtype=dt, device=dev)
    map_log = torch.zeros(n, total, dtype=torch.long, device=dev)
    reached = torch.zeros(n, len(schedule), dtype=torch.long, device=dev)
    s = (rand(n, generator=gen, device=dev, dtype=dt) * n_s).long().clamp_max(n_s - 1)
    step = 0
    for task, goal in enumerate(_progress(schedule, progress)):
        for _ in range(n_steps):
            u = rand(n, 4, generator=gen, device=dev, dtype=dt)
            u_tie = rand(n, n_a, generator=gen, device=dev, dtype=dt)
            k = post.argmax(-1)
            if agent == "q_learning":
                q_s = q[ar, s]
            else:
                q_s = torch.einsum("nay,ny->na", psi[ar, k, s], w[ar, k])
            a = _eps_greedy(q_s, epsilon, u[:, 0], u[:, 1], u_tie)
            s2 = _sample_index(cdf_p[s, a], u[:, 2])
            done = s2 == goal
            r_true = done.to(dt)
            noise = torch.randn(n, generator=gen, dtype=torch.float64).to(dev, dt) * reward_noise
            r = r_true + noise
            cont = (~done).to(dt)
            if agent == "q_learning":
                target = r + gamma * q[ar, s2].max(-1).values * cont
                q[ar, s, a] += lr * (target - q[ar, s, a])
            else:
                if agent == "inferred_maps":
                    # leak towards a Chinese-restaurant-like prior: every used map, and one new map
                    first_new = torch.nn.functional.one_hot((~used).long().argmax(-1), k_maps).bool()
                    prior = (used | (first_new & ~used.all(-1, keepdim=True))).to(dt)
                    post = (1 - switch_prob) * post + switch_prob * prior / prior.sum(-1, keepdim=True)
                    lik = torch.exp(-0.5 * ((r.unsqueeze(1) - w[ar, :, s2]) / sigma) ** 2)
                    post = post * lik + 1e-300
                    post = post / post.sum(-1, keepdim=True)
                    used[ar, post.argmax(-1)] = True
                psi_next = psi[ar, k, s2]  # (n, A, S)
                a2 = torch.einsum("nay,ny->na", psi_next, w[ar, k]).argmax(-1)
                target = eye[s2] + gamma * psi_next[ar, a2] * cont.unsqueeze(1)
                psi[ar, k, s, a] += lr * (target - psi[ar, k, s, a])
                w[ar, k, s2] += lr_reward * (r - w[ar, k, s2])
            restart = (u[:, 3] * n_s).long().clamp_max(n_s - 1)
            s = torch.where(done, restart, s2)
            reward_log[:, step] = r_true
            map_log[:, step] = k
            reached[:, task] += done.long()
            step += 1
    used = torch.stack([torch.bincount(m, minlength=k_maps) > 0 for m in map_log]).sum(-1)
    return GoalSwitchResult(reached, reward_log, map_log, used)
