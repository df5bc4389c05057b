"""Reference tests for nips2019.icnn: convexity, gradients, the Gaussian map, a short training run."""

import numpy as np
import ot
import pytest
import torch

from nips2019.icnn import ICNN, fit_icnn_transport, gaussian_map, hessian_min_eigenvalue

F64 = torch.float64


def _x(n, d, seed=0, dtype=F64):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _spd(d, seed):
    a = _x(d, d, seed)
    return a @ a.T + 0.3 * torch.eye(d, dtype=F64)


@pytest.mark.parametrize("activation", ["softplus", "celu", "leaky_relu"])
def test_icnn_is_midpoint_convex(activation):
    f = ICNN(3, hidden=(16, 16, 8), activation=activation, generator=1, dtype=F64)
    with torch.no_grad():  # large random weights, then the projection: convex whatever the values
        gen = torch.Generator().manual_seed(7)
        for p in f.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=F64) * 2)
    f.project_()
    assert f.is_input_convex()
    a, b = _x(500, 3, 2) * 3, _x(500, 3, 3) * 3
    with torch.no_grad():
        gap = (f(a) + f(b)) / 2 - f((a + b) / 2)
    assert float(gap.min()) >= -1e-10


def test_negative_hidden_weight_breaks_convexity_and_the_checks_see_it():
    f = ICNN(1, hidden=(8, 8), activation="softplus", generator=0, dtype=F64)
    with torch.no_grad():
        f.quadratic.zero_()
        f.input_weights[0].copy_(torch.linspace(-3, 3, 8, dtype=F64)[:, None])
        f.hidden_weights[0].fill_(-2.0)
        f.input_weights[1].zero_()
        f.output_weight.fill_(1.0)
    assert not f.is_input_convex()
    x = torch.linspace(-3, 3, 61, dtype=F64)[:, None]
    assert float(hessian_min_eigenvalue(f, x).min()) < -1e-3
    f.project_()
    assert f.is_input_convex()
    assert float(hessian_min_eigenvalue(f, x).min()) >= -1e-12


def test_hessian_min_eigenvalue_matches_a_quadratic_and_an_autograd_loop():
    a = _spd(3, 0) - 1.0 * torch.eye(3, dtype=F64)
    x = _x(5, 3, 1)
    got = hessian_min_eigenvalue(lambda v: 0.5 * v @ a @ v + v.sum() ** 3, x)
    want = torch.stack([torch.linalg.eigvalsh(a + 6 * v.sum() * torch.ones(3, 3, dtype=F64))[0] for v in x])
    torch.testing.assert_close(got, want)
    f = ICNN(3, hidden=(6, 5), generator=2, dtype=F64)
    loop = torch.stack([torch.linalg.eigvalsh(torch.autograd.functional.hessian(lambda v: f(v), v))[0]
                        for v in x])
    torch.testing.assert_close(hessian_min_eigenvalue(f, x), loop)


def test_gradient_matches_finite_differences():
    f = ICNN(2, hidden=(8, 8), activation="celu", generator=3, dtype=F64)
    x, h = _x(10, 2, 4), 1e-6
    e = torch.eye(2, dtype=F64)
    fd = torch.stack([(f(x + h * e[k]) - f(x - h * e[k])) / (2 * h) for k in range(2)], dim=1)
    torch.testing.assert_close(f.gradient(x), fd, rtol=1e-6, atol=1e-7)


def test_gaussian_map_matches_pot_and_pushes_forward():
    ms, mt = _x(1, 3, 5)[0], _x(1, 3, 6)[0]
    cs, ct = _spd(3, 7), _spd(3, 8)
    t = gaussian_map(ms, cs, mt, ct)
    a_pot, b_pot = ot.gaussian.bures_wasserstein_mapping(ms.numpy(), mt.numpy(), cs.numpy(), ct.numpy())
    # POT writes the map as x @ A + b
    torch.testing.assert_close(t.matrix, torch.as_tensor(a_pot).T, rtol=1e-8, atol=1e-10)
    x = _x(4, 3, 9)
    want = x @ torch.as_tensor(a_pot) + torch.as_tensor(b_pot)
    torch.testing.assert_close(t(x), want, rtol=1e-8, atol=1e-10)
    w_pot = ot.gaussian.bures_wasserstein_distance(ms.numpy(), mt.numpy(), cs.numpy(), ct.numpy())
    assert abs(t.w2 - float(w_pot) ** 2) < 1e-9
    torch.testing.assert_close(t.matrix @ cs @ t.matrix, ct, rtol=1e-8, atol=1e-10)  # A S_s A = S_t
    assert float(torch.linalg.eigvalsh(t.matrix)[0]) > 0  # the gradient of a convex quadratic


def test_gaussian_map_closed_form_in_one_dimension():
    t = gaussian_map(torch.tensor([1.0], dtype=F64), torch.tensor([[4.0]], dtype=F64),
                     torch.tensor([-2.0], dtype=F64), torch.tensor([[9.0]], dtype=F64))
    assert abs(float(t.matrix) - 1.5) < 1e-12
    assert abs(t.w2 - (9.0 + 1.0)) < 1e-12  # (m_s - m_t)^2 + (s_s - s_t)^2


def test_gaussian_w2_matches_discrete_ot_of_samples():
    """Monte-Carlo: exact OT between large samples approaches the Bures-Wasserstein value."""
    ls = torch.tensor([[1.0, 0.0], [0.5, 0.7]], dtype=F64)
    lt = torch.tensor([[0.6, 0.0], [-0.8, 1.2]], dtype=F64)
    mt = torch.tensor([1.0, -0.5], dtype=F64)
    t = gaussian_map(torch.zeros(2, dtype=F64), ls @ ls.T, mt, lt @ lt.T)
    n = 1500
    x, y = _x(n, 2, 10) @ ls.T, mt + _x(n, 2, 11) @ lt.T
    w = np.full(n, 1 / n)
    emp = ot.emd2(w, w, (torch.cdist(x, y) ** 2).numpy())
    assert abs(emp - t.w2) / t.w2 < 0.05, (emp, t.w2)


def test_fit_icnn_transport_learns_an_affine_map():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 2, generator=g, dtype=F64)
    a = torch.tensor([[1.5, 0.3], [0.3, 0.6]], dtype=F64)  # symmetric positive definite: Brenier's map
    b = torch.tensor([1.0, -1.0], dtype=F64)
    y = x @ a + b
    res = fit_icnn_transport(x, y, hidden=(16, 16), n_steps=80, inner_steps=2, batch_size=128, lr=2e-2,
                             generator=0)
    xt = torch.randn(500, 2, generator=g, dtype=F64)
    err = (res.transport(xt) - (xt @ a + b)).square().sum(1).mean() / (xt @ a).square().sum(1).mean()
    assert float(err) < 0.05, float(err)
    assert res.f.is_input_convex() and res.g.is_input_convex()
    assert res.loss_history.shape == (80, 2) and bool(torch.isfinite(res.loss_history).all())
    true_w2 = float((x @ a + b - x).square().sum(1).mean())
    assert abs(res.wasserstein2(x, y) - true_w2) / true_w2 < 0.1
    inv_err = (res.inverse(y[:500]) - x[:500]).square().sum(1).mean() / x[:500].square().sum(1).mean()
    assert float(inv_err) < 0.1, float(inv_err)


def test_fit_icnn_transport_is_reproducible_and_keeps_dtype():
    x = _x(50, 2, 0, torch.float32)
    kw = dict(hidden=(4,), n_steps=3, inner_steps=1, batch_size=8, generator=5)
    r1, r2 = fit_icnn_transport(x, x + 1, **kw), fit_icnn_transport(x, x + 1, **kw)
    torch.testing.assert_close(r1.loss_history, r2.loss_history, rtol=0, atol=0)
    assert r1.transport(x).dtype == torch.float32


def test_bad_inputs():
    f = ICNN(2, hidden=(3,), dtype=F64)
    with pytest.raises(ValueError, match="in_features = 2"):
        f(torch.zeros(3, 5, dtype=F64))
    with pytest.raises(TypeError, match="potential"):
        hessian_min_eigenvalue("f", torch.zeros(3, 2))
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_map(torch.zeros(2), torch.zeros(2, 2), torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="hidden"):
        ICNN(2, hidden=(0,))


@pytest.mark.gpu
def test_core_path_on_gpu():
    x = _x(200, 2).cuda()
    res = fit_icnn_transport(x, 2 * x + 1, hidden=(8,), n_steps=5, inner_steps=1, batch_size=32, generator=0)
    out = res.transport(x)
    assert out.device.type == "cuda" and bool(torch.isfinite(out).all())
    lam = hessian_min_eigenvalue(res.g, x[:10])
    assert lam.device.type == "cuda" and float(lam.min()) >= -1e-8
    t = gaussian_map(torch.zeros(2, device="cuda"), torch.eye(2, device="cuda"), torch.ones(2, device="cuda"),
                     4 * torch.eye(2, device="cuda"))
    assert t.matrix.device.type == "cuda"
