"""Benchmarks for the bandits chapter: vectorised replications against naive per-replication loops.

No peer bandit library is installed in this environment, so each case compares our tensor
implementation, which advances every replication at once, with a plain Python loop of the same
algorithm over replications and steps:
an adaptive Thompson-sampling experiment with recorded propensities, the adaptively weighted
AIPW estimate, batched successive elimination simulated pull by pull, and the recovering bandit
run one replication per call.
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch

from benchmarks.run import Case
from nips2019.bandits import arm_estimates, batched_elimination, recovering_bandit, run_adaptive_experiment


def _naive_thompson(means, n_steps, n_rep, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(n_rep):
        n, s = [0.0, 0.0], [0.0, 0.0]
        rows = []
        for _ in range(n_steps):
            v = [1 / (1 + n[k]) for k in range(2)]
            m = [s[k] * v[k] for k in range(2)]
            p0 = 0.5 * (1 + math.erf((m[0] - m[1]) / math.sqrt(2 * (v[0] + v[1]))))
            p0 = 0.01 + 0.98 * p0
            w = 0 if rng.random() < p0 else 1
            y = means[w] + rng.gauss(0, 1)
            n[w] += 1
            s[w] += y
            rows.append((w, y, p0))
        out.append(rows)
    return out


def _naive_aw_aipw(exp):
    arms, y, e = exp.arms.tolist(), exp.rewards.tolist(), exp.propensities.tolist()
    out = []
    for r in range(len(arms)):
        est = []
        for k in range(len(e[0][0])):
            n = s = 0.0
            num = den = 0.0
            for t in range(len(arms[r])):
                mu = s / n if n > 0 else 0.0
                g = mu + (arms[r][t] == k) / e[r][t][k] * (y[r][t] - mu)
                h = math.sqrt(e[r][t][k])
                num += h * g
                den += h
                if arms[r][t] == k:
                    n += 1
                    s += y[r][t]
            est.append(num / den)
        out.append(est)
    return out


def _naive_base(means, horizon, n_batches, n_rep, gamma=0.5, seed=0):
    from nips2019.bandits import batch_grid

    rng = np.random.default_rng(seed)
    ends = batch_grid(horizon, n_batches).tolist()
    k = len(means)
    regrets = []
    for _ in range(n_rep):
        active = list(range(k))
        n, s = [0] * k, [0.0] * k
        regret, start = 0.0, 0
        for m, end in enumerate(ends):
            for t in range(start, end):
                if m < n_batches - 1:
                    a = active[(t - start) % len(active)]
                else:
                    a = max(active, key=lambda j: s[j] / max(n[j], 1))
                n[a] += 1
                s[a] += means[a] + rng.standard_normal()
                regret += max(means) - means[a]
            if m < n_batches - 1:
                best = max(s[j] / n[j] for j in active)
                tau = min(n[j] for j in active)
                active = [j for j in active if best - s[j] / n[j] < math.sqrt(gamma * math.log(horizon * k) / tau)]
            start = end
        regrets.append(regret)
    return regrets


def cases(quick: bool) -> list:
    out = []
    d = torch.float64
    mu = torch.tensor([0.0, 0.3], dtype=d)
    for n_rep in ([100] if quick else [200, 2000]):
        out.append(Case(name=f"adaptive Thompson experiment, K = 2, T = 200, {n_rep} replications",
                        ours=lambda r=n_rep: run_adaptive_experiment(mu, 200, r, floor=0.01, generator=0,
                                                                     progress=False),
                        baselines={"Python loop over replications and steps":
                                   lambda r=n_rep: _naive_thompson([0.0, 0.3], 200, r)},
                        repeat=1 if n_rep > 1000 else 3, note="exact two-arm propensities, float64"))
    exp = run_adaptive_experiment(mu, 500, 100 if quick else 1000, floor=0.01, generator=0, progress=False)
    out.append(Case(name=f"AW-AIPW estimate, K = 2, T = 500, {exp.arms.shape[0]} replications",
                    ours=lambda: arm_estimates(exp, method="aw_aipw"),
                    baselines={"Python loop": lambda: _naive_aw_aipw(exp)},
                    repeat=1 if not quick else 3, note="same numbers to 1e-12 (tests/bandits)"))
    mu5 = torch.tensor([0.5, 0.45, 0.4, 0.3, 0.0], dtype=d)
    horizon = 10_000 if quick else 50_000
    out.append(Case(name=f"BaSE, K = 5, T = {horizon}, M = 4, 10 replications",
                    ours=lambda: batched_elimination(mu5, horizon, 4, 10, generator=0),
                    baselines={"pull-by-pull Python loop": lambda: _naive_base(mu5.tolist(), horizon, 4, 10)},
                    repeat=1, note="batch sums drawn as one Gaussian each"))
    z = torch.arange(1, 16, dtype=d)
    curves = torch.stack([0.15 + 0.37 * torch.sigmoid(z - 9), 0.1 + 0.9 * torch.sigmoid(z - 5),
                          0.03 + 0.38 * torch.sigmoid(z - 5)])
    n_rep = 8 if quick else 32
    out.append(Case(name=f"recovering bandit, 3-step UCB, T = 200, {n_rep} replications",
                    ours=lambda: recovering_bandit(curves, 200, n_rep, lookahead=3, generator=0, progress=False),
                    baselines={"one replication per call": lambda: [
                        recovering_bandit(curves, 200, 1, lookahead=3, generator=i, progress=False)
                        for i in range(n_rep)]},
                    repeat=1, note="GP posterior and K^d plan batched over replications"))
    return out
