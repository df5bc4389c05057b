"""Contract cases for nips2019.hyperbolic (see tests/contract.py)."""

import math
import os

import torch

from nips2019 import hyperbolic as hyp
from tests.contract import Bad, Case, check_case, contract_params

F64 = torch.float64


def _ball():
    return torch.tensor([[0.1, 0.2], [-0.3, 0.1], [0.0, -0.4]], dtype=F64)


def _ball_y():
    return torch.tensor([[0.2, -0.1], [0.05, 0.3], [-0.2, -0.2], [0.3, 0.0]], dtype=F64)


def _outside():
    return torch.tensor([[0.1, 0.2], [2.0, 0.0], [0.0, -0.4]], dtype=F64)  # a point of norm 2


def _off_hyperboloid():
    return torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]], dtype=F64)


def _edges():
    return torch.tensor([[1, 0], [2, 0], [3, 1]])  # a tree on 4 nodes


def _closure():
    return torch.tensor([[1, 0], [2, 0], [3, 1], [3, 0]])  # its transitive closure


def _dist():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 1.0]], dtype=F64)
    return torch.cdist(x, x)


def _nan_dist():
    d = _dist()
    d[3, 1] = math.nan  # row 3 has ancestors, so a callable is asked for it
    return d


def _rotation():
    return torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=F64)


def _tsv():
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "edges.tsv")
    with open(path, "w") as fh:
        fh.write("b\ta\nc\ta\nd\tb\n")
    return path


def _keyed():
    return hyp.KeyedEmbedding(["a", "b", "c", "d"], _ball_y())


def _saved():
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "emb.npz")
    _keyed().save(path)
    return path


def _emb():
    return hyp.HierarchyEmbedding(4, 2, init_scale=0.1, generator=0, dtype=F64)


def _ltiling(points=(0.1 + 0.2j, -0.5 + 0.3j)):
    return hyp.to_ltiling(list(points))


def _tiling(points=(complex(0.1, 1.2), complex(-0.2, 3.0))):
    return hyp.to_tiling(list(points))


def _sample_case():
    sampler = hyp.NegativeSampler(_closure(), 4)
    return sampler.sample, dict(u=torch.tensor([1, 3]), n_negatives=3, generator=0, burnin=False)


def _train_kwargs():
    return dict(closure=_closure(), n_nodes=4, dim=2, model="poincare", n_epochs=1, lr=0.5, batch_size=4,
                n_negatives=2, n_burnin_epochs=1, burnin_factor=0.1, optimizer="rsgd", init_scale=1e-3,
                generator=0, dtype=F64, device="cpu", max_radius=5.0, progress=False)


NEGATIVE_INDEX = "must have values in"

CASES = [
    # geometry
    Case(hyp.get_manifold, lambda: dict(model="poincare")),
    Case(hyp.point_distance, lambda: dict(x=_ball(), y=_ball()[[1, 2, 0]], model="poincare"),
         bad=[Bad(dict(y=_outside()), "Poincaré ball", why="a point of norm 2 (issue 12)"),
              Bad(dict(x=_off_hyperboloid(), y=_off_hyperboloid(), model="lorentz"), "hyperboloid",
                  why="Lorentz points off the hyperboloid"),
              Bad(dict(y=torch.zeros(2, 2, dtype=F64)), "broadcast", why="leading dimensions that do not broadcast"),
              Bad(dict(y=torch.zeros(3, 3, dtype=F64)), r"y has size 3 along axis 1 \(d\)",
                  why="points of different dimension")]),
    Case(hyp.pairwise_distance, lambda: dict(x=_ball(), y=_ball_y(), model="poincare"),
         bad=[Bad(dict(x=_outside()), "Poincaré ball", why="a point outside the ball"),
              Bad(dict(x=_off_hyperboloid(), y=None, model="lorentz"), "hyperboloid", why="off the hyperboloid")]),
    Case(hyp.poincare_to_lorentz, lambda: dict(x=_ball()),
         bad=[Bad(dict(x=torch.tensor([[1.0, 0.0]], dtype=F64)), "Poincaré ball", why="a point on the sphere")]),
    Case(hyp.lorentz_to_poincare, lambda: dict(x=hyp.poincare_to_lorentz(_ball())),
         bad=[Bad(dict(x=_off_hyperboloid()), "hyperboloid", why="off the hyperboloid"),
              Bad(dict(x=-hyp.poincare_to_lorentz(_ball())), "hyperboloid", why="the lower sheet"),
              Bad(dict(x=torch.ones(3, 1, dtype=F64)), "at least 2 coordinates", why="one coordinate")]),
    Case(hyp.mobius_add, lambda: dict(x=_ball(), y=_ball()[[2, 0, 1]]),
         bad=[Bad(dict(y=_outside()), "Poincaré ball", why="a point outside the ball"),
              Bad(dict(y=torch.zeros(3, 3, dtype=F64)), r"y has size 3 along axis 1 \(d\)",
                  why="points of different dimension")]),
    # data
    Case(hyp.balanced_tree, lambda: dict(branching=2, depth=1)),
    Case(hyp.random_tree, lambda: dict(n_nodes=4, generator=0)),
    Case(hyp.transitive_closure, lambda: dict(parents=_edges(), n_nodes=4),
         bad=[Bad(dict(parents=torch.tensor([[0, 1], [1, 0]])), "cycle", why="a cycle"),
              Bad(dict(parents=torch.tensor([[1, -1]])), NEGATIVE_INDEX, why="a negative node index")]),
    Case(hyp.transitive_reduction, lambda: dict(closure=_closure(), n_nodes=4),
         bad=[Bad(dict(closure=torch.tensor([[1, -3]])), NEGATIVE_INDEX, why="a negative node index")]),
    Case(hyp.wordnet_nouns, lambda: dict(closure=False)),
    # embeddings and training
    Case(hyp.HierarchyEmbedding, lambda: dict(n_nodes=4, dim=2, model="poincare", init_scale=0.01, generator=0,
                                              dtype=F64, device="cpu"),
         bad=[Bad(dict(init_scale=0.9), "init_scale", why="initial points outside the ball")]),
    Case(hyp.HierarchyEmbedding.distance, lambda: (_emb().distance, dict(u=torch.tensor([0, 1]), v=torch.tensor([2, 3]))),
         name="HierarchyEmbedding.distance",
         bad=[Bad(dict(u=torch.tensor([-1, 0])), NEGATIVE_INDEX, why="negative indices wrap around (issue 12)"),
              Bad(dict(v=torch.tensor([0, 1, 2])), "broadcast", why="u and v that do not broadcast")]),
    Case(hyp.HierarchyEmbedding.distance_matrix, lambda: (_emb().distance_matrix, dict(rows=torch.tensor([0, 3]))),
         name="HierarchyEmbedding.distance_matrix",
         bad=[Bad(dict(rows=torch.tensor([-1])), NEGATIVE_INDEX, why="a negative row")]),
    Case(hyp.NegativeSampler, lambda: dict(closure=_closure(), n_nodes=4),
         bad=[Bad(dict(closure=torch.tensor([[1, -1]])), NEGATIVE_INDEX, why="a negative node index")]),
    Case(hyp.NegativeSampler.sample, _sample_case, name="NegativeSampler.sample",
         bad=[Bad(dict(u=torch.tensor([-1, 2])), NEGATIVE_INDEX, why="negative indices wrap around (issue 12)")]),
    Case(hyp.ranking_loss, lambda: dict(emb=_emb(), u=torch.tensor([1, 3]), v=torch.tensor([0, 1]),
                                        neg=torch.tensor([[2, 3], [2, 0]]),
                                        invalid=torch.tensor([[False, False], [False, True]])),
         bad=[Bad(dict(v=torch.tensor([0])), r"v has size 1 along axis 0 \(b\)",
                  why="u and v of different lengths broadcast (issue 12)"),
              Bad(dict(u=torch.tensor([-1, 3])), NEGATIVE_INDEX, why="negative indices wrap around (issue 12)"),
              Bad(dict(neg=torch.tensor([[2, -2], [2, 0]])), NEGATIVE_INDEX, why="a negative candidate")]),
    Case(hyp.train_embedding, _train_kwargs,
         bad=[Bad(dict(closure=torch.tensor([[1, -1]])), NEGATIVE_INDEX, why="a negative node index"),
              Bad(dict(init_scale=0.9), "init_scale", why="initial points outside the ball")]),
    Case(hyp.fit_distances, lambda: dict(distances=_dist(), dim=2, model="poincare", scale=0.5, n_steps=3, lr=0.05,
                                         init_scale=0.01, generator=0, progress=False),
         bad=[Bad(dict(distances=torch.tensor([[0.0, 1.0], [2.0, 0.0]], dtype=F64)), "symmetric", why="asymmetric"),
              Bad(dict(distances=torch.zeros(3, 3, dtype=F64)), "positive", why="zero distances"),
              Bad(dict(distances=torch.zeros(1, 1, dtype=F64)), "at least 2", why="one point")]),
    # evaluation
    Case(hyp.reconstruction, lambda: dict(dist=_dist(), closure=_closure(), chunk=2),
         bad=[Bad(dict(dist=_nan_dist()), "NaN", why="a NaN distance (issue 12)"),
              Bad(dict(dist=lambda rows: _nan_dist()[rows], n_nodes=4), "NaN", why="a callable returning NaN"),
              Bad(dict(dist=lambda rows: _dist()[rows]), "n_nodes", why="a callable without n_nodes"),
              Bad(dict(dist=lambda rows: _dist()[rows][:, :2], n_nodes=4), "shape", why="a callable of wrong shape"),
              Bad(dict(n_nodes=5), "n_nodes", why="n_nodes disagreeing with dist"),
              Bad(dict(closure=torch.tensor([[1, -1]])), NEGATIVE_INDEX, why="a negative node index"),
              Bad(dict(dist=-_dist()), "values in", why="negative distances")]),
    Case(hyp.reconstruction_naive, lambda: dict(dist=_dist(), closure=_closure()),
         bad=[Bad(dict(dist=_nan_dist()), "NaN", why="a NaN distance")]),
    # combinatorial construction
    Case(hyp.combinatorial_embedding, lambda: dict(parents=_edges(), n_nodes=4, tau=2.0, precision=20),
         bad=[Bad(dict(parents=torch.tensor([[1, 0], [1, 2], [3, 0]])), "two parents", why="not a tree"),
              Bad(dict(parents=torch.tensor([[1, 0], [2, 3], [3, 2]])), "not reachable", why="a cycle")]),
    Case(hyp.tree_init, lambda: dict(parents=_edges(), n_nodes=4, dim=2, tau=1.0, sigma=1.0, shrink=0.7,
                                     generator=0, dtype=F64),
         bad=[Bad(dict(parents=torch.tensor([[1, 0], [2, 3], [3, 2]])), "cycle", why="a cycle"),
              Bad(dict(shrink=1.5), "shrink", why="a widening cone")]),
    Case(hyp.classical_mds, lambda: dict(distances=_dist(), dim=2),
         bad=[Bad(dict(distances=_dist() + torch.eye(4, dtype=F64)), "diagonal", why="a non-zero diagonal"),
              Bad(dict(distances=torch.triu(_dist())), "symmetric", why="not symmetric"),
              Bad(dict(dim=5), "dim must be at most", why="more coordinates than points")]),
    Case(hyp.graph_distances, lambda: dict(edges=_edges(), n_nodes=4),
         allow_nonfinite="inf is the documented distance between disconnected nodes (e.g. with no edges)"),
    Case(hyp.automorphism_orbits, lambda: dict(parents=_edges(), n_nodes=4),
         bad=[Bad(dict(parents=torch.tensor([[1, 0], [1, 2], [3, 0]])), "second parent", why="not a tree"),
              Bad(dict(parents=torch.tensor([[1, 0], [2, 3], [3, 2]])), "cycle", why="a cycle")]),
    # matching
    Case(hyp.apply_isometry, lambda: dict(x=_ball(), rotation=_rotation(), translation=torch.tensor([0.2, 0.1], dtype=F64)),
         bad=[Bad(dict(x=_outside()), "Poincaré ball", why="a point outside the ball"),
              Bad(dict(translation=torch.tensor([1.0, 0.0], dtype=F64)), "Poincaré ball", why="b on the sphere"),
              Bad(dict(rotation=2 * _rotation()), "orthogonal", why="not orthogonal")]),
    Case(hyp.random_isometry, lambda: dict(dim=2, max_shift=1.0, generator=0, dtype=F64),
         bad=[Bad(dict(max_shift=60.0), "max_shift", why="the translation rounds onto the sphere")]),
    Case(hyp.hyperbolic_ot_matching, lambda: dict(x=_ball(), y=_ball_y(), n_steps=1, n_inner_steps=1, lr=0.02,
                                                  n_restarts=1, generator=0),
         bad=[Bad(dict(y=_outside()), "Poincaré ball", why="a point outside the ball")]),
    Case(hyp.euclidean_procrustes_matching, lambda: dict(x=_ball(), y=_ball_y(), n_steps=2, n_restarts=2, generator=0)),
    Case(hyp.gromov_wasserstein_matching, lambda: dict(x=_ball(), y=_ball_y(), model="poincare", n_restarts=2,
                                                       generator=0),
         bad=[Bad(dict(y=_outside()), "Poincaré ball", why="a point outside the ball"),
              Bad(dict(x=_ball()[:1]), "at least 2", why="one point")]),
    # precision: tilings
    Case(hyp.precision_experiment, lambda: dict(radii=[1.0], delta=1.0, n_pairs=1, generator=0),
         bad=[Bad(dict(delta=-1.0), "delta", why="a negative distance (issue 12)"),
              Bad(dict(radii=[79.5], delta=1.0), "max\\(radii\\) \\+ delta", why="beyond the tilings' reach"),
              Bad(dict(radii=[]), "radii", why="no radius")]),
    Case(hyp.to_tiling, lambda: dict(points=[complex(0.1, 1.2), complex(-3.0, 0.01)], dtype=F64, device="cpu"),
         bad=[Bad(dict(points=[complex(0.0, -1.0)]), "positive imaginary part", why="the lower half-plane"),
              Bad(dict(points=["i"]), "points", why="not a number")]),
    Case(hyp.TilingPoints, lambda: dict(g=_tiling().g, z=_tiling().z),
         bad=[Bad(dict(g=torch.tensor([[[2, 0], [0, 2]], [[1, 0], [0, 1]]])), "SL\\(2, Z\\)", why="det 4"),
              Bad(dict(z=torch.tensor([[0.0, 0.5], [0.0, 2.0]], dtype=F64)), "fundamental domain",
                  why="a remainder outside F")]),
    Case(hyp.tiling_distance, lambda: dict(x=_tiling(), y=_tiling((complex(0.3, 2.0), complex(0.0, 1.0)))),
         bad=[Bad(dict(y=_tiling((complex(0.3, 2.0),))), "same number", why="different lengths"),
              Bad(dict(y=hyp.to_tiling([complex(0.3, 2.0), complex(0.0, 1.0)], dtype=torch.float32)), "dtype",
                  why="float32 with float64")]),
    Case(hyp.to_ltiling, lambda: dict(points=[0.1 + 0.2j, -0.999 + 0.0j], dtype=F64, device="cpu"),
         bad=[Bad(dict(points=[1.5 + 0.0j]), "unit disk", why="outside the disk")]),
    Case(hyp.LTilingPoints, lambda: dict(g=_ltiling().g, u=_ltiling().u),
         bad=[Bad(dict(g=2 * _ltiling().g), "group", why="not a group element"),
              Bad(dict(u=torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]], dtype=F64)), "fundamental domain",
                  why="a point off the hyperboloid")]),
    Case(hyp.ltiling_distance, lambda: dict(x=_ltiling(), y=_ltiling((0.3 + 0.0j, -0.2 - 0.1j))),
         bad=[Bad(dict(y=_ltiling((0.3 + 0.0j,))), "same number", why="different lengths"),
              Bad(dict(y=hyp.to_ltiling([0.3 + 0.0j, 0.1j], dtype=torch.float32)), "dtype", why="float32 with float64")]),
    Case(hyp.ltiling_to_lorentz, lambda: dict(x=_ltiling())),
    Case(hyp.ltiling_generators, lambda: dict()),
    # named embeddings
    Case(hyp.hierarchy_from_tsv, lambda: dict(path=_tsv(), delimiter="\t"),
         bad=[Bad(dict(delimiter=""), "delimiter", why="an empty delimiter")]),
    Case(hyp.KeyedEmbedding, lambda: dict(names=["a", "b", "c", "d"], points=_ball_y(), model="poincare"),
         bad=[Bad(dict(names=["a", "b", "c"]), "names", why="fewer names than points"),
              Bad(dict(names=["a", "b", "c", "a"]), "unique", why="a repeated name"),
              Bad(dict(points=torch.tensor([[0.1, 0.2], [2.0, 0.0], [0.0, -0.4], [0.0, 0.0]], dtype=F64)),
                  "points", why="a point outside the ball")]),
    Case(hyp.KeyedEmbedding.most_similar, lambda: (_keyed().most_similar, dict(name="a", n_neighbors=2)),
         name="KeyedEmbedding.most_similar"),
    Case(hyp.KeyedEmbedding.distance, lambda: (_keyed().distance, dict(a="a", b="c")), name="KeyedEmbedding.distance"),
    Case(hyp.KeyedEmbedding.rank, lambda: (_keyed().rank, dict(a="a", b="c")), name="KeyedEmbedding.rank",
         bad=[Bad(dict(b="a"), "differ", why="a node ranked against itself")]),
    Case(hyp.KeyedEmbedding.radius, lambda: (_keyed().radius, dict(name="b")), name="KeyedEmbedding.radius"),
    Case(hyp.KeyedEmbedding.closest_parent, lambda: (_keyed().closest_parent, dict(name="b")),
         name="KeyedEmbedding.closest_parent"),
    Case(hyp.KeyedEmbedding.closest_child, lambda: (_keyed().closest_child, dict(name="b")),
         name="KeyedEmbedding.closest_child"),
    Case(hyp.KeyedEmbedding.ancestors, lambda: (_keyed().ancestors, dict(name="d")), name="KeyedEmbedding.ancestors"),
    Case(hyp.KeyedEmbedding.descendants, lambda: (_keyed().descendants, dict(name="a", max_depth=2)),
         name="KeyedEmbedding.descendants"),
    Case(hyp.KeyedEmbedding.distance_matrix, lambda: (_keyed().distance_matrix, dict(rows=torch.tensor([0, 2]))),
         name="KeyedEmbedding.distance_matrix"),
    Case(hyp.KeyedEmbedding.save, lambda: (_keyed().save, dict(path=_saved())), name="KeyedEmbedding.save"),
    Case(hyp.KeyedEmbedding.load, lambda: dict(path=_saved()), name="KeyedEmbedding.load"),
]

EXEMPT = {
    "CombinatorialEmbedding": "result container of combinatorial_embedding",
    "EmbeddingResult": "result container of train_embedding and fit_distances",
    "Hierarchy": "data container returned by the loaders and tree builders (its tensors are checked where used)",
    "Isometry": "result container of random_isometry",
    "MatchingResult": "result container of the matching functions",
    "NegativeSamples": "result container of NegativeSampler.sample",
    "PrecisionResult": "result container of precision_experiment",
    "Reconstruction": "result container of reconstruction",
    "wordnet_mammals": "zero-argument loader of the shipped WordNet mammals closure",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
