"""Information measures: similarity-sensitive entropy, GAIT, Gaussian MI and TC, CorEx, InfoNCE, QUE.

The Leinster-Cobbold entropy of a distribution on symbols with a similarity matrix, the GAIT
divergence built on it and the maximum-diversity distribution; closed forms for the entropy,
mutual information and total correlation of Gaussian vectors (with the signs the review gets
wrong put right) and linear CorEx with the modular regulariser; the InfoNCE lower bound on
mutual information and the contrastive loss of CPC, trained module by module as in Greedy InfoMax;
quantum-entropy outlier scores and a filtered robust mean. See the chapter :doc:`Comparing distributions </book/distributions>`.
"""

from ._corex import LinearCorexResult, linear_corex
from ._greedy import ContrastivePredictiveLoss, GreedyInfoMaxResult, greedy_infomax
from ._gaussian import (
    gaussian_entropy,
    gaussian_mutual_information,
    gaussian_total_correlation,
    infonce_bound,
)
from ._que import RobustMeanResult, que_robust_mean, que_scores
from ._similarity import MaxDiversityResult, gait_divergence, max_diversity, similarity_entropy

__all__ = [
    "ContrastivePredictiveLoss",
    "GreedyInfoMaxResult",
    "LinearCorexResult",
    "MaxDiversityResult",
    "RobustMeanResult",
    "gait_divergence",
    "gaussian_entropy",
    "gaussian_mutual_information",
    "gaussian_total_correlation",
    "greedy_infomax",
    "infonce_bound",
    "linear_corex",
    "max_diversity",
    "que_robust_mean",
    "que_scores",
    "similarity_entropy",
]
