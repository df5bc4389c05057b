"""Benchmarks for the chapter *Generative models beyond GANs*.

The exact score of a noised Gaussian mixture (``nips2019.score.mixture_score``, closed-form
responsibilities) against autograd through the log-density; a batch of drag trajectories
(``nips2019.simulate.simulate_projectile``, one batched RK4 loop) against scipy's
``solve_ivp`` (DOP853) called once per trajectory; and the soft rasteriser
(``render_disks``) against a NumPy implementation of the same formula, disk by disk.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.integrate import solve_ivp

from benchmarks.run import Case
from nips2019.score import mixture_log_prob, mixture_score
from nips2019.simulate import pixel_grid, render_disks, simulate_projectile


def _score_case(quick: bool) -> Case:
    n, k = (20_000, 8) if quick else (200_000, 32)
    g = torch.Generator().manual_seed(0)
    means = torch.randn(k, 2, generator=g, dtype=torch.float64) * 5
    weights = torch.full((k,), 1.0 / k, dtype=torch.float64)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64) * 6

    def autograd():
        z = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(mixture_log_prob(z, means, weights, 1.0, sigma=0.5).sum(), z)
        return grad

    return Case(f"noised mixture score, {n} points, {k} components", lambda: mixture_score(x, means, weights, 1.0,
                                                                                           sigma=0.5),
                {"autograd of the log-density": autograd}, repeat=3, note="float64; same values to 1e-10")


def _projectile_case(quick: bool) -> Case:
    n, steps, dt = (50, 100, 0.01) if quick else (500, 200, 0.01)
    g = torch.Generator().manual_seed(0)
    v0 = torch.rand(n, 2, generator=g, dtype=torch.float64) * 10 + 5
    k = torch.rand(n, generator=g, dtype=torch.float64) * 0.2
    t_end = steps * dt

    def scipy_loop():
        out = []
        for v, kk in zip(v0.numpy(), k.numpy()):
            def rhs(_, s, kk=kk):
                return np.concatenate([s[2:], -kk * np.hypot(*s[2:]) * s[2:] - [0.0, 9.81]])
            out.append(solve_ivp(rhs, (0, t_end), [0, 0, *v], method="DOP853", rtol=1e-8, atol=1e-8,
                                 t_eval=np.linspace(0, t_end, steps + 1)).y)
        return out

    return Case(f"{n} drag trajectories, {steps} RK4 steps", lambda: simulate_projectile(
        torch.zeros(n, 2, dtype=torch.float64), v0, k, dt=dt, n_steps=steps),
        {"scipy solve_ivp (DOP853) per trajectory": scipy_loop}, repeat=3,
        note="same trajectories to 1e-7 (tests/simulate); ours is also differentiable")


def _raster_case(quick: bool) -> Case:
    n_disks, size = (8, 64) if quick else (32, 256)
    g = torch.Generator().manual_seed(0)
    c = torch.rand(n_disks, 2, generator=g)
    r = torch.rand(n_disks, generator=g) * 0.2
    col = torch.rand(n_disks, 3, generator=g)
    p = pixel_grid(size).numpy()

    def numpy_loop():
        img = np.zeros((3, size * size), dtype=np.float32)
        for ck, rk, colk in zip(c.numpy(), r.numpy(), col.numpy()):
            a = 1 / (1 + np.exp(-(rk - np.linalg.norm(p - ck, axis=1)) * size))
            img = a * colk[:, None] + (1 - a) * img
        return img.reshape(3, size, size)

    return Case(f"soft rasteriser, {n_disks} disks, {size} x {size}", lambda: render_disks(c, r, col, size=size),
                {"NumPy, same formula": numpy_loop}, repeat=3, note="float32")


def cases(quick: bool) -> list:
    return [_score_case(quick), _projectile_case(quick), _raster_case(quick)]
