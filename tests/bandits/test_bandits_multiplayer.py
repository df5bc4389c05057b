"""Multi-player bandits: SIC-MMAB (simplified) against its own accounting, naive loops and regret orders."""

import math

import pytest
import torch

from nips2019.bandits import centralized_ucb, independent_ucb_players, sic_mmab

D = torch.float64
MU = torch.tensor([0.9, 0.8, 0.7, 0.4, 0.3, 0.2], dtype=D)


def test_single_player_single_arm_pays_only_the_charged_start():
    # musical chairs costs nothing (no collision); the 2K = 2 rank-estimation steps are charged in full
    res = sic_mmab(torch.tensor([0.5], dtype=D), 1, 1000, 4, generator=0)
    torch.testing.assert_close(res.regret, torch.full((4,), 2 * 0.5, dtype=D))
    assert res.accepted.all()


def test_sic_finds_the_top_arms_and_regret_grows_like_log_t():
    small = sic_mmab(MU, 3, 20_000, 200, generator=0)
    large = sic_mmab(MU, 3, 2_000_000, 200, generator=0)
    assert bool(large.accepted[:, :3].all()) and int(large.accepted.sum()) == 600
    ratio = float(large.regret.mean() / small.regret.mean())
    # log(2e6) / log(2e4) = 1.47; a regret linear in T would grow 100 times
    assert 1.0 < ratio < 1.6, ratio


def test_sic_regret_accounting():
    # M = K: every arm is accepted after the first phase; the regret is the start plus a
    # first exploration phase in which all arms are pulled collision-free (zero regret)
    mu = torch.tensor([0.9, 0.5], dtype=D)
    res = sic_mmab(mu, 2, 10_000, 5, generator=1)
    assert bool(res.accepted.all())
    t0 = math.ceil(2 * math.log(10_000))
    steps = res.init_steps - 4  # musical chairs steps (>= t0)
    assert bool((steps >= t0).all())
    # rank estimation (2K = 4 steps) is charged in full, musical chairs by its real collisions
    assert bool((res.regret >= 4 * 1.4 - 1e-9).all())
    # one communication round: M (M - 1) K (p + 1) = 2 * 1 * 2 * 2 steps, then both arms are accepted
    assert bool((res.comm_steps == 2 * 1 * 2 * 2).all())
    # exploration with M = K is collision-free and loses nothing: start + charged communication only
    assert bool((res.regret <= 4 * 1.4 + 8 * 1.4 + 1.4 * 2 * (steps - t0 + t0)).all())


def _naive_centralised(mu, m, t, generator):
    g = torch.Generator().manual_seed(generator)
    k = len(mu)
    n, s, regret = [0.0] * k, [0.0] * k, 0.0
    top = float(mu.sort(descending=True).values[:m].sum())
    for step in range(t):
        u = torch.rand(1, m, generator=g, dtype=D)[0]
        idx = [s[j] / n[j] + math.sqrt(2 * math.log(step + 1) / n[j]) if n[j] > 0 else math.inf for j in range(k)]
        arms = torch.tensor(idx, dtype=D).topk(m).indices.tolist()
        regret += top - sum(float(mu[a]) for a in arms)
        for i, a in enumerate(arms):
            n[a] += 1
            s[a] += float(u[i] < mu[a])
    return regret


def test_centralised_against_naive_loop():
    res = centralized_ucb(MU, 2, 150, 1, generator=3, progress=False)
    assert float(res.regret[0]) == pytest.approx(_naive_centralised(MU, 2, 150, 3))
    assert float(res.collisions[0]) == 0


def test_sic_beats_uncoordinated_random_play_and_trails_centralised():
    t = 50_000
    sic = float(sic_mmab(MU, 3, t, 100, generator=0).regret.mean())
    # uniformly random arms: expected reward per step M * P(alone) * mean(mu)
    p_alone = (1 - 1 / 6) ** 2
    random_regret = t * (float(MU[:3].sum()) - 3 * p_alone * float(MU.mean()))
    assert sic < random_regret / 5, (sic, random_regret)
    t = 3000
    cen = float(centralized_ucb(MU, 3, t, 20, generator=0, progress=False).regret.mean())
    assert cen < float(sic_mmab(MU, 3, t, 100, generator=0).regret.mean()), cen


def test_independent_players_collide():
    res = independent_ucb_players(MU, 3, 300, 8, generator=0, progress=False)
    assert bool((res.collisions > 0).all())
    assert bool((res.regret > 0).all())


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_players must be <= K"):
        sic_mmab(MU, 7, 100, 1)
    with pytest.raises(ValueError, match="means"):
        centralized_ucb(MU + 1, 2, 100, 1)


@pytest.mark.gpu
def test_gpu_core_path():
    a = sic_mmab(MU, 3, 50_000, 20, generator=0)
    b = sic_mmab(MU.cuda(), 3, 50_000, 20, generator=0)
    assert b.regret.device.type == "cuda"
    torch.testing.assert_close(b.regret.cpu(), a.regret)
    c = independent_ucb_players(MU.cuda(), 3, 100, 4, generator=0, progress=False)
    assert c.regret.device.type == "cuda"
