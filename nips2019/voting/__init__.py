"""Virtual democracy: learned voter models that vote in their stead, and which voting rules survive the errors.

Ballots as batched integer tensors and the classic rules on them (Borda, plurality, Copeland,
maximin, Kemeny by brute force, the Condorcet winner, Kendall-tau distances); voters with linear
utilities over alternatives' features, pairwise comparisons under the Thurstone-Mosteller and
Bradley-Terry models, per-voter maximum-likelihood fits (Noothigattu et al., 2018), Thurstone
noise around utilities, and the agreement between elections on true and predicted ballots
(Kahng et al., 2019). See the chapter :doc:`Many agents </book/multiagent>`.
"""

from ._models import (
    Comparisons,
    PreferenceModel,
    agreement,
    fit_preferences,
    make_dilemmas,
    make_voters,
    predict_utilities,
    sample_comparisons,
    thurstone_rankings,
)
from ._rules import (
    RULES,
    VoteResult,
    condorcet_winner,
    kendall_tau_distance,
    pairwise_majority,
    rankings_from_utilities,
    vote,
)

__all__ = [
    "RULES",
    "Comparisons",
    "PreferenceModel",
    "VoteResult",
    "agreement",
    "condorcet_winner",
    "fit_preferences",
    "kendall_tau_distance",
    "make_dilemmas",
    "make_voters",
    "pairwise_majority",
    "predict_utilities",
    "rankings_from_utilities",
    "sample_comparisons",
    "thurstone_rankings",
    "vote",
]
