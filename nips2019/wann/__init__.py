"""Weight-agnostic neural networks: topologies searched with one shared, untrained weight.

A :class:`Genome` is a sparse feed-forward network (nodes, connections, one activation
per node); :func:`shared_weight_forward` evaluates it for a batch of shared weight values
at once; :func:`mutate` applies the NEAT-style topological mutations (add connection, add
node, change activation, re-enable); :func:`wann_search` runs the multi-objective search
of Gaier & Ha (2019) (mean and best accuracy over the weights, number of connections);
:class:`WANNNetwork` gives the found topology one trainable weight per connection.
See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.
"""

from ._genome import ACTIVATIONS, MUTATION_PROBS, Genome, WANNNetwork, mutate, shared_weight_forward
from ._search import DEFAULT_WEIGHTS, WANNSearchResult, wann_search, weight_accuracies

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_WEIGHTS",
    "Genome",
    "MUTATION_PROBS",
    "WANNNetwork",
    "WANNSearchResult",
    "mutate",
    "shared_weight_forward",
    "wann_search",
    "weight_accuracies",
]
