"""Training box embeddings on closures, the DAG generator and row/column completion."""

import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from nips2019 import boxes
from nips2019.hyperbolic import balanced_tree, reconstruction

F64 = torch.float64


def test_containment_f1_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    prob = torch.rand(7, 7, generator=g, dtype=F64)
    closure = torch.tensor([[1, 0], [2, 0], [3, 1], [3, 0], [4, 2], [5, 6]])
    truth = torch.zeros(7, 7, dtype=torch.bool)
    truth[closure[:, 0], closure[:, 1]] = True
    off = ~torch.eye(7, dtype=torch.bool)
    for t in (0.3, 0.5, 0.8):
        want = f1_score(truth[off].numpy(), (prob > t)[off].numpy())
        assert boxes.containment_f1(prob, closure, threshold=t) == pytest.approx(want, abs=1e-12)


def test_random_dag_has_several_parents_and_is_acyclic():
    dag = boxes.random_dag(60, n_roots=2, n_parents=3, generator=0)
    par = dag.parents
    assert bool((par[:, 1] < par[:, 0]).all())  # edges go to earlier nodes: acyclic
    n_par = torch.bincount(par[:, 0], minlength=60)
    assert int((n_par >= 2).sum()) > 30  # most nodes are not tree nodes
    assert bool((n_par[:2] == 0).all()) and bool((n_par[2:] >= 1).all())
    # the closure is transitive: a parent's ancestors are the child's ancestors
    anc = [set() for _ in range(60)]
    for u, a in dag.closure.tolist():
        anc[u].add(a)
    for c, p in par.tolist():
        assert anc[p] <= anc[c] and p in anc[c]


def test_train_boxes_reconstructs_a_tree():
    tree = balanced_tree(3, 2)  # 13 nodes
    res = boxes.train_boxes(tree.closure, tree.n_nodes, 2, n_epochs=150, batch_size=64, lr=0.03,
                            n_negatives=8, generator=0, dtype=F64)
    dist = res.embedding.distance_matrix()
    rec = reconstruction(dist, tree.closure)
    assert rec.map == 1.0, rec
    assert boxes.containment_f1(torch.exp(-dist), tree.closure) > 0.9
    assert res.losses[-1] < res.losses[0] / 3


def test_train_boxes_init_continues_in_place():
    tree = balanced_tree(2, 2)
    g = torch.Generator().manual_seed(0)
    first = boxes.train_boxes(tree.closure, tree.n_nodes, 2, n_epochs=2, generator=g)
    again = boxes.train_boxes(tree.closure, tree.n_nodes, 2, n_epochs=2, generator=g, init=first.embedding)
    assert again.embedding is first.embedding
    with pytest.raises(ValueError, match="init has 7 boxes"):
        boxes.train_boxes(tree.closure, 8, 2, n_epochs=1, init=first.embedding)


def test_train_boxes_is_reproducible():
    tree = balanced_tree(2, 2)
    a = boxes.train_boxes(tree.closure, tree.n_nodes, 2, n_epochs=3, generator=5)
    b = boxes.train_boxes(tree.closure, tree.n_nodes, 2, n_epochs=3, generator=5)
    assert a.losses == b.losses
    torch.testing.assert_close(a.embedding.lo, b.embedding.lo, rtol=0, atol=0)


def test_distance_matrix_is_minus_log_conditional():
    emb = boxes.BoxEmbedding(5, 3, method="softplus", temperature=0.1, generator=0, dtype=F64)
    lo, hi = emb.corners()
    want = -boxes.conditional_probability(lo[None], hi[None], lo[:, None], hi[:, None], method="softplus",
                                          temperature=0.1, log=True)
    torch.testing.assert_close(emb.distance_matrix(), want.detach())
    assert bool((emb.distance_matrix().diagonal() == 0).all())  # every box contains itself


def test_box_matrix_columns_are_nested():
    data = boxes.make_box_matrix(200, 15, dim=2, noise=0.0, generator=0)
    par = data.col_parents
    child, parent = data.y[:, 1:], data.y[:, par[1:]]
    assert bool((child <= parent).all())  # a row in a category is in its parent
    assert 0.05 < float(data.y.mean()) < 0.6
    assert abs(float(data.observed.double().mean()) - 0.5) < 0.05


def test_completion_beats_chance_and_baseline_is_reasonable():
    data = boxes.make_box_matrix(120, 12, dim=2, observed=0.5, generator=1)
    test = ~data.observed
    box = boxes.fit_box_completion(data.y, data.observed, 2, n_steps=150, generator=0)
    mf = boxes.fit_logistic_mf(data.y, data.observed, 2, reg=0.03, n_steps=150, generator=0)
    auc_box = roc_auc_score(data.y[test].numpy(), box.prob[test].numpy())
    auc_mf = roc_auc_score(data.y[test].numpy(), mf.prob[test].numpy())
    assert auc_box > 0.85 and auc_mf > 0.85, (auc_box, auc_mf)
    assert float(box.prob.max()) <= 1.0 and float(box.prob.min()) >= 0.0
    assert box.losses[-1] < box.losses[0] and mf.losses[-1] < mf.losses[0]


@pytest.mark.gpu
def test_gpu_training_paths():
    tree = balanced_tree(2, 2)
    res = boxes.train_boxes(tree.closure.cuda(), tree.n_nodes, 2, n_epochs=3, generator=0)
    assert res.embedding.lo.device.type == "cuda"
    assert res.embedding.distance_matrix().device.type == "cuda"
    data = boxes.make_box_matrix(30, 5, generator=0)
    y, m = data.y.cuda(), data.observed.cuda()
    assert boxes.fit_box_completion(y, m, 2, n_steps=3, generator=0).prob.device.type == "cuda"
    assert boxes.fit_logistic_mf(y, m, 2, n_steps=3, generator=0).prob.device.type == "cuda"


def test_hand_written_adam_matches_torch_optim():
    from nips2019.boxes._model import _Adam

    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(5, 3, generator=g, dtype=F64)
    a, b = w0.clone().requires_grad_(), w0.clone().requires_grad_()
    ours, ref = _Adam([a], lr=0.05), torch.optim.Adam([b], lr=0.05)
    for _ in range(20):
        for w, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            (w.sin() * w).sum().backward()
            opt.step()
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_distance_matrix_matches_interval_arithmetic():
    import math

    emb = boxes.BoxEmbedding(6, 3, method="hard", init_width=0.8, generator=3, dtype=F64)
    lo, hi = (c.detach().tolist() for c in emb.corners())
    got = emb.distance_matrix()
    for u in range(6):
        vol_u = math.prod(b - a for a, b in zip(lo[u], hi[u]))
        for v in range(6):
            inter = math.prod(max(0.0, min(hu, hv) - max(lu, lv))
                              for lu, hu, lv, hv in zip(lo[u], hi[u], lo[v], hi[v]))
            if inter > 0:
                assert got[u, v].item() == pytest.approx(-math.log(inter / vol_u), rel=1e-10, abs=1e-12)
            else:
                assert got[u, v].item() > 60  # an empty side counts as 1e-30
