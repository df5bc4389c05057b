"""Reference tests for nips2019.shapes: the smooth convex, its fit, IoU against scikit-learn."""

import math

import pytest
import torch
from matplotlib.path import Path
from sklearn.metrics import jaccard_score

from nips2019.shapes import ConvexUnion, fit_convexes, iou, l_shape, polygon_occupancy, star_polygon
from nips2019.simulate import pixel_grid

HEXAGON = torch.tensor([[0.6, 0.0], [0.3, 0.55], [-0.35, 0.5], [-0.65, 0.0], [-0.3, -0.5], [0.35, -0.55]])


def test_single_convex_polygon_is_recovered():
    """One convex with as many half-planes as the target has edges: IoU >= 0.99."""
    pts = torch.rand(6000, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    res = fit_convexes(pts, polygon_occupancy(pts, HEXAGON), n_convexes=1, n_planes=6, n_steps=600, generator=0)
    grid = pixel_grid(128) * 2 - 1
    with torch.no_grad():
        score = iou(res.model(grid), polygon_occupancy(grid, HEXAGON))
    assert score >= 0.99, score


def test_log_sum_exp_bounds_the_max():
    shape = ConvexUnion(3, 5, smoothness=20.0, generator=0).double()
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    h = shape.plane_distances(x)
    phi = torch.logsumexp(shape.smoothness * h, -1) / shape.smoothness
    hard = h.max(-1).values
    assert bool((phi >= hard - 1e-12).all()) and bool((phi <= hard + math.log(5) / 20 + 1e-12).all())


def test_hard_polygons_match_the_half_planes():
    shape = ConvexUnion(1, 4, generator=0).double()
    with torch.no_grad():
        shape.centers.zero_()
        shape.normals.copy_(torch.tensor([[[1.0, 0], [0, 1.0], [-1.0, 0], [0, -1.0]]], dtype=torch.float64))
        shape.raw_offsets.fill_(math.log(math.expm1(0.3)))
    poly = shape.polygons(400)[0]
    # a square of half-side 0.3: shoelace area 0.36
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * float((x * torch.roll(y, -1) - torch.roll(x, -1) * y).sum().abs())
    assert area == pytest.approx(0.36, rel=2e-3)


def test_iou_matches_sklearn_jaccard():
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(300, generator=g), torch.rand(300, generator=g)
    ref = jaccard_score((b > 0.5).numpy(), (a > 0.5).numpy())
    assert iou(a, b) == pytest.approx(ref, abs=1e-12)
    assert iou(torch.zeros(4), torch.zeros(4)) == 1.0


def test_polygon_occupancy_matches_matplotlib():
    pts = torch.rand(400, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 2 - 1
    for poly in (l_shape(dtype=torch.float64), star_polygon(5, dtype=torch.float64)):
        ref = torch.from_numpy(Path(poly.numpy()).contains_points(pts.numpy())).double()
        assert torch.equal(polygon_occupancy(pts, poly), ref)


def test_bad_inputs():
    with pytest.raises(ValueError, match="r_inner must be < r_outer"):
        star_polygon(5, 0.3, 0.5)
    with pytest.raises(ValueError, match="at least one point as inside"):
        fit_convexes(torch.rand(10, 2), torch.zeros(10), n_steps=1)
    with pytest.raises(ValueError, match="same shape"):
        iou(torch.zeros(3), torch.zeros(4))


def test_dtype_follows_inputs(dtype, device):
    pts = torch.rand(64, 2, device=device, dtype=dtype) * 2 - 1
    occ = (pts.norm(dim=1) < 0.5).to(dtype)
    res = fit_convexes(pts, occ, n_convexes=2, n_planes=4, n_steps=3, generator=0)
    out = res.model(pts)
    assert out.dtype == dtype and out.device.type == device.type


@pytest.mark.gpu
def test_gpu_fit():
    dev = torch.device("cuda")
    pts = torch.rand(2000, 2, device=dev) * 2 - 1
    res = fit_convexes(pts, polygon_occupancy(pts, HEXAGON.to(dev)), n_convexes=1, n_planes=6, n_steps=200,
                       generator=0)
    assert res.losses.device.type == "cuda" and torch.isfinite(res.losses).all()
