"""Prototype layers: ProtoPNet, a classifier that explains itself with patches of training images.

A prototypical part network (Chen et al., NeurIPS 2019) compares every patch of a CNN's
latent map with learned prototypes by squared Euclidean distance (computed as
convolutions), turns the smallest distance of each prototype into a similarity score
:math:`\\log((D + 1)/(D + \\varepsilon))`, and classifies with a linear layer on these
scores. Training has three stages: joint SGD with the cluster and separation costs
(:func:`fit_joint`), the projection ("push") of every prototype onto its nearest training
patch of its class (:func:`push_prototypes`), and a convex fit of the last layer with L1 on
the wrong-class connections (:func:`fit_last_layer`). :func:`explain` decomposes every
logit exactly into prototype contributions and says where each prototype fired. The
baseline is the same backbone with a linear head (:class:`LinearHeadNet`); the data are
scikit-learn's bundled 8x8 digits (:func:`load_digit_images`). See the chapter
:doc:`This looks like that: prototype layers </book/prototypes>`.
"""

from ._data import DigitImages, load_digit_images
from ._explain import Explanation, activation_map, explain
from ._layer import cluster_cost, log_similarity, prototype_distances, separation_cost
from ._model import ConvBackbone, LinearHeadNet, ProtoPNet, ProtoPNetOutput
from ._train import (LastLayerResult, PushResult, TrainResult, fit_joint, fit_last_layer, push_prototypes,
                     train_classifier)

__all__ = [
    "ConvBackbone",
    "DigitImages",
    "Explanation",
    "LastLayerResult",
    "LinearHeadNet",
    "ProtoPNet",
    "ProtoPNetOutput",
    "PushResult",
    "TrainResult",
    "activation_map",
    "cluster_cost",
    "explain",
    "fit_joint",
    "fit_last_layer",
    "load_digit_images",
    "log_similarity",
    "prototype_distances",
    "push_prototypes",
    "separation_cost",
    "train_classifier",
]
