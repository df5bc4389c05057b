"""Batched successive elimination, UCB and recovering bandits against closed forms and naive loops."""

import itertools
import math

import pytest
import torch

from nips2019.bandits import batch_grid, batched_elimination, recovering_bandit, ucb_regret
from nips2019.bandits._recovering import _gp_posterior, _plan, _rbf
from nips2019.utils import as_generator

D = torch.float64


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_grids_follow_their_recursions(m):
    t = 10**6
    a = t ** (1 / (2 - 2 ** (1 - m)))
    u = [a]
    for _ in range(m - 1):
        u.append(a * math.sqrt(u[-1]))
    assert batch_grid(t, m).tolist() == [math.floor(x + 1e-9) for x in u[:-1]] + [t]
    b = t ** (1 / m)
    assert batch_grid(t, m, kind="geometric").tolist() == [math.floor(b ** (i + 1) + 1e-9) for i in range(m - 1)] + [t]
    assert batch_grid(t, m, kind="arithmetic").tolist() == [(i + 1) * t // m for i in range(m)]


def test_grid_strictly_increasing_when_tight():
    g = batch_grid(6, 6, kind="geometric")
    assert g.tolist() == [1, 2, 3, 4, 5, 6]


def test_two_batches_two_arms_closed_form():
    # K = 2, M = 2: explore t1/2 pulls each, then commit to the better sample mean (elimination or not).
    mu, t, r = torch.tensor([0.2, 0.0], dtype=D), 5000, 20_000
    res = batched_elimination(mu, t, 2, r, grid="minimax", generator=0)
    t1 = int(res.grid[0])
    tau = t1 // 2
    delta = 0.2
    expected = delta * tau + delta * (t - t1) * float(torch.special.ndtr(torch.tensor(-delta * math.sqrt(tau / 2))))
    se = float(res.regret.std()) / math.sqrt(r)
    assert abs(float(res.regret.mean()) - expected) < 4 * se + 1e-9, (float(res.regret.mean()), expected, se)


def test_noise_free_elimination_by_hand():
    mu = torch.tensor([1.0, 0.9, 0.0], dtype=D)
    t, m, gamma = 1000, 3, 0.5
    res = batched_elimination(mu, t, m, 3, grid="arithmetic", gamma=gamma, noise_std=0.0, generator=0)
    # batch 1: 333 steps -> 111 pulls each; threshold sqrt(0.5 log(3000)/111) = 0.190: arm 2 (gap 1) goes
    thr = math.sqrt(gamma * math.log(t * 3) / 111)
    assert 0.1 < thr < 1.0
    # batch 2: 333 steps over 2 arms (167, 166); tau = 277, threshold 0.12 > 0.1: arm 1 survives
    # batch 3: 334 pulls of the best arm
    torch.testing.assert_close(res.pulls[0], torch.tensor([111 + 167 + 334, 111 + 166, 111], dtype=D))
    torch.testing.assert_close(res.regret, torch.full((3,), 0.1 * 277 + 1.0 * 111, dtype=D))
    assert res.n_active[0].tolist() == [3, 2, 2]


def test_minimax_regret_order_with_two_batches():
    # worst-case gaps ~ T^(-1/3): the regret of M = 2 grows like T^(2/3)
    out = []
    for t in (10**4, 10**6):
        mu = torch.tensor([t ** (-1 / 3), 0.0], dtype=D)
        out.append(float(batched_elimination(mu, t, 2, 4000, generator=1).regret.mean()) / t ** (2 / 3))
    assert 0.7 < out[1] / out[0] < 1.4, out


def test_more_batches_help_then_saturate():
    mu = torch.tensor([0.5, 0.45, 0.4, 0.3, 0.0], dtype=D)
    reg = [float(batched_elimination(mu, 50_000, m, 400, generator=2).regret.mean()) for m in (2, 3, 6)]
    assert reg[1] < 0.8 * reg[0] and reg[2] < reg[1], reg


def _naive_ucb(mu, t, r, noise_std, generator):
    noise = torch.randn(r, t, generator=as_generator(generator), dtype=D) * noise_std
    pulls = torch.zeros(r, len(mu), dtype=D)
    for i in range(r):
        n = [1.0] * len(mu)
        s = [float(mu[k] + noise[i, k]) for k in range(len(mu))]
        for step in range(len(mu), t):
            idx = [s[k] / n[k] + noise_std * math.sqrt(2 * math.log(step) / n[k]) for k in range(len(mu))]
            w = max(range(len(mu)), key=lambda k: (idx[k], -k))
            n[w] += 1
            s[w] += float(mu[w] + noise[i, step])
        pulls[i] = torch.tensor(n, dtype=D)
    return pulls


def test_ucb_against_naive_loop():
    mu = torch.tensor([0.3, 0.0, 0.2], dtype=D)
    res = ucb_regret(mu, 300, 3, noise_std=0.5, generator=4, progress=False)
    torch.testing.assert_close(res.pulls, _naive_ucb(mu, 300, 3, 0.5, 4))
    torch.testing.assert_close(res.regret, res.pulls @ (0.3 - mu))


def test_ucb_regret_grows_logarithmically():
    mu = torch.tensor([0.5, 0.0], dtype=D)
    r1 = float(ucb_regret(mu, 500, 200, generator=5, progress=False).regret.mean())
    r2 = float(ucb_regret(mu, 4000, 200, generator=5, progress=False).regret.mean())
    assert r2 / r1 < 2.0, (r1, r2)  # linear growth would give 8


def test_gp_posterior_matches_direct_regression():
    z = torch.arange(1, 9, dtype=D)
    kzz = _rbf(z, 2.0, 1.5)
    g = torch.Generator().manual_seed(0)
    obs_z = torch.tensor([1, 1, 3, 8, 8, 8])
    y = torch.randn(6, generator=g, dtype=D)
    counts = torch.zeros(8, dtype=D).index_add_(0, obs_z - 1, torch.ones(6, dtype=D))
    sums = torch.zeros(8, dtype=D).index_add_(0, obs_z - 1, y)
    mean, sd = _gp_posterior(kzz, counts, sums, 0.3, 0.2)
    kxx = kzz[obs_z - 1][:, obs_z - 1] + 0.09 * torch.eye(6, dtype=D)
    kzx = kzz[:, obs_z - 1]
    ref_mean = 0.2 + kzx @ torch.linalg.solve(kxx, y - 0.2)
    ref_var = kzz.diagonal() - (kzx * torch.linalg.solve(kxx, kzx.T).T).sum(1)
    torch.testing.assert_close(mean, ref_mean)
    torch.testing.assert_close(sd, ref_var.sqrt())


def test_plan_against_brute_force():
    g = torch.Generator().manual_seed(1)
    values = torch.rand(2, 3, 5, generator=g, dtype=D)
    z = torch.tensor([[5, 1, 3], [2, 4, 5]])
    seqs = torch.tensor(list(itertools.product(range(3), repeat=3)))
    best = _plan(values, z, seqs, 5)
    for r in range(2):
        def score(seq):
            zz, tot = z[r].tolist(), 0.0
            for a in seq:
                tot += float(values[r, a, zz[a] - 1])
                zz = [min(x + 1, 5) for x in zz]
                zz[a] = 1
            return tot
        top = max(itertools.product(range(3), repeat=3), key=score)
        assert score(best[r].tolist()) == pytest.approx(score(top))


def _curves():
    z = torch.arange(1, 16, dtype=D)
    sig = torch.sigmoid
    return torch.stack([0.15 + 0.37 * sig(z - 9), 0.1 + 0.9 * sig(z - 5), 0.03 + 0.38 * sig(z - 5)])


def test_greedy_oracle_against_naive_loop():
    curves, t = _curves(), 60
    res = recovering_bandit(curves, t, 1, policy="oracle", lookahead=1, generator=0, progress=False)
    zz, tot = [15, 15, 15], 0.0
    for step in range(t):
        a = max(range(3), key=lambda k: (float(curves[k, zz[k] - 1]), -k))
        assert int(res.arms[0, step]) == a
        tot += float(curves[a, zz[a] - 1])
        zz = [min(x + 1, 15) for x in zz]
        zz[a] = 1
    assert float(res.total[0]) == pytest.approx(tot)


def test_lookahead_beats_greedy_and_learning_approaches_oracle():
    curves = _curves()
    greedy = float(recovering_bandit(curves, 150, 1, policy="oracle", lookahead=1, progress=False).total[0])
    look = float(recovering_bandit(curves, 150, 1, policy="oracle", lookahead=3, progress=False).total[0])
    ucb = recovering_bandit(curves, 150, 8, policy="ucb", lookahead=3, generator=0, progress=False).total
    assert look > 1.2 * greedy, (greedy, look)
    assert float(ucb.mean()) > greedy, (float(ucb.mean()), greedy)


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_batches must be <= horizon"):
        batch_grid(3, 4)
    with pytest.raises(ValueError, match="lookahead"):
        recovering_bandit(_curves(), 5, 1, lookahead=0)
    with pytest.raises(ValueError, match="horizon must be >= K"):
        ucb_regret(torch.zeros(5, dtype=D), 3, 1)


@pytest.mark.gpu
def test_gpu_core_path():
    mu = torch.tensor([0.5, 0.3, 0.0], dtype=D)
    a = batched_elimination(mu, 10_000, 3, 50, generator=0)
    b = batched_elimination(mu.cuda(), 10_000, 3, 50, generator=0)
    torch.testing.assert_close(b.regret.cpu(), a.regret)
    u = ucb_regret(mu.cuda(), 200, 8, generator=0, progress=False)
    assert u.regret.device.type == "cuda"
    r = recovering_bandit(_curves().cuda(), 20, 4, policy="thompson", lookahead=2, generator=0, progress=False)
    assert r.total.device.type == "cuda" and bool(torch.isfinite(r.total).all())
