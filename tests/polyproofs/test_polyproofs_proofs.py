"""Static and dynamic proofs against brute force, scipy, closed forms and exact arithmetic."""

import itertools
import math

import numpy as np
import pytest
import scipy.optimize
import torch

from nips2019 import polyproofs as pp
from nips2019.polyproofs._proofs import _solve

X = [pp.Polynomial.variable(i, 2) for i in range(2)]


def _clique(n):
    return ~torch.eye(n, dtype=torch.bool)


def _residual_at(problem, result, x):
    """f - gamma - sum_k lam_k m_k evaluated at points x (an identity check independent of the LP)."""
    out = problem.objective(x) - result.bound
    for w, p in zip(result.weights.tolist(), result.products(problem)):
        out = out - w * p(x)
    return out


def _true_min_box(f, constraint=None, n_grid=201):
    """Global minimum on [0,1]^2 (optionally intersected with constraint >= 0): grid, then SLSQP."""
    t = torch.linspace(0, 1, n_grid, dtype=torch.float64)
    pts = torch.cartesian_prod(t, t)
    vals = f(pts)
    if constraint is not None:
        vals = torch.where(constraint(pts) >= 0, vals, torch.full_like(vals, math.inf))
    x0 = pts[int(vals.argmin())].numpy()
    fun = lambda z: float(f(torch.tensor(z[None], dtype=torch.float64))[0])
    cons = [] if constraint is None else [
        {"type": "ineq", "fun": lambda z: float(constraint(torch.tensor(z[None], dtype=torch.float64))[0])}]
    res = scipy.optimize.minimize(fun, x0, bounds=[(0, 1), (0, 1)], constraints=cons, method="SLSQP")
    return min(float(vals.min()), res.fun)


def test_univariate_closed_form():
    """x^2 - x on [0, 1]: the degree-d bound is -1/4 - 1/(4(m - 1)) with m = 2 ceil(d / 2)."""
    prob = pp.hypercube_problem(X[0] * X[0] - X[0])
    for d in range(2, 9):
        m = 2 * math.ceil(d / 2)
        assert pp.static_proof(prob, d).bound == pytest.approx(-0.25 - 1 / (4 * (m - 1)), abs=1e-9)


@pytest.mark.parametrize("n", [3, 4])
def test_clique_closed_form(n):
    """alpha(K_n) = 1, and the degree-d static bound is exactly n / d."""
    prob = pp.stable_set_problem(_clique(n))
    for d in range(1, n + 1):
        assert -pp.static_proof(prob, d).bound == pytest.approx(n / d, abs=1e-9)


def test_clique_chain_certificate():
    """One chain of n - 1 multiplications (1-x_0)(1-x_1)...(1-x_{n-1}) proves alpha(K_n) <= 1."""
    n = 7
    prob = pp.stable_set_problem(_clique(n))
    chain = [[2 * i + 1 for i in range(k)] for k in range(2, n + 1)]
    res = pp.certify(prob, [[j] for j in range(2 * n)] + chain)
    assert res.bound == pytest.approx(-1.0, abs=1e-9)
    assert len(chain) == n - 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stable_set_bounds_are_valid_monotone_and_exact_at_degree_n(seed):
    adj = pp.random_graph(5, 0.4, generator=seed)
    prob = pp.stable_set_problem(adj)
    alpha = -pp.vertex_minimum(prob)
    bounds = [-pp.static_proof(prob, d).bound for d in range(1, 6)]
    assert all(b >= alpha - 1e-9 for b in bounds)
    assert all(b1 >= b2 - 1e-9 for b1, b2 in zip(bounds, bounds[1:]))
    assert bounds[-1] == pytest.approx(alpha, abs=1e-8)  # the Bernstein basis of degree n is exact


def test_multilinear_and_max_cut_exact_at_degree_n():
    g = torch.Generator().manual_seed(3)
    n = 3
    f = pp.Polynomial(torch.tensor(list(itertools.product((0, 1), repeat=n))),
                      torch.randn(2 ** n, generator=g, dtype=torch.float64))
    prob = pp.hypercube_problem(f)
    assert pp.static_proof(prob, n).bound == pytest.approx(pp.vertex_minimum(prob), abs=1e-8)
    mc = pp.max_cut_problem(_clique(5))
    bounds = [pp.static_proof(mc, d).bound for d in range(2, 6)]
    assert all(b <= -6 + 1e-9 for b in bounds)
    assert bounds[-1] == pytest.approx(-6, abs=1e-8)


def test_bounds_below_scipy_minimum_and_converging():
    f = (X[0] - 0.3) ** 2 + (X[1] - 0.6) ** 2 - X[0] * X[1]
    prob = pp.hypercube_problem(f)
    fmin = _true_min_box(f)
    bounds = [pp.static_proof(prob, d).bound for d in range(2, 9)]
    assert all(b <= fmin + 1e-9 for b in bounds)
    assert all(b2 >= b1 - 1e-9 for b1, b2 in zip(bounds, bounds[1:]))
    assert fmin - bounds[-1] < 0.25 * (fmin - bounds[0])


def test_handelman_polytope_bound_below_constrained_minimum():
    f = (X[0] - 0.8) ** 2 + (X[1] - 0.8) ** 2
    tri = 1 - X[0] - X[1]
    prob = pp.hypercube_problem(f, [tri])
    fmin = _true_min_box(f, tri)
    assert fmin == pytest.approx(0.18, abs=1e-6)  # distance^2 from (0.8, 0.8) to the line x + y = 1
    bounds = [pp.static_proof(prob, d).bound for d in range(2, 6)]
    assert all(b <= fmin + 1e-9 for b in bounds)
    assert bounds[0] < 0 < bounds[1]  # degree 3 proves f > 0 on the triangle
    # on the cube alone f has an interior zero at (0.8, 0.8): no degree can prove f >= 0
    assert pp.static_proof(pp.hypercube_problem(f), 5).bound < 0


def test_certificate_identity_and_exact_check():
    f = (X[0] - 0.3) ** 2 + (X[1] - 0.6) ** 2 - X[0] * X[1]
    prob = pp.hypercube_problem(f)
    res = pp.static_proof(prob, 4)
    assert bool((res.weights >= 0).all())
    x = torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert float(_residual_at(prob, res, x).abs().max()) < 1e-8
    check = pp.verify_certificate(prob, res)
    assert check.residual < 1e-8 and check.max_violation == 0.0
    assert res.bound - 1e-8 < check.rigorous_bound <= res.bound
    assert check.rigorous_bound <= _true_min_box(f)
    broken = pp.ProofResult(res.bound, res.status, res.factors, res.weights * 1.01, res.n_products,
                            res.n_monomials)
    bad = pp.verify_certificate(prob, broken)
    assert bad.residual > 1e-4 and bad.rigorous_bound < res.bound - 1e-4


def test_certificate_identity_on_stable_sets():
    adj = pp.random_graph(7, 0.5, generator=4)
    prob = pp.stable_set_problem(adj)
    res = pp.static_proof(prob, 3)
    check = pp.verify_certificate(prob, res)
    assert check.residual < 1e-8
    assert -check.rigorous_bound >= -pp.vertex_minimum(prob)
    # evaluate on random points supported on stable sets: there the ideal vanishes
    g = torch.Generator().manual_seed(1)
    pts = []
    for s in itertools.product((0, 1), repeat=7):
        if all(not (s[i] and s[j] and adj[i, j]) for i in range(7) for j in range(i + 1, 7)):
            pts.append(torch.tensor(s, dtype=torch.float64) * torch.rand(7, generator=g, dtype=torch.float64))
    r = _residual_at(prob, res, torch.stack(pts))
    assert float(r.abs().max()) < 1e-8


def test_lp_duals_are_pseudo_moments():
    """y = -marginals: y_1 = 1, <y, m> >= 0 on every product, <y, f> = gamma (strong duality)."""
    prob = pp.stable_set_problem(pp.random_graph(6, 0.5, generator=0))
    cols = [prob._axiom_terms[j] for j in range(len(prob.axioms))]
    cols += [pp.certify(prob, [[1, 3]]) and {k: v for k, v in _prod(prob, [1, 3]).items()}]
    status, gamma, lam, rows, marg = _solve(prob._objective_terms, cols, duals=True)
    y = {e: -marg[i] for e, i in rows.items()}
    assert y[(0,) * 6] == pytest.approx(1.0)
    for c in cols:
        assert sum(y[e] * v for e, v in c.items()) >= -1e-9
    assert sum(y[e] * v for e, v in prob._objective_terms.items()) == pytest.approx(gamma)


def _prod(prob, key):
    from nips2019.polyproofs._poly import _mul, _reduce
    t = {(0,) * prob.n_vars: 1.0}
    for j in key:
        t = _reduce(_mul(t, prob._axiom_terms[j]), prob.ideal, prob.boolean)
    return t


def test_dynamic_proof_is_monotone_valid_and_below_static():
    adj = pp.random_graph(8, 0.5, generator=2)
    prob = pp.stable_set_problem(adj)
    alpha = -pp.vertex_minimum(prob)
    static3 = pp.static_proof(prob, 3)
    for policy in ("greedy", "random"):
        res = pp.dynamic_proof(prob, n_steps=15, max_degree=3, policy=policy, generator=0)
        b = res.bounds
        assert bool((b[1:] >= b[:-1] - 1e-9).all())
        assert float(b[-1]) <= static3.bound + 1e-8  # its products are a subset of the static ones
        assert -float(b[-1]) >= alpha - 1e-9
        assert res.n_products.tolist() == list(range(16, 16 + len(res.actions) + 1))
        check = pp.verify_certificate(prob, res.proof)
        assert check.residual < 1e-8
    static2 = pp.static_proof(prob, 2)
    greedy = pp.dynamic_proof(prob, n_steps=15, max_degree=3)
    reached = int(torch.nonzero(greedy.bounds >= static2.bound - 1e-9)[0])
    assert 16 + reached < static2.n_products / 3


def test_random_policy_is_reproducible():
    prob = pp.stable_set_problem(pp.random_graph(6, 0.5, generator=0))
    a = pp.dynamic_proof(prob, n_steps=6, max_degree=3, policy="random", generator=7)
    b = pp.dynamic_proof(prob, n_steps=6, max_degree=3, policy="random", generator=7)
    assert a.actions == b.actions and torch.equal(a.bounds, b.bounds)


def test_infeasible_and_phase_one():
    """Degree 1 cannot certify a quadratic: -inf; the dynamic proof still finds one."""
    prob = pp.hypercube_problem(X[0] * X[1] - X[0])
    assert pp.static_proof(prob, 1).status == "infeasible"
    assert pp.static_proof(prob, 1).bound == -math.inf
    res = pp.dynamic_proof(prob, n_steps=4, max_degree=2)
    assert res.bounds[0] == -math.inf and res.bounds[-1] == pytest.approx(-1.0)


def test_dynamic_proof_stops_when_no_action_left():
    prob = pp.stable_set_problem(_clique(2))
    res = pp.dynamic_proof(prob, n_steps=50, max_degree=2)
    assert len(res.actions) < 50 and res.bounds[-1] == pytest.approx(-1.0)


def test_bad_inputs():
    prob = pp.hypercube_problem(X[0])
    with pytest.raises(ValueError, match="degree"):
        pp.static_proof(prob, 0)
    with pytest.raises(ValueError, match="policy"):
        pp.dynamic_proof(prob, n_steps=1, max_degree=2, policy="learned")
    with pytest.raises(ValueError, match="refers to axiom 7"):
        pp.certify(prob, [[7]])
    res = pp.static_proof(prob, 1)
    short = pp.ProofResult(res.bound, res.status, res.factors[:1], res.weights, res.n_products, 0)
    with pytest.raises(ValueError, match="different lengths"):
        pp.verify_certificate(prob, short)


@pytest.mark.gpu
def test_certificate_evaluates_on_gpu():
    prob = pp.hypercube_problem(X[0] * X[0] - X[0])
    res = pp.static_proof(prob, 4)
    x = torch.rand(100, 2, device="cuda", dtype=torch.float64)
    r = _residual_at(prob, res, x)
    assert r.device.type == "cuda" and float(r.abs().max()) < 1e-8


def test_dense_reference_agrees():
    """The naive dense construction of the benchmark gives our bound."""
    from benchmarks.bench_proofs import _dense_static

    adj = pp.random_graph(6, 0.5, generator=3)
    prob = pp.stable_set_problem(adj)
    assert _dense_static(adj, 3) == pytest.approx(pp.static_proof(prob, 3).bound, abs=1e-7)


@pytest.mark.slow
def test_cvxpy_reference_agrees():
    """The same programme through cvxpy (slow: importing cvxpy takes seconds)."""
    pytest.importorskip("cvxpy")
    from benchmarks.bench_proofs import _cvxpy_static

    prob = pp.stable_set_problem(pp.random_graph(6, 0.5, generator=3))
    assert _cvxpy_static(prob, 3) == pytest.approx(pp.static_proof(prob, 3).bound, abs=1e-7)
