"""Reference tests for nips2019.prototypes: naive loops, brute force, closed forms and cvxpy."""

import math

import numpy as np
import pytest
import torch

from nips2019.prototypes import (
    ConvBackbone,
    LinearHeadNet,
    ProtoPNet,
    activation_map,
    cluster_cost,
    explain,
    fit_joint,
    fit_last_layer,
    load_digit_images,
    log_similarity,
    prototype_distances,
    push_prototypes,
    separation_cost,
    train_classifier,
)

F64 = dict(dtype=torch.float64)


def _naive_distances(z, p):
    n, d, hh, ww = z.shape
    m, _, h, w = p.shape
    out = torch.zeros(n, m, hh - h + 1, ww - w + 1, **F64)
    for i in range(n):
        for j in range(m):
            for r in range(hh - h + 1):
                for c in range(ww - w + 1):
                    out[i, j, r, c] = ((z[i, :, r:r + h, c:c + w] - p[j]) ** 2).sum()
    return out


def _net(n_classes=3, per_class=2, patch_size=1, seed=0, channels=(4, 8)):
    return ProtoPNet(ConvBackbone(1, channels, generator=seed), channels[-1], n_classes,
                     n_prototypes_per_class=per_class, n_features=5, patch_size=patch_size, generator=seed)


def _data(n=12, n_classes=3, seed=0, size=8):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g)
    y = torch.arange(n) % n_classes
    return x, y


@pytest.mark.parametrize("patch", [(1, 1), (2, 3)])
def test_distances_match_naive_loop(patch):
    g = torch.Generator().manual_seed(1)
    z = torch.rand(3, 4, 5, 6, generator=g, **F64)
    p = torch.rand(7, 4, *patch, generator=g, **F64)
    p[2] = z[1, :, 2:2 + patch[0], 3:3 + patch[1]]  # an exact match: distance 0, not a rounding -1e-17
    got = prototype_distances(z, p)
    torch.testing.assert_close(got, _naive_distances(z, p), rtol=1e-12, atol=1e-12)
    assert got.min() >= 0 and got[1, 2, 2, 3] == 0


def test_distances_refuse_patches_larger_than_the_map():
    with pytest.raises(ValueError, match="larger than the latent maps z"):
        prototype_distances(torch.rand(1, 2, 3, 3), torch.rand(1, 2, 4, 1))


def test_log_similarity_closed_form_and_shape():
    d = torch.tensor([0.0, 1e-6, 0.5, 3.0, 1e3, 1e8], **F64)
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    for eps in (1e-4, 0.3):
        ref = [float(mpmath.log((mpmath.mpf(v) + 1) / (mpmath.mpf(v) + mpmath.mpf(eps)))) for v in d.tolist()]
        np.testing.assert_allclose(log_similarity(d, eps=eps).numpy(), ref, rtol=1e-13)
    s32 = log_similarity(torch.tensor([1e4]))
    assert abs(float(s32) / (math.log(10001 / 10000.0001)) - 1) < 1e-5  # no cancellation in float32
    assert torch.all(log_similarity(d).diff() < 0)


def test_cluster_and_separation_costs_by_brute_force():
    g = torch.Generator().manual_seed(2)
    dist = torch.rand(9, 6, generator=g, **F64)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 2, 1, 0])
    cls = torch.tensor([0, 0, 1, 1, 2, 2])
    clst = np.mean([min(dist[i, j] for j in range(6) if cls[j] == y[i]) for i in range(9)])
    sep = np.mean([min(dist[i, j] for j in range(6) if cls[j] != y[i]) for i in range(9)])
    assert abs(float(cluster_cost(dist, y, cls)) - clst) < 1e-12
    assert abs(float(separation_cost(dist, y, cls)) - sep) < 1e-12


def test_costs_refuse_labels_without_prototypes():
    with pytest.raises(ValueError, match=r"labels \[3\] in y have no prototype"):
        cluster_cost(torch.rand(2, 2), torch.tensor([0, 3]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="at least two classes"):
        separation_cost(torch.rand(2, 2), torch.tensor([0, 0]), torch.tensor([0, 0]))


@pytest.mark.parametrize("patch_size", [1, 2])
def test_forward_is_max_pooled_log_similarity_of_naive_distances(patch_size):
    net = _net(patch_size=patch_size).double()
    x, _ = _data()
    x = x.double()
    z = net.features(x)
    d = _naive_distances(z.detach(), net.prototypes.detach())
    sims = log_similarity(d, eps=net.eps).flatten(2).max(2).values  # max-pool the similarity maps
    logits = sims @ net.last_layer.weight.detach().T
    torch.testing.assert_close(net(x).detach(), logits, rtol=1e-10, atol=1e-10)
    own = net.class_connection()
    assert set(net.last_layer.weight.detach()[own == 1].tolist()) == {1.0}
    assert set(net.last_layer.weight.detach()[own == 0].tolist()) == {-0.5}


@pytest.mark.parametrize("patch_size", [1, 2])
def test_push_projects_onto_nearest_patch_of_own_class(patch_size):
    net = _net(patch_size=patch_size).double()
    x, y = _data(n=10)
    x = x.double()
    before = net.prototypes.detach().clone()
    with torch.no_grad():
        z = net.features(x)
    d = _naive_distances(z, before)  # (n, m, H', W')
    res = push_prototypes(net, x, y, batch_size=3)  # batches must not change the answer
    h = patch_size
    for j in range(net.n_prototypes):
        i, (r, c) = int(res.image_index[j]), res.location[j].tolist()
        assert int(y[i]) == int(net.prototype_class[j])
        assert torch.equal(net.prototypes[j].detach(), z[i, :, r:r + h, c:c + h])
        own = y == net.prototype_class[j]
        best = d[own, j].min()
        assert abs(float(res.distance[j]) - float(best)) < 1e-12
        assert abs(float(d[i, j, r, c]) - float(best)) < 1e-12


def test_push_refuses_a_class_without_images():
    net = _net()
    x, _ = _data(n=4)
    with pytest.raises(ValueError, match=r"no image of class\(es\) \[2\]"):
        push_prototypes(net, x, torch.tensor([0, 1, 0, 1]))


def _cvxpy_last_layer(s, y, wrong, l1, l2):
    cp = pytest.importorskip("cvxpy")
    n, m = s.shape
    k = wrong.shape[0]
    w = cp.Variable((k, m))
    logits = s @ w.T
    onehot = np.eye(k)[y]
    ce = cp.sum(cp.log_sum_exp(logits, axis=1) - cp.sum(cp.multiply(onehot, logits), axis=1)) / n
    obj = ce + l1 * cp.sum(cp.abs(cp.multiply(wrong, w))) + 0.5 * l2 * cp.sum_squares(w)
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver="CLARABEL")
    return w.value, prob.value


def _scipy_last_layer(s, y, wrong, l1, l2):
    # W = A - B with A, B >= 0 on the wrong-class entries: a smooth bound-constrained problem
    from scipy.optimize import minimize

    n, m = s.shape
    k = wrong.shape[0]
    onehot = np.eye(k)[y]
    mask = wrong > 0

    def split(v):
        w = v[: k * m].reshape(k, m).copy()
        b = np.zeros((k, m))
        b[mask] = v[k * m:]
        return w - b, b

    def fun(v):
        w, b = split(v)
        logits = s @ w.T
        lse = np.logaddexp.reduce(logits, axis=1)
        p = np.exp(logits - lse[:, None])
        a = w + b
        f = (lse - (onehot * logits).sum(1)).mean() + l1 * (a[mask].sum() + b[mask].sum()) \
            + 0.5 * l2 * (w ** 2).sum()
        gw = (p - onehot).T @ s / n + l2 * w
        ga = gw + l1 * mask
        gb = -gw[mask] + l1
        return f, np.concatenate([ga.ravel(), gb])

    v0 = np.zeros(k * m + int(mask.sum()))
    bounds = [(0, None) if mk else (None, None) for mk in mask.ravel()] + [(0, None)] * int(mask.sum())
    out = minimize(fun, v0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options=dict(maxiter=20_000, ftol=1e-15, gtol=1e-12))
    return split(out.x)[0], out.fun


def _last_layer_problem():
    net = _net(n_classes=3, per_class=2).double()
    x, _ = _data(n=30)
    x = x.double()
    g = torch.Generator().manual_seed(5)
    y = torch.randint(0, 3, (30,), generator=g)  # random labels: a non-separable problem
    return net, x, y


def test_last_layer_matches_scipy():
    net, x, y = _last_layer_problem()
    l1, l2 = 0.05, 0.01
    res = fit_last_layer(net, x, y, l1=l1, l2=l2, tol=1e-10, max_iter=50_000)
    with torch.no_grad():
        s = net.details(x).similarities.numpy()
    wrong = (1 - net.class_connection()).numpy()
    w_ref, obj_ref = _scipy_last_layer(s, y.numpy(), wrong, l1, l2)
    assert res.converged
    assert abs(res.objective - obj_ref) < 1e-8, (res.objective, obj_ref)
    np.testing.assert_allclose(res.weight.numpy(), w_ref, atol=1e-5)
    zero = (res.weight.numpy() == 0) & (wrong > 0)
    assert zero.any() and np.abs(w_ref[zero]).max() < 1e-6


@pytest.mark.slow
def test_last_layer_matches_cvxpy():
    net, x, y = _last_layer_problem()
    l1, l2 = 0.05, 0.01
    res = fit_last_layer(net, x, y, l1=l1, l2=l2, tol=1e-10, max_iter=50_000)
    with torch.no_grad():
        s = net.details(x).similarities.numpy()
    wrong = (1 - net.class_connection()).numpy()
    w_ref, obj_ref = _cvxpy_last_layer(s, y.numpy(), wrong, l1, l2)
    assert res.converged
    assert res.objective <= obj_ref + 1e-6, (res.objective, obj_ref)
    np.testing.assert_allclose(res.weight.numpy(), w_ref, atol=2e-4)
    assert torch.equal(net.last_layer.weight.detach(), res.weight)
    # exact zeros where the L1 term is active
    zero = (res.weight.numpy() == 0) & (wrong > 0)
    assert zero.any() and np.abs(w_ref[zero]).max() < 1e-5


def test_explanation_decomposes_logits_exactly():
    net = _net().double()
    x, _ = _data(n=5)
    x = x.double()
    ex = explain(net, x)
    torch.testing.assert_close(ex.contributions.sum(-1), net(x).detach(), rtol=1e-12, atol=1e-12)
    maps = net.details(x).distance_maps.detach()
    for i in range(5):
        for j in range(net.n_prototypes):
            r, c = ex.location[i, j].tolist()
            assert maps[i, j, r, c] == maps[i, j].min()
    am = activation_map(net, x)
    assert am.shape == (5, net.n_prototypes, 8, 8)
    assert am.max() <= log_similarity(ex.min_distances).max() + 1e-12


def test_joint_stage_keeps_the_last_layer_and_lowers_the_loss():
    net = _net()
    x, y = _data(n=24)
    w0 = net.last_layer.weight.detach().clone()
    res = fit_joint(net, x, y, n_epochs=15, lr=1e-2, batch_size=8, generator=0, progress=False)
    assert torch.equal(net.last_layer.weight.detach(), w0)
    assert res.loss[-1] < res.loss[0]
    fit_joint(net, x, y, n_epochs=1, train_last_layer=True, generator=0, progress=False)
    assert not torch.equal(net.last_layer.weight.detach(), w0)


def test_separation_weight_pushes_wrong_class_prototypes_away():
    x, y = _data(n=24)
    seps = []
    for sep in (0.0, 1.0):
        net = _net(seed=3)
        fit_joint(net, x, y, n_epochs=10, lr=1e-2, batch_size=8, sep_weight=sep, generator=0, progress=False)
        with torch.no_grad():
            seps.append(float(separation_cost(net.details(x).min_distances, y, net.prototype_class)))
    assert seps[1] > 1.5 * seps[0], seps


def test_training_is_reproducible_and_follows_dtype():
    x, y = _data(n=12)
    out = []
    for _ in range(2):
        net = _net(seed=4).double()
        fit_joint(net, x.double(), y, n_epochs=2, generator=7, progress=False)
        out.append(net(x.double()).detach())
    assert out[0].dtype == torch.float64
    assert torch.equal(out[0], out[1])


def test_model_and_input_dtypes_must_agree():
    net = _net()
    x, y = _data(n=6)
    with pytest.raises(TypeError, match="x has dtype torch.float64 but model has torch.float32"):
        explain(net, x.double())


def test_baseline_trains():
    x, y = _data(n=24, n_classes=2)
    x[y == 1, :, :4] += 1.0  # an easy problem
    net = LinearHeadNet(ConvBackbone(1, (4,), generator=0), 4, 2, generator=0)
    res = train_classifier(net, x, y, n_epochs=30, lr=1e-2, batch_size=8, generator=0, progress=False)
    assert res.loss[-1] < 0.5 * res.loss[0]
    assert float((net(x).argmax(1) == y).float().mean()) > 0.9


def test_digit_images_are_sklearns_digits():
    from sklearn.datasets import load_digits

    from nips2019.prototypes._data import _digits

    images, labels = _digits()
    ref = load_digits()
    np.testing.assert_array_equal(images * 16, ref.images)
    np.testing.assert_array_equal(labels, ref.target)


def test_digit_images():
    a = load_digit_images(100, 50, generator=3)
    b = load_digit_images(100, 50, generator=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.x_train.shape == (100, 1, 8, 8) and 0 <= a.x_train.min() and a.x_train.max() <= 1
    assert set(a.y_train.tolist()) <= set(range(10))
    with pytest.raises(ValueError, match="at most 1797"):
        load_digit_images(1000, 1000)


@pytest.mark.gpu
def test_pipeline_on_gpu():
    x, y = _data(n=12)
    cpu = _net(seed=1)
    gpu = _net(seed=1).cuda()
    for net, xx, yy in ((cpu, x, y), (gpu, x.cuda(), y.cuda())):
        fit_joint(net, xx, yy, n_epochs=2, generator=0, progress=False)
        push_prototypes(net, xx, yy)
        fit_last_layer(net, xx, yy, l1=0.01, l2=0.01)
    ex = explain(gpu, x.cuda())
    assert ex.logits.device.type == "cuda"
    torch.testing.assert_close(ex.logits.cpu(), explain(cpu, x).logits, rtol=1e-3, atol=1e-3)


def test_last_layer_without_ridge_grows_on_separable_scores():
    # separable training scores and l2 = 0: no minimiser, the own-class weights keep growing
    net = _net(n_classes=2, per_class=1).double()
    x, y = _data(n=8, n_classes=2)
    x = x.double()
    with torch.no_grad():
        net.prototypes.copy_(net.features(x[:2])[:, :, :1, :1])  # prototype j = a patch of image j
    sizes = []
    for max_iter in (200, 2000):
        net.reset_last_layer()
        res = fit_last_layer(net, x[:2], y[:2], l1=0.0, max_iter=max_iter)
        sizes.append(float(res.weight.diagonal().mean()))
    assert not res.converged and sizes[1] > sizes[0] + 0.5, sizes
    net.reset_last_layer()
    assert fit_last_layer(net, x[:2], y[:2], l1=0.0, l2=0.1).converged


def test_hand_written_adam_matches_torch_optim():
    from nips2019.prototypes._train import _Adam

    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    ours, ref = _Adam([a], lr=0.05), torch.optim.Adam([b], lr=0.05)
    target = torch.randn(5, 3, generator=g, dtype=torch.float64)
    for _ in range(20):
        for p, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            ((p - target) ** 4).sum().backward()
            opt.step()
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
