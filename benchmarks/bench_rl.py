"""Benchmarks for the reinforcement-learning chapter, each against a naive implementation on the same inputs.

The successor representation by one linear solve (``successor_representation``) against summing the power
series :math:`\\sum_k \\gamma^k P^k` until it converges (NumPy); value iteration on the transition tensor
(``value_iteration``, one batched matrix product per sweep) against the textbook per-state, per-action
Python loop; and TD learning of the successor map over parallel episodes (``td_successor``) against one
Python update per transition; exact multi-time models of options (``option_models``, batched linear
solves) against iterating their one-step recursions until they converge (NumPy); and SMDP Q-learning of
8 agents in parallel (``smdp_q_learning``) against one agent at a time in plain Python. No peer library
offers these tabular routines with torch tensors.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.run import Case
from nips2019.rl import (
    grid_mdp,
    hallway_options,
    option_models,
    primitive_options,
    sample_trajectories,
    smdp_q_learning,
    successor_representation,
    td_successor,
    value_iteration,
)


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


def _models_iterated(p, r, opts, gamma, terminal):
    p, r = p.numpy(), r.numpy()
    pol, beta = opts.policy.numpy(), opts.termination.numpy().copy()
    beta[:, terminal.numpy()] = 1
    p_pi = np.einsum("osa,sat->ost", pol, p)
    r_pi = (pol * r).sum(-1)
    cont = p_pi * (1 - beta)[:, None, :]
    stop = gamma * p_pi * beta[:, None, :]

    def run():
        r_o, p_o = np.zeros_like(r_pi), np.zeros_like(p_pi)
        while True:
            r_new = r_pi + gamma * np.einsum("ost,ot->os", cont, r_o)
            p_new = stop + gamma * np.einsum("ost,otu->osu", cont, p_o)
            if max(np.abs(r_new - r_o).max(), np.abs(p_new - p_o).max()) < 1e-12:
                return r_new, p_new
            r_o, p_o = r_new, p_new

    return run


def _smdp_q_python(mdp, opts, gamma, n_agents, n_episodes, seed=0):
    p, r = mdp.transitions.numpy(), mdp.rewards.numpy()
    pol, beta, init = opts.policy.numpy(), opts.termination.numpy(), opts.initiation.numpy()
    term, start = mdp.terminal.numpy(), mdp.start.numpy()
    cdf_p, cdf_pi, cdf_s = p.cumsum(-1), pol.cumsum(-1), start.cumsum()
    avail = [np.flatnonzero(init[:, s]) for s in range(len(start))]

    def draw(cdf, u):
        return min(int(np.searchsorted(cdf, u, side="right")), len(cdf) - 1)

    def run():
        rng = np.random.default_rng(seed)
        for _ in range(n_agents):
            q = np.zeros((len(start), opts.n_options))
            for _ in range(n_episodes):
                s = draw(cdf_s, rng.random())
                while not term[s]:
                    av = avail[s]
                    vals = q[s, av]
                    if rng.random() < 0.1:
                        o = av[rng.integers(len(av))]
                    else:
                        best = av[vals >= vals.max() - 1e-12]
                        o = best[rng.integers(len(best))]
                    s0, g, disc = s, 0.0, 1.0
                    while True:
                        a = draw(cdf_pi[o, s], rng.random())
                        s2 = draw(cdf_p[s, a], rng.random())
                        g += disc * r[s, a]
                        disc *= gamma
                        s = s2
                        if term[s2] or rng.random() < beta[o, s2]:
                            break
                    nxt = 0.0 if term[s] else q[s, avail[s]].max()
                    q[s0, o] += 0.5 * (g + disc * nxt - q[s0, o])

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
    coords = world.coords.long().tolist()
    halls = [coords.index(rc) for rc in ([3, 6], [6, 2], [7, 9], [10, 6])]
    rooms = grid_mdp(goal=coords.index([9, 9]), slip=0.1)
    opts = primitive_options(104, 4).concat(hallway_options(rooms.transitions, halls))
    out.append(Case(name="option models, four rooms, 4 primitives + 8 hallway options, slip 0.1",
                    ours=lambda: option_models(rooms.transitions, rooms.rewards, opts, gamma=0.9,
                                               terminal=rooms.terminal),
                    baselines={"iterate the recursions to 1e-12 (NumPy)": _models_iterated(
                        rooms.transitions, rooms.rewards, opts, 0.9, rooms.terminal)},
                    note="same models to 1e-10"))
    det = grid_mdp(goal=coords.index([9, 9]))
    opts_det = primitive_options(104, 4).concat(hallway_options(det.transitions, halls))
    n_agents, n_episodes = (4, 10) if quick else (8, 30)
    out.append(Case(name=f"SMDP Q-learning with hallway options, {n_agents} agents x {n_episodes} episodes",
                    ours=lambda: smdp_q_learning(det.transitions, det.rewards, opts_det, start=det.start,
                                                 terminal=det.terminal, gamma=0.9, n_agents=n_agents,
                                                 n_episodes=n_episodes, generator=0, progress=False),
                    baselines={"one agent at a time, plain Python": _smdp_q_python(det, opts_det, 0.9, n_agents,
                                                                                   n_episodes)},
                    repeat=1, note="same algorithm and settings; different random streams"))
    return out
