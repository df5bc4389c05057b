"""Reference tests of nips2019.wann: explicit MLPs, loops over weights, brute-force Pareto fronts."""

import itertools

import numpy as np
import pytest
import torch

from nips2019.wann import (ACTIVATIONS, Genome, WANNNetwork, mutate, shared_weight_forward, wann_search,
                           weight_accuracies)
from nips2019.wann._search import _fronts, _rank

F64 = torch.float64


def _mlp(sizes, w, act=torch.nn.Tanh):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        lin = torch.nn.Linear(a, b, dtype=F64)
        torch.nn.init.constant_(lin.weight, w)
        torch.nn.init.constant_(lin.bias, w)
        layers += [lin, act()]
    return torch.nn.Sequential(*layers[:-1])  # linear outputs


@pytest.mark.parametrize("w", [-2.0, -0.5, 0.5, 1.0])
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_shared_weight_forward_equals_explicit_mlp(w, act):
    g = Genome.dense(5, 3, n_hidden=(4, 6), activation=act)
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(0), dtype=F64)
    mlp = _mlp([5, 4, 6, 3], w, torch.nn.Tanh if act == "tanh" else torch.nn.ReLU)
    out = shared_weight_forward(g, x, torch.tensor([w], dtype=F64))[0]
    torch.testing.assert_close(out, mlp(x).detach(), rtol=1e-12, atol=1e-12)


def test_batched_weights_equal_a_loop_and_the_trainable_network():
    g = _random_genome(30, seed=1)
    x = torch.randn(9, 4, generator=torch.Generator().manual_seed(2), dtype=F64)
    ws = torch.tensor([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0], dtype=F64)
    batched = shared_weight_forward(g, x, ws)
    for k, w in enumerate(ws):
        torch.testing.assert_close(batched[k], shared_weight_forward(g, x, w[None])[0])
        net = WANNNetwork(g, weight=float(w)).double()
        torch.testing.assert_close(net(x), batched[k], rtol=1e-12, atol=1e-12)


def test_node_by_node_reference():
    """A hand-evaluated graph: a hidden gaussian node and a skip connection."""
    g = Genome(2, 1, connections=[(0, 4), (1, 4), (4, 3), (0, 3), (2, 3)],
               activations=["linear", "linear", "linear", "linear", "gaussian"])
    x = torch.tensor([[0.3, -1.2], [2.0, 0.5]], dtype=F64)
    w = 0.7
    h = torch.exp(-(w * (x[:, 0] + x[:, 1])) ** 2 / 2)
    ref = w * (h + x[:, 0] + 1.0)
    torch.testing.assert_close(shared_weight_forward(g, x, torch.tensor([w], dtype=F64))[0, :, 0], ref)


def _random_genome(n_mut, seed=0):
    g = Genome.initial(4, 3, p_connect=0.5, generator=seed)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n_mut):
        g = mutate(g, generator=gen)
    return g


def test_mutations_keep_a_valid_feed_forward_genome():
    g = Genome.initial(3, 2, p_connect=0.3, generator=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        g = mutate(g, generator=gen)  # the constructor re-checks acyclicity and endpoints
    assert g.n_hidden > 5 and g.n_connections > 5
    # every enabled connection goes from a lower layer to a higher one
    for (s, d), on in zip(g.conns, g.enabled):
        assert g.depth[s] < g.depth[d]


def test_each_operator():
    g = Genome(2, 1, connections=[(0, 3), (1, 3)])
    split = mutate(g, probs=(0, 1, 0, 0), generator=0)
    assert (split.n_hidden, split.n_connections, len(split.conns)) == (1, 3, 4)
    changed = mutate(split, probs=(0, 0, 1, 0), generator=0)
    assert changed.act[-1] != split.act[-1]
    enabled = mutate(split, probs=(0, 0, 0, 1), generator=0)
    assert enabled.n_connections == 4
    added = mutate(g, probs=(1, 0, 0, 0), generator=0)
    assert added.n_connections == 3
    assert mutate(g, probs=(0, 0, 1, 0), generator=0).act.tolist() == g.act.tolist()  # no hidden node: no-op


def test_mutation_is_reproducible():
    a, b = _random_genome(40, seed=3), _random_genome(40, seed=3)
    assert a.conns.tolist() == b.conns.tolist() and a.act.tolist() == b.act.tolist()


def test_pareto_fronts_match_brute_force():
    rng = np.random.default_rng(0)
    obj = rng.integers(0, 5, size=(40, 2)).astype(float)
    front = _fronts(obj)
    remaining = set(range(40))
    k = 0
    while remaining:
        nd = {i for i in remaining if not any(np.all(obj[j] >= obj[i]) and np.any(obj[j] > obj[i])
                                              for j in remaining)}
        assert {i for i in range(40) if front[i] == k} == nd
        remaining -= nd
        k += 1
    rank = _rank(obj)
    assert sorted(rank.tolist()) == list(range(40))
    assert all(front[i] <= front[j] for i, j in itertools.product(range(40), repeat=2) if rank[i] < rank[j])


def test_search_is_reproducible_and_improves():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 2, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long()  # XOR-like: needs hidden nodes
    runs = [wann_search(x, y, pop_size=16, n_generations=8, generator=5) for _ in range(2)]
    assert runs[0].best.conns.tolist() == runs[1].best.conns.tolist()
    assert runs[0].mean_accuracy == runs[1].mean_accuracy
    assert max(runs[0].mean_accuracy) >= runs[0].mean_accuracy[0]
    acc = weight_accuracies([runs[0].best], x, y, runs[0].weights)[0]
    torch.testing.assert_close(acc, runs[0].best_accuracy)


@pytest.mark.slow
def test_search_solves_iris_for_every_weight():
    from sklearn.datasets import load_iris
    d = load_iris()
    x = torch.tensor((d.data - d.data.mean(0)) / d.data.std(0), dtype=torch.float32)
    y = torch.tensor(d.target)
    res = wann_search(x, y, pop_size=96, n_generations=40, generator=0)
    assert float(res.best_accuracy.min()) > 0.8, res.best_accuracy


def test_activation_table():
    x = torch.tensor([-1.0, 0.0, 0.5])
    g = Genome(1, len(ACTIVATIONS), connections=[(0, 2 + k) for k in range(len(ACTIVATIONS))],
               activations=["linear", "linear"] + list(ACTIVATIONS))
    out = shared_weight_forward(g, x[:, None], torch.tensor([1.0]))[0]
    ref = torch.stack([x, (x > 0).float(), torch.sin(np.pi * x), torch.exp(-x * x / 2), torch.tanh(x),
                       torch.sigmoid(x), -x, x.abs(), x.relu(), torch.cos(np.pi * x)], 1)
    torch.testing.assert_close(out, ref)


def test_trainable_network_learns():
    g = Genome.dense(2, 2, n_hidden=(4,), activation="tanh")
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0.3).long()
    net = WANNNetwork(g, weight=0.5)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    losses = []
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_dtype_follows_inputs(dtype):
    g = Genome.dense(2, 2, n_hidden=(3,))
    out = shared_weight_forward(g, torch.ones(3, 2, dtype=dtype), torch.tensor([1.0, 2.0], dtype=dtype))
    assert out.dtype == dtype


def test_bad_inputs():
    with pytest.raises(ValueError, match="cycle"):
        Genome(1, 1, connections=[(0, 3), (3, 4), (4, 3)], activations=["linear"] * 5)
    with pytest.raises(ValueError, match="may not start at an output"):
        Genome(1, 1, connections=[(2, 3)], activations=["linear"] * 4)
    with pytest.raises(ValueError, match="may not end at an input"):
        Genome(2, 1, connections=[(0, 1)])
    with pytest.raises(ValueError, match="duplicate"):
        Genome(1, 1, connections=[(0, 2), (0, 2)])
    with pytest.raises(ValueError, match="node indices < n_nodes = 3"):
        Genome(1, 1, connections=[(0, 5)])
    g = Genome.dense(3, 2)
    with pytest.raises(ValueError, match="x must have shape \\(B, 3\\)"):
        shared_weight_forward(g, torch.ones(2, 4), torch.ones(2))
    with pytest.raises(TypeError, match="same|dtype"):
        shared_weight_forward(g, torch.ones(2, 3), torch.ones(2, dtype=F64))
    with pytest.raises(ValueError, match="y has label 2"):
        weight_accuracies([g], torch.ones(2, 3), torch.tensor([0, 2]), torch.ones(2))
    with pytest.raises(ValueError, match="probs must not all be zero"):
        mutate(g, probs=(0, 0, 0, 0))


@pytest.mark.gpu
def test_shared_forward_on_cuda():
    g = _random_genome(30, seed=1)
    x = torch.randn(9, 4, generator=torch.Generator().manual_seed(2), dtype=F64)
    ws = torch.tensor([-2.0, -1.0, 0.5, 2.0], dtype=F64)
    out = shared_weight_forward(g, x.cuda(), ws.cuda())
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), shared_weight_forward(g, x, ws))
    net = WANNNetwork(g, weight=0.5).double().cuda()
    net(x.cuda()).sum().backward()
    assert net.weight.grad.device.type == "cuda"
    res = wann_search(x.cuda().float(), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2]).cuda(), pop_size=8,
                      n_generations=2, generator=0)
    assert res.best_accuracy.device.type == "cuda"
