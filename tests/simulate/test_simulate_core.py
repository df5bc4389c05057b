"""Reference tests for nips2019.simulate: closed forms, scipy's solve_ivp, gradcheck, brute force."""

import math

import numpy as np
import pytest
import torch
from matplotlib.path import Path
from scipy.integrate import solve_ivp

from nips2019.simulate import (CoordinateNetwork, fit_coordinate_network, pixel_grid, polygon_sdf, projectile_step,
                               render_disks, render_polygon, simulate_projectile)

F64 = dict(dtype=torch.float64)


def test_no_drag_is_the_parabola():
    p0 = torch.tensor([[0.0, 1.0], [2.0, 0.5]], **F64)
    v0 = torch.tensor([[3.0, 4.0], [-1.0, 10.0]], **F64)
    traj = simulate_projectile(p0, v0, torch.zeros(2, **F64), g=9.81, dt=0.01, n_steps=150)
    t = torch.arange(151, **F64) * 0.01
    x = p0[:, None, 0] + v0[:, None, 0] * t
    y = p0[:, None, 1] + v0[:, None, 1] * t - 0.5 * 9.81 * t**2
    torch.testing.assert_close(traj[..., 0], x, rtol=0, atol=1e-11)
    torch.testing.assert_close(traj[..., 1], y, rtol=0, atol=1e-11)


def test_linear_drag_closed_form():
    k, g, T = 0.7, 9.81, 2.0
    v0 = torch.tensor([[5.0, 8.0]], **F64)
    traj = simulate_projectile(torch.zeros(1, 2, **F64), v0, torch.tensor([k], **F64), g=g, dt=0.01, n_steps=200,
                               drag_model="linear")
    e = 1 - math.exp(-k * T)
    x = 5.0 / k * e
    y = (8.0 + g / k) / k * e - g * T / k
    torch.testing.assert_close(traj[0, -1, :2], torch.tensor([x, y], **F64), rtol=0, atol=1e-9)


def test_quadratic_drag_matches_solve_ivp():
    k, g, T, n = 0.1, 9.81, 1.5, 300
    v0 = np.array([12.0, 9.0])

    def rhs(_, s):
        v = s[2:]
        a = -k * np.linalg.norm(v) * v - np.array([0.0, g])
        return np.concatenate([v, a])

    ref = solve_ivp(rhs, (0, T), np.concatenate([[0.0, 0.0], v0]), method="DOP853", rtol=1e-12, atol=1e-12,
                    t_eval=np.linspace(0, T, n + 1))
    traj = simulate_projectile(torch.zeros(1, 2, **F64), torch.tensor(v0[None]), torch.tensor([k], **F64), g=g,
                               dt=T / n, n_steps=n)
    np.testing.assert_allclose(traj[0].numpy(), ref.y.T, rtol=0, atol=1e-7)


def test_bounce_loses_energy_by_restitution_squared():
    # dropped from height 1 without drag: after the bounce the apex height is e^2 (up to O(dt))
    e = 0.8
    traj = simulate_projectile(torch.tensor([[0.0, 1.0]], **F64), torch.zeros(1, 2, **F64), torch.zeros(1, **F64),
                               dt=5e-4, n_steps=1800, restitution=e)
    y = traj[0, :, 1]
    assert float(y.min()) >= 0
    t_bounce = int(torch.argmin(y[:1200]))
    assert float(y[t_bounce:].max()) == pytest.approx(e**2, abs=5e-3)


@pytest.mark.parametrize("drag_model", ["linear", "quadratic"])
@pytest.mark.parametrize("restitution", [None, 0.7])
def test_gradcheck_step(drag_model, restitution):
    state = torch.tensor([[0.1, 0.05, 1.0, -2.0], [0.0, 1.0, -0.5, 0.3]], **F64, requires_grad=True)
    drag = torch.tensor([0.3, 0.1], **F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s, k: projectile_step(s, k, dt=0.05, drag_model=drag_model,
                                                                 restitution=restitution), (state, drag))


def test_gradcheck_renderers():
    c = torch.tensor([[0.4, 0.5], [0.6, 0.45]], **F64, requires_grad=True)
    r = torch.tensor([0.2, 0.15], **F64, requires_grad=True)
    col = torch.tensor([[1.0, 0.2], [0.1, 0.9]], **F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c, r, col: render_disks(c, r, col, size=6, softness=0.1), (c, r, col))
    v = torch.tensor([[0.2, 0.2], [0.8, 0.25], [0.55, 0.85]], **F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: render_polygon(v, size=5, softness=0.1), (v,))


def test_polygon_sdf_against_brute_force_and_matplotlib():
    star = torch.tensor([[0.0, 1.0], [0.2, 0.3], [0.9, 0.3], [0.3, -0.1], [0.6, -0.8], [0.0, -0.3],
                         [-0.6, -0.8], [-0.3, -0.1], [-0.9, 0.3], [-0.2, 0.3]], **F64)
    pts = torch.rand(500, 2, generator=torch.Generator().manual_seed(0), **F64) * 2.4 - 1.2
    sdf = polygon_sdf(pts, star)
    # distance: dense samples on the boundary
    t = torch.linspace(0, 1, 2001, **F64)[:, None, None]
    a, b = star, torch.roll(star, -1, 0)
    boundary = (a[None] + t * (b - a)[None]).reshape(-1, 2)
    brute = torch.cdist(pts, boundary).min(1).values
    torch.testing.assert_close(sdf.abs(), brute, rtol=0, atol=1e-3)
    inside = torch.from_numpy(Path(star.numpy()).contains_points(pts.numpy()))
    assert torch.equal(sdf < 0, inside)


def test_disk_area_and_compositing():
    img = render_disks(torch.tensor([[0.5, 0.5]], **F64), torch.tensor([0.3], **F64), torch.ones(1, 1, **F64),
                       size=256, softness=1e-3)
    assert float(img.mean()) == pytest.approx(math.pi * 0.09, rel=1e-3)
    # the later disk is on top
    two = render_disks(torch.tensor([[0.5, 0.5], [0.5, 0.5]], **F64), torch.tensor([0.3, 0.1], **F64),
                       torch.tensor([[1.0], [0.0]], **F64), size=64, softness=1e-3)
    assert float(two[0, 32, 32]) < 1e-6 and float(two[0, 32, 20]) > 1 - 1e-6


def test_pixel_grid_matches_image_layout():
    img = render_disks(torch.tensor([[0.1, 0.9]]), torch.tensor([0.08]), torch.ones(1, 1), size=20, softness=1e-3)
    # top-left corner of the image (row 0 = top, y up)
    assert float(img[0, 1, 1]) > 0.99 and float(img[0, 18, 1]) < 0.01
    assert pixel_grid(3).shape == (9, 2)


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least 3 points"):
        polygon_sdf(torch.zeros(2, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="drag"):
        simulate_projectile(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([-1.0]))
    with pytest.raises(ValueError, match="square"):
        fit_coordinate_network(CoordinateNetwork(1, generator=0), torch.rand(1, 4, 5), n_steps=1)


def test_coordinate_network_fits_a_rendered_scene():
    img = render_disks(torch.tensor([[0.3, 0.4], [0.7, 0.6]]), torch.tensor([0.2, 0.15]),
                       torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), size=16)
    net = CoordinateNetwork(3, n_hidden=64, generator=0)
    res = fit_coordinate_network(net, img, n_steps=150, lr=3e-3)
    assert float(res.losses[-1]) < 0.1 * float(img.var()), (float(res.losses[-1]), float(img.var()))


def test_dtype_follows_inputs(dtype, device):
    p = torch.zeros(2, 2, device=device, dtype=dtype)
    traj = simulate_projectile(p, p + 1, torch.zeros(2, device=device, dtype=dtype), n_steps=3)
    assert traj.dtype == dtype and traj.device.type == device.type
    img = render_disks(p + 0.5, torch.ones(2, device=device, dtype=dtype) * 0.1, torch.ones(2, 3, device=device,
                                                                                           dtype=dtype), size=4)
    assert img.dtype == dtype and img.device.type == device.type


@pytest.mark.gpu
def test_gpu_inverse_graphics_step():
    dev = torch.device("cuda")
    v0 = torch.tensor([[5.0, 5.0]], device=dev, requires_grad=True)
    traj = simulate_projectile(torch.zeros(1, 2, device=dev), v0, torch.full((1,), 0.1, device=dev), n_steps=50)
    traj[0, -1, 0].backward()
    assert v0.grad is not None and torch.isfinite(v0.grad).all()
    c = torch.tensor([[0.5, 0.5]], device=dev, requires_grad=True)
    render_disks(c, torch.tensor([0.2], device=dev), torch.ones(1, 3, device=dev), size=16).sum().backward()
    assert torch.isfinite(c.grad).all()
