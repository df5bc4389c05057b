"""Box embeddings: hard, softplus and Gumbel boxes for DAGs and for row/column completion.

Concepts as axis-aligned boxes whose volumes are probabilities (Vilnis et al. 2018), with the
softplus-smoothed volume of Li et al. (2019) and the Gumbel boxes of Dasgupta et al. (2020);
training on a DAG's transitive closure with a conditional-probability loss and negatives,
evaluated with the reconstruction metrics of :mod:`nips2019.hyperbolic`; and the completion of a
partly observed binary matrix by one box per row and one per column, against a logistic matrix
factorisation. See the chapter :doc:`Box embeddings for DAGs and row/column completion </book/boxes>`.
"""

from ._data import random_dag
from ._matrix import (
    BoxCompletionResult,
    BoxMatrix,
    LogisticMFResult,
    fit_box_completion,
    fit_logistic_mf,
    make_box_matrix,
)
from ._model import BoxEmbedding, BoxTrainResult, containment_f1, train_boxes
from ._volume import (
    METHODS,
    box_intersection,
    conditional_probability,
    gumbel_side_length,
    log_volume,
    sample_gumbel_boxes,
)

__all__ = [
    "METHODS",
    "BoxCompletionResult",
    "BoxEmbedding",
    "BoxMatrix",
    "BoxTrainResult",
    "LogisticMFResult",
    "box_intersection",
    "conditional_probability",
    "containment_f1",
    "fit_box_completion",
    "fit_logistic_mf",
    "gumbel_side_length",
    "log_volume",
    "make_box_matrix",
    "random_dag",
    "sample_gumbel_boxes",
    "train_boxes",
]
