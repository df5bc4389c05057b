"""Hebbian learning and differentiable plasticity.

Local learning rules (Hebb, Oja, Sanger), Hopfield associative memories, plastic and
neuromodulated recurrent networks trained by backpropagation through episodes, and the episode
tasks of the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.
"""

from ._hopfield import (
    CapacityCurve,
    HopfieldRecall,
    hopfield_capacity,
    hopfield_energy,
    hopfield_mean_field_load,
    hopfield_recall,
    hopfield_weights,
    random_patterns,
)
from ._plastic import NeuromodulatedRNN, PlasticEpisode, PlasticRNN
from ._rules import HebbianFit, fit_hebbian, hebb_step, oja_step, sanger_step
from ._tasks import (
    EpisodeBatch,
    RecurrentBaseline,
    TrainCurve,
    completion_error,
    episode_loss,
    pattern_episodes,
    train_episodes,
)

__all__ = [
    "CapacityCurve",
    "EpisodeBatch",
    "HebbianFit",
    "HopfieldRecall",
    "NeuromodulatedRNN",
    "PlasticEpisode",
    "PlasticRNN",
    "RecurrentBaseline",
    "TrainCurve",
    "completion_error",
    "episode_loss",
    "fit_hebbian",
    "hebb_step",
    "hopfield_capacity",
    "hopfield_energy",
    "hopfield_mean_field_load",
    "hopfield_recall",
    "hopfield_weights",
    "oja_step",
    "pattern_episodes",
    "random_patterns",
    "sanger_step",
    "train_episodes",
]
