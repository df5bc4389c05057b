"""Hashing a stochastic classifier (Cotter et al. 2019) and the gradient-reversal fair representation."""

import numpy as np
import pytest
import torch
from scipy import stats

from nips2019.fairness import (
    derandomization_bound,
    derandomize,
    fit_fair_representation,
    grad_reverse,
    hash_uniform,
    make_credit_data,
)
from nips2019.fairness._derandomize import _fingerprint
from nips2019.utils import numpy_rng


def _x(n=50, d=3, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_hash_is_a_function_of_the_row_only():
    x = _x()
    h = hash_uniform(x, generator=4)
    assert torch.equal(h, hash_uniform(x, generator=4))  # same hash function: same values
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    assert torch.equal(hash_uniform(x[perm], generator=4), h[perm])  # row order does not matter
    assert torch.equal(hash_uniform(x.float().double(), generator=4)[:0], h[:0])
    assert bool(((h >= 0) & (h < 1)).all())
    assert not torch.equal(h, hash_uniform(x, generator=5))  # another seed, another function
    # -0.0 and 0.0 are the same input
    z = torch.tensor([[0.0, 1.0], [-0.0, 1.0]], dtype=torch.float64)
    hz = hash_uniform(z, generator=0)
    assert hz[0] == hz[1]


def test_hash_equals_a_naive_bitwise_evaluation():
    x = _x(6)
    n_bits = 20
    h = hash_uniform(x, n_bits=n_bits, generator=7)
    rng = numpy_rng(7)  # the same draws, in the same order, as the implementation documents
    a = rng.integers(0, 2, size=(64, n_bits))
    c = rng.integers(0, 2, size=n_bits)
    for i, key in enumerate(_fingerprint(x).tolist()):
        bits = [(key >> k) & 1 for k in range(64)]
        out = [(sum(bits[k] * int(a[k, j]) for k in range(64)) + int(c[j])) % 2 for j in range(n_bits)]
        naive = sum(b * 2.0 ** -(j + 1) for j, b in enumerate(out))
        assert h[i].item() == naive


def test_hash_values_are_uniform_and_pairwise_independent_over_hash_functions():
    x = _x(2)
    draws = np.array([hash_uniform(x, generator=s).numpy() for s in range(3000)])
    for j in range(2):  # each value uniform on [0, 1)
        assert stats.kstest(draws[:, j], "uniform").pvalue > 1e-3
    # the pair of indicators [h < p] is a product of Bernoullis: chi-square on the 2x2 table
    p1, p2 = 0.3, 0.6
    a, b = draws[:, 0] < p1, draws[:, 1] < p2
    observed = np.array([(a & b).sum(), (a & ~b).sum(), (~a & b).sum(), (~a & ~b).sum()])
    expected = 3000 * np.array([p1 * p2, p1 * (1 - p2), (1 - p1) * p2, (1 - p1) * (1 - p2)])
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_hashed_rate_has_the_stochastic_mean_and_binomial_variance():
    m = 400
    x = _x(m, seed=2)
    prob = torch.rand(m, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    rates = np.array([derandomize(prob, x, generator=s).double().mean().item() for s in range(600)])
    target_var = float((prob * (1 - prob)).sum()) / m**2  # what independent coins would give
    assert abs(rates.mean() - prob.mean().item()) < 4 * np.sqrt(target_var / 600)
    ratio = rates.var(ddof=1) / target_var
    assert 0.75 < ratio < 1.3, ratio  # pairwise independence: the variance of independent coins
    bound = derandomization_bound(m, 0.05)
    assert np.mean(np.abs(rates - prob.mean().item()) > bound) <= 0.05


def test_derandomize_is_deterministic_and_exact_at_0_and_1():
    x = _x(100)
    prob = torch.cat([torch.zeros(50, dtype=torch.float64), torch.ones(50, dtype=torch.float64)])
    y = derandomize(prob, x, generator=0)
    assert torch.equal(y, torch.cat([torch.zeros(50), torch.ones(50)]).long())
    assert y.dtype == torch.int64
    p = torch.full((100,), 0.4, dtype=torch.float32)
    assert torch.equal(derandomize(p, x, generator=1), derandomize(p, x, generator=1))


def test_bound_formula():
    assert derandomization_bound(100, 0.25, n_bits=52) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="delta"):
        derandomization_bound(10, 1.0)


def test_gradient_reversal_flips_and_scales_the_true_gradient():
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    scale = 0.7

    def f(v):
        return torch.sin(grad_reverse(v, scale)) * v

    jac = torch.autograd.functional.jacobian(f, x)
    # finite differences of the forward pass see the identity, not the reversal
    eps = 1e-6
    fd = torch.stack([(f(x.detach() + eps * e) - f(x.detach() - eps * e)) / (2 * eps)
                      for e in torch.eye(5, dtype=torch.float64)], dim=1)
    v = x.detach()
    # d/dv [sin(r(v)) v] = cos(v) v (through r, reversed: * -scale) + sin(v)
    expected = torch.diag(-scale * torch.cos(v) * v + torch.sin(v))
    assert torch.allclose(jac, expected, atol=1e-12)
    assert torch.allclose(fd, torch.diag(torch.cos(v) * v + torch.sin(v)), atol=1e-8)
    # two reversals with reciprocal scales give back the true gradient: gradcheck passes
    assert torch.autograd.gradcheck(lambda v: torch.sin(grad_reverse(grad_reverse(v, 2.0), 0.5)) * v, (x,))
    assert torch.equal(grad_reverse(x, scale), x)  # forward: identity


def test_fair_representation_removes_group_information():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    tr = make_credit_data(1500, n_proxy=2, proxy_shift=2.0, generator=0)
    te = make_credit_data(1500, n_proxy=2, proxy_shift=2.0, generator=1)
    aucs, accs = [], []
    for lam in (0.0, 1.0):
        res = fit_fair_representation(tr.x, tr.y, tr.group, adversary_weight=lam, n_epochs=200, generator=0,
                                      progress=False)
        probe = LogisticRegression(max_iter=500).fit(res.transform(tr.x).numpy(), tr.group.numpy())
        aucs.append(roc_auc_score(te.group.numpy(), probe.predict_proba(res.transform(te.x).numpy())[:, 1]))
        accs.append(((res.predict_proba(te.x) >= 0.5).long() == te.y).double().mean().item())
        assert res.loss_history.shape == (200, 2)
    assert aucs[0] > 0.8, aucs  # the proxies make the plain representation leak the group
    assert aucs[1] < 0.7 and aucs[1] < aucs[0] - 0.2, aucs
    assert accs[1] > accs[0] - 0.05, accs


def test_credit_data_proxies_carry_the_group_only():
    base = make_credit_data(4000, generator=3)
    prox = make_credit_data(4000, n_proxy=2, proxy_shift=2.0, generator=3)
    assert prox.x.shape == (4000, 5)
    assert torch.equal(prox.x[:, :3], base.x) and torch.equal(prox.score, base.score)
    p = prox.x[:, 3:]
    diff = p[prox.group == 1].mean(0) - p[prox.group == 0].mean(0)
    assert torch.allclose(diff, torch.full((2,), 2.0, dtype=torch.float64), atol=0.15)
    # given the group, proxies are independent of y
    m = prox.group == 0
    r = np.corrcoef(p[m, 0].numpy(), prox.y[m].double().numpy())[0, 1]
    assert abs(r) < 0.06


def _on(device):
    x = _x(200).to(device)
    prob = torch.full((200,), 0.5, dtype=torch.float64, device=device)
    y = derandomize(prob, x, generator=0)
    assert y.device.type == device.type
    assert torch.equal(y.cpu(), derandomize(prob.cpu(), x.cpu(), generator=0))
    z = torch.ones(3, device=device, requires_grad=True)
    grad_reverse(z, 2.0).sum().backward()
    assert torch.equal(z.grad.cpu(), torch.full((3,), -2.0))


def test_cpu():
    _on(torch.device("cpu"))


@pytest.mark.gpu
def test_cuda():
    _on(torch.device("cuda"))
