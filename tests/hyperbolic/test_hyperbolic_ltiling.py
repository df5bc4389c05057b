"""Yu & De Sa's L-tiling model: group, reduction, exact distances vs mpmath, device/dtype, bad inputs."""

import random

import mpmath
import pytest
import torch

from nips2019.hyperbolic import (
    LTilingPoints,
    ltiling_distance,
    ltiling_generators,
    ltiling_to_lorentz,
    point_distance,
    to_ltiling,
)

M = torch.diag(torch.tensor([3, -1, -1]))


def _far_pairs(r, delta, n, seed):
    """Disk points at distance r from 0 and, for each, a partner at distance exactly delta (mpmath)."""
    rng = random.Random(seed)
    xs, ys = [], []
    for _ in range(n):
        x = mpmath.tanh(mpmath.mpf(r) / 2) * mpmath.expjpi(2 * mpmath.mpf(rng.random()))
        q = mpmath.tanh(mpmath.mpf(delta) / 2) * mpmath.expjpi(2 * mpmath.mpf(rng.random()))
        xs.append(x)
        ys.append((q + x) / (1 + mpmath.conj(x) * q))
    return xs, ys


def test_generators_preserve_the_form_and_invert():
    g = ltiling_generators()
    for a in g:
        assert torch.equal(a.T @ M @ a, M)
    eye = torch.eye(3, dtype=torch.long)
    assert torch.equal(g[0] @ g[2], eye) and torch.equal(g[1] @ g[3], eye)


@pytest.mark.parametrize("r", [0.5, 3.0, 12.0, 30.0])
def test_reduction_lands_in_domain_and_reconstructs_the_point(r):
    with mpmath.workdps(60):
        xs, _ = _far_pairs(r, 1.0, 4, 0)
        t = to_ltiling(xs)
        for gi, ui, p in zip(t.g, t.u, xs):
            u1, u2 = float(ui[1]), float(ui[2])
            assert 2 * u1 ** 2 - u2 ** 2 <= 1 + 1e-12 and 2 * u2 ** 2 - u1 ** 2 <= 1 + 1e-12
            assert torch.equal(gi.T @ M @ gi, M)  # g is in the group (preserves M)
            # phi(g) u, evaluated in mpmath, is the original point on the hyperboloid
            s = abs(p) ** 2
            truth = [(1 + s) / (1 - s), 2 * p.real / (1 - s), 2 * p.imag / (1 - s)]
            sq3 = mpmath.sqrt(3)
            v = [mpmath.mpf(float(ui[0])) / sq3, mpmath.mpf(float(ui[1])), mpmath.mpf(float(ui[2]))]
            w = [sum(int(gi[i, k]) * v[k] for k in range(3)) for i in range(3)]
            back = [w[0] * sq3, w[1], w[2]]
            rel = max(abs(b - c) for b, c in zip(back, truth)) / truth[0]
            assert rel < 1e-13


@pytest.mark.parametrize("r", [1.0, 10.0, 25.0, 40.0])
def test_distance_matches_mpmath_ground_truth(r):
    with mpmath.workdps(80):
        xs, ys = _far_pairs(r, 0.7, 5, 1)
        got64 = ltiling_distance(to_ltiling(xs), to_ltiling(ys))
        got32 = ltiling_distance(to_ltiling(xs, dtype=torch.float32), to_ltiling(ys, dtype=torch.float32))
    assert float((got64 - 0.7).abs().max()) < 1e-13
    assert got32.dtype == torch.float32 and float((got32.double() - 0.7).abs().max()) < 2e-6


def test_far_apart_points_distance():
    # Two points on opposite sides, 20 from the origin each: the true distance is 40.
    with mpmath.workdps(60):
        a = mpmath.tanh(mpmath.mpf(10))
        t = to_ltiling([a, -a])
    d = ltiling_distance(LTilingPoints(t.g[:1], t.u[:1]), LTilingPoints(t.g[1:], t.u[1:]))
    assert abs(float(d[0]) - 40.0) < 1e-12


def test_to_lorentz_agrees_with_plain_coordinates_near_origin():
    pts = [0.3 + 0.2j, -0.5 + 0.1j, 0.05 - 0.7j]
    t = to_ltiling(pts)
    x = ltiling_to_lorentz(t)
    lor = torch.tensor([[(1 + abs(p) ** 2) / (1 - abs(p) ** 2), 2 * p.real / (1 - abs(p) ** 2),
                         2 * p.imag / (1 - abs(p) ** 2)] for p in pts], dtype=torch.float64)
    torch.testing.assert_close(x, lor, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(point_distance(x[:1], x[1:2], model="lorentz"),
                               ltiling_distance(LTilingPoints(t.g[:1], t.u[:1]), LTilingPoints(t.g[1:2], t.u[1:2])))


def test_bad_inputs():
    with pytest.raises(ValueError, match="unit disk"):
        to_ltiling([1.0 + 0.5j])
    with mpmath.workdps(80), pytest.raises(ValueError, match="overflows int64"):
        to_ltiling([mpmath.tanh(mpmath.mpf(50) / 2)])
    a, b = to_ltiling([0.1j]), to_ltiling([0.1j, 0.2j])
    with pytest.raises(ValueError, match="same number"):
        ltiling_distance(a, b)
    with pytest.raises(TypeError, match="y has dtype torch.float32 but x has torch.float64"):
        ltiling_distance(a, to_ltiling([0.2j], dtype=torch.float32))
    with pytest.raises(ValueError, match="group"):
        LTilingPoints(2 * a.g, a.u)


@pytest.mark.gpu
def test_ltiling_distance_on_cuda():
    with mpmath.workdps(60):
        xs, ys = _far_pairs(30.0, 1.0, 3, 2)
        x, y = to_ltiling(xs, device="cuda"), to_ltiling(ys, device="cuda")
    d = ltiling_distance(x, y)
    assert d.is_cuda and float((d.cpu() - 1.0).abs().max()) < 1e-13


def test_int64_and_big_integer_paths_agree():
    # Near the origin Q is formed in int64; at r = 30 the products overflow int64 and Python integers take
    # over. Both must agree with a direct evaluation in Python integers.
    from nips2019.hyperbolic._ltiling import _M, _exact_q

    for r in (3.0, 30.0):
        with mpmath.workdps(60):
            xs, ys = _far_pairs(r, 1.0, 3, 7)
            a, b = to_ltiling(xs), to_ltiling(ys)
        q = _exact_q(a.g, b.g)
        for n, (ga, gb) in enumerate(zip(a.g.tolist(), b.g.tolist())):
            ref = [[sum(ga[k][i] * _M[k] * gb[k][j] for k in range(3)) for j in range(3)] for i in range(3)]
            assert q[n].tolist() == [[float(v) for v in row] for row in ref]


@pytest.mark.parametrize("radius", [0.5, 5.0, 20.0, 35.0])
def test_small_distances_keep_their_digits(radius):
    # arcosh(c) near c = 1 has relative error ~ eps / d^2 (4e-4 at d = 1e-6); the arsinh form in x's
    # tile has ~ eps / d, the limit set by rounding u to float64
    import mpmath

    from nips2019.hyperbolic import ltiling_distance, to_ltiling

    for delta, tol in [(1e-6, 1e-9), (1e-3, 1e-12), (1.0, 1e-14), (3.0, 1e-14)]:
        with mpmath.workdps(80):
            far = mpmath.tanh(mpmath.mpf(radius) / 2) * mpmath.expj(mpmath.mpf("0.7"))
            step = mpmath.tanh(mpmath.mpf(delta) / 2) * mpmath.expj(mpmath.mpf("0.7"))
            near = (step + far) / (1 + mpmath.conj(far) * step)  # Möbius translation of step by far
            x, y = to_ltiling([far]), to_ltiling([near])
        d = float(ltiling_distance(x, y)[0])
        assert abs(d - delta) / delta < tol, (radius, delta, d)
