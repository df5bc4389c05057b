"""Reference tests for nips2019.landscape: slices, Hessians, Lanczos, K-FAC."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from nips2019.landscape import (
    KFAC,
    dense_hessian,
    hessian_spectrum,
    hessian_vector_product,
    kfac_fisher_blocks,
    lanczos,
    loss_landscape,
    random_direction,
)

D64 = torch.float64
F = nn.functional


def _relu_net(dtype=D64, device="cpu", h=6, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, h), nn.ReLU(), nn.Linear(h, 3))
    return net.to(device=device, dtype=dtype)


def _data(n=20, dtype=D64, device="cpu", seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g, dtype=dtype).to(device)
    y = torch.randint(0, 3, (n,), generator=g).to(device)
    return x, y


# --- directions and slices ------------------------------------------------------------------


def test_filter_normalisation_matches_row_norms_and_zeroes_biases():
    net = _relu_net()
    d = random_direction(net, generator=3)
    parts = torch.split(d, [p.numel() for p in net.parameters()])
    for part, p in zip(parts, net.parameters()):
        if p.dim() == 1:
            assert torch.count_nonzero(part) == 0
        else:
            torch.testing.assert_close(part.view_as(p).norm(dim=1), p.detach().norm(dim=1))
    layer = random_direction(net, normalization="layer", generator=3)
    for part, p in zip(torch.split(layer, [p.numel() for p in net.parameters()]), net.parameters()):
        if p.dim() > 1:
            torch.testing.assert_close(part.norm(), p.detach().norm())
    torch.testing.assert_close(d, random_direction(net, generator=3))
    assert not torch.equal(d, random_direction(net, generator=4))


def test_filter_normalised_slice_is_invariant_to_relu_rescaling():
    """Li et al.: W1 -> c W1, b1 -> c b1, W2 -> W2 / c leaves the function and the slice unchanged."""
    net = _relu_net()
    x, y = _data()
    scaled = copy.deepcopy(net)
    with torch.no_grad():
        scaled[0].weight.mul_(10.0)
        scaled[0].bias.mul_(10.0)
        scaled[2].weight.div_(10.0)
    torch.testing.assert_close(scaled(x), net(x))
    alphas = torch.linspace(-1, 1, 9, dtype=D64)[:, None]
    for norm, same in (("filter", True), ("none", False)):
        a = loss_landscape(net, x, y, random_direction(net, normalization=norm, generator=0)[None], alphas)
        b = loss_landscape(
            scaled, x, y, random_direction(scaled, normalization=norm, generator=0)[None], alphas
        )
        if same:
            torch.testing.assert_close(a, b)
        else:
            assert (a - b).abs().max() > 0.1


def test_loss_landscape_matches_a_naive_loop():
    net = _relu_net()
    x, y = _data()
    dirs = torch.stack([random_direction(net, generator=s) for s in (0, 1)])
    coords = torch.tensor([[0.0, 0.0], [0.5, -0.3], [-1.0, 2.0]], dtype=D64)
    got = loss_landscape(net, x, y, dirs, coords)
    theta = parameters_to_vector(net.parameters()).detach()
    for i, c in enumerate(coords):
        probe = copy.deepcopy(net)
        vector_to_parameters(theta + c @ dirs, probe.parameters())
        torch.testing.assert_close(got[i], F.cross_entropy(probe(x), y))
    # a different centre
    center = theta + 0.2 * dirs[0]
    torch.testing.assert_close(
        loss_landscape(net, x, y, dirs, coords[:1], center=center)[0],
        got.new_tensor(float(loss_landscape(net, x, y, dirs, torch.tensor([[0.2, 0.0]], dtype=D64))[0])),
    )
    torch.testing.assert_close(parameters_to_vector(net.parameters()).detach(), theta)  # untouched


# --- Hessians -------------------------------------------------------------------------------


def test_dense_hessian_of_least_squares_is_the_gram_matrix():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 5, generator=g, dtype=D64)
    net = nn.Linear(5, 1, bias=False).double()
    h = dense_hessian(net, x, torch.randn(30, 1, generator=g, dtype=D64), loss_fn=F.mse_loss)
    torch.testing.assert_close(h, 2 * x.T @ x / 30)


def test_hessian_of_logistic_regression_closed_form():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g, dtype=D64)
    y = torch.randint(0, 2, (40,), generator=g).to(D64)
    net = nn.Linear(3, 1, bias=False).double()
    h = dense_hessian(net, x, y, loss_fn=lambda o, t: F.binary_cross_entropy_with_logits(o[:, 0], t))
    p = torch.sigmoid(net(x)[:, 0]).detach()
    torch.testing.assert_close(h, (x * (p * (1 - p))[:, None]).T @ x / 40)


def test_hvp_matches_dense_hessian_and_finite_differences():
    net = _relu_net(h=5)
    x, y = _data()
    v = torch.randn(
        sum(p.numel() for p in net.parameters()), generator=torch.Generator().manual_seed(2), dtype=D64
    )
    hv = hessian_vector_product(net, x, y, v)
    torch.testing.assert_close(hv, dense_hessian(net, x, y) @ v)
    theta = parameters_to_vector(net.parameters()).detach()

    def grad_at(t):
        probe = copy.deepcopy(net)
        vector_to_parameters(t, probe.parameters())
        return parameters_to_vector(torch.autograd.grad(F.cross_entropy(probe(x), y), probe.parameters()))

    eps = 1e-5
    fd = (grad_at(theta + eps * v) - grad_at(theta - eps * v)) / (2 * eps)
    torch.testing.assert_close(hv, fd, atol=1e-6, rtol=1e-5)


def test_lanczos_recovers_extreme_eigenvalues_and_quadrature_weights():
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(60, 60, generator=g, dtype=D64))
    evals = torch.cat([torch.linspace(-1, 1, 57, dtype=D64), torch.tensor([3.0, 5.0, 9.0], dtype=D64)])
    a = q @ torch.diag(evals) @ q.T
    v0 = torch.randn(60, generator=g, dtype=D64)
    res = lanczos(lambda v: a @ v, v0, n_iter=25)
    torch.testing.assert_close(res.eigenvalues[-3:], evals[-3:])
    torch.testing.assert_close(res.eigenvalues[0], evals[0], atol=1e-3, rtol=0)
    torch.testing.assert_close(res.weights.sum(), torch.tensor(1.0, dtype=D64))
    # the quadrature integrates polynomials of degree < 2k exactly: v0^T A^3 v0 / |v0|^2
    u = v0 / v0.norm()
    torch.testing.assert_close((res.weights * res.eigenvalues**3).sum(), u @ a @ a @ a @ u)
    full = lanczos(lambda v: a @ v, v0, n_iter=60)
    torch.testing.assert_close(full.eigenvalues, evals.sort().values, atol=1e-8, rtol=0)


def test_lanczos_without_reorthogonalisation_shows_ghosts():
    evals = torch.cat([torch.linspace(0, 1, 200, dtype=D64), torch.tensor([50.0], dtype=D64)])
    a = torch.diag(evals)
    v0 = torch.ones(201, dtype=D64)
    plain = lanczos(lambda v: a @ v, v0, n_iter=80, reorthogonalize=False)
    clean = lanczos(lambda v: a @ v, v0, n_iter=80)
    assert int((clean.eigenvalues > 49).sum()) == 1
    assert int((plain.eigenvalues > 49).sum()) >= 2  # a spurious copy of the converged outlier


def test_lanczos_stops_on_an_invariant_subspace():
    a = torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=D64))
    res = lanczos(lambda v: a @ v, torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=D64), n_iter=4)
    assert res.n_iter == 2
    torch.testing.assert_close(res.eigenvalues, torch.tensor([1.0, 2.0], dtype=D64))


def test_slq_matches_the_dense_spectrum_of_a_small_network():
    net = _relu_net(h=8)
    x, y = _data(n=50)
    evals = torch.linalg.eigvalsh(dense_hessian(net, x, y))
    sp = hessian_spectrum(net, x, y, n_iter=30, n_probes=20, generator=0)
    assert abs(sp.top_eigenvalue - float(evals[-1])) < 1e-6 * max(1.0, float(evals[-1]))
    assert abs(sp.bottom_eigenvalue - float(evals[0])) < 1e-3 * float(evals.abs().max())
    # Monte-Carlo vs exact: the mean of the quadrature estimates tr(H)/p
    est = float((sp.weights * sp.nodes).sum(1).mean())
    exact = float(evals.mean())
    se = float((sp.weights * sp.nodes).sum(1).std()) / 20**0.5
    assert abs(est - exact) < 4 * se + 1e-9, (est, exact, se)
    grid = torch.linspace(float(evals[0]) - 1, float(evals[-1]) + 1, 400, dtype=D64)
    dens = sp.density(grid, width=0.05)
    torch.testing.assert_close(torch.trapezoid(dens, grid), torch.tensor(1.0, dtype=D64), atol=1e-3, rtol=0)


def test_bad_inputs_are_refused():
    net = _relu_net()
    x, y = _data()
    with pytest.raises(ValueError, match="directions must have"):
        loss_landscape(net, x, y, torch.ones(1, 3, dtype=D64), torch.zeros(2, 1, dtype=D64))
    with pytest.raises(ValueError, match="coords"):
        loss_landscape(net, x, y, torch.ones(2, 45, dtype=D64), torch.zeros(2, 1, dtype=D64))
    with pytest.raises(TypeError, match="model has torch.float32"):
        hessian_vector_product(_relu_net(torch.float32), x, y, torch.ones(45, dtype=D64))
    with pytest.raises(ValueError, match="x and y"):
        dense_hessian(net, x, y[:5])
    with pytest.raises(ValueError, match="v0 must be nonzero"):
        lanczos(lambda v: v, torch.zeros(3))
    with pytest.raises(ValueError, match="non-finite"):
        lanczos(lambda v: v * float("nan"), torch.ones(3))
    with pytest.raises(ValueError, match="too much memory"):
        dense_hessian(
            nn.Linear(200, 200).double(),
            torch.ones(2, 200, dtype=D64),
            torch.zeros(2, 200, dtype=D64),
            loss_fn=F.mse_loss,
        )
    with pytest.raises(ValueError, match="no trainable parameters"):
        random_direction(nn.ReLU())


# --- K-FAC ----------------------------------------------------------------------------------


def _brute_fisher(net, x):
    """Exact Fisher of the softmax predictive over all parameters, by per-example per-class autograd."""
    params = list(net.parameters())
    logp = torch.log_softmax(net(x), dim=1)
    prob = logp.detach().exp()
    rows = []
    for i in range(x.shape[0]):
        for c in range(logp.shape[1]):
            gr = torch.autograd.grad(logp[i, c], params, retain_graph=True)
            rows.append((prob[i, c].sqrt(), gr))
    return rows


def _block(rows, net, layer_index, n):
    """The [W b] block (row-major over (d_out, d_in + 1)) of the brute-force Fisher."""
    w_pos, b_pos = 2 * layer_index, 2 * layer_index + 1
    vecs = []
    for s, gr in rows:
        vecs.append(s * torch.cat([gr[w_pos], gr[b_pos][:, None]], dim=1).reshape(-1))
    v = torch.stack(vecs)
    return v.T @ v / n


def test_fisher_blocks_against_brute_force():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    x = torch.randn(7, 3, dtype=D64)
    blocks = kfac_fisher_blocks(net, x)
    rows = _brute_fisher(net, x)
    for k, b in enumerate(blocks):
        torch.testing.assert_close(b.exact, _block(rows, net, k, 7))
        torch.testing.assert_close(b.kfac, torch.kron(b.g_factor, b.a_factor))
        assert 1e-3 < b.relative_error < 1.0  # an approximation, not exact, for n > 1
    one = kfac_fisher_blocks(net, x[:1])
    for b in one:
        torch.testing.assert_close(b.kfac, b.exact)
    # the last layer's G for softmax is E_i[diag(p) - p p^T]
    prob = torch.softmax(net(x), 1).detach()
    g_ref = (torch.diag_embed(prob) - prob[:, :, None] * prob[:, None, :]).mean(0)
    torch.testing.assert_close(blocks[1].g_factor, g_ref)


def test_kfac_step_is_the_kronecker_preconditioned_gradient():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x = torch.randn(10, 3, dtype=D64)
    y = torch.randint(0, 2, (10,))
    before = [p.detach().clone() for p in net.parameters()]
    opt = KFAC(net, lr=0.5, damping=0.1, ema_decay=0.0)
    opt.zero_grad()
    F.cross_entropy(net(x), y).backward()
    grads = [p.grad.clone() for p in net.parameters()]
    # brute force: per-example output gradients of the mean loss times n, by autograd
    h = torch.tanh(net[0](x)).detach()  # an extra forward with grad on: its capture is never used
    acts = [torch.cat([x, torch.ones(10, 1, dtype=D64)], 1), torch.cat([h, torch.ones(10, 1, dtype=D64)], 1)]
    s1 = F.linear(x, net[0].weight, net[0].bias)  # not through the modules: their hooks would fire
    s2 = F.linear(torch.tanh(s1), net[2].weight, net[2].bias)
    g1, g2 = torch.autograd.grad(F.cross_entropy(s2, y, reduction="sum"), [s1, s2])
    opt.step()
    for k, (a, g) in enumerate(zip(acts, [g1, g2])):
        fa, fg = a.T @ a / 10, g.T @ g / 10
        pi = ((torch.trace(fa) / fa.shape[0]) / (torch.trace(fg) / fg.shape[0])).sqrt()
        ia = torch.linalg.inv(fa + pi * 0.1**0.5 * torch.eye(fa.shape[0], dtype=D64))
        ig = torch.linalg.inv(fg + 0.1**0.5 / pi * torch.eye(fg.shape[0], dtype=D64))
        gw = torch.cat([grads[2 * k], grads[2 * k + 1][:, None]], 1)
        step = ig @ gw @ ia
        torch.testing.assert_close(list(net.parameters())[2 * k].detach(), before[2 * k] - 0.5 * step[:, :-1])
        torch.testing.assert_close(
            list(net.parameters())[2 * k + 1].detach(), before[2 * k + 1] - 0.5 * step[:, -1]
        )


def _train(make_opt, n_steps=60):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = (x[:, :4] @ torch.randn(4, 4, generator=g)).argmax(1)
    opt = make_opt(net)
    losses = []
    for _ in range(n_steps):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_kfac_reaches_a_loss_in_fewer_steps_than_sgd():
    target = 0.3
    kfac = _train(lambda n: KFAC(n, lr=0.3, damping=1e-2))
    sgd = _train(lambda n: torch.optim.SGD(n.parameters(), lr=0.3, momentum=0.9))

    def first(losses):
        return next((i for i, v in enumerate(losses) if v < target), len(losses))

    assert first(kfac) < 0.5 * first(sgd), (first(kfac), first(sgd))


def test_kfac_state_and_momentum_and_update_every():
    losses = _train(lambda n: KFAC(n, lr=0.2, damping=1e-2, momentum=0.5, update_every=5), n_steps=30)
    assert losses[-1] < 0.6 * losses[0]
    net = nn.Linear(2, 2)
    opt = KFAC(net)
    opt.remove_hooks()
    assert opt._handles == []


def test_float32_follows_inputs():
    net = _relu_net(torch.float32)
    x, y = _data(dtype=torch.float32)
    d = random_direction(net, generator=0)
    assert d.dtype == torch.float32
    assert loss_landscape(net, x, y, d[None], torch.zeros(1, 1)).dtype == torch.float32
    assert hessian_vector_product(net, x, y, d).dtype == torch.float32
    assert kfac_fisher_blocks(net, x)[0].exact.dtype == torch.float32


@pytest.mark.gpu
def test_core_path_on_gpu():
    net = _relu_net(device="cuda")
    x, y = _data(device="cuda")
    d = random_direction(net, generator=0)
    assert d.device.type == "cuda"
    cpu = random_direction(_relu_net(), generator=0)
    torch.testing.assert_close(d.cpu(), cpu)
    assert (
        loss_landscape(net, x, y, d[None], torch.zeros(2, 1, device="cuda", dtype=D64)).device.type == "cuda"
    )
    sp = hessian_spectrum(net, x, y, n_iter=10, generator=0)
    ref = hessian_spectrum(_relu_net(), *_data(), n_iter=10, generator=0)
    assert abs(sp.top_eigenvalue - ref.top_eigenvalue) < 1e-8
    blocks = kfac_fisher_blocks(net, x)
    assert blocks[0].exact.device.type == "cuda"
    opt = KFAC(net, lr=0.1)
    opt.zero_grad()
    F.cross_entropy(net(x), y).backward()
    opt.step()
