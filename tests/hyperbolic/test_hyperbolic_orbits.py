import itertools

import pytest
import torch

from nips2019.hyperbolic import automorphism_orbits, balanced_tree, random_tree


def brute_force_orbits(parents: torch.Tensor, n: int) -> list[set]:
    """Orbits by enumerating every permutation that maps the edge set onto itself."""
    edges = {tuple(e) for e in parents.tolist()}
    autos = [p for p in itertools.permutations(range(n)) if {(p[c], p[q]) for c, q in edges} == edges]
    return [{p[v] for p in autos} for v in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_orbits_match_brute_force(seed):
    n = 7
    tree = random_tree(n, generator=seed)
    labels = automorphism_orbits(tree.parents, n).tolist()
    orbits = brute_force_orbits(tree.parents, n)
    for u in range(n):
        for v in range(n):
            assert (labels[u] == labels[v]) == (v in orbits[u]), (seed, u, v, labels, orbits)


def test_balanced_tree_levels_are_orbits():
    tree = balanced_tree(2, 3)
    labels = automorphism_orbits(tree.parents, tree.n_nodes)
    depth = tree.depth()
    # In a complete binary tree all nodes of one depth are interchangeable, and only those.
    for u in range(tree.n_nodes):
        for v in range(tree.n_nodes):
            assert bool(labels[u] == labels[v]) == bool(depth[u] == depth[v])


def test_path_has_trivial_automorphisms():
    parents = torch.tensor([[i + 1, i] for i in range(5)])
    assert automorphism_orbits(parents, 6).tolist() == list(range(6))


@pytest.mark.parametrize(
    "parents, n, match",
    [
        (torch.tensor([[1, 0]]), 3, "has 2 edges"),
        (torch.tensor([[1, 0], [1, 2]]), 3, "second parent"),
        (torch.tensor([[1, 0], [0, 1]]), 3, "cycle"),
        (torch.tensor([1, 0]), 2, "2-D"),
        (torch.tensor([[1, 0], [5, 0]]), 3, r"parents must have values in \[0, 3\)"),
        (torch.tensor([[1, 0], [-1, 0]]), 3, r"parents must have values in \[0, 3\)"),
    ],
)
def test_bad_trees(parents, n, match):
    with pytest.raises(ValueError, match=match):
        automorphism_orbits(parents, n)
