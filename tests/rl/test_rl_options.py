"""Reference tests for options on tabular MDPs: exact option models, SMDP planning and learning."""

import numpy as np
import pytest
import torch

from nips2019 import rl


def _four_rooms(goal_rc=(9, 9), slip=0.0):
    world = rl.grid_mdp()
    coords = world.coords.long().tolist()
    hall = [coords.index(rc) for rc in ([3, 6], [6, 2], [7, 9], [10, 6])]
    mdp = rl.grid_mdp(goal=coords.index(list(goal_rc)), slip=slip)
    return mdp, hall, coords


def _random_mdp(n_s=6, n_a=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n_s, n_a, n_s, generator=g, dtype=torch.float64) ** 3
    p = p / p.sum(-1, keepdim=True)
    r = torch.randn(n_s, n_a, generator=g, dtype=torch.float64)
    return p, r


def _random_options(n_s, n_a, n_o=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    pol = torch.softmax(2 * torch.randn(n_o, n_s, n_a, generator=g, dtype=torch.float64), -1)
    beta = torch.rand(n_o, n_s, generator=g, dtype=torch.float64) * 0.8 + 0.1
    init = torch.rand(n_o, n_s, generator=g) < 0.7
    init[:, 0] = True
    return rl.OptionSet(pol, beta, init, [f"o{i}" for i in range(n_o)])


def _naive_models(p, r, opts, gamma, n_sweeps=3000):
    """Fixed point of the one-step recursions by iteration in NumPy (independent of the linear solves)."""
    p, r = p.numpy(), r.numpy()
    pol, beta = opts.policy.numpy(), opts.termination.numpy()
    p_pi = np.einsum("osa,sat->ost", pol, p)
    r_pi = (pol * r).sum(-1)
    r_o, p_o = np.zeros_like(r_pi), np.zeros_like(p_pi)
    for _ in range(n_sweeps):
        cont = p_pi * (1 - beta)[:, None, :]
        r_o = r_pi + gamma * np.einsum("ost,ot->os", cont, r_o)
        p_o = gamma * p_pi * beta[:, None, :] + gamma * np.einsum("ost,otu->osu", cont, p_o)
    return r_o, p_o


def test_option_models_match_iterated_recursions():
    p, r = _random_mdp(4, 2)
    opts = _random_options(4, 2, n_o=2)
    m = rl.option_models(p, r, opts, gamma=0.8)
    r_ref, p_ref = _naive_models(p, r, opts, 0.8, n_sweeps=400)
    np.testing.assert_allclose(m.rewards.numpy(), r_ref, atol=1e-10)
    np.testing.assert_allclose(m.transitions.numpy(), p_ref, atol=1e-10)
    # gamma -> 1 limit of the discounted mass is the probability of stopping: 1 here
    m1 = rl.option_models(p, r, opts, gamma=1 - 1e-12)
    torch.testing.assert_close(m1.transitions.sum(-1), torch.ones(2, 4, dtype=torch.float64), atol=1e-8, rtol=0)


def test_primitive_options_reproduce_the_mdp():
    p, r = _random_mdp()
    prim = rl.primitive_options(6, 3)
    m = rl.option_models(p, r, prim, gamma=0.9)
    torch.testing.assert_close(m.rewards, r.T)
    torch.testing.assert_close(m.transitions, 0.9 * p.permute(1, 0, 2))
    torch.testing.assert_close(m.durations, torch.ones(3, 6, dtype=torch.float64))


def test_option_models_match_monte_carlo_rollouts():
    p, r = _random_mdp(5, 2, seed=3)
    opts = _random_options(5, 2, n_o=2, seed=4)
    gamma, n = 0.9, 20_000
    m = rl.option_models(p, r, opts, gamma=gamma)
    for o, s in [(0, 0), (1, 3)]:
        roll = rl.sample_option_rollouts(p, r, opts, option=o, state=s, gamma=gamma, n_episodes=n, generator=o)
        for est, exact in [(roll.returns, m.rewards[o, s]), (roll.durations.double(), m.durations[o, s])]:
            z = (est.mean() - exact) / (est.std() / n**0.5)
            assert abs(z) < 4.5, (o, s, z)
        hits = torch.nn.functional.one_hot(roll.end_states, 5).double() * roll.discounts.unsqueeze(1)
        z = (hits.mean(0) - m.transitions[o, s]) / (hits.std(0) / n**0.5).clamp_min(1e-12)
        assert z.abs().max() < 4.5, z


def test_hallway_options_four_rooms_structure_and_exact_durations():
    mdp, hall, coords = _four_rooms()
    opts = rl.hallway_options(mdp.transitions, hall)
    assert opts.n_options == 8
    # every room cell is covered by exactly two options (its room's two doors)
    room_cells = ~torch.isin(torch.arange(104), torch.tensor(hall))
    torch.testing.assert_close(opts.initiation[:, room_cells].sum(0), torch.full((100,), 2))
    m = rl.option_models(mdp.transitions, mdp.rewards, opts, gamma=0.9, terminal=mdp.terminal)
    # deterministic world: the duration from a room cell to its door is the Manhattan distance (rooms are convex)
    for k, name in enumerate(opts.names):
        door = int(name.split()[-1])
        dr, dc = coords[door]
        for s in opts.initiation[k].nonzero().squeeze(1).tolist():
            if s in hall or mdp.terminal[s]:
                continue
            dist = abs(coords[s][0] - dr) + abs(coords[s][1] - dc)
            goal_first = mdp.terminal.nonzero().item() in opts.initiation[k].nonzero().squeeze(1).tolist()
            if not goal_first:
                assert m.durations[k, s].item() == pytest.approx(dist), (name, coords[s])
                assert m.transitions[k, s, door].item() == pytest.approx(0.9**dist)


@pytest.mark.parametrize("slip", [0.0, 0.2])
def test_options_plus_primitives_give_the_optimal_values(slip):
    mdp, hall, _ = _four_rooms(slip=slip)
    both = rl.primitive_options(104, 4).concat(rl.hallway_options(mdp.transitions, hall))
    m = rl.option_models(mdp.transitions, mdp.rewards, both, gamma=0.9, terminal=mdp.terminal)
    smdp = rl.smdp_value_iteration(m.rewards, m.transitions, both.initiation, terminal=mdp.terminal, tol=1e-12)
    vi = rl.value_iteration(mdp.transitions, mdp.rewards, gamma=0.9, tol=1e-12)
    torch.testing.assert_close(smdp.v, vi.v, atol=1e-10, rtol=0)
    # the primitive part of Q agrees with Q* too
    torch.testing.assert_close(smdp.q[:, :4], vi.q, atol=1e-10, rtol=0)


def test_options_alone_are_a_lower_bound_and_plan_in_fewer_sweeps():
    mdp, hall, _ = _four_rooms(goal_rc=(7, 9))  # the goal is a hallway: hallway options reach it exactly
    opts = rl.hallway_options(mdp.transitions, hall)
    m = rl.option_models(mdp.transitions, mdp.rewards, opts, gamma=0.9, terminal=mdp.terminal)
    smdp = rl.smdp_value_iteration(m.rewards, m.transitions, opts.initiation, terminal=mdp.terminal)
    vi = rl.value_iteration(mdp.transitions, mdp.rewards, gamma=0.9)
    assert (smdp.v <= vi.v + 1e-10).all()
    # from every room cell the hallway options find the shortest route to the hallway goal
    torch.testing.assert_close(smdp.v, vi.v, atol=1e-10, rtol=0)
    assert smdp.n_iter < vi.n_iter / 2, (smdp.n_iter, vi.n_iter)


def test_smdp_value_iteration_matches_brute_force_over_option_policies():
    import itertools

    p, r = _random_mdp(4, 2, seed=5)
    opts = _random_options(4, 2, n_o=3, seed=6)
    gamma = 0.8
    m = rl.option_models(p, r, opts, gamma=gamma)
    res = rl.smdp_value_iteration(m.rewards, m.transitions, opts.initiation, tol=1e-13)
    allowed = [opts.initiation[:, s].nonzero().squeeze(1).tolist() for s in range(4)]
    best = torch.full((4,), -np.inf, dtype=torch.float64)
    for choice in itertools.product(*allowed):
        idx = torch.tensor(choice)
        r_mu = m.rewards[idx, torch.arange(4)]
        p_mu = m.transitions[idx, torch.arange(4)]
        v = torch.linalg.solve(torch.eye(4, dtype=torch.float64) - p_mu, r_mu)
        best = torch.maximum(best, v)
    torch.testing.assert_close(res.v, best, atol=1e-10, rtol=0)


def _naive_smdp_q(mdp, opts, gamma, lr, epsilon, n_episodes, seed):
    """One agent, plain Python loops; same decisions as smdp_q_learning would take only in law, not path."""
    rng = np.random.default_rng(seed)
    p, r = mdp.transitions.numpy(), mdp.rewards.numpy()
    pol, beta, init = opts.policy.numpy(), opts.termination.numpy(), opts.initiation.numpy()
    term = mdp.terminal.numpy()
    start = mdp.start.numpy()
    q = np.zeros((mdp.n_states, opts.n_options))
    steps = []
    for _ in range(n_episodes):
        s, k = rng.choice(len(start), p=start), 0
        while not term[s]:
            avail = np.flatnonzero(init[:, s])
            if rng.random() < epsilon:
                o = rng.choice(avail)
            else:
                vals = q[s, avail]
                o = rng.choice(avail[vals >= vals.max() - 1e-12])
            s0, g, disc = s, 0.0, 1.0
            while True:
                a = rng.choice(p.shape[1], p=pol[o, s])
                s2 = rng.choice(len(start), p=p[s, a])
                g += disc * r[s, a]
                disc *= gamma
                k += 1
                s = s2
                if term[s2] or rng.random() < beta[o, s2]:
                    break
            nxt = 0.0 if term[s] else q[s, init[:, s]].max()
            q[s0, o] += lr * (g + disc * nxt - q[s0, o])
        steps.append(k)
    return q, steps


def test_smdp_q_learning_matches_a_naive_loop_in_distribution():
    mdp = rl.grid_mdp(["######", "#    #", "#    #", "######"], goal=7)
    prim = rl.primitive_options(8, 4)
    opts = prim.concat(rl.subgoal_options(mdp.transitions, [3], (~mdp.terminal).unsqueeze(0)))
    n_ep, n = 8, 60
    res = rl.smdp_q_learning(mdp.transitions, mdp.rewards, opts, start=mdp.start, terminal=mdp.terminal,
                             gamma=0.9, n_agents=n, n_episodes=n_ep, lr=0.5, epsilon=0.2, generator=0)
    ours = res.episode_steps.double()
    ref = torch.tensor([_naive_smdp_q(mdp, opts, 0.9, 0.5, 0.2, n_ep, seed)[1] for seed in range(n)]).double()
    for ep in [0, 3, n_ep - 1]:
        se = (ours[:, ep].var() / n + ref[:, ep].var() / n).sqrt()
        assert abs(ours[:, ep].mean() - ref[:, ep].mean()) < 4.5 * se, (ep, ours[:, ep].mean(), ref[:, ep].mean())


def test_smdp_q_learning_converges_to_smdp_optimum():
    mdp = rl.chain_mdp(6)
    prim = rl.primitive_options(6, 2)
    opts = prim.concat(rl.subgoal_options(mdp.transitions, [3], torch.ones(1, 6, dtype=torch.bool)))
    m = rl.option_models(mdp.transitions, mdp.rewards, opts, gamma=0.9, terminal=mdp.terminal)
    exact = rl.smdp_value_iteration(m.rewards, m.transitions, opts.initiation, terminal=mdp.terminal)
    for method in ["smdp", "intra"]:
        res = rl.smdp_q_learning(mdp.transitions, mdp.rewards, opts, start=mdp.start, terminal=mdp.terminal,
                                 gamma=0.9, method=method, n_agents=1, n_episodes=60, lr=1.0, epsilon=1.0,
                                 generator=1)
        q = res.q[0]
        live = ~mdp.terminal
        avail = opts.initiation.T & live.unsqueeze(1)
        torch.testing.assert_close(q[avail], exact.q[avail], atol=1e-6, rtol=0)


@pytest.mark.slow
def test_hallway_options_speed_up_learning_in_four_rooms():
    mdp, hall, _ = _four_rooms()
    prim = rl.primitive_options(104, 4)
    both = prim.concat(rl.hallway_options(mdp.transitions, hall))
    kw = dict(start=mdp.start, terminal=mdp.terminal, gamma=0.9, n_agents=4, n_episodes=15, lr=0.5,
              epsilon=0.1, generator=0)
    flat = rl.smdp_q_learning(mdp.transitions, mdp.rewards, prim, **kw).episode_steps.sum(1).double().mean()
    opt = rl.smdp_q_learning(mdp.transitions, mdp.rewards, both, **kw).episode_steps.sum(1).double().mean()
    assert opt < 0.6 * flat, (opt, flat)


def test_bad_inputs():
    mdp = rl.chain_mdp(4)
    prim = rl.primitive_options(4, 2)
    forever = rl.OptionSet(prim.policy[:1].clone(), torch.zeros(1, 4, dtype=torch.float64),
                           torch.ones(1, 4, dtype=torch.bool), ["loop"])
    forever.policy[0, :, 0] = 1  # walk left forever, never stop
    forever.policy[0, :, 1] = 0
    with pytest.raises(ValueError, match="never terminates"):
        rl.option_models(mdp.transitions, mdp.rewards, forever, gamma=0.9)
    with pytest.raises(ValueError, match="options.policy must have shape"):
        rl.option_models(mdp.transitions, mdp.rewards, rl.primitive_options(5, 2), gamma=0.9)
    with pytest.raises(ValueError, match="dtype and device"):
        rl.option_models(mdp.transitions, mdp.rewards, rl.primitive_options(4, 2, dtype=torch.float32), gamma=0.9)
    only = rl.primitive_options(4, 2)
    only.initiation[:, 1:] = False  # options only in state 0
    m = rl.option_models(mdp.transitions, mdp.rewards, only, gamma=0.9, terminal=mdp.terminal)
    with pytest.raises(ValueError, match="no option may start"):
        rl.smdp_value_iteration(m.rewards, m.transitions, only.initiation, terminal=mdp.terminal)
    with pytest.raises(ValueError, match="must be discounted"):
        rl.smdp_value_iteration(m.rewards, m.transitions / 0.9, torch.ones_like(only.initiation))
    stoch = rl.OptionSet(torch.full((1, 4, 2), 0.5, dtype=torch.float64), torch.ones(1, 4, dtype=torch.float64),
                         torch.ones(1, 4, dtype=torch.bool), ["coin"])
    with pytest.raises(ValueError, match="deterministic"):
        rl.smdp_q_learning(mdp.transitions, mdp.rewards, stoch, start=mdp.start, terminal=mdp.terminal,
                           gamma=0.9, method="intra", n_episodes=1)
    with pytest.raises(ValueError, match="no mass on terminal"):
        rl.smdp_q_learning(mdp.transitions, mdp.rewards, prim, start=torch.full((4,), 0.25, dtype=torch.float64),
                           terminal=mdp.terminal, gamma=0.9, n_episodes=1)
    with pytest.raises(ValueError, match="did not stop"):
        rl.sample_option_rollouts(mdp.transitions, mdp.rewards, forever, option=0, state=1, gamma=0.9,
                                  max_steps=5, n_episodes=2, generator=0)
    with pytest.raises(ValueError, match="targets must be < n_states"):
        rl.subgoal_options(mdp.transitions, [9], torch.ones(1, 4, dtype=torch.bool))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_option_outputs_follow_dtype(dtype):
    mdp = rl.chain_mdp(5, dtype=dtype)
    prim = rl.primitive_options(5, 2, dtype=dtype)
    m = rl.option_models(mdp.transitions, mdp.rewards, prim, gamma=0.9, terminal=mdp.terminal)
    assert m.rewards.dtype == m.transitions.dtype == dtype
    res = rl.smdp_q_learning(mdp.transitions, mdp.rewards, prim, start=mdp.start, terminal=mdp.terminal,
                             gamma=0.9, n_agents=1, n_episodes=2, generator=0)
    assert res.q.dtype == dtype


@pytest.mark.gpu
def test_options_core_path_on_gpu():
    mdp, hall, _ = _four_rooms()
    cpu = rl.primitive_options(104, 4).concat(rl.hallway_options(mdp.transitions, hall))
    m_cpu = rl.option_models(mdp.transitions, mdp.rewards, cpu, gamma=0.9, terminal=mdp.terminal)
    dev = torch.device("cuda")
    mdp_g, hall_g, _ = _four_rooms()
    mdp_g = rl.grid_mdp(goal=int(mdp.terminal.nonzero()), device=dev)
    opts = rl.primitive_options(104, 4, device=dev).concat(rl.hallway_options(mdp_g.transitions, hall_g))
    m = rl.option_models(mdp_g.transitions, mdp_g.rewards, opts, gamma=0.9, terminal=mdp_g.terminal)
    assert m.transitions.device.type == "cuda"
    torch.testing.assert_close(m.transitions.cpu(), m_cpu.transitions)
    smdp = rl.smdp_value_iteration(m.rewards, m.transitions, opts.initiation, terminal=mdp_g.terminal)
    assert smdp.v.device.type == "cuda"
    roll = rl.sample_option_rollouts(mdp_g.transitions, mdp_g.rewards, opts, option=5, state=0, gamma=0.9,
                                     terminal=mdp_g.terminal, n_episodes=10, generator=0)
    assert roll.returns.device.type == "cuda"
    res = rl.smdp_q_learning(mdp_g.transitions, mdp_g.rewards, opts, start=mdp_g.start, terminal=mdp_g.terminal,
                             gamma=0.9, n_agents=2, n_episodes=2, generator=0)
    assert res.q.device.type == "cuda"
