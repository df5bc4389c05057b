"""Aligning two embedding spaces: orthogonal Procrustes, Wasserstein-Procrustes, Gromov-Wasserstein.

Generated pairs of "embeddings" (one latent point cloud seen through two partial vocabularies,
rotated and noised), supervised orthogonal Procrustes, the unsupervised Wasserstein-Procrustes
alternation of Grave, Joulin & Berthet (2019), the Gromov-Wasserstein alignment of
Alvarez-Melis & Jaakkola (2018) through POT, and precision@k of the induced translations.
See the chapter :doc:`Transport maps and embedding alignment </book/transport>`.
"""

from ._align import (
    AlignmentResult,
    cosine_scores,
    gromov_wasserstein_align,
    precision_at_k,
    procrustes,
    wasserstein_procrustes,
)
from ._data import EmbeddingPair, make_embedding_pair

__all__ = [
    "AlignmentResult",
    "EmbeddingPair",
    "cosine_scores",
    "gromov_wasserstein_align",
    "make_embedding_pair",
    "precision_at_k",
    "procrustes",
    "wasserstein_procrustes",
]
