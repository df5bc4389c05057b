import pytest
import torch

from nips2019.hyperbolic import (
    balanced_tree,
    random_tree,
    transitive_closure,
    transitive_reduction,
    wordnet_mammals,
    wordnet_nouns,
)


def _is_closed(closure):
    pairs = set(map(tuple, closure.tolist()))
    anc = {}
    for u, a in pairs:
        anc.setdefault(u, set()).add(a)
    return all((u, b) in pairs for u, a in pairs for b in anc.get(a, ()))


def test_mammals_counts_and_closed():
    h = wordnet_mammals()
    assert h.n_nodes == 1180
    assert h.closure.shape == (6540, 2)
    assert len(set(map(tuple, h.closure.tolist()))) == 6540  # no duplicates
    assert _is_closed(h.closure)
    idx = h.index()
    root = idx["mammal.n.01"]
    # every node but the root has the root as ancestor; the root has none
    anc_root = h.closure[h.closure[:, 1] == root, 0]
    assert set(anc_root.tolist()) == set(range(h.n_nodes)) - {root}
    assert not bool((h.closure[:, 0] == root).any())
    dog = set(h.closure[h.closure[:, 0] == idx["dog.n.01"], 1].tolist())
    for name in ["canine.n.02", "carnivore.n.01", "placental.n.01", "mammal.n.01"]:
        assert idx[name] in dog
    # the filtered nodes are gone
    assert "tusker.n.01" not in idx and "female_mammal.n.01" not in idx


def test_mammals_reduction_round_trip():
    h = wordnet_mammals()
    back = transitive_closure(h.parents, h.n_nodes)
    assert set(map(tuple, back.tolist())) == set(map(tuple, h.closure.tolist()))
    assert len(h.parents) < len(h.closure)


def test_nouns_node_count():
    h = wordnet_nouns(closure=False)
    assert h.n_nodes == 82115
    assert "entity.n.01" in h.index()


@pytest.mark.slow
def test_nouns_closure_count():
    h = wordnet_nouns()
    assert h.n_nodes == 82115
    assert h.closure.shape == (743086, 2)


def test_balanced_tree_sizes():
    t = balanced_tree(3, 3)
    assert t.n_nodes == 1 + 3 + 9 + 27
    # sum over nodes of depth = closure size
    assert len(t.closure) == 3 * 1 + 9 * 2 + 27 * 3
    assert t.depth().max() == 3


def test_random_tree_is_tree():
    t = random_tree(50, generator=1)
    assert t.parents.shape == (49, 2)
    assert set(t.parents[:, 0].tolist()) == set(range(1, 50))
    assert _is_closed(t.closure)


def test_reduction_of_closure_is_parents():
    t = random_tree(30, generator=2)
    red = transitive_reduction(t.closure, t.n_nodes)
    assert set(map(tuple, red.tolist())) == set(map(tuple, t.parents.tolist()))


def test_bad_inputs():
    with pytest.raises(ValueError, match="cycle"):
        transitive_closure(torch.tensor([[0, 1], [1, 0]]), 2)
    with pytest.raises(ValueError, match=r"parents must have values in \[0, 2\)"):
        transitive_closure(torch.tensor([[0, 5]]), 2)
    with pytest.raises(TypeError, match="parents must have an integer dtype"):
        transitive_closure(torch.zeros(3), 2)
    with pytest.raises(ValueError, match="parents must be 2-D"):
        transitive_closure(torch.zeros(3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="branching"):
        balanced_tree(0, 2)
    with pytest.raises(ValueError, match="n_nodes"):
        random_tree(0)
