"""Hyperbolic embeddings of hierarchies.

Poincaré and Lorentz embeddings of transitive closures (Nickel & Kiela) trained with
geoopt's Riemannian optimisers, reconstruction metrics, the WordNet closures shipped
offline, numerical accuracy of hyperbolic coordinates vs integer tiling models
(Yu & De Sa's L-tiling, and one built on the modular group), the combinatorial construction
(Sarkar; Sala et al.), classical MDS as the Euclidean baseline, and hierarchy matching with
optimal transport (Alvarez-Melis et al.).

See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.
"""

from ._data import (
    Hierarchy,
    balanced_tree,
    random_tree,
    transitive_closure,
    transitive_reduction,
    wordnet_mammals,
    wordnet_nouns,
)
from ._keyed import KeyedEmbedding, hierarchy_from_tsv
from ._evaluate import Reconstruction, reconstruction, reconstruction_naive
from ._geometry import MODELS, get_manifold, lorentz_to_poincare, pairwise_distance, poincare_to_lorentz
from ._model import (
    HierarchyEmbedding,
    EmbeddingResult,
    NegativeSampler,
    NegativeSamples,
    fit_distances,
    point_distance,
    ranking_loss,
    train_embedding,
)
from ._combinatorial import CombinatorialEmbedding, combinatorial_embedding, graph_distances
from ._treeinit import tree_init
from ._mds import classical_mds
from ._matching import (
    Isometry,
    MatchingResult,
    apply_isometry,
    automorphism_orbits,
    euclidean_procrustes_matching,
    gromov_wasserstein_matching,
    hyperbolic_ot_matching,
    mobius_add,
    random_isometry,
)
from ._ltiling import LTilingPoints, ltiling_distance, ltiling_generators, ltiling_to_lorentz, to_ltiling
from ._tiling import PrecisionResult, TilingPoints, precision_experiment, tiling_distance, to_tiling

__all__ = [
    "CombinatorialEmbedding",
    "EmbeddingResult",
    "LTilingPoints",
    "MatchingResult",
    "PrecisionResult",
    "TilingPoints",
    "apply_isometry",
    "automorphism_orbits",
    "classical_mds",
    "combinatorial_embedding",
    "euclidean_procrustes_matching",
    "fit_distances",
    "gromov_wasserstein_matching",
    "graph_distances",
    "hierarchy_from_tsv",
    "ltiling_distance",
    "ltiling_generators",
    "ltiling_to_lorentz",
    "hyperbolic_ot_matching",
    "mobius_add",
    "point_distance",
    "precision_experiment",
    "random_isometry",
    "tiling_distance",
    "to_ltiling",
    "to_tiling",
    "MODELS",
    "Hierarchy",
    "HierarchyEmbedding",
    "Isometry",
    "KeyedEmbedding",
    "NegativeSampler",
    "NegativeSamples",
    "Reconstruction",
    "balanced_tree",
    "get_manifold",
    "lorentz_to_poincare",
    "pairwise_distance",
    "poincare_to_lorentz",
    "random_tree",
    "ranking_loss",
    "reconstruction",
    "reconstruction_naive",
    "train_embedding",
    "transitive_closure",
    "tree_init",
    "transitive_reduction",
    "wordnet_mammals",
    "wordnet_nouns",
]
