"""Reference tests for nips2019.rl: closed forms, brute force, Monte Carlo."""

import itertools

import numpy as np
import pytest
import torch

from nips2019 import rl


def _random_mdp(n_s=4, n_a=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n_s, n_a, n_s, generator=g, dtype=torch.float64) ** 3
    p = p / p.sum(-1, keepdim=True)
    r = torch.randn(n_s, n_a, generator=g, dtype=torch.float64)
    return p, r


def test_policy_evaluation_matches_iterated_bellman_and_numpy():
    p, r = _random_mdp()
    pi = torch.softmax(torch.randn(4, 2, dtype=torch.float64), -1)
    v = rl.policy_evaluation(p, r, pi, gamma=0.9)
    v_it = torch.zeros(4, dtype=torch.float64)
    for _ in range(400):
        v_it = (pi * (r + 0.9 * p @ v_it)).sum(-1)
    torch.testing.assert_close(v, v_it)
    p_pi = np.einsum("sa,sat->st", pi.numpy(), p.numpy())
    v_np = np.linalg.solve(np.eye(4) - 0.9 * p_pi, (pi * r).sum(-1).numpy())
    np.testing.assert_allclose(v.numpy(), v_np, rtol=1e-10)


def test_value_iteration_matches_brute_force_over_deterministic_policies():
    p, r = _random_mdp(4, 3, seed=1)
    res = rl.value_iteration(p, r, gamma=0.8, tol=1e-12)
    best = torch.full((4,), -np.inf, dtype=torch.float64)
    for choice in itertools.product(range(3), repeat=4):
        pi = torch.nn.functional.one_hot(torch.tensor(choice), 3).double()
        best = torch.maximum(best, rl.policy_evaluation(p, r, pi, gamma=0.8))
    torch.testing.assert_close(res.v, best, atol=1e-10, rtol=0)
    torch.testing.assert_close(rl.policy_evaluation(p, r, res.policy, gamma=0.8), best, atol=1e-10, rtol=0)
    top2 = res.q.sort(-1, descending=True).values
    torch.testing.assert_close(res.action_gap, top2[:, 0] - top2[:, 1])


def test_chain_optimal_values_are_powers_of_gamma():
    m = rl.chain_mdp(8)
    res = rl.value_iteration(m.transitions, m.rewards, gamma=0.7)
    d = torch.arange(6, -1, -1, dtype=torch.float64)  # steps to the goal after moving right
    torch.testing.assert_close(res.q[:7, 1], 0.7 ** d)
    assert res.policy[:7, 1].all()


def test_grid_mdp_four_rooms_shape_and_goal():
    m = rl.grid_mdp(goal=50)
    assert m.n_states == 104 and m.terminal.sum() == 1 and m.terminal[50]
    torch.testing.assert_close(m.transitions.sum(-1), torch.ones(104, 4, dtype=torch.float64))
    assert m.rewards.max() == 1 and m.rewards[50].abs().sum() == 0


def test_successor_representation_is_the_power_series():
    p, _ = _random_mdp()
    p_pi = p.mean(1)
    m = rl.successor_representation(p_pi, gamma=0.6)
    series = sum(0.6 ** k * torch.linalg.matrix_power(p_pi, k) for k in range(200))
    torch.testing.assert_close(m, series)
    torch.testing.assert_close(m.sum(1), torch.full((4,), 1 / 0.4, dtype=torch.float64))


def test_successor_representation_gives_values():
    p, r = _random_mdp()
    pi = torch.full((4, 2), 0.5, dtype=torch.float64)
    m = rl.successor_representation(torch.einsum("sa,sat->st", pi, p), gamma=0.9)
    torch.testing.assert_close(m @ (pi * r).sum(-1), rl.policy_evaluation(p, r, pi, gamma=0.9))


def test_td_successor_converges_to_closed_form():
    p, r = _random_mdp(5, 2, seed=3)
    pi = torch.full((5, 2), 0.5, dtype=torch.float64)
    start = torch.full((5,), 0.2, dtype=torch.float64)
    tr = rl.sample_trajectories(p, r, pi, start, n_episodes=200, n_steps=600, generator=0)
    m = rl.successor_representation(torch.einsum("sa,sat->st", pi, p), gamma=0.8)
    m_td = rl.td_successor(tr.states, 5, gamma=0.8, lr=0.05)
    assert ((m_td - m).norm() / m.norm()) < 0.05
    # the perturbed target: a wrong discount is far off
    m_bad = rl.successor_representation(torch.einsum("sa,sat->st", pi, p), gamma=0.7)
    assert ((m_td - m_bad).norm() / m.norm()) > 0.2


def test_sample_trajectories_frequencies_match_the_model():
    p, r = _random_mdp(3, 2, seed=4)
    pi = torch.tensor([[0.3, 0.7], [0.5, 0.5], [0.9, 0.1]], dtype=torch.float64)
    start = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    tr = rl.sample_trajectories(p, r, pi, start, n_episodes=20000, n_steps=1, reward_noise=0.5, generator=1)
    assert (tr.states[:, 0] == 0).all()
    freq_a = torch.bincount(tr.actions[:, 0], minlength=2).double() / 20000
    torch.testing.assert_close(freq_a, pi[0], atol=0.015, rtol=0)
    a0 = tr.actions[:, 0] == 1
    freq_s = torch.bincount(tr.states[a0, 1], minlength=3).double() / a0.sum()
    torch.testing.assert_close(freq_s, p[0, 1], atol=0.02, rtol=0)
    assert abs(tr.rewards[a0, 0].std().item() - 0.5) < 0.02


def test_sample_trajectories_is_reproducible_and_stops_at_terminal():
    m = rl.chain_mdp(5)
    pi = torch.full((5, 2), 0.5, dtype=torch.float64)
    a = rl.sample_trajectories(m.transitions, m.rewards, pi, m.start, terminal=m.terminal, n_episodes=50,
                               n_steps=40, generator=7)
    b = rl.sample_trajectories(m.transitions, m.rewards, pi, m.start, terminal=m.terminal, n_episodes=50,
                               n_steps=40, generator=7)
    torch.testing.assert_close(a.states, b.states)
    done = m.terminal[a.states[:, :-1]]
    assert (a.rewards[done] == 0).all() and (~a.alive[done]).all()
    assert (a.rewards.sum(1) <= 1).all()


def _hmm():
    s = 4
    p = torch.zeros(s, s, dtype=torch.float64)
    for i in range(s):
        p[i, (i + 1) % s] += 0.6
        p[i, i] += 0.3
        p[i, (i - 1) % s] += 0.1
    e = torch.zeros(s, 3, dtype=torch.float64)
    e[:, 0] = torch.tensor([0.7, 0.2, 0.1, 0.1])
    e[:, 1] = torch.tensor([0.2, 0.6, 0.2, 0.3])
    e[:, 2] = 1 - e[:, 0] - e[:, 1]
    return p, e, torch.full((s,), 0.25, dtype=torch.float64)


def test_belief_filter_matches_enumeration_of_hidden_paths():
    p, e, prior = _hmm()
    obs = torch.tensor([[0, 2, 1, 1]])
    b = rl.belief_filter(obs, p, e, prior)
    for t in range(4):
        post = torch.zeros(4, dtype=torch.float64)
        for path in itertools.product(range(4), repeat=t + 1):
            w = prior[path[0]] * e[path[0], obs[0, 0]]
            for k in range(1, t + 1):
                w = w * p[path[k - 1], path[k]] * e[path[k], obs[0, k]]
            post[path[-1]] += w
        torch.testing.assert_close(b[0, t], post / post.sum())


def test_belief_filter_refuses_impossible_observations():
    p = torch.eye(2, dtype=torch.float64)
    e = torch.eye(2, dtype=torch.float64)
    with pytest.raises(ValueError, match="probability zero"):
        rl.belief_filter(torch.tensor([[0, 1]]), p, e, torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_belief_successor_map_recovers_hidden_map_and_observation_map_does_not():
    p, e, prior = _hmm()
    h = rl.sample_hmm(p, e, prior, n_episodes=400, n_steps=400, generator=0)
    b = rl.belief_filter(h.observations, p, e, prior)
    m = rl.successor_representation(p, gamma=0.7)
    w = rl.td_successor_features(b, gamma=0.7, lr=0.2)
    w_obs = rl.td_successor_features(torch.eye(3, dtype=torch.float64)[h.observations], gamma=0.7, lr=0.2)
    assert ((w - m).norm() / m.norm()) < 0.08
    assert w_obs.shape == (3, 3)


def test_td_successor_features_with_one_hot_codes_is_tabular_td():
    states = torch.tensor([[0, 1, 2, 1, 0, 2, 2, 1]])
    w = rl.td_successor_features(torch.eye(3, dtype=torch.float64)[states], gamma=0.6, lr=0.3, n_epochs=3)
    m = rl.td_successor(states, 3, gamma=0.6, lr=0.3, n_epochs=3)
    torch.testing.assert_close(w, m)


@pytest.mark.parametrize("mapping", ["identity", "log"])
def test_tabular_q_learning_reaches_q_star(mapping):
    m = rl.chain_mdp(6, slip=0.0)
    res = rl.q_learning(m.transitions, m.rewards, torch.eye(6, dtype=torch.float64), gamma=0.6, mapping=mapping,
                        terminal=m.terminal, lr=0.5, n_steps=1500, batch_size=16, generator=0)
    q_star = rl.value_iteration(m.transitions, m.rewards, gamma=0.6).q
    torch.testing.assert_close(res.q, q_star, atol=1e-4, rtol=1e-3)


def test_log_q_learning_with_negative_rewards_and_slip():
    m = rl.chain_mdp(5, slip=0.1, step_reward=-0.1)
    res = rl.q_learning(m.transitions, m.rewards, torch.eye(5, dtype=torch.float64), gamma=0.8, mapping="log",
                        terminal=m.terminal, lr=0.3, lr_reg=0.1, n_steps=2000, batch_size=32, generator=0)
    q_star = rl.value_iteration(m.transitions, m.rewards, gamma=0.8).q
    assert (res.q - q_star).abs().max() < 0.1
    assert torch.equal(res.q[:4].argmax(1), q_star[:4].argmax(1))
    assert res.weights.shape == (2, 5, 2)


def test_success_probability_matches_simulation():
    m = rl.chain_mdp(6, slip=0.3)
    pi = torch.tensor([[0.2, 0.8]] * 6, dtype=torch.float64)
    prob = rl.success_probability(m.transitions, pi, m.terminal, horizon=8)
    tr = rl.sample_trajectories(m.transitions, m.rewards, pi, m.start, terminal=m.terminal, n_episodes=20000,
                                n_steps=8, generator=0)
    mc = m.terminal[tr.states[:, -1]].double().mean()
    assert abs(mc - prob[0]) < 0.015, (mc, prob[0])


def test_hindsight_distribution_matches_monte_carlo():
    p, r = _random_mdp(3, 2, seed=5)
    pi = torch.tensor([[0.3, 0.7], [0.6, 0.4], [0.5, 0.5]], dtype=torch.float64)
    gamma = 0.6
    h = rl.hindsight_distribution(p, pi, gamma=gamma)
    torch.testing.assert_close(h.sum(1), torch.ones(3, 3, dtype=torch.float64))
    start = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    tr = rl.sample_trajectories(p, r, pi, start, n_episodes=40000, n_steps=15, generator=0)
    w = gamma ** torch.arange(15, dtype=torch.float64)  # weight of X_k, k = 1..15
    onehot = torch.eye(3, dtype=torch.float64)[tr.states[:, 1:]]  # (B, T, S)
    occ = torch.einsum("t,bts->bs", w, onehot)
    joint = torch.stack([occ[tr.actions[:, 0] == a].sum(0) for a in range(2)])  # (A, S)
    torch.testing.assert_close(joint / joint.sum(0), h[0], atol=0.015, rtol=0)


def test_exact_policy_gradient_matches_finite_differences():
    p, r = _random_mdp(3, 2, seed=6)
    start = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    theta = torch.randn(3, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g = rl.exact_policy_gradient(p, r, theta, start, gamma=0.9)
    fd = torch.zeros_like(theta)
    for i in range(3):
        for j in range(2):
            d = torch.zeros_like(theta)
            d[i, j] = 1e-6
            jp = start @ rl.policy_evaluation(p, r, torch.softmax(theta + d, -1), gamma=0.9)
            jm = start @ rl.policy_evaluation(p, r, torch.softmax(theta - d, -1), gamma=0.9)
            fd[i, j] = (jp - jm) / 2e-6
    torch.testing.assert_close(g, fd, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("estimator", ["reinforce", "state_hca"])
def test_policy_gradient_estimators_are_unbiased(estimator):
    p, r = _random_mdp(3, 2, seed=7)
    start = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    theta = torch.randn(3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    gamma = 0.5
    exact = rl.exact_policy_gradient(p, r, theta, start, gamma=gamma)
    g = rl.policy_gradient_samples(p, r, theta, start, gamma=gamma, estimator=estimator, n_episodes=10000,
                                   n_steps=14, reward_noise=0.3, generator=0)
    z = (g.mean(0) - exact) / (g.std(0) / 10000 ** 0.5).clamp_min(1e-12)
    assert z.abs().max() < 4.5, z


def test_hca_has_lower_variance_on_delayed_effect():
    m = rl.delayed_effect_mdp(6)
    theta = torch.zeros(m.n_states, 2, dtype=torch.float64)
    exact = rl.exact_policy_gradient(m.transitions, m.rewards, theta, m.start, gamma=0.95)
    mse = {}
    for est in ["reinforce", "state_hca"]:
        g = rl.policy_gradient_samples(m.transitions, m.rewards, theta, m.start, gamma=0.95, estimator=est,
                                       terminal=m.terminal, n_episodes=2000, n_steps=8, reward_noise=1.0,
                                       generator=0)
        mse[est] = ((g - exact) ** 2).sum((1, 2)).mean().item()
    assert mse["reinforce"] > 3 * mse["state_hca"], mse


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_outputs_follow_dtype(dtype):
    m = rl.chain_mdp(5, dtype=dtype)
    pi = torch.full((5, 2), 0.5, dtype=dtype)
    assert rl.policy_evaluation(m.transitions, m.rewards, pi, gamma=0.9).dtype == dtype
    assert rl.value_iteration(m.transitions, m.rewards, gamma=0.9, tol=1e-5).q.dtype == dtype
    assert rl.hindsight_distribution(m.transitions, pi, gamma=0.9).dtype == dtype
    assert rl.q_learning(m.transitions, m.rewards, torch.eye(5, dtype=dtype), gamma=0.5, n_steps=5,
                         generator=0).q.dtype == dtype


@pytest.mark.gpu
def test_core_path_on_gpu():
    m = rl.grid_mdp(goal=10, device="cuda")
    pi = torch.full((m.n_states, 4), 0.25, dtype=torch.float64, device="cuda")
    p_pi = torch.einsum("sa,sat->st", pi, m.transitions)
    m_sr = rl.successor_representation(p_pi, gamma=0.9)
    assert m_sr.device.type == "cuda"
    tr = rl.sample_trajectories(m.transitions, m.rewards, pi, m.start, terminal=m.terminal, n_episodes=8,
                                n_steps=20, generator=0)
    tr_cpu = rl.sample_trajectories(m.transitions.cpu(), m.rewards.cpu(), pi.cpu(), m.start.cpu(),
                                    terminal=m.terminal.cpu(), n_episodes=8, n_steps=20, generator=0)
    assert torch.equal(tr.states.cpu(), tr_cpu.states)
    res = rl.q_learning(m.transitions, m.rewards, torch.eye(m.n_states, dtype=torch.float64, device="cuda"),
                        gamma=0.9, mapping="log", terminal=m.terminal, n_steps=50, generator=0)
    assert res.q.device.type == "cuda" and torch.isfinite(res.q).all()
    g = rl.policy_gradient_samples(m.transitions, m.rewards, torch.zeros_like(pi), m.start, gamma=0.9,
                                   estimator="state_hca", terminal=m.terminal, n_episodes=4, n_steps=10,
                                   generator=0)
    assert g.device.type == "cuda"


_ROOM = ["#######", "#     #", "#     #", "#     #", "#     #", "#######"]


def test_one_successor_map_with_a_single_goal_is_q_learning():
    # psi(., ., goal) obeys the Q-learning recursion for the reward 1[s' = goal], and w is a common scale
    world = rl.grid_mdp(_ROOM)
    a = rl.goal_switching(world.transitions, [0], agent="q_learning", n_agents=4, n_steps=300, generator=3)
    b = rl.goal_switching(world.transitions, [0], agent="successor", n_agents=4, n_steps=300, generator=3)
    torch.testing.assert_close(a.reward, b.reward)
    assert a.goals_reached.sum() > 20


def test_inferred_maps_reuse_an_old_map_when_the_goal_returns():
    world = rl.grid_mdp(_ROOM)
    sched = [0, 19, 0]
    res = {ag: rl.goal_switching(world.transitions, sched, agent=ag, n_agents=8, n_steps=500, generator=0)
           for ag in ["successor", "inferred_maps"]}
    maps = res["inferred_maps"]
    # back at goal 0 the agent acts with map 0 again, as in the first task
    assert (maps.active_map[:, -250:] == 0).double().mean() > 0.9
    assert maps.goals_reached[:, 2].double().mean() > 1.3 * res["successor"].goals_reached[:, 2].double().mean()
    assert (maps.n_maps_used == 2).all()
