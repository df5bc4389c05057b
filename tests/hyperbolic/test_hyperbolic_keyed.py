import os

import numpy as np
import pytest
import torch

from nips2019.hyperbolic import (
    KeyedEmbedding,
    hierarchy_from_tsv,
    pairwise_distance,
    poincare_to_lorentz,
    random_tree,
    wordnet_mammals,
)


def _points(n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    return 0.95 * x / (1 + x.norm(dim=1, keepdim=True))


def test_tsv_round_trip_of_mammals(tmp_path):
    m = wordnet_mammals()
    path = tmp_path / "mammals.tsv"
    with open(path, "w") as fh:
        fh.write("# child\tparent\n\n")
        for c, p in m.parents.tolist():
            fh.write(f"{m.names[c]}\t{m.names[p]}\n")
    h = hierarchy_from_tsv(path)
    assert h.names == m.names
    assert torch.equal(h.closure, m.closure) and torch.equal(h.parents, m.parents)
    # a file that already holds the closure gives the same hierarchy
    with open(path, "w") as fh:
        fh.writelines(f"{m.names[c]}\t{m.names[p]}\n" for c, p in m.closure.tolist())
    h2 = hierarchy_from_tsv(path)
    assert torch.equal(h2.closure, m.closure) and torch.equal(h2.parents, m.parents)


def test_tsv_bad_files(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("a\tb\nc\n")
    with pytest.raises(ValueError, match="line 2"):
        hierarchy_from_tsv(path)
    path.write_text("a\tb\nb\ta\n")
    with pytest.raises(ValueError, match="cycle"):
        hierarchy_from_tsv(path)
    path.write_text("a\ta\n")
    with pytest.raises(ValueError, match="own parent"):
        hierarchy_from_tsv(path)
    path.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no"):
        hierarchy_from_tsv(path)
    with pytest.raises(ValueError, match="not a file"):
        hierarchy_from_tsv(tmp_path / "missing.tsv")


def test_save_load_round_trip_is_exact_and_pickle_free(tmp_path):
    names = [f"node{i}" for i in range(30)]
    kv = KeyedEmbedding(names, _points())
    path = tmp_path / "emb.npz"
    kv.save(path)
    back = KeyedEmbedding.load(path)
    assert back.names == names and back.model == "poincare" and torch.equal(back.points, kv.points)
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert all(data[k].dtype != object for k in data.files)
    # a pickle (or any other file) is refused, not executed
    torch.save({"x": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a saved KeyedEmbedding"):
        KeyedEmbedding.load(tmp_path / "other.pt")
    np.savez(tmp_path / "foreign.npz", points=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not a saved KeyedEmbedding"):
        KeyedEmbedding.load(tmp_path / "foreign.npz")


@pytest.mark.parametrize("model", ["poincare", "lorentz"])
def test_queries_match_brute_force(model):
    x = _points()
    pts = poincare_to_lorentz(x) if model == "lorentz" else x
    names = [f"n{i}" for i in range(len(x))]
    kv = KeyedEmbedding(names, pts, model=model)
    d = pairwise_distance(x)
    radius = 2 * torch.atanh(x.norm(dim=1))
    torch.testing.assert_close(kv.radii, radius)
    for i in (0, 7, 19):
        row = d[i].clone()
        row[i] = float("inf")
        want = torch.argsort(row)[:5].tolist()
        got = kv.most_similar(names[i], n_neighbors=5)
        assert [names.index(n) for n, _ in got] == want
        torch.testing.assert_close(torch.tensor([v for _, v in got], dtype=torch.float64), row[want])
        for j in (3, 11):
            if j == i:
                continue
            brute = 1 + sum(1 for w in range(len(x)) if w not in (i, j) and d[i, w] <= d[i, j])
            assert kv.rank(names[i], names[j]) == brute
            assert kv.distance(names[i], names[j]) == pytest.approx(float(d[i, j]), rel=1e-9)
        inner = [w for w in range(len(x)) if radius[w] < radius[i]]
        outer = [w for w in range(len(x)) if radius[w] > radius[i]]
        parent = names[min(inner, key=lambda w: float(d[i, w]))] if inner else None
        child = names[min(outer, key=lambda w: float(d[i, w]))] if outer else None
        assert kv.closest_parent(names[i]) == parent and kv.closest_child(names[i]) == child
    root = names[int(radius.argmin())]
    assert kv.closest_parent(root) is None and kv.ancestors(root) == []
    chain = kv.ancestors(names[5])
    assert chain[-1] == root and all(kv.radius(a) > kv.radius(b) for a, b in zip(chain, chain[1:]))
    down = kv.descendants(root, max_depth=3)
    assert len(down) == 3 and all(kv.radius(a) < kv.radius(b) for a, b in zip(down, down[1:]))


def test_keyed_bad_inputs():
    kv = KeyedEmbedding(["a", "b"], torch.tensor([[0.0, 0.0], [0.5, 0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="'z' is not a node"):
        kv.most_similar("z")
    with pytest.raises(TypeError, match="name"):
        kv.radius(3)
    with pytest.raises(ValueError, match="unique"):
        KeyedEmbedding(["a", "a"], torch.zeros(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="ball"):
        KeyedEmbedding(["a", "b"], torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64))


def test_reconstruction_through_keyed_matches_embedding():
    from nips2019.hyperbolic import reconstruction, train_embedding

    t = random_tree(40, generator=0)
    res = train_embedding(t.closure, t.n_nodes, 2, n_epochs=20, lr=10.0, batch_size=32, n_negatives=5,
                          n_burnin_epochs=2, generator=0, dtype=torch.float64)
    kv = KeyedEmbedding(t.names, res.embedding.weight.detach())
    a = reconstruction(kv.distance_matrix, t.closure, len(kv))
    b = reconstruction(res.embedding.distance_matrix, t.closure, t.n_nodes)
    assert a == b


@pytest.mark.gpu
def test_keyed_on_cuda():
    kv = KeyedEmbedding(["a", "b", "c"], _points(3).cuda())
    assert kv.most_similar("a", n_neighbors=1)[0][0] in ("b", "c")
    assert kv.distance_matrix().device.type == "cuda"
