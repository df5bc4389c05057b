import math

import mpmath
import pytest
import torch

from nips2019.hyperbolic import precision_experiment, tiling_distance, to_tiling


def _uhp_dist(z, w):
    return mpmath.acosh(1 + abs(z - w) ** 2 / (2 * z.imag * w.imag))


def _random_uhp(rng, r):
    """A point at distance r from i in a random direction (mpmath)."""
    p = mpmath.tanh(mpmath.mpf(r) / 2) * mpmath.expjpi(2 * mpmath.mpf(rng.random()))
    return mpmath.mpc(0, 1) * (1 + p) / (1 - p)


def test_reduction_is_exact_and_in_domain():
    import random

    rng = random.Random(0)
    with mpmath.workdps(60):
        pts = [_random_uhp(rng, r) for r in (0.5, 5.0, 20.0, 40.0)]
        t = to_tiling(pts)
        for p, g, z in zip(pts, t.g.tolist(), t.z.tolist()):
            (a, b), (c, d) = g
            assert a * d - b * c == 1
            assert abs(z[0]) <= 0.5 + 1e-12 and z[0] ** 2 + z[1] ** 2 >= 1 - 1e-12
            # g . zbar reproduces the point (zbar rounded to float64: relative agreement in the hyperbolic metric)
            zbar = mpmath.mpc(*z)
            back = (a * zbar + b) / (c * zbar + d)
            assert float(_uhp_dist(back, p)) < 1e-12


@pytest.mark.parametrize("r", [0.0, 3.0, 25.0, 60.0])
def test_tiling_distance_vs_mpmath(r):
    import random

    rng = random.Random(1)
    with mpmath.workdps(40 + int(r)):
        xs = [_random_uhp(rng, r) for _ in range(4)]
        ys = [_random_uhp(rng, r * rng.random()) for _ in range(4)]
        truth = torch.tensor([float(_uhp_dist(x, y)) for x, y in zip(xs, ys)], dtype=torch.float64)
        got = tiling_distance(to_tiling(xs), to_tiling(ys))
    torch.testing.assert_close(got, truth, rtol=1e-12, atol=1e-12)


def test_float32_remainder_keeps_dtype_and_bounded_error():
    with mpmath.workdps(60):
        x = mpmath.mpc(0, 1) * mpmath.e ** 30
        y = mpmath.mpc(0, 1) * mpmath.e ** 31
        d = tiling_distance(to_tiling([x], dtype=torch.float32), to_tiling([y], dtype=torch.float32))
    assert d.dtype == torch.float32
    assert abs(float(d[0]) - 1.0) < 1e-5


def test_precision_experiment_shape_of_errors():
    res = precision_experiment([2.0, 20.0, 45.0], n_pairs=3)
    e = res.errors
    assert float(e["modular tiling float64"].max()) < 1e-12
    assert float(e["modular tiling float32"].max()) < 1e-5
    # the L-tiling is exact where int64 can hold its group elements, and says "not representable" beyond
    assert float(e["L-tiling float64"][:2].max()) < 1e-12 and float(e["L-tiling float32"][:2].max()) < 1e-5
    assert math.isnan(float(e["L-tiling float64"][2]))
    # float coordinates degrade with the radius; far enough they fail completely
    assert float(e["Poincaré float64"][0]) < 1e-12 < float(e["Poincaré float64"][1])
    assert float(e["Poincaré float64"][2]) > 0.5
    assert float(e["Lorentz float32"][1]) > 1e-2


def test_bad_inputs():
    with pytest.raises(ValueError, match="positive imaginary part"):
        to_tiling([complex(1.0, -1.0)])
    a = to_tiling([complex(0, 1)])
    b = to_tiling([complex(0, 1), complex(0, 2)])
    with pytest.raises(ValueError, match="same number of points"):
        tiling_distance(a, b)
    with mpmath.workdps(100):
        with pytest.raises(ValueError, match="overflows int64"):
            to_tiling([mpmath.mpc(mpmath.sqrt(2) - 1, mpmath.e ** -200)])
