"""Reference tests for the graph Hawkes model: naive loops, quadrature of the compensator, counts, ranking."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from nips2019.pointprocess import (
    GraphHawkes,
    TemporalKG,
    fit_graph_hawkes,
    frequency_scores,
    graph_hawkes_intensity,
    make_temporal_kg,
    ranking_metrics,
)

F64 = torch.float64


@pytest.fixture(scope="module")
def small():
    return make_temporal_kg(4, 2, 12.0, rate=0.3, n_preferred=2, repeat=0.4, reciprocal=0.3, generator=3)


def _model(small, seed=0):
    m = GraphHawkes(4, 2, dim=3, generator=seed)
    with torch.no_grad():
        m.raw_repeat.copy_(torch.tensor([0.3, -0.5], dtype=F64))
        m.raw_reciprocal.copy_(torch.tensor([-0.2, 0.4], dtype=F64))
        m.raw_decay.copy_(torch.tensor(0.8, dtype=F64))
        m.bias.fill_(-1.5)
    return m


def _naive_lambda(g, base, a, c, beta, s, r, o, t):
    """Brute force over every past fact (NumPy masks, no grouping of facts by triple)."""
    tk, sk, rk, ok = g.times.numpy(), g.subjects.numpy(), g.relations.numpy(), g.objects.numpy()
    kern = np.where(tk < t, beta * np.exp(-beta * np.clip(t - tk, 0, None)), 0.0) * (rk == r)
    return base[s, r, o] + a[r] * kern[(sk == s) & (ok == o)].sum() + c[r] * kern[(sk == o) & (ok == s)].sum()


def test_log_likelihood_matches_naive_loop_and_quadrature(small):
    g = small.graph
    assert 10 < len(g.times) < 80, len(g.times)
    m = _model(small)
    a, c, beta = (v.detach() for v in m.excitation_parameters())
    a, c, beta = a.tolist(), c.tolist(), float(beta)
    base = m.base_rates().detach().numpy()
    ll = sum(math.log(_naive_lambda(g, base, a, c, beta, s, r, o, t)) for s, r, o, t in
             zip(g.subjects.tolist(), g.relations.tolist(), g.objects.tolist(), g.times.tolist()))
    triples = [(s, r, o) for s in range(4) for r in range(2) for o in range(4) if s != o]

    def total(t):
        return sum(_naive_lambda(g, base, a, c, beta, s, r, o, t) for s, r, o in triples)

    knots = np.concatenate([[0.0], g.times.numpy(), [g.t_max]])
    comp = sum(integrate.quad(total, lo, hi, epsabs=1e-11)[0] for lo, hi in zip(knots[:-1], knots[1:]) if hi > lo)
    assert float(m.log_likelihood(g).detach()) == pytest.approx(ll - comp, rel=1e-9)


def test_model_intensity_matches_the_oracle_form_and_naive_loop(small):
    g = small.graph
    m = _model(small)
    q = torch.tensor([3.0, 7.3, 11.9], dtype=F64)
    subj, rel = torch.tensor([0, 2, 1]), torch.tensor([1, 0, 1])
    lam = m.intensity(g, q, subj, rel).detach()
    a, c, beta = (v.detach() for v in m.excitation_parameters())
    base = m.base_rates().detach()
    for r in range(2):  # the oracle with the model's parameters, one relation at a time
        sel = rel == r
        ref = graph_hawkes_intensity(g, base, float(a[r]), float(c[r]), float(beta), q[sel], subj[sel], rel[sel])
        torch.testing.assert_close(lam[sel], ref)
    for j in range(3):
        for o in range(4):
            ref = _naive_lambda(g, base.numpy(), a.tolist(), c.tolist(), float(beta), int(subj[j]), int(rel[j]), o,
                                float(q[j]))
            assert lam[j, o].item() == pytest.approx(ref, rel=1e-12)


def test_generator_counts_match_the_branching_formula():
    """E N(T) ~ T sum(mu) / (1 - a - c) for a stationary process (a transient of ~1/beta at the start)."""
    counts, mus = [], []
    for s in range(30):
        d = make_temporal_kg(5, 1, 200.0, rate=0.2, repeat=0.3, reciprocal=0.3, decay=2.0, generator=s)
        counts.append(len(d.graph.times))
        mus.append(float(d.base.sum()))
    expected = 200.0 * np.mean(mus) / (1 - 0.6)
    se = np.std(counts, ddof=1) / math.sqrt(len(counts))
    assert abs(np.mean(counts) - expected) < 4 * se + 2.0, (np.mean(counts), expected, se)
    d = make_temporal_kg(5, 1, 50.0, generator=0)
    assert bool((d.graph.subjects != d.graph.objects).all())
    assert float(d.base[torch.arange(5), :, torch.arange(5)].abs().sum()) == 0.0


def test_frequency_and_ranking_match_naive_loops(small):
    g = small.graph
    q, subj, rel = g.times[-5:], g.subjects[-5:], g.relations[-5:]
    f = frequency_scores(g, q, subj, rel)
    for j in range(5):
        for o in range(4):
            n = sum(1 for k in range(len(g.times)) if g.times[k] < q[j] and g.subjects[k] == subj[j]
                    and g.relations[k] == rel[j] and g.objects[k] == o)
            assert f[j, o].item() == n
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (50, 7), generator=gen).double()
    tgt = torch.randint(0, 7, (50,), generator=gen)
    res = ranking_metrics(scores, tgt, ks=(1, 3))
    ranks = []
    for row, t in zip(scores.tolist(), tgt.tolist()):
        better = sum(v > row[t] for v in row)
        ties = sum(v == row[t] for i, v in enumerate(row) if i != t)
        ranks.append(1 + better + ties / 2)
    assert res.ranks.tolist() == ranks
    assert res.mrr == pytest.approx(np.mean(1 / np.array(ranks)))
    assert res.hits[3] == pytest.approx(np.mean(np.array(ranks) <= 3))


@pytest.mark.slow
def test_fit_recovers_excitation_and_beats_frequency():
    data = make_temporal_kg(12, 1, 300.0, rate=0.08, repeat=0.45, reciprocal=0.35, decay=1.0, generator=1)
    g = data.graph
    train, test = g.window(0.0, 240.0), g.window(240.0, g.t_max)
    fit = fit_graph_hawkes(train, dim=6, n_steps=250, lr=0.05, generator=0)
    a, c, beta = (v.detach() for v in fit.model.excitation_parameters())
    assert abs(float(a[0]) - 0.45) < 0.12 and abs(float(c[0]) - 0.35) < 0.12 and abs(float(beta) - 1.0) < 0.3
    q = (test.times, test.subjects, test.relations)
    with torch.no_grad():
        ours = ranking_metrics(fit.model.intensity(g, *q), test.objects).mrr
    freq = ranking_metrics(frequency_scores(g, *q), test.objects).mrr
    assert ours > freq + 0.05, (ours, freq)


def test_bad_inputs(small):
    g = small.graph
    with pytest.raises(ValueError, match="explosive"):
        make_temporal_kg(4, 1, 10.0, repeat=0.6, reciprocal=0.5)
    with pytest.raises(ValueError, match="sorted"):
        TemporalKG(g.subjects, g.relations, g.objects, g.times.flip(0), 4, 2, g.t_max)
    with pytest.raises(ValueError, match="subjects must be < n_entities"):
        frequency_scores(g, g.times[:1], torch.tensor([9]), torch.tensor([0]))
    with pytest.raises(ValueError, match="base must have shape"):
        graph_hawkes_intensity(g, torch.zeros(3, 2, 3, dtype=F64), 0.1, 0.1, 1.0, g.times[:1], g.subjects[:1],
                               g.relations[:1])


@pytest.mark.gpu
def test_gpu_core_path(small):
    g = small.graph
    gc = TemporalKG(g.subjects.cuda(), g.relations.cuda(), g.objects.cuda(), g.times.cuda(), 4, 2, g.t_max)
    fit = fit_graph_hawkes(gc, dim=3, n_steps=5, generator=0)
    assert next(fit.model.parameters()).device.type == "cuda"
    m = _model(small)
    torch.testing.assert_close(m.cuda().log_likelihood(gc).cpu(), _model(small).log_likelihood(g))
