"""Reinforcement learning on tabular MDPs: successor representations, log-scale Q-learning, hindsight credit.

Finite MDPs as transition tensors :math:`P(s' \\mid s, a)` of shape ``(n_states, n_actions, n_states)``
with exact evaluation (one linear solve) and value iteration; the successor representation
:math:`(I - \\gamma P)^{-1}` in closed form and learned by TD from trajectories; the same map learned
from the beliefs of a hidden Markov model, which recovers the hidden-state map from observations alone
(after Vértes & Sahani 2019); semi-gradient Q-learning with linear features in the regular space and on
the logarithmic scale of van Seijen, Fatemi & Tavakoli (2019); and the exact hindsight distribution and
the state-conditional hindsight-credit policy gradient of Harutyunyan et al. (2019) against REINFORCE;
agents for a goal that moves between locations: Q-learning, one successor map, and several inferred
successor maps (after Madarasz & Behrens 2019); and options, temporally extended actions with exact
multi-time models, SMDP value iteration and SMDP / intra-option Q-learning (Sutton, Precup & Singh 1999).
See the chapter :doc:`Successor features, credit and discounting </book/rl>`.
"""

from ._belief import HMMSample, belief_filter, sample_hmm, td_successor_features
from ._hca import delayed_effect_mdp, exact_policy_gradient, hindsight_distribution, policy_gradient_samples
from ._logq import QLearningResult, q_learning, success_probability
from ._mdp import TabularMDP, ValueIterationResult, chain_mdp, grid_mdp, policy_evaluation, value_iteration
from ._options import (
                       OptionLearningResult,
                       OptionModelResult,
                       OptionRollouts,
                       OptionSet,
                       SMDPValueResult,
                       hallway_options,
                       option_models,
                       primitive_options,
                       sample_option_rollouts,
                       smdp_q_learning,
                       smdp_value_iteration,
                       subgoal_options,
)
from ._successor import Trajectories, sample_trajectories, successor_representation, td_successor
from ._transfer import GoalSwitchResult, goal_switching

__all__ = [
    "GoalSwitchResult",
    "HMMSample",
    "OptionLearningResult",
    "OptionModelResult",
    "OptionRollouts",
    "OptionSet",
    "QLearningResult",
    "SMDPValueResult",
    "TabularMDP",
    "Trajectories",
    "ValueIterationResult",
    "belief_filter",
    "chain_mdp",
    "delayed_effect_mdp",
    "exact_policy_gradient",
    "goal_switching",
    "grid_mdp",
    "hallway_options",
    "hindsight_distribution",
    "option_models",
    "policy_evaluation",
    "policy_gradient_samples",
    "primitive_options",
    "q_learning",
    "sample_hmm",
    "sample_option_rollouts",
    "sample_trajectories",
    "smdp_q_learning",
    "smdp_value_iteration",
    "subgoal_options",
    "success_probability",
    "successor_representation",
    "td_successor",
    "td_successor_features",
    "value_iteration",
]
