"""WarpGrad and MAML against independent references: explicit preconditioners, finite differences,
torch.func, closed forms."""

import numpy as np
import pytest
import torch
from torch.func import grad as fgrad

from nips2019.warpgrad import (WarpedMLP, adapt, make_linear_tasks, maml_meta_loss, meta_train,
                               preconditioned_condition_number, saved_tensor_bytes, warpgrad_meta_loss)

D64 = torch.float64


def _random_warps(net, g, scale=0.4):
    with torch.no_grad():
        for w in net.warp_parameters():
            w.add_(scale * torch.randn(w.shape, generator=g, dtype=w.dtype))


def _tasks(n_tasks=3, d=4, condition=10.0, seed=0):
    return make_linear_tasks(n_tasks, 12, 9, d, condition=condition, noise=0.1, generator=seed, dtype=D64)


@pytest.mark.parametrize("warp,depth", [("full", 1), ("full", 2), ("diagonal", 2)])
def test_inner_step_is_preconditioned_descent_on_effective_weights(warp, depth):
    """One step on W_i through the warps equals M_i - lr * grad_M L * A_i^T A_i on an unwarped net."""
    g = torch.Generator().manual_seed(1)
    net = WarpedMLP([4, 5, 3], warp=warp, warp_depth=depth, activation="tanh", generator=0).double()
    _random_warps(net, g)
    x = torch.randn(2, 7, 4, generator=g, dtype=D64)
    y = torch.randn(2, 7, 3, generator=g, dtype=D64)
    lr = 0.3
    res = adapt(net, x, y, n_steps=1, lr=lr)
    m_after = net.effective_weights(res.task)
    # independent reference: a plain network whose weights are the effective ones
    plain = WarpedMLP([4, 5, 3], warp="none", activation="tanh", generator=0).double()
    task0 = [t.detach().clone() for t in net.task_init(2)]
    eff = [m.detach().clone().requires_grad_() for m in net.effective_weights(task0)]
    biases = [task0[1].clone().requires_grad_(), task0[3].clone().requires_grad_()]
    params = [eff[0], biases[0], eff[1], biases[1]]
    loss = 0.5 * (plain(x, params) - y).pow(2).sum(-1).mean(-1).sum()
    grads = torch.autograd.grad(loss, params)
    for i in range(2):
        p = net.preconditioner(i).detach()
        a = net.warp_matrix(i).detach()
        torch.testing.assert_close(p, a.T @ a)
        expected = eff[i].detach() - lr * grads[2 * i] @ p
        torch.testing.assert_close(m_after[i], expected, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(res.task[2 * i + 1], biases[i].detach() - lr * grads[2 * i + 1])


def test_linear_regression_step_matches_closed_form():
    g = torch.Generator().manual_seed(2)
    net = WarpedMLP([4, 1], warp="full", warp_depth=2, bias=False, init_scale=1.0, generator=0).double()
    _random_warps(net, g)
    t = _tasks()
    lr = 0.2
    res = adapt(net, t.x_support, t.y_support, n_steps=3, lr=lr)
    a = (net.warps[1] @ net.warps[0]).detach()
    p = a.T @ a
    w = (net.task_parameters()[0].detach() @ a).expand(3, 1, 4).squeeze(1)  # effective weights per task
    for _ in range(3):
        resid = torch.einsum("tnd,td->tn", t.x_support, w) - t.y_support[..., 0]
        w = w - lr * torch.einsum("tnd,tn->td", t.x_support, resid) / t.x_support.shape[1] @ p
    torch.testing.assert_close(net.effective_weights(res.task)[0][:, 0], w)


def test_losses_recorded_along_the_way():
    t = _tasks()
    net = WarpedMLP([4, 1], bias=False, init_scale=0.0).double()
    res = adapt(net, *t.arrays(), n_steps=4, lr=0.5)
    assert res.support_loss.shape == (5, 3) and res.query_loss.shape == (5, 3) and len(res.trajectory) == 4
    # zero initialisation: the first loss is half the mean squared label
    torch.testing.assert_close(res.support_loss[0], 0.5 * t.y_support.pow(2).mean((1, 2)))
    assert bool((res.support_loss[1:] < res.support_loss[:-1]).all())


def _pure_maml(w0, a, xs, ys, xq, yq, k, lr):
    """MAML's query loss as a pure function of (init, warp) for torch.func: single-output regression."""
    def task_loss(w, x, y):
        return 0.5 * ((x @ a.T @ w - y) ** 2).mean()
    total = 0.0
    for t in range(xs.shape[0]):
        w = w0
        for _ in range(k):
            w = w - lr * fgrad(task_loss)(w, xs[t], ys[t, :, 0])
        total = total + task_loss(w, xq[t], yq[t, :, 0])
    return total / xs.shape[0]


def test_maml_meta_gradient_against_torch_func_and_finite_differences():
    g = torch.Generator().manual_seed(3)
    t = _tasks(n_tasks=2, d=3)
    net = WarpedMLP([3, 1], warp="full", bias=False, init_scale=1.0, generator=0).double()
    _random_warps(net, g, 0.2)
    k, lr = 4, 0.4
    loss = maml_meta_loss(net, *t.arrays(), n_steps=k, lr=lr)
    g_init, g_warp = torch.autograd.grad(loss, [net.init[0], net.warps[0]])
    w0, a = net.init[0].detach()[0], net.warps[0].detach()
    ref_init, ref_warp = fgrad(_pure_maml, argnums=(0, 1))(w0, a, *t.arrays(), k, lr)
    torch.testing.assert_close(g_init[0], ref_init)
    torch.testing.assert_close(g_warp, ref_warp)
    # central finite differences along random directions
    for _ in range(3):
        u, v = torch.randn(3, generator=g, dtype=D64), torch.randn(3, 3, generator=g, dtype=D64)
        h = 1e-5
        fd = (_pure_maml(w0 + h * u, a + h * v, *t.arrays(), k, lr)
              - _pure_maml(w0 - h * u, a - h * v, *t.arrays(), k, lr)) / (2 * h)
        an = (g_init[0] * u).sum() + (g_warp * v).sum()
        assert abs(float(fd - an)) < 1e-7 * max(1.0, abs(float(an))), (float(fd), float(an))
    # first-order MAML drops the Hessian terms: a different (wrong) gradient for k > 1
    fo = maml_meta_loss(net, *t.arrays(), n_steps=k, lr=lr, first_order=True)
    g_fo = torch.autograd.grad(fo, net.init[0])[0]
    assert (g_fo - g_init).abs().max() > 1e-3


def test_warpgrad_meta_gradient_against_naive_reference():
    """Trajectory as constants, one differentiated step from each point, scored on the query set."""
    g = torch.Generator().manual_seed(4)
    t = _tasks(n_tasks=3, d=3)
    net = WarpedMLP([3, 1], warp="full", bias=False, init_scale=1.0, generator=0).double()
    _random_warps(net, g, 0.2)
    k, lr = 5, 0.4
    loss = warpgrad_meta_loss(net, *t.arrays(), n_steps=k, lr=lr)
    (g_warp,) = torch.autograd.grad(loss, [net.warps[0]])
    # reference: trajectories in plain numpy, then a pure function of the warp
    xs, ys, xq, yq = (z.numpy() for z in t.arrays())
    a_np, w0 = net.warps[0].detach().numpy(), net.init[0].detach().numpy()[0]
    points = []
    for tk in range(3):
        w = w0.copy()
        for _ in range(k):
            points.append((tk, w.copy()))
            feats = xs[tk] @ a_np.T
            w = w - lr * feats.T @ (feats @ w - ys[tk, :, 0]) / feats.shape[0]

    def objective(a):
        total = 0.0
        for tk, w in points:
            w = torch.as_tensor(w)
            feats = t.x_support[tk] @ a.T
            w1 = w - lr * feats.T @ (feats @ w - t.y_support[tk, :, 0]) / feats.shape[0]
            total = total + 0.5 * ((t.x_query[tk] @ a.T @ w1 - t.y_query[tk, :, 0]) ** 2).mean()
        return total / len(points)

    a = net.warps[0].detach().clone()
    torch.testing.assert_close(loss.detach(), objective(a))
    torch.testing.assert_close(g_warp, fgrad(objective)(a))
    # WarpGrad's stop-gradient changes the gradient (k > 1) ...
    unrolled = torch.autograd.grad(maml_meta_loss(net, *t.arrays(), n_steps=k, lr=lr), net.warps[0])[0]
    assert (unrolled - g_warp).abs().max() > 1e-3
    # ... and with one step, from a fixed initialisation, the two objectives coincide
    l1 = warpgrad_meta_loss(net, *t.arrays(), n_steps=1, lr=lr)
    m1 = maml_meta_loss(net, *t.arrays(), n_steps=1, lr=lr)
    torch.testing.assert_close(l1, m1)
    torch.testing.assert_close(torch.autograd.grad(l1, net.warps[0])[0],
                               torch.autograd.grad(m1, net.warps[0])[0])


def test_warpgrad_gives_no_gradient_to_the_initialisation():
    t = _tasks()
    net = WarpedMLP([4, 1], bias=False, generator=0).double()
    loss = warpgrad_meta_loss(net, *t.arrays(), n_steps=3, lr=0.3)
    g_init = torch.autograd.grad(loss, net.init[0], allow_unused=True)[0]
    assert g_init is None or float(g_init.abs().max()) == 0.0


def test_sampled_points_are_reproducible():
    t = _tasks()
    net = WarpedMLP([4, 1], bias=False, generator=0).double()
    a = warpgrad_meta_loss(net, *t.arrays(), n_steps=6, lr=0.3, n_points=2, generator=5)
    b = warpgrad_meta_loss(net, *t.arrays(), n_steps=6, lr=0.3, n_points=2, generator=5)
    assert float(a.detach()) == float(b.detach())


def test_memory_maml_grows_with_steps_warpgrad_does_not():
    t = make_linear_tasks(8, 32, 32, 6, generator=0, dtype=D64)
    net = WarpedMLP([6, 1], bias=False, init_scale=0.0).double()
    maml = [saved_tensor_bytes(lambda k=k: maml_meta_loss(net, *t.arrays(), n_steps=k, lr=0.5)).bytes
            for k in (2, 8, 32)]
    warp = [saved_tensor_bytes(lambda k=k: warpgrad_meta_loss(net, *t.arrays(), n_steps=k, lr=0.5, n_points=1,
                                                               generator=0)).bytes for k in (2, 8, 32)]
    per_step = (maml[2] - maml[1]) / 24
    assert abs((maml[1] - maml[0]) / 6 - per_step) < 0.01 * per_step, maml  # linear in k
    assert maml[2] > 8 * maml[0], maml
    assert warp[0] == warp[1] == warp[2], warp
    assert warp[0] < maml[0]


def test_saved_tensor_bytes_counts_distinct_tensors():
    x = torch.ones(10, 3, requires_grad=True, dtype=D64)
    w = torch.ones(3, 2, dtype=D64, requires_grad=True)
    mem = saved_tensor_bytes(lambda: (x @ w).sum())
    assert mem.bytes == 10 * 3 * 8 + 3 * 2 * 8 and mem.n_tensors == 2
    assert saved_tensor_bytes(lambda: (x.detach() * 2).sum()).bytes == 0


def test_make_linear_tasks_moments():
    t = make_linear_tasks(400, 50, 10, 5, condition=30.0, noise=0.2, generator=0, dtype=D64)
    cov = t.covariance
    ev = torch.linalg.eigvalsh(cov)
    torch.testing.assert_close(ev.max() / ev.min(), torch.tensor(30.0, dtype=D64))
    x = t.x_support.reshape(-1, 5)
    emp = x.T @ x / x.shape[0]
    assert (emp - cov).abs().max() < 0.03
    # w ~ N(0, Sigma^-1): E[w w^T] Sigma = I
    ww = t.weights.T @ t.weights / 400
    assert (ww @ cov - torch.eye(5, dtype=D64)).abs().max() < 0.3
    resid = t.y_support[..., 0] - torch.einsum("tnd,td->tn", t.x_support, t.weights)
    assert abs(float(resid.std()) - 0.2) < 0.01
    iso = make_linear_tasks(400, 5, 5, 5, weight_cov="identity", rotate=False, generator=0, dtype=D64)
    assert (iso.weights.T @ iso.weights / 400 - torch.eye(5, dtype=D64)).abs().max() < 0.25
    torch.testing.assert_close(iso.covariance, torch.diag(torch.diagonal(iso.covariance)))
    a, b = t.split(300)
    assert a.x_support.shape[0] == 300 and b.x_query.shape[0] == 100


def test_preconditioned_condition_number_against_numpy():
    g = torch.Generator().manual_seed(6)
    b = torch.randn(5, 5, generator=g, dtype=D64)
    c = torch.randn(5, 5, generator=g, dtype=D64)
    p, h = b @ b.T + 0.1 * torch.eye(5, dtype=D64), c @ c.T + 0.1 * torch.eye(5, dtype=D64)
    ev = np.sort(np.linalg.eigvals((p @ h).numpy()).real)
    assert abs(preconditioned_condition_number(p, h) - ev[-1] / ev[0]) < 1e-8 * ev[-1] / ev[0]
    with pytest.raises(ValueError, match="p must be positive definite"):
        preconditioned_condition_number(-p, h)


def test_meta_training_learns_the_inverse_covariance():
    """Convergence: the learned preconditioner's kappa(P Sigma) falls well below kappa(Sigma) = 50."""
    tasks = make_linear_tasks(200, 24, 24, 4, condition=50.0, noise=0.05, generator=0, dtype=D64)
    net = WarpedMLP([4, 1], bias=False, init_scale=0.0).double()
    res = meta_train(net, *tasks.arrays(), n_steps=4, lr=1.0, meta_lr=0.05, n_meta_steps=80, batch_size=16,
                     n_points=2, generator=0)
    kappa = preconditioned_condition_number(net.preconditioner(0), tasks.covariance)
    assert kappa < 8, kappa
    assert res.loss_history[-10:].mean() < 0.5 * res.loss_history[:5].mean()


def test_maml_learns_the_task_mean():
    """MAML's lever is the initialisation: shifted tasks pull it towards their mean weights."""
    tasks = make_linear_tasks(200, 16, 16, 3, condition=2.0, weight_cov="identity", weight_scale=0.1,
                              generator=0, dtype=D64)
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=D64)
    tasks.y_support += (tasks.x_support @ shift)[..., None]
    tasks.y_query += (tasks.x_query @ shift)[..., None]
    net = WarpedMLP([3, 1], warp="none", bias=False, init_scale=0.0).double()
    meta_train(net, *tasks.arrays(), method="maml", n_steps=1, lr=0.1, meta_lr=0.05, n_meta_steps=150,
               generator=0)
    assert (net.init[0].detach()[0] - shift).abs().max() < 0.25, net.init[0]


def test_state_dict_round_trip():
    net = WarpedMLP([3, 4, 2], warp_depth=2, generator=0)
    _random_warps(net, torch.Generator().manual_seed(0))
    other = WarpedMLP([3, 4, 2], warp_depth=2, generator=1)
    other.load_state_dict(net.state_dict())
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(other(x), net(x))


def test_bad_inputs():
    t = _tasks()
    net = WarpedMLP([4, 1], bias=False).double()
    with pytest.raises(TypeError, match="model must be a WarpedMLP"):
        adapt(torch.nn.Linear(4, 1).double(), t.x_support, t.y_support)
    with pytest.raises(ValueError, match="maps 5 features"):
        adapt(WarpedMLP([5, 1]).double(), t.x_support, t.y_support)
    with pytest.raises(ValueError, match="give both x_query and y_query"):
        adapt(net, t.x_support, t.y_support, t.x_query)
    with pytest.raises(ValueError, match="warp='none'"):
        meta_train(WarpedMLP([4, 1], warp="none").double(), *t.arrays(), n_meta_steps=1)
    with pytest.raises(FloatingPointError, match="lower lr"):
        adapt(net, t.x_support * 1e3, t.y_support, n_steps=50, lr=10.0)
    with pytest.raises(ValueError, match="task must be 1 tensors"):
        net(t.x_support, [torch.zeros(3, 1, 4, dtype=D64)] * 2)
    with pytest.raises(ValueError, match="x must have 4 features"):
        net(t.x_support[..., :2])
    with pytest.raises(TypeError, match="dtype"):
        adapt(net.float(), t.x_support, t.y_support)


@pytest.mark.gpu
def test_gpu_matches_cpu():
    t = _tasks()
    net = WarpedMLP([4, 3, 1], generator=0).double()
    _random_warps(net, torch.Generator().manual_seed(0))
    cpu = warpgrad_meta_loss(net, *t.arrays(), n_steps=3, lr=0.3)
    g_cpu = torch.autograd.grad(cpu, net.warp_parameters())
    net_gpu = net.to("cuda")
    arrays = [z.cuda() for z in t.arrays()]
    gpu = warpgrad_meta_loss(net_gpu, *arrays, n_steps=3, lr=0.3)
    g_gpu = torch.autograd.grad(gpu, net_gpu.warp_parameters())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu)
    for a, b in zip(g_cpu, g_gpu):
        torch.testing.assert_close(b.cpu(), a)
    m = maml_meta_loss(net_gpu, *arrays, n_steps=3, lr=0.3)
    assert m.device.type == "cuda" and bool(torch.isfinite(m))


def test_unrolled_warp_gradient_matches_higher():
    """The peer library ``higher`` (differentiable SGD, one task at a time) gives the same gradient."""
    higher = pytest.importorskip("higher")
    t = _tasks(n_tasks=3, d=3)
    net = WarpedMLP([3, 1], warp="full", bias=False, init_scale=1.0, generator=0).double()
    _random_warps(net, torch.Generator().manual_seed(7), 0.2)
    k, lr = 4, 0.3
    ours = torch.autograd.grad(maml_meta_loss(net, *t.arrays(), n_steps=k, lr=lr), net.warps[0])[0]
    warp = torch.nn.Linear(3, 3, bias=False).double()
    task = torch.nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        warp.weight.copy_(net.warps[0])
        task.weight.copy_(net.init[0])
    model = torch.nn.Sequential(warp, task)
    xs, ys, xq, yq = t.arrays()
    total = torch.zeros_like(warp.weight)
    for i in range(3):
        inner = torch.optim.SGD(task.parameters(), lr=lr)
        with higher.innerloop_ctx(model, inner, copy_initial_weights=False) as (fmodel, diffopt):
            for _ in range(k):
                diffopt.step(0.5 * (fmodel(xs[i]) - ys[i]).pow(2).sum(-1).mean())
            loss = 0.5 * (fmodel(xq[i]) - yq[i]).pow(2).sum(-1).mean() / 3
            total += torch.autograd.grad(loss, warp.weight)[0]
    torch.testing.assert_close(ours, total)

