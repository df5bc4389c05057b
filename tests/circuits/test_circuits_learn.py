"""EM, gradient training, structure learners and baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nips2019.circuits import (
    EMResult,
    chow_liu_circuit,
    chow_liu_tree,
    em_step,
    fit_em,
    fit_gradient,
    hclt,
    independent_circuit,
    load_binary_digits,
    mixture_circuit,
    random_region_circuit,
)


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    z = torch.rand(400, 1, generator=g) < 0.5
    noise = torch.rand(400, 10, generator=g)
    x = torch.where(z, noise < 0.8, noise < 0.2).double()
    return x


@pytest.mark.parametrize("builder", ["rat", "hclt", "mixture"])
def test_full_batch_em_never_decreases_training_likelihood(data, builder):
    if builder == "rat":
        c = random_region_circuit(10, depth=2, n_repetitions=2, n_sums=3, n_inputs=3, generator=0, dtype=torch.float64)
    elif builder == "hclt":
        c = hclt(data, n_latent=4, generator=1)
    else:
        c = mixture_circuit(data, 5, generator=1)
    lls = [em_step(c, data, pseudocount=0.0, chunk_size=150) for _ in range(12)]
    assert all(b >= a - 1e-9 for a, b in zip(lls, lls[1:])), lls
    assert lls[-1] > lls[0] + 0.1
    assert abs(c.log_partition().item()) < 1e-9  # EM keeps the circuit normalised


def test_em_matches_closed_form_for_factorised_model(data):
    c = mixture_circuit(data, 1, generator=0)
    em_step(c, data, pseudocount=0.0)
    torch.testing.assert_close(torch.sigmoid(c.bern_logits), data.mean(0)[c.var_bernoulli])


def test_em_gaussian_mixture_recovers_means():
    from nips2019.circuits import CircuitBuilder

    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(500, 1, generator=g) * 0.5 - 2, torch.randn(1500, 1, generator=g) + 3]).double()
    b = CircuitBuilder()
    c = b.build(b.sum([b.gaussian(0, -1.0, 1.0), b.gaussian(0, 1.0, 1.0)]), dtype=torch.float64)
    lls = [em_step(c, x) for _ in range(60)]
    assert all(b2 >= a - 1e-9 for a, b2 in zip(lls, lls[1:]))
    torch.testing.assert_close(c.gauss_mean.sort().values, torch.tensor([-2.0, 3.0], dtype=torch.float64), atol=0.15, rtol=0)
    torch.testing.assert_close(c._std().sort().values, torch.tensor([0.5, 1.0], dtype=torch.float64), atol=0.1, rtol=0)
    # the first child started at -1, so it takes the cluster at -2 (a quarter of the data)
    torch.testing.assert_close(c.log_weights.exp(), torch.tensor([0.25, 0.75], dtype=torch.float64), atol=0.03, rtol=0)


def test_minibatch_em_and_gradient_training_improve(data):
    c = hclt(data, n_latent=3, generator=0)
    before = c(data).mean().item()
    res = fit_em(c, data, n_epochs=3, batch_size=100, step_size=0.5, generator=0)
    assert isinstance(res, EMResult) and len(res.log_likelihoods) == 3
    assert c(data).mean().item() > before + 0.5
    d = random_region_circuit(10, depth=2, n_repetitions=2, n_sums=2, n_inputs=2, generator=0, dtype=torch.float64)
    hist = fit_gradient(d, data, n_epochs=15, lr=0.05, batch_size=100, generator=0).log_likelihoods
    assert hist[-1] > hist[0] + 0.5
    torch.testing.assert_close(d.log_likelihood(data).mean().item(), hist[-1], atol=0.3, rtol=0)


def test_gradient_of_forward_matches_finite_differences():
    c = random_region_circuit(6, depth=1, n_repetitions=2, n_sums=2, n_inputs=2, generator=0, dtype=torch.float64)
    x = (torch.rand(5, 6, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    x[0, 2] = math.nan

    def f(lw, bl):
        return torch.func.functional_call(c, {"log_weights": lw, "bern_logits": bl}, (x,))

    lw = c.log_weights.detach().clone().requires_grad_(True)
    bl = c.bern_logits.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (lw, bl))


def test_chow_liu_tree_recovers_a_chain():
    g = torch.Generator().manual_seed(0)
    n, V = 4000, 6
    x = torch.zeros(n, V)
    x[:, 0] = (torch.rand(n, generator=g) < 0.5).float()
    for v in range(1, V):
        flip = torch.rand(n, generator=g) < 0.1
        x[:, v] = torch.where(flip, 1 - x[:, v - 1], x[:, v - 1])
    assert chow_liu_tree(x) == [-1, 0, 1, 2, 3, 4]


def test_chow_liu_circuit_matches_direct_tree_likelihood(data):
    c = chow_liu_circuit(data, pseudocount=1.0)
    parent = chow_liu_tree(data, pseudocount=1.0)
    xi = data.numpy().astype(int)
    ref = np.zeros(len(xi))
    for v, p in enumerate(parent):
        if p < 0:
            cnt = np.bincount(xi[:, v], minlength=2) + 1.0
            ref += np.log(cnt[xi[:, v]] / cnt.sum())
        else:
            for a in range(2):
                cnt = np.bincount(xi[xi[:, p] == a, v], minlength=2) + 1.0
                sel = xi[:, p] == a
                ref[sel] += np.log(cnt[xi[sel, v]] / cnt.sum())
    torch.testing.assert_close(c(data).detach(), torch.tensor(ref))
    assert c(data).mean() > independent_circuit(data)(data).mean() + 0.5


def test_binary_digits_split():
    tr, te = load_binary_digits()
    assert tr.shape == (1437, 64) and te.shape == (360, 64)
    assert set(tr.unique().tolist()) == {0.0, 1.0}


def test_learning_bad_inputs(data):
    c = mixture_circuit(data, 2, generator=0)
    with pytest.raises(ValueError, match="pseudocount must be a real number >= 0"):
        em_step(c, data, pseudocount=-1.0)
    with pytest.raises(ValueError, match="must be complete"):
        em_step(c, torch.full_like(data, math.nan))
    with pytest.raises(ValueError, match="step_size"):
        fit_em(c, data, step_size=0.0)
    with pytest.raises(ValueError, match="non-negative integer"):
        hclt(data + 0.5)
    with pytest.raises(ValueError, match="n_latent must be"):
        hclt(data, n_latent=0)
    with pytest.raises(ValueError, match="n_components must be"):
        mixture_circuit(data, 0)
    with pytest.raises(ValueError, match=r"depth must satisfy 2\*\*depth <= n_vars"):
        random_region_circuit(4, depth=3)


def test_mixture_of_and_hclt_ensemble(data):
    from nips2019.circuits import hclt_ensemble, mixture_of

    a, b = independent_circuit(data), chow_liu_circuit(data)
    m = mixture_of([a, b], weights=[0.25, 0.75])
    ref = torch.logaddexp(a(data) + math.log(0.25), b(data) + math.log(0.75))
    torch.testing.assert_close(m(data), ref)
    e = hclt_ensemble(data, n_members=2, n_latent=2, n_epochs=2, generator=0)
    assert abs(e.log_partition().item()) < 1e-9
    with pytest.raises(ValueError, match="share n_vars"):
        mixture_of([a, independent_circuit(data[:, :5])])
    with pytest.raises(ValueError, match="circuits must have at least 1 item"):
        mixture_of([])
    with pytest.raises(ValueError, match="n_members must be"):
        hclt_ensemble(data, n_members=0)


def test_em_keeps_nodes_without_flow_finite():
    # a Chow-Liu circuit on data where X0 is always 0: the sums under X0 = 1 get no flow
    x = (torch.rand(50, 3, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    x[:, 0] = 0.0
    c = chow_liu_circuit(x)
    before = c.log_weights.detach().clone()
    for _ in range(3):
        em_step(c, x, pseudocount=0.0, leaf_pseudocount=0.0)
    # the root's weight of X0 = 1 is 0 (log -inf, the MLE); the sums below it keep their weights (no 0 / 0)
    assert not torch.isnan(c.log_weights).any() and torch.isfinite(c(x)).all()
    assert abs(c.log_partition().item()) < 1e-9
    assert (c.log_weights != before).any()


def test_chow_liu_tree_without_smoothing():
    x = torch.zeros(200, 4)
    x[:100, 0] = 1
    x[:, 1] = x[:, 0]
    x[50:150, 2] = 1  # X3 is constant: a zero-probability state, 0 log 0 = 0
    parent = chow_liu_tree(x, pseudocount=0.0)
    assert parent[:2] == [-1, 0] and len(parent) == 4
    with pytest.raises(ValueError, match="chow_liu_circuit: pseudocount must be a real number > 0"):
        chow_liu_circuit(x, pseudocount=0.0)
    for build in (chow_liu_tree, chow_liu_circuit, hclt, independent_circuit):
        with pytest.raises(ValueError, match="pseudocount must be a real number >= 0|pseudocount must be a real number > 0"):
            build(x, pseudocount=-1.0)


def test_fit_em_generator_rule(data):
    a, b = (hclt(data, n_latent=2, generator=0) for _ in range(2))
    ra = fit_em(a, data, n_epochs=2, batch_size=64, generator=5)
    rb = fit_em(b, data, n_epochs=2, batch_size=64, generator=torch.Generator().manual_seed(5))
    assert ra.log_likelihoods == rb.log_likelihoods
    torch.testing.assert_close(a.log_weights, b.log_weights)
