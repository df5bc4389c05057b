"""Polynomials and problems: arithmetic against evaluation, reductions, brute force."""

import itertools

import pytest
import torch

from nips2019 import polyproofs as pp
from nips2019.polyproofs._poly import _reduce


def _random_poly(n, n_terms, degree, g):
    e = torch.randint(0, degree + 1, (n_terms, n), generator=g)
    c = torch.randn(n_terms, generator=g, dtype=torch.float64)
    return pp.Polynomial(e, c)


def test_arithmetic_matches_evaluation():
    g = torch.Generator().manual_seed(0)
    p, q = _random_poly(3, 5, 2, g), _random_poly(3, 4, 3, g)
    x = torch.rand(20, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close((p * q)(x), p(x) * q(x))
    torch.testing.assert_close((p + q)(x), p(x) + q(x))
    torch.testing.assert_close((p - 2.5 * q)(x), p(x) - 2.5 * q(x))
    torch.testing.assert_close((3 - p)(x), 3 - p(x))
    torch.testing.assert_close((p ** 3)(x), p(x) ** 3)
    torch.testing.assert_close((-p)(x), -p(x))


def test_repeated_exponents_are_summed_and_zeros_dropped():
    p = pp.Polynomial(torch.tensor([[1, 0], [1, 0], [0, 1]]), torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64))
    assert p.terms() == {(0, 1): 2.0}
    assert p.exponents.tolist() == [[0, 1]] and p.coefficients.tolist() == [2.0]
    assert p.degree == 1 and repr(p) == "Polynomial(2*x1)"


def test_evaluation_follows_dtype():
    p = (1 - pp.Polynomial.variable(0, 2)) * pp.Polynomial.variable(1, 2)
    x = torch.tensor([[0.25, 2.0]])
    out = p(x)
    assert out.dtype == torch.float32 and out.tolist() == [1.5]


def test_reduction_is_exact_on_the_domain():
    """Reduced and unreduced polynomials agree on 0/1 points outside the ideal."""
    g = torch.Generator().manual_seed(1)
    p = _random_poly(4, 8, 3, g)
    ideal = [(1, 1, 0, 0), (0, 0, 1, 1)]
    red = pp.Polynomial._from_terms(_reduce(p.terms(), ideal, boolean=True), 4)
    pts = torch.tensor(list(itertools.product((0.0, 1.0), repeat=4)), dtype=torch.float64)
    keep = ~(((pts[:, 0] * pts[:, 1]) > 0) | ((pts[:, 2] * pts[:, 3]) > 0))
    torch.testing.assert_close(red(pts[keep]), p(pts[keep]))
    assert all(max(e) <= 1 for e in red.terms())


def test_stable_set_vertex_minimum_is_brute_force_alpha():
    for seed in range(3):
        adj = pp.random_graph(7, 0.4, generator=seed)
        best = 0
        for s in itertools.product((0, 1), repeat=7):
            if all(not (s[i] and s[j] and adj[i, j]) for i in range(7) for j in range(7)):
                best = max(best, sum(s))
        assert pp.vertex_minimum(pp.stable_set_problem(adj)) == -best


def test_max_cut_vertex_minimum_closed_forms():
    n = 5
    cycle = torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        cycle[i, (i + 1) % n] = cycle[(i + 1) % n, i] = True
    assert pp.vertex_minimum(pp.max_cut_problem(cycle)) == -(n - 1)  # odd cycle: all edges but one
    k5 = ~torch.eye(5, dtype=torch.bool)
    assert pp.vertex_minimum(pp.max_cut_problem(k5)) == -6  # floor(n/2) * ceil(n/2)


def test_random_graph_is_reproducible_and_has_density_p():
    a, b = pp.random_graph(40, 0.3, generator=5), pp.random_graph(40, 0.3, generator=5)
    assert torch.equal(a, b)
    density = a.sum().item() / (40 * 39)
    assert abs(density - 0.3) < 0.05, density


def test_in_unit_cube_flag():
    x0, x1 = pp.Polynomial.variable(0, 2), pp.Polynomial.variable(1, 2)
    assert pp.hypercube_problem(x0 * x1).in_unit_cube
    assert not pp.ProofProblem(x0 * x1, [x0, x1, 1 - x0 - x1]).in_unit_cube


def test_bad_inputs():
    x = pp.Polynomial.variable(0, 2)
    with pytest.raises(ValueError, match="cannot combine polynomials in 2 and 3"):
        _ = x + pp.Polynomial.variable(0, 3)
    with pytest.raises(ValueError, match="shape"):
        x(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="zero polynomial"):
        pp.ProofProblem(x, [x - x])
    with pytest.raises(ValueError, match="power"):
        _ = x ** -1


@pytest.mark.gpu
def test_evaluation_on_gpu():
    p = (1 - pp.Polynomial.variable(0, 2)) * pp.Polynomial.variable(1, 2)
    x = torch.rand(5, 2, device="cuda", dtype=torch.float64)
    out = p(x)
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), p(x.cpu()))
