"""Benchmarks for the reinforcement-learning chapter, each against a naive implementation on the same inputs.

The successor representation by one linear solve (``successor_representation``) against summing the power
series :math:`\\sum_k \\gamma^k P^k` until it converges (NumPy); value iteration on the transition tensor
(``value_iteration``, one batched matrix product per sweep) against the textbook per-state, per-action
Python loop; and TD learning of the successor map over parallel episodes (``td_successor``) against one
Python update per transition. No peer library offers these tabular routines with torch tensors.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.run import Case
from nips2019.rl import grid_mdp, sample_trajectories, successor_representation, td_successor, value_iteration


def _power_series(p, gamma):
    p = p.numpy()

    def run():
        m, term = np.eye(len(p)), np.eye(len(p))
        while True:
            term = gamma * term @ p
            m += term
            if np.abs(term).max() < 1e-12:
                return m

    return run


def _vi_loop(p, r, gamma, n_iter):
    p, r = p.numpy(), r.numpy()
    n_s, n_a, _ = p.shape

    def run():
        v = np.zeros(n_s)
        for _ in range(n_iter):
            v_new = np.empty(n_s)
            for s in range(n_s):
                v_new[s] = max(r[s, a] + gamma * float(p[s, a] @ v) for a in range(n_a))
            v = v_new
        return v

    return run


def _td_loop(states, n_states, gamma, lr):
    seq = states.tolist()

    def run():
        m = np.zeros((n_states, n_states))
        for t in range(len(seq[0]) - 1):
            for ep in seq:
                s, s2 = ep[t], ep[t + 1]
                target = gamma * m[s2]
                target[s] += 1
                m[s] += lr * (target - m[s])
        return m

    return run


def cases(quick: bool) -> list:
    out = []
    world = grid_mdp()
    uniform = torch.full((world.n_states, 4), 0.25, dtype=torch.float64)
    p_walk = torch.einsum("sa,sat->st", uniform, world.transitions)
    for gamma in ([0.9] if quick else [0.9, 0.99]):
        out.append(Case(name=f"successor representation, four rooms (104 states), gamma = {gamma}",
                        ours=lambda g=gamma: successor_representation(p_walk, gamma=g),
                        baselines={"power series until 1e-12 (NumPy)": _power_series(p_walk, gamma)},
                        note="same matrix to 1e-10"))
    goal = grid_mdp(goal=50)
    res = value_iteration(goal.transitions, goal.rewards, gamma=0.9, tol=1e-8)
    out.append(Case(name=f"value iteration, four rooms with a goal, {res.n_iter} sweeps",
                    ours=lambda: value_iteration(goal.transitions, goal.rewards, gamma=0.9, tol=1e-8),
                    baselines={"per-state per-action Python loop": _vi_loop(goal.transitions, goal.rewards, 0.9,
                                                                            res.n_iter)},
                    repeat=1 if not quick else 2, note="same number of sweeps"))
    n_ep, n_steps = (32, 200) if quick else (128, 1000)
    walks = sample_trajectories(world.transitions, world.rewards, uniform, world.start, n_episodes=n_ep,
                                n_steps=n_steps, generator=0)
    out.append(Case(name=f"TD successor map, {n_ep} episodes x {n_steps} steps",
                    ours=lambda: td_successor(walks.states, world.n_states, gamma=0.9, lr=0.03, progress=False),
                    baselines={"one Python update per transition": _td_loop(walks.states, world.n_states, 0.9,
                                                                           0.03)},
                    repeat=1, note="the batched rule averages same-state updates of one time step; "
                                   "the loop applies them one after another"))
    return out
