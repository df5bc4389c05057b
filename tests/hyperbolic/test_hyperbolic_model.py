import pytest
import torch

from nips2019.hyperbolic import (
    HierarchyEmbedding,
    NegativeSampler,
    balanced_tree,
    random_tree,
    ranking_loss,
    reconstruction,
    train_embedding,
)


def test_sampler_mask_matches_brute_force():
    t = random_tree(40, generator=0)
    pairs = set(map(tuple, t.closure.tolist()))
    s = NegativeSampler(t.closure, t.n_nodes)
    u = t.closure[:30, 0]
    for burnin in (False, True):
        out = s.sample(u, 20, generator=1, burnin=burnin)
        neg, invalid = out.negatives, out.invalid
        want = torch.tensor([[w == a or (a, w) in pairs or (w, a) in pairs for w in row]
                             for a, row in zip(u.tolist(), neg.tolist())])
        assert torch.equal(invalid, want)
    # the key path (binary search in the sorted keys) agrees with the dense lookup
    s.dense = None
    out = s.sample(u, 20, generator=1)
    neg2, invalid2 = out.negatives, out.invalid
    want = torch.tensor([[w == a or (a, w) in pairs or (w, a) in pairs for w in row]
                         for a, row in zip(u.tolist(), neg2.tolist())])
    assert torch.equal(invalid2, want)


def test_ranking_loss_matches_manual():
    emb = HierarchyEmbedding(5, 2, init_scale=0.3, generator=0, dtype=torch.float64)
    u, v = torch.tensor([1, 2]), torch.tensor([0, 0])
    neg = torch.tensor([[3, 4, 2], [3, 4, 1]])
    invalid = torch.tensor([[False, False, True], [False, True, False]])
    loss = ranking_loss(emb, u, v, neg, invalid)
    manual = 0.0
    for i in range(2):
        dp = emb.distance(u[i:i + 1], v[i:i + 1])[0]
        dn = torch.stack([emb.distance(u[i:i + 1], neg[i, j:j + 1])[0] for j in range(3) if not invalid[i, j]])
        manual = manual - (-dp - torch.logsumexp(torch.cat([-dp[None], -dn]), 0))
    torch.testing.assert_close(loss, manual / 2)


@pytest.mark.parametrize("model", ["poincare", "lorentz"])
def test_training_reconstructs_small_tree(model):
    t = balanced_tree(2, 4)  # 31 nodes
    res = train_embedding(t.closure, t.n_nodes, 2, model=model, n_epochs=150, lr=30.0, batch_size=64, n_negatives=10,
                          n_burnin_epochs=10, generator=0, dtype=torch.float64)
    rec = reconstruction(res.embedding.distance_matrix(), t.closure)
    assert rec.map > 0.8, rec  # an untrained embedding scores ~0.2
    assert res.losses[-1] < res.losses[0]
    if model == "lorentz":
        w = res.embedding.weight.detach()
        inner = -w[:, 0] ** 2 + (w[:, 1:] ** 2).sum(1)
        torch.testing.assert_close(inner, -torch.ones_like(inner), rtol=1e-6, atol=1e-6)
    else:
        assert float(res.embedding.weight.detach().norm(dim=1).max()) < 1


def test_euclidean_same_code_path_runs_and_improves():
    t = balanced_tree(2, 3)
    res = train_embedding(t.closure, t.n_nodes, 2, model="euclidean", n_epochs=30, lr=1.0, batch_size=16, n_negatives=5,
                          n_burnin_epochs=2, generator=0)
    assert res.losses[-1] < res.losses[0]
    assert res.relations_per_second > 0


def test_dtype_and_seed_reproducible(dtype):
    t = balanced_tree(2, 2)
    kw = dict(n_epochs=3, n_burnin_epochs=1, n_negatives=3, dtype=dtype)
    a = train_embedding(t.closure, t.n_nodes, 2, generator=0, **kw)
    b = train_embedding(t.closure, t.n_nodes, 2, generator=0, **kw)
    assert a.embedding.weight.dtype == dtype
    assert torch.equal(a.embedding.weight, b.embedding.weight)


def test_state_dict_round_trip():
    a = HierarchyEmbedding(6, 3, model="lorentz", generator=0)
    b = HierarchyEmbedding(6, 3, model="lorentz", generator=1)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.weight, b.weight)


def test_bad_inputs():
    t = balanced_tree(2, 2)
    with pytest.raises(ValueError, match="model must be one of"):
        train_embedding(t.closure, t.n_nodes, 2, model="sphere")
    with pytest.raises(TypeError, match="too many positional arguments"):  # options are keyword-only
        train_embedding(t.closure, t.n_nodes, 2, "poincare")
    with pytest.raises(ValueError, match="n_epochs"):
        train_embedding(t.closure, t.n_nodes, 2, n_epochs=0)
    with pytest.raises(ValueError, match="lr"):
        train_embedding(t.closure, t.n_nodes, 2, lr=-1.0)
    with pytest.raises(ValueError, match="optimizer"):
        train_embedding(t.closure, t.n_nodes, 2, optimizer="adam")
    with pytest.raises(ValueError, match="closure"):
        train_embedding(torch.zeros(0, 2, dtype=torch.long), 3, 2)
    with pytest.raises(ValueError, match="closure must have values in"):  # negative indices do not wrap
        train_embedding(torch.tensor([[1, -1]]), 3, 2)
    with pytest.raises(TypeError, match="closure must have an integer dtype"):
        train_embedding(t.closure.double(), t.n_nodes, 2)
    with pytest.raises(ValueError, match="init_scale"):
        HierarchyEmbedding(3, 2, init_scale=0.0)


@pytest.mark.gpu
def test_cuda_path():
    t = balanced_tree(2, 3)
    res = train_embedding(t.closure.cuda(), t.n_nodes, 2, n_epochs=5, n_burnin_epochs=1, n_negatives=4, device="cuda",
                          generator=0)
    assert res.embedding.weight.device.type == "cuda"
    rec = reconstruction(res.embedding.distance_matrix, t.closure.cuda(), t.n_nodes)
    assert 0 < rec.map <= 1


def test_lorentz_cap_keeps_points_on_hyperboloid_within_radius():
    from nips2019.hyperbolic._model import _cap_lorentz_
    from nips2019.hyperbolic import poincare_to_lorentz

    x = torch.tensor([[0.999999, 0.0], [0.1, 0.2], [0.0, -0.9999]], dtype=torch.float64)
    w = poincare_to_lorentz(x)
    keep = w[1].clone()
    _cap_lorentz_(w, 5.0)
    inner = -w[:, 0] ** 2 + (w[:, 1:] ** 2).sum(1)
    torch.testing.assert_close(inner, -torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-9)
    torch.testing.assert_close(torch.acosh(w[[0, 2], 0]), torch.full((2,), 5.0, dtype=torch.float64))
    torch.testing.assert_close(w[1], keep)
    # directions are kept
    assert w[0, 1] > 0 and w[2, 2] < 0


def test_lorentz_training_stays_finite_with_large_steps():
    t = balanced_tree(3, 3)
    res = train_embedding(t.closure, t.n_nodes, 2, model="lorentz", n_epochs=40, lr=100.0,
                          batch_size=32, n_negatives=5, n_burnin_epochs=2, max_radius=6.0,
                          generator=0, dtype=torch.float64)
    w = res.embedding.weight.detach()
    assert torch.isfinite(w).all()
    assert float(torch.acosh(w[:, 0]).max()) <= 6.0 + 1e-9


def test_key_lookup_matches_isin_and_is_fast():
    # a closure with ~1.5M keys, as for the WordNet nouns: torch.isin took ~0.1 s per batch of 512 x 50
    import time

    g = torch.Generator().manual_seed(0)
    n = 80_000
    closure = torch.randint(n, (750_000, 2), generator=g)
    s = NegativeSampler(closure, n)
    assert s.dense is None and s.keys.numel() > 1_000_000
    u = closure[:512, 0]
    neg, invalid = s._sample(u, 50, g, False)
    neg[:, 0] = closure[:512, 1]  # make sure some candidates are known pairs
    invalid = s._invalid(u, neg)
    key = u[:, None] * n + neg
    want = torch.isin(key, s.keys) | (neg == u[:, None])
    assert torch.equal(invalid, want) and bool(invalid[:, 0].all())
    t0 = time.process_time()
    for _ in range(5):
        torch.isin(key, s.keys)
    t_isin = time.process_time() - t0
    t0 = time.process_time()
    for _ in range(5):
        s._invalid(u, neg)
    t_new = time.process_time() - t0
    assert t_new < t_isin / 10, (t_new, t_isin)


@pytest.mark.parametrize("model", ["poincare", "lorentz", "euclidean"])
def test_sparse_step_matches_geoopt_dense_step(model):
    import geoopt

    from nips2019.hyperbolic._model import _cap_lorentz_, _ranking_loss, _sparse_rsgd_step

    t = balanced_tree(3, 3)
    a = HierarchyEmbedding(t.n_nodes, 3, model=model, init_scale=0.2, generator=0, dtype=torch.float64)
    b = HierarchyEmbedding(t.n_nodes, 3, model=model, init_scale=0.2, generator=0, dtype=torch.float64)
    opt = geoopt.optim.RiemannianSGD(b.parameters(), lr=0.5, stabilize=None)
    s, g = NegativeSampler(t.closure, t.n_nodes), torch.Generator().manual_seed(0)
    scratch = torch.zeros_like(a.weight.detach())
    for _ in range(20):
        u, v = t.closure[torch.randint(len(t.closure), (8,), generator=g)].T
        neg, invalid = s._sample(u, 5, g, False)  # repeated rows within a batch are common here
        loss_a = _sparse_rsgd_step(a, u, v, neg, invalid, 0.5, 50.0, scratch)
        opt.zero_grad()
        loss_b = _ranking_loss(b, u, v, neg, invalid)
        loss_b.backward()
        opt.step()
        if model == "lorentz":
            with torch.no_grad():
                _cap_lorentz_(b.weight, 50.0)
    # geoopt's Lorentz retraction re-projects untouched rows too (changes of ~1e-8)
    tol = 1e-6 if model == "lorentz" else 1e-12
    torch.testing.assert_close(a.weight.detach(), b.weight.detach(), rtol=0, atol=tol)
    torch.testing.assert_close(loss_a, loss_b.detach(), rtol=1e-6, atol=0)
    assert not scratch.any()


@pytest.mark.gpu
def test_cuda_training_does_not_sync_every_batch():
    import warnings

    t = balanced_tree(3, 4)  # 120 pairs... batches of 4: ~100 batches per epoch
    closure = t.closure.cuda()
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            res = train_embedding(closure, t.n_nodes, 2, n_epochs=3, n_burnin_epochs=1, batch_size=4,
                                  n_negatives=4, device="cuda", generator=0, progress=False)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    n_batches = 3 * -(-len(t.closure) // 4)
    assert len(syncs) < n_batches / 4, (len(syncs), n_batches)
    assert res.embedding.weight.device.type == "cuda" and len(res.losses) == 3


@pytest.mark.parametrize("model", ["poincare", "euclidean"])
def test_fused_step_matches_geoopt_with_large_steps_and_projection(model):
    """The closed-form step equals geoopt's dense RiemannianSGD also when steps push rows onto the clip radius."""
    import geoopt

    from nips2019.hyperbolic._model import _fused_rsgd_step, _ranking_loss

    t = random_tree(30, generator=2)
    a = HierarchyEmbedding(t.n_nodes, 4, model=model, init_scale=0.4, generator=1, dtype=torch.float64)
    b = HierarchyEmbedding(t.n_nodes, 4, model=model, init_scale=0.4, generator=1, dtype=torch.float64)
    lr = 30.0
    opt = geoopt.optim.RiemannianSGD(b.parameters(), lr=lr, stabilize=None)
    s, g = NegativeSampler(t.closure, t.n_nodes), torch.Generator().manual_seed(3)
    for _ in range(15):
        u, v = t.closure[torch.randint(len(t.closure), (16,), generator=g)].T
        neg, invalid = s._sample(u, 6, g, False)
        loss_a = _fused_rsgd_step(a, u, v, neg, invalid, lr)
        opt.zero_grad()
        loss_b = _ranking_loss(b, u, v, neg, invalid)
        loss_b.backward()
        opt.step()
        torch.testing.assert_close(loss_a, loss_b.detach(), rtol=1e-9, atol=0)
        torch.testing.assert_close(a.weight.detach(), b.weight.detach(), rtol=1e-9, atol=1e-12)
    if model == "poincare":  # the projection was exercised: rows sit on geoopt's clip radius 1 - 1e-5
        norms = a.weight.detach().norm(dim=1)
        assert int((norms > 1 - 2e-5).sum()) >= 3, norms.max()


def test_train_embedding_in_stages_equals_one_run():
    """``init=`` continues an embedding: two stages with one generator replay the draws of a single run."""
    t = random_tree(40, generator=0)
    kw = dict(lr=10.0, batch_size=16, n_negatives=5, n_burnin_epochs=0, dtype=torch.float64, progress=False)
    one = train_embedding(t.closure, t.n_nodes, 3, n_epochs=6, generator=torch.Generator().manual_seed(7), **kw)
    g = torch.Generator().manual_seed(7)
    first = train_embedding(t.closure, t.n_nodes, 3, n_epochs=2, generator=g, **kw)
    second = train_embedding(t.closure, t.n_nodes, 3, n_epochs=4, generator=g, init=first.embedding, **kw)
    assert second.embedding is first.embedding
    torch.testing.assert_close(second.embedding.weight.detach(), one.embedding.weight.detach(), rtol=0, atol=0)
    assert first.losses + second.losses == one.losses
    with pytest.raises(ValueError, match="init has"):
        train_embedding(t.closure, t.n_nodes, 2, n_epochs=1, init=first.embedding, **kw)
    with pytest.raises(ValueError, match="init has"):
        train_embedding(t.closure, t.n_nodes, 3, n_epochs=1, model="euclidean", init=first.embedding, **kw)


@pytest.mark.parametrize("model", ["poincare", "euclidean"])
def test_fused_step_on_a_large_table_matches_geoopt(model):
    """Tables much larger than a batch take the gather/scatter projection path (not the whole-table one)."""
    import geoopt

    from nips2019.hyperbolic._model import _fused_rsgd_step, _ranking_loss

    t = random_tree(400, generator=4)
    a = HierarchyEmbedding(t.n_nodes, 3, model=model, init_scale=0.5, generator=2, dtype=torch.float64)
    b = HierarchyEmbedding(t.n_nodes, 3, model=model, init_scale=0.5, generator=2, dtype=torch.float64)
    lr = 20.0
    opt = geoopt.optim.RiemannianSGD(b.parameters(), lr=lr, stabilize=None)
    s, g = NegativeSampler(t.closure, t.n_nodes), torch.Generator().manual_seed(5)
    for _ in range(10):
        u, v = t.closure[torch.randint(len(t.closure), (6,), generator=g)].T
        neg, invalid = s._sample(u, 4, g, False)
        assert t.n_nodes > 2 * (6 + 6 * 5)  # the large-table path
        loss_a = _fused_rsgd_step(a, u, v, neg, invalid, lr)
        opt.zero_grad()
        loss_b = _ranking_loss(b, u, v, neg, invalid)
        loss_b.backward()
        opt.step()
        torch.testing.assert_close(loss_a, loss_b.detach(), rtol=1e-9, atol=0)
        torch.testing.assert_close(a.weight.detach(), b.weight.detach(), rtol=1e-9, atol=1e-12)
    if model == "poincare":
        assert int((a.weight.detach().norm(dim=1) > 1 - 2e-5).sum()) >= 1


@pytest.mark.parametrize("d", [1, 2, 5, 16, 17, 40])
def test_sq_norms_equal_vecdot(d):
    from nips2019.hyperbolic._model import _sq_norms

    x = torch.randn(7, 3, d, generator=torch.Generator().manual_seed(d), dtype=torch.float64)
    torch.testing.assert_close(_sq_norms(x), torch.linalg.vecdot(x, x), rtol=1e-14, atol=0)


@pytest.mark.parametrize("model", ["poincare", "euclidean"])
@pytest.mark.parametrize("n_leaves", [30, 400])  # the small- and the large-table paths of the fused step
def test_radagrad_step_matches_a_dense_reference(model, n_leaves):
    """Row-wise Riemannian Adagrad: autograd's gradient, per-row accumulators of the squared Riemannian
    norms of the batch gradient, a step of Riemannian length <= lr, geoopt's projection; row by row."""
    from nips2019.hyperbolic._model import _fused_rsgd_step, _ranking_loss

    t = random_tree(n_leaves, generator=2)
    a = HierarchyEmbedding(t.n_nodes, 4, model=model, init_scale=0.4, generator=1, dtype=torch.float64)
    b = HierarchyEmbedding(t.n_nodes, 4, model=model, init_scale=0.4, generator=1, dtype=torch.float64)
    acc, scratch = torch.zeros(t.n_nodes, dtype=torch.float64), torch.zeros_like(a.weight.detach())
    ref_acc = torch.zeros(t.n_nodes, dtype=torch.float64)
    lr = 0.3
    s, g = NegativeSampler(t.closure, t.n_nodes), torch.Generator().manual_seed(3)
    moved = 0
    for _ in range(12):
        u, v = t.closure[torch.randint(len(t.closure), (16,), generator=g)].T
        neg, invalid = s._sample(u, 6, g, False)
        loss_a = _fused_rsgd_step(a, u, v, neg, invalid, lr, acc, scratch)
        b.weight.grad = None
        loss_b = _ranking_loss(b, u, v, neg, invalid)
        loss_b.backward()
        with torch.no_grad():
            x, egrad = b.weight.detach(), b.weight.grad
            kk = float(b.manifold.k) if model == "poincare" else 0.0  # geoopt's curvature, -1 + 4e-8 (float32)
            lam2 = 4 / (1 + kk * (x * x).sum(1)) ** 2 if model == "poincare" else torch.ones(len(x), dtype=x.dtype)
            touched = egrad.abs().sum(1) > 0
            for i in torch.nonzero(touched).flatten().tolist():
                rgrad = egrad[i] / lam2[i]                        # the Riemannian gradient in ball coordinates
                ref_acc[i] += lam2[i] * (rgrad * rgrad).sum()     # its squared Riemannian norm
                step = lr * rgrad / (ref_acc[i].sqrt() + 1e-10)
                assert float(lam2[i].sqrt() * step.norm()) <= lr * (1 + 1e-12)
                new = x[i] - step
                if model == "poincare":
                    maxnorm = (1 - 1e-5) / (-kk) ** 0.5
                    new = new * min(1.0, maxnorm / float(new.norm()))
                b.weight.data[i] = new
                moved += 1
        torch.testing.assert_close(loss_a, loss_b.detach(), rtol=1e-9, atol=0)
        torch.testing.assert_close(acc, ref_acc, rtol=1e-9, atol=1e-15)
        torch.testing.assert_close(a.weight.detach(), b.weight.detach(), rtol=1e-7, atol=1e-10)
    assert moved > 100 and not torch.equal(a.weight.detach(), HierarchyEmbedding(
        t.n_nodes, 4, model=model, init_scale=0.4, generator=1, dtype=torch.float64).weight.detach())
    assert scratch.abs().max() == 0  # the scratch buffer is handed back zeroed


def test_radagrad_training_in_stages_equals_one_run_and_learns():
    t = random_tree(60, generator=0)
    kw = dict(lr=0.3, batch_size=16, n_negatives=5, n_burnin_epochs=0, dtype=torch.float64, progress=False,
              optimizer="radagrad")
    one = train_embedding(t.closure, t.n_nodes, 3, n_epochs=6, generator=torch.Generator().manual_seed(7), **kw)
    g = torch.Generator().manual_seed(7)
    first = train_embedding(t.closure, t.n_nodes, 3, n_epochs=2, generator=g, **kw)
    second = train_embedding(t.closure, t.n_nodes, 3, n_epochs=4, generator=g, init=first.embedding, **kw)
    torch.testing.assert_close(second.embedding.weight.detach(), one.embedding.weight.detach(), rtol=0, atol=0)
    long = train_embedding(t.closure, t.n_nodes, 3, n_epochs=40, generator=0, **kw)
    assert long.losses[-1] < 0.6 * long.losses[0], long.losses
    assert reconstruction(long.embedding.distance_matrix(), t.closure).map > 0.7
    with pytest.raises(ValueError, match="radagrad"):
        train_embedding(t.closure, t.n_nodes, 3, n_epochs=1, model="lorentz", optimizer="radagrad")
